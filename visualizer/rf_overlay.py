"""Receptive-field overlays: which input pixels one unit of a feature map sees, drawn on the input.

The numbers come from the analysis engine's layer records (one source of truth with the tables):
``receptive_field=[rh, rw]`` (None: the whole input), ``jump=[jh, jw]`` and ``rf_center=[ch, cw]``. Input
pixel ``i`` is centred at coordinate ``i``; unit ``(y, x)`` is centred at ``(ch + y*jh, cw + x*jw)`` and
covers ``centre ± (r - 1) / 2`` per dim, clipped to the image for display.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from PIL import Image, ImageDraw

from visualizer.records import LayerRecord

Box = tuple[int, int, int, int]  # (top, left, bottom, right), inclusive pixel indices

BOX_COLOR = (255, 40, 40)
CENTER_COLOR = (255, 230, 0)
MIN_DISPLAY = 224  # small inputs (CIFAR's 32×32) are enlarged so the box is visible


def _get(record: Any, key: str) -> Any:
    return record.get(key) if isinstance(record, dict) else getattr(record, key, None)


def _pair(value: Any, what: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    if value is None or len(value) < 2:
        raise ValueError(f"layer record has {what}={value!r}; expected two numbers [h, w]")
    return float(value[-2]), float(value[-1])


def _size(image_size: Any) -> tuple[int, int]:
    """(height, width) from an int or a pair."""
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = image_size[-2], image_size[-1]
    return int(h), int(w)


def unit_field(layer_record: Any, y: int, x: int) -> tuple[float, float, float, float] | None:
    """Unclipped ``(top, left, bottom, right)`` input coordinates seen by unit (y, x); None: whole input."""
    rf = _get(layer_record, "receptive_field")
    if rf is None:
        return None
    rh, rw = _pair(rf, "receptive_field")
    jh, jw = _pair(_get(layer_record, "jump"), "jump")
    ch, cw = _pair(_get(layer_record, "rf_center"), "rf_center")
    cy, cx = ch + y * jh, cw + x * jw
    return cy - (rh - 1) / 2, cx - (rw - 1) / 2, cy + (rh - 1) / 2, cx + (rw - 1) / 2


def unit_box(layer_record: Any, y: int, x: int, image_size: int | Sequence[int]) -> Box:
    """``(top, left, bottom, right)`` inclusive pixel box of unit (y, x)'s field, clipped to ``image_size`` (H, W).

    A field without spatial extent (after global pooling or flatten) is the whole image.
    """
    height, width = _size(image_size)
    field = unit_field(layer_record, y, x)
    if field is None:
        return 0, 0, height - 1, width - 1
    top, left, bottom, right = field
    # Fields are whole pixels for ordinary geometry; floor/ceil keeps any half-pixel edge inside the box.
    top, left = max(0, math.floor(top + 1e-9)), max(0, math.floor(left + 1e-9))
    bottom, right = min(height - 1, math.ceil(bottom - 1e-9)), min(width - 1, math.ceil(right - 1e-9))
    if top > bottom or left > right:
        raise ValueError(
            f"unit ({y}, {x}) sees no pixel of a {height}×{width} input (field {field}); "
            "pick a unit inside the feature map"
        )
    return top, left, bottom, right


def unit_center(layer_record: Any, y: int, x: int) -> tuple[float, float] | None:
    """Input coordinates (row, col) of the centre of unit (y, x)'s field; None for a whole-input field."""
    field = unit_field(layer_record, y, x)
    return None if field is None else ((field[0] + field[2]) / 2, (field[1] + field[3]) / 2)


def draw_receptive_field(
    image: Image.Image,
    boxes: Box | Sequence[Box],
    input_size: int | Sequence[int] | None = None,
    centers: Sequence[tuple[float, float] | None] | None = None,
    color: tuple[int, int, int] = BOX_COLOR,
    dim: float = 0.45,
    min_display: int = MIN_DISPLAY,
) -> Image.Image:
    """``image`` with each box outlined and everything outside the boxes dimmed.

    Boxes are in network-input pixels (``input_size`` (H, W), default the image's own size); the image is
    scaled to match and enlarged by an integer factor (nearest neighbour) until ``min_display`` pixels.
    """
    if isinstance(boxes, tuple) and len(boxes) == 4 and all(isinstance(v, (int, float)) for v in boxes):
        boxes = [boxes]
    image = image.convert("RGB")
    in_h, in_w = _size(input_size) if input_size is not None else (image.height, image.width)
    if image.size != (in_w, in_h):
        image = image.resize((in_w, in_h), Image.Resampling.BILINEAR)
    s = max(1, math.ceil(min_display / max(in_h, in_w)))
    shown = image.resize((in_w * s, in_h * s), Image.Resampling.NEAREST) if s > 1 else image.copy()

    # Pixel i spans [i*s, (i+1)*s - 1] once enlarged.
    rects = [(left * s, top * s, (right + 1) * s - 1, (bottom + 1) * s - 1) for top, left, bottom, right in boxes]
    mask = Image.new("L", shown.size, 0)
    mask_draw = ImageDraw.Draw(mask)
    for rect in rects:
        mask_draw.rectangle(rect, fill=255)
    dark = Image.blend(shown, Image.new("RGB", shown.size, (0, 0, 0)), dim)
    out = Image.composite(shown, dark, mask)
    draw = ImageDraw.Draw(out)
    line = max(1, min(3, shown.width // 112))
    for rect in rects:
        draw.rectangle(rect, outline=color, width=line)
    for center in centers or []:
        if center is not None:
            cy, cx = (center[0] + 0.5) * s, (center[1] + 0.5) * s
            r = max(2, line * 2)
            draw.line((cx - r, cy, cx + r, cy), fill=CENTER_COLOR, width=line)
            draw.line((cx, cy - r, cx, cy + r), fill=CENTER_COLOR, width=line)
    return out


def click_to_unit(
    layout: Any, px: float, py: float, displayed_size: Sequence[int] | None = None
) -> tuple[int, int, int] | None:
    """A click on a rendered feature grid (``features.GridLayout``) → (tile index, y, x); None off the maps.

    ``px, py`` are pixels of the rendered image; pass ``displayed_size`` (width, height) when the click was
    measured on a resized display of it.
    """
    if displayed_size is not None:
        width, height = layout.size
        px, py = px * width / displayed_size[0], py * height / displayed_size[1]
    return layout.unit_at(px, py)


def map_click_to_unit(px: float, py: float, image_size: Sequence[int], map_size: Sequence[int]) -> tuple[int, int]:
    """A click at (px, py) on one feature map shown as an image of ``image_size`` (width, height) →
    unit (y, x) of a map of ``map_size`` (H, W)."""
    width, height = image_size
    map_h, map_w = _size(map_size)
    y = min(map_h - 1, max(0, int(py * map_h / height)))
    x = min(map_w - 1, max(0, int(px * map_w / width)))
    return y, x


# ---------------------------------------------------------------------------------------------- a unit


def unit_overlay(seen: Image.Image, record: LayerRecord, y: int, x: int, input_size: Sequence[int]) -> dict[str, Any]:
    """The input the network sees (``seen``) with unit (y, x) of ``record``'s layer and its receptive field drawn on
    it: ``overlay`` (PIL), ``box`` (top, left, bottom, right), ``field`` (unclipped, None for the whole input),
    ``text`` (a one-line description) and ``text_ko`` (the same in Korean). ``input_size`` is the network input's
    (H, W)."""
    layer = record.key
    shape = record.output_shape
    if shape is not None and len(shape) >= 2:
        map_h, map_w = int(shape[-2]), int(shape[-1])
        if not (0 <= y < map_h and 0 <= x < map_w):
            raise ValueError(
                f"unit ({y}, {x}) is outside {layer}'s {map_h}×{map_w} map; use 0..{map_h - 1}, 0..{map_w - 1}"
            )
    in_h, in_w = _size(input_size)
    box = unit_box(record, y, x, (in_h, in_w))
    field = unit_field(record, y, x)
    overlay = draw_receptive_field(seen, box, (in_h, in_w), centers=[unit_center(record, y, x)])
    if field is None:
        text = f"{layer} unit ({y}, {x}) sees the whole input (after global pooling or flattening)"
        text_ko = f"{layer} 유닛 ({y}, {x})은 입력 전체를 봅니다 (전역 풀링이나 flatten 뒤)"
    else:
        rh, rw = _pair(record.receptive_field, "receptive_field")
        text = (
            f"{layer} unit ({y}, {x}): receptive field {rh:g}×{rw:g} px, rows {field[0]:g}..{field[2]:g}, "
            f"cols {field[1]:g}..{field[3]:g} (shown clipped to the {in_h}×{in_w} input)"
        )
        text_ko = (
            f"{layer} 유닛 ({y}, {x}): 수용 영역 {rh:g}×{rw:g} px, 행 {field[0]:g}..{field[2]:g}, "
            f"열 {field[1]:g}..{field[3]:g} ({in_h}×{in_w} 입력 안으로 잘라서 표시)"
        )
    return {"overlay": overlay, "box": box, "field": field, "text": text, "text_ko": text_ko}
