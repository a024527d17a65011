"""Inside one unit, as the page shows it: a unit of a feature map worked out from the image's ``ForwardPass``,
stepped ◀ ▶ along its map, and a layer's effective receptive field (random vs loaded weights; epoch by epoch
of a training run).

Plain functions from plain values to plain values (PIL pictures, HTML in both languages, dicts of state); the
page (``ui/units.py``) wires them to components. A unit of a layer the pass already holds runs no forward; one
of a layer it does not hold costs one early-stopped forward (``ForwardPass.ensure``). The endpoints' JSON forms
(``explain_unit_json``, ``effective_rf_json``) are the library's dicts with arrays made plain and bounded.
"""

from __future__ import annotations

import base64
import binascii
import html
import math
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from visualizer import forward_pass
from visualizer.analysis import analyze_model, parse_input_shape
from visualizer.background import get_trainer
from visualizer.features import default_layer, rank_channels
from visualizer.images import example_images
from visualizer.rf_overlay import click_to_unit
from visualizer.units.compute import TOP_TERMS, LayerUnits, layer_units, pass_units, producing_layer
from visualizer.units.erf import MAX_IMAGES, effective_rf, measure
from visualizer.units.pictures import erf_comparison, unit_picture
from visualizer.units.prepare import UnitRequestError, loaded_network
from visualizer.views.layer_details import page_lang, t
from visualizer.weight_sources import LoadedModel, WeightsError, load_weights, reload

MAX_TOP = 32  # terms an endpoint lists one by one (the rest are summed in one line, as on the page)
PAGE_ERF_IMAGES = 4  # images the Architecture card averages by default (the examples, the uploaded one first)
MAX_GRADIENT_PIXELS = 512 * 512  # an ERF endpoint's gradient in its JSON: about 1.4 MB of base64 at most
MAX_IMAGE_TEXT = 28_000_000  # characters of a base64 image an endpoint reads (≈ the page's 20 MB uploads)
EPOCH_PANELS = 4  # epochs drawn side by side in the Training tab (the first, the last and a spread between;
# the table lists every measured epoch)
RUNS_KEPT = 2  # training runs whose per-epoch ERFs are kept


def _fmt(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}".replace("-", "−")


# ------------------------------------------------------------------------------------------ a unit, shown


def unit_view(
    units: LayerUnits, channel: int, y: int | None, x: int | None, lang: str, pass_key: tuple, picked: str = ""
) -> tuple:
    """``(picture, numbers HTML, unit state, slider)`` for one unit of a layer read from a pass (``picked``: the
    layer the person picked, when ``units`` is the conv that makes its values).

    The state (plain values) is what ◀ ▶ and the slider step from; ``slider`` is ``{"maximum", "value"}``:
    the unit's position along its map in reading order (a layer without a map: its channel)."""
    ex = units.explain(channel, y, x)
    picture = unit_picture(ex, lang=page_lang(lang), seen=units.seen, input_map=units.input_map(ex["unit"]["channel"]))
    shape = ex["shape"]
    unit = ex["unit"]
    state = {
        "pass": pass_key,
        "model_name": units.model_name,
        "layer": units.key,
        "channel": unit["channel"],
        "y": unit["y"],
        "x": unit["x"],
        "shape": list(shape),
        "activation": ex["activation"],  # what the page shows, kept as numbers (the endpoints' and tests' view)
        "recomputed": ex["recomputed"],
    }
    if picked and picked != units.key:
        state["picked"] = picked
    return picture, unit_html(ex, state.get("picked", "")), state, _slider(state)


def _slider(state: dict) -> dict:
    shape = state["shape"]
    if len(shape) == 3:
        return {"maximum": shape[1] * shape[2] - 1, "value": state["y"] * shape[2] + state["x"]}
    return {"maximum": shape[0] - 1, "value": state["channel"]}


def _units_of(pass_key: tuple, model_name: str, layer: str) -> LayerUnits:
    """The layer's units, read from the pass the page keeps (by its key)."""
    run = forward_pass.cached(pass_key)
    if run is None:
        raise ValueError(
            "this image's forward pass is no longer kept (other images were shown since); show the feature maps again"
        )
    loaded = reload(pass_key[0], model_name)
    return page_units(loaded, run, layer)


def page_units(loaded: LoadedModel, run: forward_pass.ForwardPass, picked: str) -> LayerUnits:
    """The units the page explains for a picked layer: a BatchNorm's or activation's after a conv or linear
    layer are that layer's (``units.compute.producing_layer``: the computation, then the steps to ``picked``)."""
    analysis = analyze_model(run.model_name, tuple(run.tensor.shape[1:]))
    try:
        layer = producing_layer(analysis, picked, dict(loaded.model.named_modules()))
    except KeyError:
        layer = picked  # an unknown key: pass_units says what keys look like
    return pass_units(loaded, run, layer)


def unit_from_click(state: dict | None, px: float, py: float, lang: str) -> tuple | None:
    """A click on the Feature-maps grid → that unit explained (``unit_view``); None when there is no grid yet or
    the click fell between maps (the receptive-field handler of the same click says so)."""
    if not state:
        return None
    hit = click_to_unit(state["layout"], px, py)
    if hit is None:
        return None
    tile, y, x = hit
    units = _units_of(state["pass"], state["model_name"], state["layer"])
    return unit_view(units, state["channels"][tile], y, x, lang, state["pass"], state["layer"])


def step_unit(state: dict | None, step: int, lang: str) -> tuple:
    """◀ (``step=-1``) / ▶ (``+1``): the next unit along the map in reading order (the next channel for a vector)."""
    if not state:
        raise ValueError("click a feature map first: ◀ ▶ move the unit you clicked · 먼저 특징 맵을 클릭하세요")
    return move_unit(state, _slider(state)["value"] + int(step), lang)


def move_unit(state: dict | None, position: float, lang: str) -> tuple:
    """The unit at ``position`` along the map (reading order; wraps around at both ends)."""
    if not state:
        raise ValueError("click a feature map first: the slider moves the unit you clicked · 먼저 특징 맵을 클릭하세요")
    shape = state["shape"]
    count = _slider(state)["maximum"] + 1
    try:
        position = round(float(position)) % count
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"position must be a number from 0 to {count - 1}, got {position!r}") from None
    units = _units_of(state["pass"], state["model_name"], state["layer"])
    picked = state.get("picked", "")
    if len(shape) == 3:
        y, x = divmod(position, shape[2])
        picture, text, moved, slider = unit_view(units, state["channel"], y, x, lang, state["pass"], picked)
    else:
        picture, text, moved, slider = unit_view(units, position, None, None, lang, state["pass"], picked)
    if "source" in state:  # what the unit was picked from (the Architecture card's selection) stays the same
        moved["source"] = state["source"]
    return picture, text, moved, slider


def unit_html(ex: dict, picked: str = "") -> str:
    """The numbers of one unit, both languages: the formula, the parts that add up, the network's own value
    (``picked``: the layer picked, when ``ex`` is the conv or linear layer that makes its values)."""
    unit = ex["unit"]
    where = (
        t(f"channel {unit['channel']}", f"채널 {unit['channel']}")
        if unit["y"] is None
        else t(
            f"channel {unit['channel']}, row {unit['y']}, column {unit['x']}",
            f"채널 {unit['channel']}, 행 {unit['y']}, 열 {unit['x']}",
        )
    )
    rows = []
    if "bias" in ex:
        rows.append((t("bias", "편향"), ex["bias"]))
    for term in ex["terms"] if ex["kind"] in ("conv", "linear") else []:
        if ex["kind"] == "conv":
            c = term["channel"]
            rows.append((t(f"input channel {c}: Σ patch × kernel", f"입력 채널 {c}: Σ 패치 × 커널"), term["sum"]))
        else:
            rows.append((t(f"input {term['index']}: x · w", f"입력 {term['index']}: x · w"), term["product"]))
    rest = ex.get("rest") or {}
    if rest.get("count"):
        n = rest["count"]
        other = ("channels", "채널") if ex["kind"] == "conv" else ("inputs", "입력")
        rows.append((t(f"+ {n} other {other[0]}", f"+ 나머지 {other[1]} {n}개"), rest["sum"]))
    body = "".join(f"<tr><td>{label}</td><td class='num'>{_fmt(value)}</td></tr>" for label, value in rows)
    total = (
        f"<tr class='total'><td>{t('= recomputed total', '= 다시 계산한 합계')}</td>"
        f"<td class='num'>{_fmt(ex['recomputed'])}</td></tr>"
        f"<tr><td>{t('the network computed', '네트워크가 계산한 값')}</td>"
        f"<td class='num'>{_fmt(ex['activation'])}</td></tr>"
        f"<tr><td>{t('difference', '차이')}</td><td class='num'>{ex['difference']:.1e}</td></tr>"
    )
    after = "".join(
        f"<li><code>{html.escape(step['layer'])}</code> ({html.escape(step['type'])}): "
        f"<code>{html.escape(step['rule'])} = {_fmt(step['value'])}</code></li>"
        for step in ex.get("after", [])
    )
    after_html = f"<p>{t('Then', '그다음')}:</p><ul>{after}</ul>" if after else ""
    if picked:
        layer = ex["layer"]
        after_html += _note(
            f"You picked {picked}: its values are made by {layer} ({ex['type']}) and the steps above.",
            f"고른 층은 {picked}입니다: 그 값은 {layer} ({ex['type']})와 위의 단계가 만듭니다.",
        )
    return (
        f"<div class='unit-card'><h4><code>{html.escape(ex['layer'])}</code> · {html.escape(ex['type'])} · {where}</h4>"
        f"<p class='formula'><code>{t(html.escape(ex['formula']), html.escape(ex['formula_ko']))}</code></p>"
        f"<table>{body}{total}</table>{after_html}"
        f"<p class='muted'>{_both(ex.get('info') or '', ex.get('info_ko') or '')}</p></div>"
    )


# ------------------------------------------------------------------------------------------ the Architecture card


def strongest_unit(units: LayerUnits, picked: str = "") -> tuple[int, int | None, int | None]:
    """The unit the card explains first: on a map, the strongest position of the channel with the highest mean
    (the one ``views.features.layer_maps`` draws the receptive field of); on a vector, the largest value. Ranked
    on the picked layer's values (a ReLU after the conv ``units`` explains)."""
    out = units.value_map(picked) if picked else units.output
    if out.dim() == 3:
        channel = int(rank_channels(out, "mean")[0][0])
        y, x = divmod(int(out[channel].argmax()), out.shape[2])
        return channel, y, x
    return int(out.argmax()), None, None


def architecture_unit(
    arch_state: dict | None, image: Any, weights: str, lang: str, shown: dict | None = None
) -> tuple | None:
    """The selected layer's strongest unit through the tab's image: ``(picture, HTML, unit state, slider)``;
    without a selection or an image, or for a layer whose units are not explained, the picture is None and the
    HTML says why. None when ``shown`` (the unit state returned last time) is already of this layer, image and
    weights (the tab's state also changes when the drawing is refolded)."""
    key = (arch_state or {}).get("selected")
    source = [(arch_state or {}).get("model"), key, image, weights, page_lang(lang)]
    if shown and shown.get("source") == source:
        return None
    blank = {"source": source}
    if not key:
        text = _note("Click a layer to explain one of its units.", "층을 클릭하면 그 층의 유닛 하나를 풀어 보여줍니다.")
        return None, text, blank, None
    if image is None or (isinstance(image, str) and not image.strip()):
        return (
            None,
            _note("Add an image above to explain a unit.", "위에 이미지를 넣으면 유닛을 풀어 보여줍니다."),
            blank,
            None,
        )
    loaded = load_weights(arch_state["model"], weights)
    run = forward_pass.for_image(image, loaded)
    try:
        units = page_units(loaded, run, key)
    except UnitRequestError as exc:
        return None, _note(str(exc), f"{key}: 이 층의 유닛 계산은 보여 줄 수 없습니다 ({exc})"), blank, None
    picture, text, state, slider = unit_view(units, *strongest_unit(units, key), lang, run.key, key)
    return picture, text, {**state, "source": source}, slider


def erf_hint(arch_state: dict | None) -> str:
    """What the ERF button measures for the selected layer."""
    key = (arch_state or {}).get("selected")
    if not key:
        return ""
    return _note(
        f"Effective receptive field of {key}: press the button (random weights beside these weights).",
        f"{key}의 유효 수용 영역: 버튼을 누르세요 (무작위 가중치와 이 가중치를 나란히).",
    )


def _note(en: str, ko: str) -> str:
    return f"<p class='muted'>{t(html.escape(en), html.escape(ko))}</p>"


def _erf_batch(image: Any) -> Any:
    """The tab's image first, the example photos after it (``effective_rf`` fills the batch); no image: the
    examples alone."""
    if image is None or (isinstance(image, str) and not image.strip()):
        return example_images()[:MAX_IMAGES]
    return image


def architecture_erf(arch_state: dict | None, image: Any, weights: str, images: float, lang: str) -> tuple:
    """The selected layer's effective receptive field, random weights beside the tab's weights (when those
    are not random themselves): ``(picture, numbers HTML)``."""
    key = (arch_state or {}).get("selected")
    if not key:
        raise ValueError("click a layer first: its effective receptive field is measured · 먼저 층을 클릭하세요")
    model = arch_state["model"]
    n = int(images)
    batch = _erf_batch(image)
    loaded = load_weights(model, weights)
    results = [("random", effective_rf(model, batch, key, images=n, weights="random"))]
    if loaded.source != "random":
        results.append((loaded.source, measure(loaded_network(loaded), batch, key, n)))
    lang = page_lang(lang)
    labels = {"random": ("random weights", "무작위 가중치")}
    shown = [
        (labels.get(source, (f"{source} weights", f"{source} 가중치"))[lang == "ko"], result)
        for source, result in results
    ]
    picture = erf_comparison(shown, lang=lang)
    rows = [(t(*(html.escape(w) for w in labels.get(s, (f"{s} weights", f"{s} 가중치")))), r) for s, r in results]
    return picture, erf_html(rows, loaded.info, loaded.info_ko)


def _both(en: str, ko: str) -> str:
    """Plain text in both languages (``ko`` "": the English for both), escaped."""
    return t(html.escape(en), html.escape(ko or en)) if en else ""


def erf_html(results: Sequence[tuple[str, dict]], info: str = "", info_ko: str = "") -> str:
    """The ERF numbers beside the picture, both languages: theoretical field, 50 % / 95 % mass sides; each
    result's label is HTML (``t(en, ko)``)."""
    head = (
        f"<tr><th>{t('weights', '가중치')}</th><th>{t('theoretical field', '이론적 수용 영역')}</th>"
        f"<th>{t('50 % of the mass', '질량의 50 %')}</th><th>{t('95 % of the mass', '질량의 95 %')}</th></tr>"
    )
    rows = "".join(
        f"<tr><td>{label}</td><td>{html.escape(r['theoretical_display'] or '')}</td>"
        f"<td>{_side(r['mass50'])}</td><td>{_side(r['mass95'])}</td></tr>"
        for label, r in results
    )
    first = results[0][1]
    how = t(
        f"Mean |∂(centre unit of {first['layer']}, summed over its channels) / ∂ input| over {first['images']} images.",
        f"{first['images']}개 이미지에 대한 |∂({first['layer']} 중앙 유닛, 채널 합) / ∂ 입력|의 평균.",
    )
    return f"<div class='unit-card'><table>{head}{rows}</table><p class='muted'>{how} {_both(info, info_ko)}</p></div>"


def _side(s: int | None) -> str:
    return "—" if s is None else f"{s}×{s}"


# ------------------------------------------------------------------------------------------ the Training tab


class EpochErfs:
    """The effective receptive fields of a training run's stage layers at its kept snapshots (the start and the
    epoch ends), measured from the run's weights while those are its latest (``observe``, on the page's poll):
    snapshots keep pictures, not weights, so an epoch whose weights were replaced before anyone looked stays
    unmeasured (and says so)."""

    def __init__(self) -> None:
        self._runs: OrderedDict[str, dict[int, dict[str, dict]]] = OrderedDict()  # run → step → layer → ERF
        self._lock = threading.Lock()

    def observe(self) -> bool:
        """Measure the latest weights if they are a kept snapshot's not yet measured; True when it did."""
        trainer = get_trainer()
        weights = trainer.latest_weights()
        if weights is None:
            return False
        kept = {s.step: s for s in trainer.snapshot_history() if s.run_id == weights.run_id}
        snapshot = kept.get(weights.step)
        with self._lock:
            if snapshot is None or weights.step in self._runs.get(weights.run_id, {}):
                return False
        try:
            loaded = load_weights(weights.model_name, "training")
        except WeightsError:
            return False  # the run moved on between the two reads; its next kept snapshot is measured instead
        if loaded.key != ("training", weights.key):
            return False
        net = loaded_network(loaded)
        measured = {
            stage.key: measure(net, example_images()[: PAGE_ERF_IMAGES * 2], stage.key, PAGE_ERF_IMAGES * 2)
            for stage in snapshot.stages
        }
        with self._lock:
            self._runs.setdefault(weights.run_id, {})[weights.step] = measured
            self._runs.move_to_end(weights.run_id)
            while len(self._runs) > RUNS_KEPT:
                self._runs.popitem(last=False)
        return True

    def of_run(self, run_id: str) -> dict[int, dict[str, dict]]:
        with self._lock:
            return dict(self._runs.get(run_id, {}))


epoch_erfs = EpochErfs()


def training_erf(layer: str | None, lang: str, shown: tuple | None) -> tuple | None:
    """The Training tab's ERF panel: ``(picture, HTML, layer choices, layer, state)``, or None when ``shown`` says
    the page already shows exactly that (a poll then draws nothing). Measures the latest weights first when
    they are a kept snapshot's (``EpochErfs.observe``)."""
    epoch_erfs.observe()
    trainer = get_trainer()
    history = trainer.snapshot_history()
    if not history:
        state = ("none", page_lang(lang))
        if state == shown:
            return None
        text = _note(
            "No training run yet: the effective receptive field of each kept epoch appears here as the run goes.",
            "아직 학습이 없습니다: 학습하는 동안 에폭마다 유효 수용 영역이 여기에 나타납니다.",
        )
        return None, text, [], None, state
    run_id, model_name = history[-1].run_id, history[-1].model_name
    stages = [s.key for s in history[-1].stages]
    middle = default_layer(model_name)
    layer = layer if layer in stages else (middle if middle in stages else stages[len(stages) // 2])
    measured = epoch_erfs.of_run(run_id)
    state = (run_id, tuple(sorted(measured)), tuple(s.step for s in history), layer, page_lang(lang))
    if state == shown:
        return None
    done = [s for s in history if s.step in measured]
    missed = [s.epochs_done for s in history if s.step not in measured]
    lang = page_lang(lang)
    label = "epoch {e}" if lang == "en" else "{e} 에폭"
    results = [(label.format(e=s.epochs_done), measured[s.step][layer]) for s in _spread(done, EPOCH_PANELS)]
    picture = erf_comparison(results, lang=lang) if results else None
    rows = [(t(f"epoch {s.epochs_done}", f"{s.epochs_done} 에폭"), measured[s.step][layer]) for s in done]
    html_text = erf_html(rows) if rows else ""
    if not rows:
        html_text = _note("Measuring the first snapshot's weights …", "첫 스냅숏의 가중치를 재는 중 …")
    if missed:
        listed = ", ".join(map(str, missed))
        html_text += _note(
            f"Not measured: epoch(s) {listed} (their weights were replaced before the page looked).",
            f"재지 못한 에폭: {listed} (페이지가 보기 전에 가중치가 바뀌었습니다).",
        )
    return picture, html_text, [(s, s) for s in stages], layer, state


def _spread(items: list, n: int) -> list:
    """At most ``n`` of ``items``: the first, the last and evenly spread ones between."""
    if len(items) <= n:
        return items
    picks = sorted({round(i * (len(items) - 1) / (n - 1)) for i in range(n)})
    return [items[i] for i in picks]


# ------------------------------------------------------------------------------------------ endpoints


def api_image(image: str | None) -> Any:
    """An endpoint's image: ``""`` (the first example photo), an example's file name, or the image file itself as
    base64 (a ``data:image/...;base64,`` URL or bare base64). Never a path: the server reads only its own files."""
    text = (image or "").strip()
    examples = example_images()
    if not text:
        return examples[0]
    by_name = {os.path.basename(p): p for p in examples}
    if text in by_name:
        return by_name[text]
    if len(text) > MAX_IMAGE_TEXT:
        raise ValueError(
            f"the image is {len(text):,} characters of base64; at most {MAX_IMAGE_TEXT:,} (about 20 MB) are read"
        )
    data = text.split(",", 1)[1] if text.startswith("data:") and "," in text else text
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        names = ", ".join(list(by_name)[:6])
        raise ValueError(
            f"image {text[:40]!r} is neither an example ({names}) nor a base64-encoded image file "
            "(a data:image/png;base64,... URL); file paths are not read"
        ) from None


def jsonable(value: Any) -> Any:
    """Plain JSON: floats (non-finite ones as None), ints, strings, lists and dicts."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return value


def explain_unit_json(
    model: str,
    layer: str,
    channel: int,
    y: int | None = None,
    x: int | None = None,
    image: str = "",
    weights: str = "auto",
    top: int = TOP_TERMS,
) -> dict:
    """``visualizer.explain_unit`` as JSON, read from the image's ``ForwardPass`` (shared with the page)."""
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise ValueError(f"top must be a whole number from 1 to {MAX_TOP}, got {top!r}")
    units = layer_units((model or "").strip(), api_image(image), layer, weights=weights)
    return jsonable(units.explain(channel, y, x, top))


def effective_rf_json(
    model: str, layer: str, image: str = "", images: int = 8, weights: str = "auto", input_size: str = ""
) -> dict:
    """``visualizer.effective_rf`` as JSON. ``input_size`` (``"3x224x224"``): a seeded batch of noise images of
    that size instead of photos. ``gradient`` is compact: ``{"shape": [H, W], "dtype": "float32", "base64": …}``
    (``np.frombuffer(base64.b64decode(g["base64"]), "<f4").reshape(g["shape"])``)."""
    size = (input_size or "").strip()
    if size:
        source = parse_input_shape(size)
        if source[1] * source[2] > MAX_GRADIENT_PIXELS:
            raise ValueError(
                f"input {size} gives a {source[1] * source[2]:,}-pixel gradient; an endpoint returns at most "
                f"{MAX_GRADIENT_PIXELS:,} (512×512): ask for a smaller input size"
            )
    else:
        source = api_image(image)
    result = effective_rf((model or "").strip(), source, layer, images=images, weights=weights)
    gradient = np.asarray(result.pop("gradient"), dtype="<f4")
    result = jsonable(result)
    result["gradient"] = {
        "shape": list(gradient.shape),
        "dtype": "float32",
        "base64": base64.b64encode(gradient.tobytes()).decode("ascii"),
    }
    return result
