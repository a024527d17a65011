"""Feature-maps tab: grid, overview strip, filters, top-5, Grad-CAM and the receptive field of a clicked unit."""

from __future__ import annotations

from typing import Any

import pandas as pd
from PIL import Image

from visualizer import features, images, latest_weights
from visualizer.features import explore, parse_layer, spatial_layers
from visualizer.gradcam import explain
from visualizer.rf_overlay import click_to_unit, unit_overlay
from visualizer.weight_sources import latest_checkpoint, load_weights

MAX_EXAMPLES = 6


def example_images() -> list[str]:
    return images.example_images()[:MAX_EXAMPLES]


def layer_choices(model: str) -> dict[str, Any]:
    """Dropdown choices (label, key) of every layer with a spatial output; default: the middle stage."""
    name = (model or "").strip()
    return {"choices": features.layer_choices(name), "value": features.default_layer(name)}


def cam_layer_choices(model: str) -> dict[str, Any]:
    """Grad-CAM layer choices; default: the last conv stage (the classic choice: semantic yet still spatial)."""
    name = (model or "").strip()
    return {"choices": features.layer_choices(name), "value": features.default_cam_layer(name)}


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


def checkpoint_choices() -> dict[str, Any]:
    """The checkpoint picker: the training run's latest weights, then this server's runs and uploads, newest
    first (no free-text paths)."""
    from visualizer.budgets import runs

    return {"choices": [("the training run's latest weights", LATEST)] + runs.checkpoints(), "value": LATEST}


def upload_checkpoint(path: str | None) -> tuple[dict[str, Any], str]:
    """Keep an uploaded ``.pt`` among the server's checkpoints; ``(picker update selecting it, source)``."""
    from visualizer.budgets import runs
    from visualizer.checkpoint import CheckpointError, load_checkpoint

    if not path:
        raise ValueError("no file received; choose a .pt checkpoint written by this app's trainer")
    try:
        load_checkpoint(path, mmap=True)  # its own file: say exactly what is wrong with it
    except CheckpointError as exc:
        raise ValueError(str(exc).replace(str(path), "the uploaded file")) from None
    stored = runs.store_upload(path)
    return {**checkpoint_choices(), "value": stored}, "checkpoint"


def _latest_source() -> tuple[str, str | None]:
    """The run in progress (its weights of a few seconds ago), else the newest checkpoint file."""
    return ("training", None) if latest_weights.REGISTRY.latest() is not None else ("checkpoint", "")


def _checkpoint_path(checkpoint: str | None) -> str:
    """A checkpoint the server owns: the one picked, else the latest run's; anything else is refused."""
    from visualizer.budgets import runs

    if (checkpoint or "").strip():
        return runs.resolve(checkpoint)
    latest = latest_checkpoint() or next((path for _, path in runs.checkpoints()), None)
    if latest is None:
        raise ValueError("no checkpoint yet: train a model in the Training tab, or upload a .pt file")
    return latest


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
) -> tuple:
    """(grid, info, network input, Grad-CAM overlay, top-5 table, overview, filters, rf overlay, click state)."""
    if image is None or (isinstance(image, str) and not image.strip()):
        raise ValueError("no image yet: upload one (JPEG, PNG, WebP, GIF …) or click an example below the upload box")
    if source == "checkpoint" and (checkpoint or LATEST).strip() == LATEST:
        source, checkpoint = _latest_source()
    checkpoint = _checkpoint_path(checkpoint) if source == "checkpoint" else None
    model = (model or "").strip()
    loaded = load_weights(model, source, checkpoint)  # cached; explore and explain get the same object
    name = loaded.model_name  # a checkpoint names its own model, which may differ from the picker's
    names = {s.name for s in spatial_layers(name)}
    # A layer this model does not have (a leftover from the previously chosen model, or a typo) falls back to
    # the model's default, and the info line says so.
    notes = [
        f"`{key}` is not a layer of {name} with a spatial output; showing the default instead."
        for key in (layer, cam_layer)
        if key and parse_layer(key)[0] not in names
    ]
    layer = layer if layer and parse_layer(layer)[0] in names else None
    cam_layer = cam_layer if cam_layer and parse_layer(cam_layer)[0] in names else features.default_cam_layer(name)
    cam_index = _class_index(cam_class, loaded.class_names)
    # One forward pass serves the grid, the overview, the predictions and Grad-CAM (explain reads it).
    out = explore(
        image,
        model,
        source,
        layer,
        int(top_n),
        rank_by,
        colormap,
        normalize,
        checkpoint_path=checkpoint,
        cam_layer=cam_layer,
        cam_class=cam_index,
    )
    cam = explain(image, model, source, cam_layer, cam_index, checkpoint_path=checkpoint)
    top5 = pd.DataFrame([{"class": c, "probability (%)": round(100 * p, 2)} for c, p in out["predictions"]])
    info = [
        f"**{out['info']}** · layer `{out['layer']}` {'×'.join(map(str, out['shape']))}, "
        f"showing the top {len(out['channels'])} channels by {rank_by} activation "
        f"({', '.join(str(t.channel) for t in out['channels'][:12])}{' …' if len(out['channels']) > 12 else ''})",
        f"Grad-CAM at `{cam['layer']}` for **{cam['class_name']}** (p = {cam['probability']:.3f}).",
    ]
    info += notes
    if out["prediction_note"]:
        info.append(f"⚠️ {out['prediction_note']}")
    state = {
        "model_name": name,
        "layer": out["layer"],
        "layout": out["layout"],
        "channels": [t.channel for t in out["channels"]],
        "input": out["input"],
        "pass": out["forward_pass"].key,
    }
    return (
        out["grid"],
        "\n\n".join(info),
        out["input_display"],
        features.enlarge(cam["overlay"]),
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
    view = unit_overlay(state["input"], state["model_name"], state["layer"], y, x)
    return view["overlay"], f"Channel {state['channels'][tile]}: {view['text']}"


LAYER_MAPS = 8  # maps shown beside a layer clicked in the diagram


def layer_maps(
    image: Any, model: str, source: str, layer: str, top_n: int = LAYER_MAPS, colormap: str = "viridis"
) -> tuple[Image.Image | None, Image.Image | None, str, dict | None]:
    """A layer clicked in the diagram, seen through an image: ``(its top maps, the receptive field of the
    strongest unit on the input, a description, the click state for the maps)``.

    Reads the image's ``ForwardPass`` (the Feature-maps tab's, when it shows the same image and weights): a
    layer not captured yet costs one early-stopped forward, a captured one nothing.
    """
    from visualizer.forward_pass import forward_pass

    if image is None or (isinstance(image, str) and not image.strip()):
        return None, None, "", None
    run = forward_pass(image, (model or "").strip(), source)
    spatial = {s.key for s in spatial_layers(run.model_name)}
    if layer not in spatial:
        return (
            None,
            None,
            (
                f"`{layer}` has no spatial map (its output is a vector: every unit sees the whole "
                "input) · 공간 맵이 없는 층입니다"
            ),
            None,
        )
    activation = run.activation(layer)
    grid, tiles = features.feature_grid(activation, top_n, "mean", colormap, "channel", cols=4)
    layout = features.GridLayout.for_maps(len(tiles), activation.shape[1], activation.shape[2], cols=4)
    # The strongest unit of the strongest map: the most telling receptive field to draw first.
    best = activation[tiles[0].channel]
    y, x = divmod(int(best.argmax()), best.shape[1])
    view = unit_overlay(run.seen, run.model_name, layer, y, x)
    state = {
        "model_name": run.model_name,
        "layer": layer,
        "layout": layout,
        "channels": [tile.channel for tile in tiles],
        "input": run.seen,
        "pass": run.key,
    }
    text = (
        f"{run.info}\n\nTop {len(tiles)} of {activation.shape[0]} maps of `{layer}` by mean activation; "
        f"the strongest unit, channel {tiles[0].channel}: {view['text']}. Click a map for another unit."
    )
    return grid, view["overlay"], text, state
