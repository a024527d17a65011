"""Pictures of activations, drawn with numpy + PIL from tensors (never from models): one array per grid, no
matplotlib figure per channel.

``feature_grid`` (the top channels of one layer, with the ``GridLayout`` that maps a click back to a unit),
``overview_strip`` (one map per stage), ``filters_picture`` (a conv's RGB kernels), ``overlay_heatmap``
(Grad-CAM on the input), ``enlarge`` (a 32×32 input shown with its real pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

import matplotlib
import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
MIN_TILE = 96  # feature maps are upscaled (nearest, integer factor) until at least this many pixels wide
RANKINGS = ("mean", "max")
NORMALIZATIONS = ("channel", "shared")


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
    arr = arr.astype(np.float32, copy=False)
    # One pass to check (``nan_to_num`` makes a copy and four passes over every map: a third of a cached request's
    # drawing); a copy only when something is not finite. The maps are read, never written.
    return arr if np.isfinite(arr).all() else np.nan_to_num(arr)


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


def filters_picture(weight: torch.Tensor, min_patch: int = 24, pad: int = 2) -> Image.Image:
    """A conv's kernels (O×3×kh×kw, the first RGB conv's: ``layers.first_rgb_conv``) as colour patches, each
    stretched to its own min..max."""
    if weight.dim() != 4 or weight.shape[1] != 3:
        raise ValueError(f"filters_picture needs O×3×kh×kw kernels (an RGB conv's), got shape {tuple(weight.shape)}")
    w = weight.detach().float().cpu().numpy().transpose(0, 2, 3, 1)  # O×kh×kw×3
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


def enlarge(image: Image.Image, min_side: int = 224) -> Image.Image:
    """Nearest-neighbour enlargement by an integer factor, so a 32×32 CIFAR input shows its real pixels."""
    k = max(1, math.ceil(min_side / max(image.size)))
    return image if k == 1 else image.resize((image.width * k, image.height * k), Image.Resampling.NEAREST)


def overlay_heatmap(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.5, colormap: str = "jet") -> Image.Image:
    """``image`` with ``heatmap`` (values in [0, 1], any size: resized to the image) blended on top (Grad-CAM)."""
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (H×W), got shape {heat.shape}")
    heat_img = Image.fromarray(heat, mode="F").resize(image.size, Image.Resampling.BILINEAR)
    colored = Image.fromarray(colorize(np.asarray(heat_img)[None], colormap_lut(colormap))[0])
    return Image.blend(image.convert("RGB"), colored, alpha)
