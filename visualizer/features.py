"""Feature maps: capture the layers asked for, rank their channels, render grids and an overview strip.

Collect (``FeatureCapture``: forward hooks on the named layers only), then present (``feature_grid``,
``overview_strip``, ``first_layer_filters``), all drawn with numpy + PIL: one array per grid, no
matplotlib figure per channel. ``explore`` is the one call the app's handler makes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
MIN_TILE = 96  # feature maps are upscaled (nearest, integer factor) until at least this many pixels wide
RANKINGS = ("mean", "max")
NORMALIZATIONS = ("channel", "shared")


# ---------------------------------------------------------------------------------------------- collect


def parse_layer(layer: str) -> tuple[str, int]:
    """``"layer1.0.relu#1"`` → ``("layer1.0.relu", 1)``: the second call of a module used twice."""
    name, sep, index = layer.partition("#")
    if sep and not index.isdigit():
        raise ValueError(f"bad layer key {layer!r}; use a module name, or name#k for its k-th call (0-based)")
    return name, int(index) if sep else 0


def named_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``; a ``ValueError`` listing real names when there is none."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        sample = ", ".join(n for n in list(modules)[1:9])
        raise ValueError(f"{type(model).__name__} has no layer {name!r}; layer names look like: {sample}, ...")
    return modules[name]


class _StopForward(Exception):
    """Raised by a hook once every asked-for layer has run; ``FeatureCapture.__exit__`` swallows it."""


class FeatureCapture:
    """Context manager: forward hooks on the named layers only, removed on exit.

    >>> with FeatureCapture(model, ["features.28"]) as cap:
    ...     logits = model(x)
    >>> cap.get("features.28")  # 1×C×H×W, a copy (safe from later in-place ReLUs)

    ``stop_early=True`` ends the forward pass as soon as every asked-for layer has run once (no logits;
    statements after ``model(x)`` inside the ``with`` block are skipped): an early layer then costs a
    fraction of the whole network.
    """

    def __init__(self, model: nn.Module, layers: Iterable[str], stop_early: bool = False) -> None:
        self.layers = list(dict.fromkeys(parse_layer(layer)[0] for layer in layers))
        self._modules = [(name, named_module(model, name)) for name in self.layers]
        self.outputs: dict[str, list[torch.Tensor]] = {name: [] for name in self.layers}
        self.stop_early = stop_early
        self._handles: list[Any] = []

    def __enter__(self) -> FeatureCapture:
        for name, module in self._modules:
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        return exc_type is _StopForward

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                # Clone: the next ReLU(inplace=True) would otherwise overwrite a conv's output we keep.
                self.outputs[name].append(output.detach().clone())
            if self.stop_early and all(self.outputs.values()):
                raise _StopForward

        return hook

    def get(self, layer: str, call_index: int | None = None) -> torch.Tensor:
        """Output of ``layer`` (``name`` or ``name#k``) at its ``call_index``-th call in the last forward."""
        name, index = parse_layer(layer)
        index = index if call_index is None else call_index
        calls = self.outputs.get(name)
        if calls is None:
            raise KeyError(f"layer {name!r} was not captured; captured: {', '.join(self.layers)}")
        if index >= len(calls):
            raise KeyError(f"layer {name!r} ran {len(calls)} time(s) in the forward pass; no call #{index}")
        return calls[index]


class SpatialLayer(NamedTuple):
    """A layer call whose output is a C×H×W map (what the layer picker offers)."""

    key: str  # "name" or "name#k" for the k-th call of a module used more than once
    name: str
    call_index: int
    kind: str  # module class name
    channels: int
    height: int
    width: int

    @property
    def label(self) -> str:
        return f"{self.key} ({self.kind}, {self.channels}x{self.height}x{self.width})"


def spatial_layers(model: nn.Module | str | Any, input_size: tuple[int, int, int] | None = None) -> list[SpatialLayer]:
    """Every layer call with a C×H×W output, in call order.

    ``model`` is a zoo name or an ``Analysis`` (the analysis engine's leaf-layer records at the design
    input size, so the picker offers exactly the layers the analysis table and the receptive-field
    overlay know), or a module (one forward on zeros of ``input_size``; containers such as
    ``nn.Sequential`` are left out, their output being their last child's).
    """
    if isinstance(model, str):
        return list(_spatial_layers_by_name(model))
    if not isinstance(model, nn.Module):
        return _spatial_from_records(model)
    if input_size is None:
        raise ValueError("spatial_layers(module) needs input_size=(C, H, W); or pass a zoo model name")
    return _trace_spatial(model, torch.zeros(1, *input_size))


@lru_cache(maxsize=32)
def model_analysis(model_name: str) -> Any:
    """The analysis engine's ``Analysis`` of a zoo model at its design size (cached: it is architecture only)."""
    from visualizer.analysis import analyze_model

    return analyze_model(model_name)


@lru_cache(maxsize=64)
def _spatial_layers_by_name(model_name: str) -> tuple[SpatialLayer, ...]:
    return tuple(_spatial_from_records(model_analysis(model_name)))


def _trace_spatial(model: nn.Module, x: torch.Tensor) -> list[SpatialLayer]:
    found: list[tuple[str, str, tuple[int, ...]]] = []
    handles = []
    for name, module in model.named_modules():
        if name == "" or isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            continue

        def hook(mod: nn.Module, inputs: Any, output: Any, name: str = name) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                found.append((name, type(mod).__name__, tuple(output.shape[1:])))

        handles.append(module.register_forward_hook(hook))
    was_training = model.training
    try:
        with torch.no_grad():
            model.eval()(x)  # eval: BatchNorm must not update its running statistics on zeros
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    calls: dict[str, int] = {}
    layers = []
    for name, kind, (c, h, w) in found:
        index = calls.get(name, 0)
        calls[name] = index + 1
        layers.append(SpatialLayer(name if index == 0 else f"{name}#{index}", name, index, kind, c, h, w))
    return layers


def _spatial_from_records(analysis: Any) -> list[SpatialLayer]:
    layers = []
    for rec in analysis.layers:
        if rec.output_shape is None or len(rec.output_shape) != 4:  # batch × C×H×W
            continue
        key = rec.name if rec.call_index == 0 else f"{rec.name}#{rec.call_index}"
        layers.append(SpatialLayer(key, rec.name, rec.call_index, rec.type, *rec.output_shape[1:]))
    return layers


def stage_layers(layers: list[SpatialLayer]) -> list[SpatialLayer]:
    """One layer per stage, in call order: the last layer call at each resolution (VGG: before each pool).

    Layers of the block where the next resolution begins do not count: a ResNet-50 bottleneck's first 1×1
    conv still runs at the old resolution but belongs to the next stage. (When that leaves nothing, as in
    VGG's single ``features`` block, the last layer at the resolution is the stage.) Adaptive pooling in
    front of the classifier and 1×1 maps are not stages.
    """
    spatial = [s for s in layers if not s.kind.startswith("Adaptive") and s.height * s.width > 1]
    resolutions = list(dict.fromkeys((s.height, s.width) for s in spatial))
    stages = []
    for i, resolution in enumerate(resolutions):
        at = [s for s in spatial if (s.height, s.width) == resolution]
        if i + 1 < len(resolutions):
            opener = next(s for s in spatial if (s.height, s.width) == resolutions[i + 1])
            block = opener.name.rpartition(".")[0]
            at = [s for s in at if s.name.rpartition(".")[0] != block] or at
        stages.append(at[-1])
    return stages


# ---------------------------------------------------------------------------------------------- present


class ChannelTile(NamedTuple):
    channel: int
    min: float
    max: float
    score: float  # the ranking value (mean or max activation)


@dataclass(frozen=True)
class GridLayout:
    """Pixel geometry of a rendered grid: where tile ``i`` sits and which unit a click lands on."""

    n: int
    cols: int
    map_h: int
    map_w: int
    scale: int  # each activation is drawn as a scale×scale block
    label_h: int = 26
    pad: int = 4

    @classmethod
    def for_maps(cls, n: int, map_h: int, map_w: int, cols: int | None = None, labels: bool = True) -> GridLayout:
        cols = max(1, min(n, cols or math.ceil(math.sqrt(n))))
        scale = max(1, math.ceil(MIN_TILE / max(map_h, map_w)))
        return cls(n, cols, map_h, map_w, scale, label_h=26 if labels else 0)

    @property
    def rows(self) -> int:
        return math.ceil(self.n / self.cols)

    @property
    def tile_w(self) -> int:
        return self.map_w * self.scale

    @property
    def tile_h(self) -> int:
        return self.map_h * self.scale

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the whole image."""
        return (
            self.pad + self.cols * (self.tile_w + self.pad),
            self.pad + self.rows * (self.label_h + self.tile_h + self.pad),
        )

    def tile_origin(self, i: int) -> tuple[int, int]:
        """(x, y) of the top-left pixel of tile ``i``'s map (below its label)."""
        row, col = divmod(i, self.cols)
        return (
            self.pad + col * (self.tile_w + self.pad),
            self.pad + row * (self.label_h + self.tile_h + self.pad) + self.label_h,
        )

    def unit_at(self, px: float, py: float) -> tuple[int, int, int] | None:
        """(tile index, y, x) of the unit drawn at image pixel (px, py); None off the maps."""
        for i in range(self.n):
            x0, y0 = self.tile_origin(i)
            if x0 <= px < x0 + self.tile_w and y0 <= py < y0 + self.tile_h:
                return i, int((py - y0) // self.scale), int((px - x0) // self.scale)
        return None


@lru_cache(maxsize=32)
def colormap_lut(name: str) -> np.ndarray:
    """256×3 uint8 lookup table of a matplotlib colormap (matplotlib only supplies the colours)."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise ValueError(
            f"unknown colormap {name!r}; try viridis, magma, inferno, plasma, cividis, gray or jet"
        ) from None
    return (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255.0).round().astype(np.uint8)


@lru_cache(maxsize=4)
def _font(size: int = 10) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _as_chw(activation: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = activation.detach().float().cpu().numpy() if isinstance(activation, torch.Tensor) else np.asarray(activation)
    if arr.ndim == 4 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 3:
        raise ValueError(f"expected a C×H×W activation (or 1×C×H×W), got shape {tuple(arr.shape)}")
    return np.nan_to_num(arr.astype(np.float32, copy=False))


def colorize(
    maps: np.ndarray, lut: np.ndarray, lo: float | np.ndarray = 0.0, hi: float | np.ndarray = 1.0
) -> np.ndarray:
    """N×H×W floats → N×H×W×3 uint8 through ``lut``, ``lo``..``hi`` spanning it: one range for all maps, or
    one per map (arrays of N); a flat map is drawn at the low end."""
    lo, hi = np.asarray(lo, dtype=np.float32), np.asarray(hi, dtype=np.float32)
    if lo.ndim:
        lo, hi = lo[:, None, None], hi[:, None, None]
    span = np.where(hi > lo, hi - lo, 1.0)
    return lut[np.clip((maps - lo) / span * 255.0 + 0.5, 0, 255).astype(np.uint8)]


def rank_channels(activation: torch.Tensor | np.ndarray, rank_by: str = "mean") -> tuple[np.ndarray, np.ndarray]:
    """(channel order best first, score per channel); ties keep channel order."""
    if rank_by not in RANKINGS:
        raise ValueError(f"rank_by must be one of {RANKINGS}, got {rank_by!r}")
    arr = _as_chw(activation)
    flat = arr.reshape(arr.shape[0], -1)
    scores = flat.mean(axis=1) if rank_by == "mean" else flat.max(axis=1)
    return np.argsort(-scores, kind="stable"), scores


def feature_grid(
    activation: torch.Tensor | np.ndarray,
    top_n: int = 16,
    rank_by: str = "mean",
    colormap: str = "viridis",
    normalize: str = "channel",
    cols: int | None = None,
    labels: bool = True,
) -> tuple[Image.Image, list[ChannelTile]]:
    """Grid of the ``top_n`` channels ranked by ``rank_by``, best first (left to right, top to bottom).

    Each tile is labelled with its channel index and value range. ``normalize="channel"`` stretches every
    map to the full colormap; ``"shared"`` uses one range for all tiles so strengths compare across them.
    Returns the image and, per tile, ``(channel, min, max, score)``; ``GridLayout.for_maps(len(tiles), H, W,
    cols)`` gives the geometry (for mapping clicks back to units).
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    if top_n < 1:
        raise ValueError(f"top_n must be at least 1, got {top_n}")
    top_n = int(top_n)  # a UI slider may hand over 16.0
    arr = _as_chw(activation)
    order, scores = rank_channels(arr, rank_by)
    chosen = order[:top_n]
    maps = arr[chosen]
    lo, hi = maps.min(axis=(1, 2)), maps.max(axis=(1, 2))
    tiles = [ChannelTile(int(c), float(a), float(b), float(scores[c])) for c, a, b in zip(chosen, lo, hi)]
    shared = normalize == "shared"
    colored = colorize(maps, colormap_lut(colormap), lo.min() if shared else lo, hi.max() if shared else hi)

    layout = GridLayout.for_maps(len(chosen), arr.shape[1], arr.shape[2], cols, labels)
    width, height = layout.size
    canvas = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    s = layout.scale
    for i, tile in enumerate(colored):
        x0, y0 = layout.tile_origin(i)
        canvas[y0 : y0 + layout.tile_h, x0 : x0 + layout.tile_w] = tile.repeat(s, axis=0).repeat(s, axis=1)
    image = Image.fromarray(canvas)
    if labels:
        draw, font = ImageDraw.Draw(image), _font()
        for i, t in enumerate(tiles):
            x0, y0 = layout.tile_origin(i)
            draw.text((x0, y0 - layout.label_h), f"ch {t.channel}", fill=TEXT, font=font)
            draw.text((x0, y0 - layout.label_h + 12), f"{t.min:.3g} .. {t.max:.3g}", fill=TEXT, font=font)
    return image, tiles


def overview_strip(
    stages: list[tuple[str, torch.Tensor | np.ndarray]],
    tile: int = 112,
    colormap: str = "viridis",
) -> Image.Image:
    """One map per stage, left to right: the channel-mean activation, labelled with name and C×H×W.

    Every map is drawn in the same ``tile``-pixel box with nearest-neighbour blocks, so the blocks grow
    as resolution shrinks while the channel count in the label grows.
    """
    if not stages:
        raise ValueError("overview_strip needs at least one (name, activation) stage")
    lut, font = colormap_lut(colormap), _font()
    label_h, pad = 26, 6
    canvas = Image.new("RGB", (pad + len(stages) * (tile + pad), pad + label_h + tile + pad), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i, (name, activation) in enumerate(stages):
        arr = _as_chw(activation)
        mean = arr.mean(axis=0)
        rgb = colorize(mean[None], lut, mean.min(), mean.max())[0]
        c, h, w = arr.shape
        k = tile / max(h, w)
        size = (max(1, round(w * k)), max(1, round(h * k)))
        resample = Image.Resampling.NEAREST if k >= 1 else Image.Resampling.BOX
        x0 = pad + i * (tile + pad)
        canvas.paste(Image.fromarray(rgb).resize(size, resample), (x0, pad + label_h))
        draw.text((x0, pad), name[-20:], fill=TEXT, font=font)
        draw.text((x0, pad + 12), f"{c} x {h}x{w}", fill=TEXT, font=font)
    return canvas


def first_layer_filters(model: nn.Module, min_patch: int = 24, pad: int = 2) -> Image.Image:
    """The first RGB conv's kernels as colour patches (each stretched to its own min..max)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d) and m.in_channels == 3), None)
    if conv is None:
        raise ValueError(f"{type(model).__name__} has no Conv2d taking 3 input channels; nothing to show as RGB")
    w = conv.weight.detach().float().cpu().numpy().transpose(0, 2, 3, 1)  # O×kh×kw×3
    lo = w.min(axis=(1, 2, 3), keepdims=True)
    hi = w.max(axis=(1, 2, 3), keepdims=True)
    patches = ((w - lo) / np.where(hi > lo, hi - lo, 1.0) * 255.0).round().astype(np.uint8)
    n, kh, kw, _ = patches.shape
    s = max(1, math.ceil(min_patch / max(kh, kw)))
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    canvas = np.full((pad + rows * (kh * s + pad), pad + cols * (kw * s + pad), 3), BACKGROUND, dtype=np.uint8)
    for i, patch in enumerate(patches):
        r, c = divmod(i, cols)
        y0, x0 = pad + r * (kh * s + pad), pad + c * (kw * s + pad)
        canvas[y0 : y0 + kh * s, x0 : x0 + kw * s] = patch.repeat(s, axis=0).repeat(s, axis=1)
    return Image.fromarray(canvas)


# ---------------------------------------------------------------------------------------------- pipeline


def default_layer(model_name: str) -> str:
    """A good first layer to show: the middle stage (VGG-16: features.22, 512×28×28)."""
    stages = stage_layers(spatial_layers(model_name))
    return stages[len(stages) // 2].key if stages else spatial_layers(model_name)[-1].key


def default_cam_layer(model_name: str) -> str:
    """Grad-CAM's classic layer: the last conv stage, semantic yet still spatial (VGG-16: features.30)."""
    stages = stage_layers(spatial_layers(model_name))
    return stages[-1].key if stages else spatial_layers(model_name)[-1].key


def layer_choices(model_name: str) -> list[tuple[str, str]]:
    """``(label, key)`` pairs for a layer dropdown: every layer call with a spatial map, in order."""
    return [(layer.label, layer.key) for layer in spatial_layers(model_name)]


def enlarge(image: Image.Image, min_side: int = 224) -> Image.Image:
    """Nearest-neighbour enlargement by an integer factor, so a 32×32 CIFAR input shows its real pixels."""
    k = max(1, math.ceil(min_side / max(image.size)))
    return image if k == 1 else image.resize((image.width * k, image.height * k), Image.Resampling.NEAREST)


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
    """Image in → everything the Features tab shows, from one forward pass (``ForwardPass``; with
    ``cam_layer``, the same pass also serves ``gradcam.explain`` for that layer and class).

    Returns a dict: ``input`` (PIL, what the network sees; ``input_display``: the same enlarged with
    nearest-neighbour to at least 224 px), ``grid`` (PIL), ``channels`` (list of
    ``ChannelTile``), ``layout`` (``GridLayout`` for clicks), ``layer`` (key used), ``shape`` (C, H, W),
    ``overview`` (PIL or None), ``filters`` (PIL or None), ``predictions`` (top-5 ``(name, prob)``),
    ``prediction_note`` (warning text, "" when the weights are trained), ``info`` (weights description),
    ``model_name`` (the model actually used: a checkpoint names its own), ``forward_pass`` (the pass read).
    """
    from visualizer.forward_pass import forward_pass
    from visualizer.predictions import prediction_note, top_k

    run = forward_pass(image, model_name, source, checkpoint_path)
    available = spatial_layers(run.model_name)
    by_key = {entry.key: entry for entry in available}
    layer = layer or default_layer(run.model_name)
    if layer not in by_key:
        raise ValueError(
            f"{run.model_name} has no layer {layer!r} with a spatial output; "
            f"choose one of: {', '.join(list(by_key)[:12])}, ..."
        )
    stages = stage_layers(available) if overview else []
    run.ensure([layer] + [s.key for s in stages], cam_layer=cam_layer, cam_class=cam_class)
    activation = run.activation(layer)
    grid, channels = feature_grid(activation, top_n, rank_by, colormap, normalize)
    return {
        "input": run.seen,
        "input_display": enlarge(run.seen),
        "grid": grid,
        "channels": channels,
        "layout": GridLayout.for_maps(len(channels), activation.shape[1], activation.shape[2]),
        "layer": layer,
        "shape": tuple(activation.shape),
        "overview": overview_strip([(s.key, run.activation(s.key)) for s in stages], colormap=colormap)
        if stages
        else None,
        "filters": first_layer_filters(run.loaded.model) if filters else None,
        "predictions": top_k(run.logits, run.class_names, k=5),
        "prediction_note": prediction_note(run.source, run.model_name),
        "info": run.info,
        "model_name": run.model_name,
        "forward_pass": run,
    }
