"""Feature-maps tab: grid, overview strip, filters, top-5, Grad-CAM and the receptive field of a clicked unit.

The pipeline of one request: the weights are loaded once, the image's ``ForwardPass`` is found (decoded and
preprocessed once), one forward pass (with gradients as far back as Grad-CAM's layer) fills it, and every picture is
drawn from the tensors it keeps. ``explore`` and ``explain`` are the same pipeline for scripts.
"""

from __future__ import annotations

from html import escape
from typing import Any

import pandas as pd
import torch
from PIL import Image

from visualizer import forward_pass, imagenet_files, images, latest_weights
from visualizer.analysis import analyze_model
from visualizer.budgets import runs
from visualizer.checkpoint import CheckpointError, load_checkpoint
from visualizer.features import (
    GridLayout,
    default_cam_layer,
    default_layer,
    enlarge,
    feature_grid,
    filters_picture,
    first_rgb_conv,
    overlay_heatmap,
    overview_strip,
    spatial_layers,
    stage_layers,
)
from visualizer.features import (
    layer_choices as spatial_choices,
)
from visualizer.numbers import checked_number, shape_text
from visualizer.predictions import prediction_note, top_k
from visualizer.records import parse_layer_key
from visualizer.rf_overlay import click_to_unit, unit_overlay
from visualizer.views.layer_details import page_lang, t
from visualizer.weight_sources import ImageNetWeightsMissing, LoadedModel, WeightsError, latest_checkpoint, load_weights

MAX_EXAMPLES = 6
MAX_SHOWN = 64  # the most maps a grid shows (the page's slider goes to it)


def example_images() -> list[str]:
    return images.example_images()[:MAX_EXAMPLES]


def layer_choices(model: str) -> dict[str, Any]:
    """Dropdown choices (label, key) of every layer with a spatial output; default: the middle stage."""
    name = (model or "").strip()
    return {"choices": spatial_choices(name), "value": default_layer(name)}


def cam_layer_choices(model: str) -> dict[str, Any]:
    """Grad-CAM layer choices (every layer with a map); default: the last conv before the head."""
    name = (model or "").strip()
    return {"choices": spatial_choices(name), "value": default_cam_layer(name)}


def _class_index(text: str | None, class_names: list[str]) -> int | None:
    """'' → None (top prediction); '281' → 281; 'tabby' → the first class whose name contains it."""
    text = (text or "").strip()
    if not text:
        return None
    if text.isdigit():
        index = int(text)
        if index >= len(class_names):
            raise ValueError(f"class index {index} is out of range; this model has classes 0..{len(class_names) - 1}")
        return index
    matches = [i for i, name in enumerate(class_names) if text.lower() in name.lower()]
    if not matches:
        raise ValueError(
            f"no class named like {text!r}; type an index 0..{len(class_names) - 1} or part of a name "
            f"such as {class_names[0]!r}"
        )
    return matches[0]


LATEST = "latest"  # the checkpoint picker's first choice: the training run's latest weights
LATEST_LABEL = ("the training run's latest weights", "학습 중인 모델의 최신 가중치")
TOP5_HEADERS = {"en": ("class", "probability (%)"), "ko": ("클래스", "확률 (%)")}


def checkpoint_choices(lang: str | None = "en") -> dict[str, Any]:
    """The checkpoint picker: the training run's latest weights, then this server's runs and uploads, newest
    first (no free-text paths); its first label in the page's language."""
    first = LATEST_LABEL[page_lang(lang) == "ko"]
    return {"choices": [(first, LATEST)] + runs.checkpoints(), "value": LATEST}


def top5_table(predictions: list[tuple[str, float]], lang: str | None = "en") -> pd.DataFrame:
    """The top-5 predictions ``(class, probability)`` as a table, headers in the page's language."""
    name, probability = TOP5_HEADERS[page_lang(lang)]
    return pd.DataFrame(
        [{name: c, probability: round(100 * p, 2)} for c, p in predictions], columns=[name, probability]
    )


def upload_checkpoint(path: str | None, lang: str | None = "en") -> tuple[dict[str, Any], str]:
    """Keep an uploaded ``.pt`` among the server's checkpoints; ``(picker update selecting it, source)``."""
    if not path:
        raise ValueError("no file received; choose a .pt checkpoint written by this app's trainer")
    try:
        load_checkpoint(path, mmap=True)  # its own file: say exactly what is wrong with it
    except CheckpointError as exc:
        raise ValueError(str(exc).replace(str(path), "the uploaded file")) from None
    stored = runs.store_upload(path)
    return {**checkpoint_choices(lang), "value": stored}, "checkpoint"


def upload_imagenet(path: str | None, model: str) -> tuple[str | None, str]:
    """An uploaded torchvision ``.pth`` as the ImageNet weights of ``model``: checked, then stored once in the torch
    cache under its canonical name. ``(the weight source to pick, or None when the file was refused; the message
    for the info box)``: a refused file is a message, not an error (the panels stay clean)."""
    if not path:
        return None, _message(
            "No file received: choose torchvision's .pth file for this model (e.g. vgg16-397923af.pth).",
            "받은 파일이 없습니다. 이 모델의 torchvision .pth 파일을 고르세요 (예: vgg16-397923af.pth).",
        )
    try:
        stored = imagenet_files.store_for_model(path, model)
    except imagenet_files.WeightsFileError as exc:
        return None, _message(str(exc), exc.ko)
    name = (model or "").strip()
    kept = "was already in this server's torch cache" if stored.already else "is now in this server's torch cache"
    kept_ko = "이미 이 서버의 torch 캐시에 있었습니다" if stored.already else "이제 이 서버의 torch 캐시에 있습니다"
    return "imagenet", _message(
        f"{stored.file_name} ({stored.weights}, {stored.tensors} tensors, keys and shapes checked against {name}) "
        f"{kept}. Weights = imagenet works offline now: press Show feature maps.",
        f"{stored.file_name} ({stored.weights}, 텐서 {stored.tensors}개, {name}의 키와 모양 확인) {kept_ko}. "
        "이제 인터넷 없이도 가중치 = imagenet을 쓸 수 있습니다: 특징 맵 보기를 누르세요.",
        icon="✅",
    )


def _message(en: str, ko: str, icon: str = "⚠️") -> str:
    """One line for the info box, in both languages (the page shows one)."""
    return f"{icon} {t(escape(en, quote=False), escape(ko, quote=False))}"


def weights_message(exc: WeightsError) -> str:
    """What the info box says when the weights asked for cannot be had; ImageNet offline names the file to bring."""
    if isinstance(exc, ImageNetWeightsMissing):
        return _message(
            f"ImageNet weights for {exc.model_name} are not on this server, and their server cannot be reached "
            f"(offline?). Bring torchvision's file {exc.file_name}: Upload ImageNet weights (left, under Weights), "
            "or start the app with --weights-dir DIR; or choose weights = random.",
            f"{exc.model_name}의 ImageNet 가중치가 이 서버에 없고, 내려받을 서버에도 연결할 수 없습니다 (오프라인?). "
            f"torchvision 파일 {exc.file_name}을(를) 가져오세요: 왼쪽 가중치 아래의 ImageNet 가중치 올리기, 또는 앱을 "
            "--weights-dir DIR로 시작하세요. 아니면 가중치 = random을 고르세요.",
        )
    return _message(
        str(exc), f"가중치를 불러올 수 없습니다: {exc}"
    )  # (the message names files and models: code, not prose)


def cleared(message: str) -> tuple:
    """``feature_maps``' outputs when there is nothing to show: every panel empty, ``message`` in the info box."""
    return None, message, None, None, pd.DataFrame(columns=["class", "probability (%)"]), None, None, None, None


def feature_maps_page(*args: Any, **kwargs: Any) -> tuple:
    """``feature_maps`` for the page: weights that cannot be had (offline ImageNet, no checkpoint yet) leave the panels
    empty and say why in the info box, rather than an error on every panel."""
    try:
        return feature_maps(*args, **kwargs)
    except WeightsError as exc:
        return cleared(weights_message(exc))


def _latest_source() -> tuple[str, str | None]:
    """The run in progress (its weights of a few seconds ago), else the newest checkpoint file."""
    return ("training", None) if latest_weights.REGISTRY.latest() is not None else ("checkpoint", "")


def _checkpoint_path(checkpoint: str | None) -> str:
    """A checkpoint the server owns: the one picked, else the latest run's; anything else is refused."""
    if (checkpoint or "").strip():
        return runs.resolve(checkpoint)
    latest = latest_checkpoint() or next((path for _, path in runs.checkpoints()), None)
    if latest is None:
        raise ValueError("no checkpoint yet: train a model in the Training tab, or upload a .pt file")
    return latest


def explore(
    image: Any,
    model_name: str,
    source: str = "random",
    layer: str | None = None,
    top_n: int = 16,
    rank_by: str = "mean",
    colormap: str = "viridis",
    normalize: str = "channel",
    checkpoint_path: str | None = None,
    overview: bool = True,
    filters: bool = True,
    cam_layer: str | None = None,
    cam_class: int | None = None,
) -> dict[str, Any]:
    """Image in → everything the Feature-maps tab shows, from one forward pass.

    Returns a dict: ``input`` (PIL, what the network sees; ``input_display``: the same enlarged with
    nearest-neighbour to at least 224 px), ``grid`` (PIL), ``channels`` (list of ``ChannelTile``), ``layout``
    (``GridLayout`` for clicks), ``layer`` (key used), ``shape`` (C, H, W), ``overview`` (PIL or None), ``filters``
    (PIL or None), ``predictions`` (top-5 ``(name, prob)``), ``prediction_note`` (warning text, "" when the weights
    are trained), ``info`` (weights description), ``model_name`` (the model actually used: a checkpoint names its
    own), ``forward_pass`` (the pass read), and with ``cam_layer`` ``cam`` (``explain``'s dict for that layer).
    """
    loaded = load_weights(model_name, source, checkpoint_path)
    return _explore(loaded, image, layer, top_n, rank_by, colormap, normalize, overview, filters, cam_layer, cam_class)


def _explore(
    loaded: LoadedModel,
    image: Any,
    layer: str | None,
    top_n: int,
    rank_by: str,
    colormap: str,
    normalize: str,
    overview: bool,
    filters: bool,
    cam_layer: str | None,
    cam_class: int | None,
) -> dict[str, Any]:
    run = forward_pass.for_image(image, loaded)
    available = spatial_layers(run.model_name)
    by_key = {entry.key: entry for entry in available}
    layer = layer or default_layer(run.model_name)
    if layer not in by_key:
        raise ValueError(
            f"{run.model_name} has no layer {layer!r} with a spatial output; "
            f"choose one of: {', '.join(list(by_key)[:12])}, ..."
        )
    stages = stage_layers(available) if overview else []
    keys = tuple(s.key for s in stages)
    overview_key = ("overview", keys, colormap)
    # (the overview's layers are read once, for its picture, which the pass keeps: ``drawn``)
    drawn = [] if run.has_picture(overview_key) else list(keys)
    run.ensure(loaded, [layer], cam_layer=cam_layer, cam_class=cam_class, drawn=drawn)
    activation = run.activation(loaded, layer)
    # Every picture is drawn once per pass and view (a class asking for the same view shares the drawing).
    grid, channels = run.picture(
        ("grid", layer, top_n, rank_by, colormap, normalize),
        lambda: feature_grid(activation, top_n, rank_by, colormap, normalize),
    )
    return {
        "input": run.seen,
        "input_display": run.picture(("input",), lambda: enlarge(run.seen)),
        "grid": grid,
        "channels": channels,
        "layout": GridLayout.for_maps(len(channels), activation.shape[1], activation.shape[2]),
        "layer": layer,
        "shape": tuple(activation.shape),
        "overview": run.picture(
            overview_key,
            lambda: overview_strip([(key, run.activation(loaded, key, keep=False)) for key in keys], colormap=colormap),
        )
        if stages
        else None,
        "filters": run.picture(("filters",), lambda: filters_picture(first_rgb_conv(loaded.model).weight))
        if filters
        else None,
        "predictions": top_k(run.logits, run.class_names, k=5),
        "prediction_note": prediction_note(run.source, run.model_name),
        "info": run.info,
        "model_name": run.model_name,
        "forward_pass": run,
        "cam": _explain(loaded, run, cam_layer, cam_class) if cam_layer else None,
    }


def explain(
    image: Any,
    model_name: str,
    source: str = "random",
    layer: str | None = None,
    class_index: int | None = None,
    checkpoint_path: str | None = None,
    alpha: float = 0.5,
) -> dict[str, Any]:
    """Image in → Grad-CAM overlay for one class at one layer (default: the last conv before the head).

    Returns ``overlay`` (PIL), ``heatmap`` (H×W array), ``class_index``, ``class_name``, ``probability``,
    ``layer``, ``input`` (PIL the network sees), ``prediction_note``, ``info``. Reads the image's
    ``ForwardPass`` (shared with the feature maps: one forward pass per image, model and weights).
    """
    loaded = load_weights(model_name, source, checkpoint_path)
    run = forward_pass.for_image(image, loaded)
    return _explain(loaded, run, layer or default_cam_layer(loaded.model_name), class_index, alpha)


def _explain(
    loaded: LoadedModel, run: forward_pass.ForwardPass, layer: str, class_index: int | None, alpha: float = 0.5
) -> dict[str, Any]:
    heat, index = run.grad_cam(loaded, layer, class_index)
    probs = torch.softmax(run.logits.float(), dim=0)
    return {
        "overlay": run.picture(("cam", layer, index, alpha), lambda: overlay_heatmap(run.seen, heat, alpha=alpha)),
        "heatmap": heat,
        "class_index": index,
        "class_name": run.class_names[index],
        "probability": float(probs[index]),
        "layer": layer,
        "input": run.seen,
        "prediction_note": prediction_note(run.source, run.model_name),
        "info": run.info,
    }


def feature_maps(
    image: Any,
    model: str,
    source: str = "auto",
    checkpoint: str | None = None,
    layer: str | None = None,
    top_n: float = 16,
    rank_by: str = "mean",
    colormap: str = "viridis",
    normalize: str = "channel",
    cam_class: str | None = None,
    cam_layer: str | None = None,
    lang: str | None = "en",
) -> tuple:
    """(grid, info, network input, Grad-CAM overlay, top-5 table, overview, filters, rf overlay, click state); the
    info in both languages, the table's headers in ``lang``'s."""
    if image is None or (isinstance(image, str) and not image.strip()):
        raise ValueError("no image yet: upload one (JPEG, PNG, WebP, GIF …) or click an example below the upload box")
    if source == "checkpoint" and (checkpoint or LATEST).strip() == LATEST:
        source, checkpoint = _latest_source()
    checkpoint = _checkpoint_path(checkpoint) if source == "checkpoint" else None
    loaded = load_weights((model or "").strip(), source, checkpoint)  # the request's one load
    name = loaded.model_name  # a checkpoint names its own model, which may differ from the picker's
    names = {s.name for s in spatial_layers(name)}
    # A layer this model does not have (a leftover from the previously chosen model, or a typo) falls back to
    # the model's default, and the info line says so.
    notes = [
        t(
            f"`{key}` is not a layer of {name} with a spatial output; showing the default instead.",
            f"`{key}`는 {name}에서 공간 출력이 있는 층이 아니라서 기본 층을 보여 줍니다.",
        )
        for key in (layer, cam_layer)
        if key and parse_layer_key(key)[0] not in names
    ]
    layer = layer if layer and parse_layer_key(layer)[0] in names else None
    cam_layer = cam_layer if cam_layer and parse_layer_key(cam_layer)[0] in names else default_cam_layer(name)
    cam_index = _class_index(cam_class, loaded.class_names)
    # One forward pass serves the grid, the overview, the predictions and Grad-CAM.
    count = checked_number(top_n, "Channels shown", int, 1, MAX_SHOWN)  # an API caller's number too
    out = _explore(loaded, image, layer, count, rank_by, colormap, normalize, True, True, cam_layer, cam_index)
    cam = out["cam"]
    top5 = top5_table(out["predictions"], lang)
    shown = ", ".join(str(tile.channel) for tile in out["channels"][:12]) + (" …" if len(out["channels"]) > 12 else "")
    run, count, shape = out["forward_pass"], len(out["channels"]), shape_text(out["shape"])
    rank_ko = {"mean": "평균", "max": "최대"}.get(rank_by, rank_by)
    info = [
        t(
            f"**{out['info']}** · layer `{out['layer']}` {shape}, showing the top {count} channels by {rank_by} "
            f"activation ({shown})",
            f"**{run.info_ko}** · 층 `{out['layer']}` {shape}, {rank_ko} 활성화 상위 {count}개 채널 ({shown})",
        ),
        t(
            f"Grad-CAM at `{cam['layer']}` for **{cam['class_name']}** (p = {cam['probability']:.3f}).",
            f"`{cam['layer']}`에서 **{cam['class_name']}** 클래스의 Grad-CAM (p = {cam['probability']:.3f}).",
        ),
        *notes,
    ]
    if out["prediction_note"]:
        note_ko = prediction_note(run.source, run.model_name, "ko")
        info.append("⚠️ " + t(out["prediction_note"], note_ko))
    state = {
        "model_name": name,
        "layer": out["layer"],
        "layout": out["layout"],
        "channels": [t.channel for t in out["channels"]],
        "input": out["input"],
        "pass": out["forward_pass"].key,
        "predictions": out["predictions"],  # for the table in the other language (``top5_table``)
    }
    return (
        out["grid"],
        "\n\n".join(info),
        out["input_display"],
        run.picture(("cam, enlarged", cam["layer"], cam["class_index"]), lambda: enlarge(cam["overlay"])),
        top5,
        out["overview"],
        out["filters"],
        None,
        state,
    )


def rf_from_click(state: dict | None, px: float, py: float) -> tuple[Image.Image, str]:
    """A click on the rendered grid at image pixel (px, py) → the clicked unit's receptive field on the input."""
    if not state:
        raise ValueError("show the feature maps first, then click a map")
    hit = click_to_unit(state["layout"], px, py)
    if hit is None:
        raise ValueError("that click is between the maps; click inside one of the coloured maps")
    tile, y, x = hit
    seen = state["input"]
    record = analyze_model(state["model_name"]).by_key(state["layer"])
    view = unit_overlay(seen, record, y, x, (seen.height, seen.width))
    channel = state["channels"][tile]
    return view["overlay"], t(f"Channel {channel}: {view['text']}", f"채널 {channel}: {view['text_ko']}")


LAYER_MAPS = 8  # maps shown beside a layer clicked in the diagram


def layer_maps(
    image: Any, model: str, source: str, layer: str, top_n: int = LAYER_MAPS, colormap: str = "viridis"
) -> tuple[Image.Image | None, Image.Image | None, str, dict | None]:
    """A layer clicked in the diagram, seen through an image: ``(its top maps, the receptive field of the
    strongest unit on the input, a description, the click state for the maps)``.

    Reads the image's ``ForwardPass`` (the Feature-maps tab's, when it shows the same image and weights): a
    layer not captured yet costs one early-stopped forward, a captured one nothing.
    """
    if image is None or (isinstance(image, str) and not image.strip()):
        return None, None, "", None
    loaded = load_weights((model or "").strip(), source)
    run = forward_pass.for_image(image, loaded)
    analysis = analyze_model(run.model_name)
    if layer not in {s.key for s in spatial_layers(analysis)}:
        return (
            None,
            None,
            t(
                f"`{layer}` has no spatial map (its output is a vector: every unit sees the whole input)",
                f"`{layer}`에는 공간 맵이 없습니다 (출력이 벡터라서 모든 유닛이 입력 전체를 봅니다)",
            ),
            None,
        )
    activation = run.activation(loaded, layer)
    grid, tiles = run.picture(
        ("grid", layer, top_n, "mean", colormap, "channel", 4),
        lambda: feature_grid(activation, top_n, "mean", colormap, "channel", cols=4),
    )
    layout = GridLayout.for_maps(len(tiles), activation.shape[1], activation.shape[2], cols=4)
    # The strongest unit of the strongest map: the most telling receptive field to draw first.
    best = activation[tiles[0].channel]
    y, x = divmod(int(best.argmax()), best.shape[1])
    view = unit_overlay(run.seen, analysis.by_key(layer), y, x, tuple(run.tensor.shape[-2:]))
    state = {
        "model_name": run.model_name,
        "layer": layer,
        "layout": layout,
        "channels": [tile.channel for tile in tiles],
        "input": run.seen,
        "pass": run.key,
    }
    text = t(
        f"{run.info}<br><br>Top {len(tiles)} of {activation.shape[0]} maps of `{layer}` by mean activation; "
        f"the strongest unit, channel {tiles[0].channel}: {view['text']}. Click a map for another unit.",
        f"{run.info_ko}<br><br>`{layer}`의 맵 {activation.shape[0]}개 중 평균 활성화 상위 {len(tiles)}개; 가장 강한 "
        f"유닛은 채널 {tiles[0].channel}: {view['text_ko']}. 다른 유닛을 보려면 맵을 클릭하세요.",
    )
    return grid, view["overlay"], text, state
