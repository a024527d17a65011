"""Pictures of one unit's computation and of an effective receptive field, drawn from plain values.

Everything here takes what ``compute.LayerUnits.explain`` and ``erf.effective_rf`` return (dicts of numbers and
lists), the picture the network sees and arrays — never a model. The drawings are made for a 1024×768
projector: at most ~1000 pixels wide, text at 14 px or more. Every label exists in English and Korean
(``lang="en"`` / ``"ko"``; Korean needs a CJK font such as Noto Sans CJK — without one the English labels are
drawn and ``image.info["lang"]`` says so).

- ``unit_picture``: a conv's input patch, kernel slices, products and partial sums adding up to the total (the
  channels that contribute most, the others in one line), the window on the layer's input (stride, padding
  and dilation visible) and the unit's receptive field on the input picture; the pool, linear, BatchNorm,
  activation and residual-add variants.
- ``erf_picture`` / ``erf_comparison``: the gradient heatmap with the theoretical box and the 50 % / 95 %
  squares on top; several (random weights vs loaded weights) side by side.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from visualizer.features import colorize, colormap_lut
from visualizer.rf_overlay import draw_receptive_field

WIDTH = 1000  # fits a 1024×768 projector with the browser's margins
SIDE = 260  # the left column's pictures
TEXT, SMALL, TITLE = 16, 14, 20  # font sizes (px); nothing smaller than SMALL
CELL = 44  # a grid cell with its number (a 3×3 grid is 132 px)
NUMBERS_UP_TO = 3  # kernels up to 3×3 get numbers in their cells; bigger ones are drawn as colours only
PICTURE_ROWS = 3  # conv channels drawn one row each; the rest of the shown terms join the "other" line
BACKGROUND = (255, 255, 255)
INK = (25, 25, 25)
GREY = (120, 120, 120)
WINDOW = (220, 30, 30)
NEXT_WINDOW = (245, 150, 0)
PADDING = (215, 215, 215)

# English next to Korean, one entry per label.
WORDS: dict[str, tuple[str, str]] = {
    "seen": ("input picture: the unit's receptive field", "입력 이미지: 유닛의 수용 영역"),
    "map": ("the layer's input around the window", "창 주변의 층 입력"),
    "map_mean": ("(mean of {n} input channels)", "(입력 채널 {n}개의 평균)"),
    "map_channel": ("(channel {c})", "(채널 {c})"),
    "next": ("dashed: the neighbouring unit's window", "점선: 이웃 유닛의 창"),
    "padding": ("grey: padding", "회색: 패딩"),
    "unit": ("unit: channel {c}, row {y}, column {x}", "유닛: 채널 {c}, 행 {y}, 열 {x}"),
    "stride": ("stride {s}", "스트라이드 {s}"),
    "pad": ("padding {p}", "패딩 {p}"),
    "dilation": ("dilation {d}", "팽창 {d}"),
    "groups": ("groups {g}", "그룹 {g}"),
    "unit_flat": ("unit: output {c}", "유닛: 출력 {c}"),
    "patch": ("input patch", "입력 패치"),
    "kernel": ("kernel", "커널"),
    "products": ("products", "곱"),
    "sum": ("sum", "합"),
    "channel": ("ch {c}", "채널 {c}"),
    "others": ("+ {n} other channels", "+ 나머지 채널 {n}개"),
    "other_inputs": ("+ {n} other inputs", "+ 나머지 입력 {n}개"),
    "bias": ("+ bias", "+ 편향"),
    "total": ("= total", "= 합계"),
    "network": ("the network computed {v} (difference {d})", "네트워크 계산값 {v} (차이 {d})"),
    "colours": ("cells coloured by value: red +, blue −", "칸의 색은 값: 빨강 +, 파랑 −"),
    "max": ("max of the window = {v}", "창의 최댓값 = {v}"),
    "mean": ("mean of the window = {s} / {n} = {v}", "창의 평균 = {s} / {n} = {v}"),
    "winner": ("thick outline: the winner", "굵은 테두리: 최댓값"),
    "input_value": ("input x", "입력 x"),
    "weight": ("weight w", "가중치 w"),
    "product": ("x · w", "x · w"),
    "position": ("from ch {c}, row {y}, column {x}", "채널 {c}, 행 {y}, 열 {x}에서"),
    "bn_numbers": (
        "this channel: μ = {m}, σ² = {v}, ε = {e}, γ = {g}, β = {b}",
        "이 채널: μ = {m}, σ² = {v}, ε = {e}, γ = {g}, β = {b}",
    ),
    "operands": ("the two paths meet: ", "두 경로가 만남: "),
    "erf_title": ("effective receptive field of {layer} ({model})", "{layer}의 유효 수용 영역 ({model})"),
    "erf_titles": ("effective receptive fields", "유효 수용 영역"),
    "crop": ("zoom: rows {r0}–{r1}, cols {c0}–{c1}", "확대: 행 {r0}–{r1}, 열 {c0}–{c1}"),
    "erf_how": (
        "mean |∂(centre unit, summed over channels) / ∂ input| over {n} {what}",
        "{n}개 {what}에 대한 |∂(중앙 유닛, 채널 합) / ∂ 입력|의 평균",
    ),
    "noise": ("noise images", "잡음 이미지"),
    "images": ("images", "이미지"),
    "theoretical": ("white: theoretical field {r}", "흰색: 이론적 수용 영역 {r}"),
    "mass50": ("dashed: 50 % of the mass, {s}×{s}", "점선: 기울기 질량의 50 %, {s}×{s}"),
    "mass95": ("cyan: 95 % of the mass, {s}×{s}", "하늘색: 기울기 질량의 95 %, {s}×{s}"),
    "no_mass": ("the gradient is zero everywhere (dead units)", "기울기가 모두 0입니다 (죽은 유닛)"),
}

KOREAN_FONTS = (("NotoSansCJK-Regular.ttc", "Noto Sans CJK KR"), ("NotoSansKR-Regular.otf", None))
KOREAN_BOLD = (("NotoSansCJK-Bold.ttc", "Noto Sans CJK KR"), ("NotoSansKR-Bold.otf", None))


def words(key: str, lang: str, **values: Any) -> str:
    """The label ``key`` in ``lang`` ("en" or "ko"), with ``values`` filled in."""
    en, ko = WORDS[key]
    return (ko if lang == "ko" else en).format(**values)


@lru_cache(maxsize=4)
def _korean_font_file(bold: bool) -> tuple[str, int] | None:
    """(path, index in a collection) of a font with Hangul, or None on a machine without one."""
    for name, family in KOREAN_BOLD if bold else KOREAN_FONTS:
        for index in range(10 if name.endswith(".ttc") else 1):
            try:
                font = ImageFont.truetype(name, 12, index=index)
            except OSError:
                break
            if family is None or font.getname()[0] == family:
                return font.path, index
    return None


def korean_available() -> bool:
    return _korean_font_file(False) is not None


def page_font(size: int, lang: str, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A font for labels drawn in ``lang`` (Korean: one with Hangul, when the machine has one)."""
    return _font(size, lang, bold)


@lru_cache(maxsize=32)
def _font(size: int, lang: str, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if lang == "ko":
        found = _korean_font_file(bold) or _korean_font_file(False)
        if found is not None:
            return ImageFont.truetype(found[0], size, index=found[1])
    for name in ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", "DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _lang(lang: str) -> str:
    if lang not in ("en", "ko"):
        raise ValueError(f"lang must be 'en' or 'ko', got {lang!r}")
    return "ko" if lang == "ko" and korean_available() else "en"


def _fmt(v: float | None) -> str:
    """4 significant digits, a real minus sign."""
    return "" if v is None else f"{v:.4g}".replace("-", "−")


def _short(v: float | None) -> str:
    """At most 5 characters for a grid cell: 2–3 significant digits, no leading zero."""
    if v is None:
        return ""
    a = abs(v)
    if a >= 100:
        text = f"{v:.0f}"
    elif a >= 10:
        text = f"{v:.1f}"
    elif a >= 1:
        text = f"{v:.2f}"
    elif a >= 0.0005:
        text = f"{v:.2f}" if a >= 0.01 else f"{v:.3f}"
        text = text.replace("0.", ".", 1)
    else:
        text = "0"
    return text.replace("-", "−")


def _diverging(values: np.ndarray, scale: float) -> np.ndarray:
    """Values → RGB: white at 0, red for positive, blue for negative, full colour at ±scale."""
    t = np.clip(np.nan_to_num(values) / (scale if scale > 0 else 1.0), -1.0, 1.0)[..., None]
    white = np.array([255.0, 255.0, 255.0])
    red, blue = np.array([215.0, 48.0, 39.0]), np.array([49.0, 100.0, 200.0])
    rgb = np.where(t >= 0, white + (red - white) * t, white + (blue - white) * (-t))
    return rgb.round().astype(np.uint8)


def _text_width(font: Any, text: str) -> int:
    return math.ceil(font.getlength(text))


class _Page:
    """A white canvas drawn top to bottom; ``line`` writes text and moves down."""

    def __init__(self, width: int, height: int, lang: str) -> None:
        self.image = Image.new("RGB", (width, height), BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        self.lang = lang

    def font(self, size: int = TEXT, bold: bool = False) -> Any:
        return _font(size, self.lang, bold)

    def text(self, xy: tuple[float, float], text: str, size: int = TEXT, bold: bool = False, fill=INK, anchor="la"):
        self.draw.text(xy, text, fill=fill, font=self.font(size, bold), anchor=anchor)

    def words(self, key: str, **values: Any) -> str:
        return words(key, self.lang, **values)

    def finish(self, used_height: int) -> Image.Image:
        image = self.image.crop((0, 0, self.image.width, min(self.image.height, used_height)))
        image.info["lang"] = self.lang
        return image


def _grid(
    page: _Page,
    x0: int,
    y0: int,
    values: Sequence[Sequence[float | None]],
    scale: float,
    cell: int,
    numbers: bool,
    outline: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """A grid of values (None: padding, drawn grey) at (x0, y0); returns its (width, height)."""
    arr = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=np.float64)
    colours = _diverging(arr, scale)
    font = page.font(SMALL)
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            box = (x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell - 1, y0 + (i + 1) * cell - 1)
            padded = math.isnan(arr[i, j])
            page.draw.rectangle(box, fill=PADDING if padded else tuple(colours[i, j]), outline=(150, 150, 150))
            if numbers and not padded:
                page.draw.text(
                    (box[0] + cell / 2, box[1] + cell / 2), _short(arr[i, j]), fill=INK, font=font, anchor="mm"
                )
    if outline is not None:
        i, j = outline
        page.draw.rectangle(
            (x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell - 1, y0 + (i + 1) * cell - 1), outline=WINDOW, width=4
        )
    return arr.shape[1] * cell, arr.shape[0] * cell


# ------------------------------------------------------------------------------------------ left column


def _seen_with_field(seen: Image.Image, box: Sequence[int] | None) -> Image.Image:
    """The picture the network sees with the unit's receptive field outlined, SIDE pixels on its long side."""
    size = (seen.height, seen.width)
    full = (0, 0, seen.height - 1, seen.width - 1)
    shown = draw_receptive_field(seen, tuple(box) if box is not None else full, input_size=size)
    k = SIDE / max(shown.size)
    resample = Image.Resampling.NEAREST if k >= 1 else Image.Resampling.LANCZOS
    return shown.resize((max(1, round(shown.width * k)), max(1, round(shown.height * k))), resample)


def _window_crop(
    page: _Page, x0: int, y0: int, input_map: np.ndarray, window: dict, step: tuple[int, int] | None
) -> int:
    """The input map around the unit's window: cells coloured by value, padding grey, each tap outlined, the
    next unit's window dashed (how far the stride moves it). Returns the height used."""
    rows, cols = np.array(window["rows"]), np.array(window["cols"])
    next_cols = cols + step[1] if step else cols
    height, width = input_map.shape
    if step and next_cols.max() >= width:  # the last column: show the previous unit instead
        next_cols = cols - step[1]
    lo_r, hi_r = rows.min() - 1, rows.max() + 1
    lo_c, hi_c = min(cols.min(), next_cols.min()) - 1, max(cols.max(), next_cols.max()) + 1
    span = max(hi_r - lo_r + 1, hi_c - lo_c + 1)
    cell = max(3, SIDE // span)
    view_rows, view_cols = np.arange(lo_r, hi_r + 1), np.arange(lo_c, hi_c + 1)
    inside = ((view_rows >= 0) & (view_rows < height))[:, None] & ((view_cols >= 0) & (view_cols < width))[None, :]
    values = input_map[np.clip(view_rows, 0, height - 1)][:, np.clip(view_cols, 0, width - 1)]
    real = values[inside]
    lo, hi = (float(real.min()), float(real.max())) if real.size else (0.0, 1.0)
    colours = colorize(values[None].astype(np.float32), colormap_lut("viridis"), lo, hi)[0]
    for i in range(len(view_rows)):
        for j in range(len(view_cols)):
            box = (x0 + j * cell, y0 + i * cell, x0 + (j + 1) * cell - 1, y0 + (i + 1) * cell - 1)
            page.draw.rectangle(box, fill=tuple(colours[i, j]) if inside[i, j] else PADDING)
            if cell >= 12:
                page.draw.rectangle(box, outline=(255, 255, 255))

    def frame(tap_rows, tap_cols, colour, dashed: bool):
        top = (tap_rows.min() - lo_r) * cell + y0
        left = (tap_cols.min() - lo_c) * cell + x0
        bottom = (tap_rows.max() - lo_r + 1) * cell + y0 - 1
        right = (tap_cols.max() - lo_c + 1) * cell + x0 - 1
        if dashed:
            _dashed_rect(page.draw, (left, top, right, bottom), colour, 3)
        else:
            page.draw.rectangle((left, top, right, bottom), outline=colour, width=3)

    if step:
        frame(rows, next_cols, NEXT_WINDOW, dashed=True)
    for r in rows:
        for c in cols:
            box = (x0 + (c - lo_c) * cell, y0 + (r - lo_r) * cell)
            page.draw.rectangle((box[0] + 1, box[1] + 1, box[0] + cell - 2, box[1] + cell - 2), outline=WINDOW, width=2)
    frame(rows, cols, WINDOW, dashed=False)
    return len(view_rows) * cell


def _dashed_rect(draw: ImageDraw.ImageDraw, rect: tuple[float, float, float, float], colour, width: int) -> None:
    left, top, right, bottom = rect
    dash = 8
    for a, b, fixed, horizontal in ((left, right, top, True), (left, right, bottom, True)) + (
        (top, bottom, left, False),
        (top, bottom, right, False),
    ):
        t = a
        while t < b:
            e = min(b, t + dash)
            line = [(t, fixed), (e, fixed)] if horizontal else [(fixed, t), (fixed, e)]
            draw.line(line, fill=colour, width=width)
            t += 2 * dash


def _left_column(page: _Page, x0: int, y0: int, ex: dict, seen: Image.Image | None, input_map, step) -> int:
    """The input picture with the unit's field, then the window on the layer's input; returns the bottom."""
    y = y0
    if seen is not None:
        page.text((x0, y), page.words("seen"), SMALL)
        y += 22
        shown = _seen_with_field(seen, ex.get("field"))
        page.image.paste(shown, (x0, y))
        y += shown.height + 14
    window = ex.get("window")
    if input_map is not None and window is not None:
        page.text((x0, y), page.words("map"), SMALL)
        y += 20
        if ex["kind"] == "conv":
            first, last = ex["geometry"]["input_channels"]
            note = page.words("map_mean", n=last - first) if last - first > 1 else page.words("map_channel", c=first)
        else:
            note = page.words("map_channel", c=ex["unit"]["channel"])
        page.text((x0, y), note, SMALL, fill=GREY)
        y += 22
        y += _window_crop(page, x0, y, np.asarray(input_map, dtype=np.float64), window, step) + 8
        page.text((x0, y), page.words("next") if step else "", SMALL, fill=GREY)
        y += 20 if step else 0
        page.text((x0, y), page.words("padding"), SMALL, fill=GREY)
        y += 22
    return y


def _title(page: _Page, ex: dict) -> int:
    page.text((16, 12), _headline(ex, page.lang), TITLE, bold=True)
    unit = ex["unit"]
    if unit["y"] is None:
        line = page.words("unit_flat", c=unit["channel"])
    else:
        line = page.words("unit", c=unit["channel"], y=unit["y"], x=unit["x"])
    page.text((16, 42), line, TEXT, fill=GREY)
    return 74


def _headline(ex: dict, lang: str) -> str:
    g = ex.get("geometry") or {}
    parts = [f"{ex['layer']} · {ex['type']}"]
    if ex["kind"] == "conv" or (g.get("kernel") and ex["kind"].endswith("pool") and g.get("stride")):
        parts.append("×".join(map(str, g["kernel"])))
        parts.append(words("stride", lang, s=_pair(g["stride"])))
        pad = g.get("padding")
        if isinstance(pad, list) and any(pad):
            parts.append(words("pad", lang, p=_pair(pad)))
        if g.get("dilation") and any(d != 1 for d in g["dilation"]):
            parts.append(words("dilation", lang, d=_pair(g["dilation"])))
        if g.get("groups", 1) != 1:
            parts.append(words("groups", lang, g=g["groups"]))
    return ", ".join(parts)


def _pair(values: Sequence[int]) -> str:
    """One number when all are equal (stride 2), else all of them (padding 0×1×0×1)."""
    return str(values[0]) if len(set(values)) == 1 else "×".join(map(str, values))


def _footer(page: _Page, x0: int, y: int, ex: dict) -> int:
    difference = f"{ex['difference']:.1e}".replace("-", "−")
    page.text((x0, y), page.words("network", v=_fmt(ex["activation"]), d=difference), SMALL, fill=GREY)
    y += 26
    for step in ex.get("after", []):
        page.text((x0, y), f"→ {step['layer']} ({step['type']}): {step['rule']} = {_fmt(step['value'])}", TEXT)
        y += 26
    return y


# ------------------------------------------------------------------------------------------ the kinds


def unit_picture(
    explanation: dict, *, lang: str = "en", seen: Image.Image | None = None, input_map: np.ndarray | None = None
) -> Image.Image:
    """The computation of one unit (``LayerUnits.explain``'s dict) as a picture; ``seen`` (the picture the
    network sees) gets the unit's receptive field, ``input_map`` (``LayerUnits.input_map``) the window."""
    page = _Page(WIDTH, 1400, _lang(lang))
    kind = explanation["kind"]
    top = _title(page, explanation)
    step = None
    if kind in ("conv", "max_pool", "avg_pool") and explanation.get("geometry", {}).get("stride"):
        step = tuple(explanation["geometry"]["stride"])
    has_left = seen is not None or (input_map is not None and explanation.get("window") is not None)
    if kind in ("linear",):
        bottom = _linear(page, 16, top, explanation)
        return page.finish(bottom + 10)
    left_bottom = _left_column(page, 16, top, explanation, seen, input_map, step) if has_left else top
    x0 = 16 + SIDE + 30 if has_left else 16
    draw = {"conv": _conv, "max_pool": _pool, "avg_pool": _pool}.get(kind, _scalar)
    right_bottom = draw(page, x0, top, explanation)
    return page.finish(max(left_bottom, right_bottom) + 10)


def _conv(page: _Page, x0: int, y0: int, ex: dict) -> int:
    terms = ex["terms"][:PICTURE_ROWS]
    folded = ex["terms"][PICTURE_ROWS:]
    k = max(ex["geometry"]["kernel"])
    numbers = k <= NUMBERS_UP_TO
    cell = CELL if numbers else max(10, (3 * CELL) // k)
    label_w, gap = 78, 30
    grid_w = cell * ex["geometry"]["kernel"][1]
    grid_h = cell * ex["geometry"]["kernel"][0]
    columns = [x0 + label_w + i * (grid_w + gap) for i in range(3)]
    sum_x = columns[2] + grid_w + 16
    y = y0
    for x, key in zip(columns + [sum_x], ("patch", "kernel", "products", "sum")):
        page.text((x, y), page.words(key), SMALL, bold=True)
    y += 24
    scales = [
        max((abs(v) for t in terms for row in t[part] for v in row), default=1.0)
        for part in ("inputs", "weights", "products")
    ]
    real = ex["window"]["real"]
    for t in terms:
        page.text((x0, y + grid_h / 2), page.words("channel", c=t["channel"]), TEXT, anchor="lm")
        inputs = [
            [v if real[i][j] or ex["geometry"]["padding_mode"] != "zeros" else None for j, v in enumerate(row)]
            for i, row in enumerate(t["inputs"])
        ]
        for x, values, scale in zip(columns, (inputs, t["weights"], t["products"]), scales):
            _grid(page, x, y, values, scale, cell, numbers)
        page.text((columns[1] - gap / 2, y + grid_h / 2), "×", TITLE, anchor="mm")
        page.text((columns[2] - gap / 2, y + grid_h / 2), "=", TITLE, anchor="mm")
        page.text((sum_x, y + grid_h / 2), f"Σ = {_fmt(t['sum'])}", TEXT, bold=True, anchor="lm")
        y += grid_h + 12
    if not numbers:
        page.text((x0, y), page.words("colours"), SMALL, fill=GREY)
        y += 22
    rest_count = ex["rest"]["count"] + len(folded)
    rest_sum = ex["rest"]["sum"] + sum(t["sum"] for t in folded)
    y += 4
    if rest_count:
        page.text((x0, y), page.words("others", n=rest_count), TEXT)
        page.text((sum_x, y), _fmt(rest_sum), TEXT, bold=True)
        y += 26
    page.text((x0, y), page.words("bias"), TEXT)
    page.text((sum_x, y), _fmt(ex["bias"]), TEXT, bold=True)
    y += 26
    page.draw.line((x0, y, sum_x + 110, y), fill=INK, width=2)
    y += 8
    page.text((x0, y), page.words("total"), TEXT, bold=True)
    page.text((sum_x, y), _fmt(ex["recomputed"]), TEXT, bold=True)
    y += 30
    return _footer(page, x0, y, ex)


def _pool(page: _Page, x0: int, y0: int, ex: dict) -> int:
    term = ex["terms"][0]
    values = term["inputs"]
    n = max(len(values), len(values[0]) if values else 0)
    numbers = n <= 5
    cell = 56 if numbers else max(4, 360 // n)
    scale = max((abs(v) for row in values for v in row if v is not None), default=1.0)
    y = y0
    _, h = _grid(page, x0, y, values, scale, cell, numbers, outline=tuple(term["winner"]) if "winner" in term else None)
    y += h + 14
    if not numbers:
        page.text((x0, y), page.words("colours"), SMALL, fill=GREY)
        y += 22
    if ex["kind"] == "max_pool":
        page.text((x0, y), page.words("winner"), SMALL, fill=GREY)
        y += 24
        page.text((x0, y), page.words("max", v=_fmt(ex["recomputed"])), TEXT, bold=True)
    else:
        text = page.words("mean", s=_fmt(term["sum"]), n=term["divisor"], v=_fmt(ex["recomputed"]))
        page.text((x0, y), text, TEXT, bold=True)
    y += 30
    return _footer(page, x0, y, ex)


def _linear(page: _Page, x0: int, y0: int, ex: dict) -> int:
    terms = ex["terms"]
    y = y0
    columns = [x0, x0 + 330, x0 + 470, x0 + 610]
    for x, key in zip(columns[1:], ("input_value", "weight", "product")):
        page.text((x, y), page.words(key), SMALL, bold=True)
    y += 26
    scale = max((abs(t["product"]) for t in terms), default=1.0) or 1.0
    for t in terms:
        label = f"x[{t['index']}]"
        if "position" in t:
            c, r, q = t["position"]
            label += "  " + page.words("position", c=c, y=r, x=q)
        page.text((columns[0], y), label, SMALL)
        page.text((columns[1], y), f"{_fmt(t['input'])} ×", TEXT)
        page.text((columns[2], y), f"{_fmt(t['weight'])} =", TEXT)
        page.text((columns[3], y), _fmt(t["product"]), TEXT, bold=True)
        bar = int(200 * abs(t["product"]) / scale)
        colour = (215, 48, 39) if t["product"] >= 0 else (49, 100, 200)
        page.draw.rectangle((columns[3] + 100, y + 3, columns[3] + 100 + max(bar, 1), y + 17), fill=colour)
        y += 28
    if ex["rest"]["count"]:
        page.text((columns[0], y), page.words("other_inputs", n=ex["rest"]["count"]), TEXT)
        page.text((columns[3], y), _fmt(ex["rest"]["sum"]), TEXT, bold=True)
        y += 28
    page.text((columns[0], y), page.words("bias"), TEXT)
    page.text((columns[3], y), _fmt(ex["bias"]), TEXT, bold=True)
    y += 28
    page.draw.line((x0, y, columns[3] + 310, y), fill=INK, width=2)
    y += 8
    page.text((columns[0], y), page.words("total"), TEXT, bold=True)
    page.text((columns[3], y), _fmt(ex["recomputed"]), TEXT, bold=True)
    y += 32
    return _footer(page, x0, y, ex)


def _scalar(page: _Page, x0: int, y0: int, ex: dict) -> int:
    """BatchNorm, an activation, a residual add: a few lines of arithmetic with this unit's numbers."""
    y = y0
    term = ex["terms"][0]
    if ex["kind"] == "batchnorm":
        page.text((x0, y), f"x = {_fmt(term['input'])}", TEXT)
        y += 28
        numbers = page.words(
            "bn_numbers",
            m=_fmt(term["mean"]),
            v=_fmt(term["var"]),
            e=f"{term['eps']:g}",
            g=_fmt(term["gamma"]),
            b=_fmt(term["beta"]),
        )
        page.text((x0, y), numbers, SMALL)
        y += 30
        page.text((x0, y), "(x − μ) / √(σ² + ε) · γ + β", TITLE, bold=True)
        y += 34
        page.text((x0, y), f"= {term['rule']}", TEXT)
        y += 28
    elif ex["kind"] == "activation":
        page.text((x0, y), f"x = {_fmt(term['input'])}", TEXT)
        y += 30
        page.text((x0, y), term["rule"], TITLE, bold=True)
        y += 34
    else:  # add / mul: the operands
        page.text((x0, y), page.words("operands"), TEXT)
        y += 30
        sign = "+" if ex["kind"] == "add" else "·"
        for i, t in enumerate(ex["terms"]):
            page.text((x0, y), f"{sign if i else ' '} {_fmt(t['value'])}", TITLE, bold=True)
            page.text((x0 + 150, y + 4), t["source"], TEXT, fill=GREY)
            y += 34
        page.draw.line((x0, y, x0 + 400, y), fill=INK, width=2)
        y += 8
    page.text((x0, y), f"= {_fmt(ex['recomputed'])}", TITLE, bold=True)
    y += 40
    return _footer(page, x0, y, ex)


# ------------------------------------------------------------------------------------------ ERF


def erf_crop(result: dict, zoom: bool) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the input shown: the theoretical box with a quarter of its size around it
    (at least 2 pixels), clipped to the input; the whole input without ``zoom``."""
    height, width = np.asarray(result["gradient"]).shape
    if not zoom:
        return 0, 0, height - 1, width - 1
    top, left, bottom, right = result["box"]
    margin = max(2, (max(bottom - top, right - left) + 1) // 4)
    return max(0, top - margin), max(0, left - margin), min(height - 1, bottom + margin), min(width - 1, right + margin)


def _erf_panel(result: dict, lang: str, side: int, label: str | None, zoom: bool) -> Image.Image:
    r0, c0, r1, c1 = erf_crop(result, zoom)
    full = np.asarray(result["gradient"], dtype=np.float64)
    gradient = full[r0 : r1 + 1, c0 : c1 + 1]
    height, width = gradient.shape
    peak = full.max()
    norm = gradient / peak if peak > 0 else gradient
    rgb = colorize(norm[None].astype(np.float32), colormap_lut("inferno"))[0]
    k = side / max(height, width)
    integer = max(1, math.floor(k))
    heat = Image.fromarray(rgb)
    heat = heat.resize((width * integer, height * integer), Image.Resampling.NEAREST) if k >= 1 else heat
    heat = heat.resize((round(width * k), round(height * k)), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(heat)

    def square(top: float, left: float, bottom: float, right: float) -> tuple[float, float, float, float]:
        """Input pixels (inclusive) → the panel's rectangle, the crop's corner at (0, 0)."""
        return (left - c0) * k, (top - r0) * k, (right - c0 + 1) * k - 1, (bottom - r0 + 1) * k - 1

    top, left, bottom, right = result["box"]
    draw.rectangle(square(top, left, bottom, right), outline=(255, 255, 255), width=2)
    cy, cx = result["center"]
    for share, dashed in (("mass95", False), ("mass50", True)):
        s = result.get(share)
        if s is None:
            continue
        half = (s - 1) / 2
        rect = square(cy - half, cx - half, cy + half, cx + half)
        if dashed:
            _dashed_rect(draw, rect, (80, 220, 255), 2)
        else:
            draw.rectangle(rect, outline=(80, 220, 255), width=2)
    lines = [label] if label else []
    theoretical = result.get("theoretical_display") or "×".join(map(str, result["theoretical"] or []))
    lines.append(words("theoretical", lang, r=theoretical))
    if result.get("mass50") is None:
        lines.append(words("no_mass", lang))
    else:
        lines.append(words("mass50", lang, s=result["mass50"]))
        lines.append(words("mass95", lang, s=result["mass95"]))
    if (r0, c0, r1, c1) != (0, 0, full.shape[0] - 1, full.shape[1] - 1):
        lines.append(words("crop", lang, r0=r0, r1=r1, c0=c0, c1=c1))
    text_w = max(_text_width(_font(TEXT if label and i == 0 else SMALL, lang, True), t) for i, t in enumerate(lines))
    panel = Image.new("RGB", (max(side, heat.width, text_w), heat.height + 8 + 24 * len(lines)), BACKGROUND)
    panel.paste(heat, (0, 0))
    pd = ImageDraw.Draw(panel)
    y = heat.height + 8
    for i, line in enumerate(lines):
        first = bool(label) and i == 0
        pd.text((0, y), line, fill=INK, font=_font(TEXT if first else SMALL, lang, first))
        y += 24
    return panel


def erf_picture(
    result: dict, *, lang: str = "en", label: str | None = None, side: int = 320, zoom: bool = True
) -> Image.Image:
    """One effective receptive field (``effective_rf``'s dict) as a heatmap with its boxes and numbers."""
    return erf_comparison([(label, result)], lang=lang, side=side, zoom=zoom)


def erf_comparison(
    results: Sequence[tuple[str | None, dict]], *, lang: str = "en", side: int | None = None, zoom: bool = True
) -> Image.Image:
    """Effective receptive fields side by side (random weights vs loaded weights, a plain stack vs a ResNet),
    each with its label; one title over them from the first."""
    if not results:
        raise ValueError("erf_comparison needs at least one (label, result) pair")
    lang = _lang(lang)
    side = side or min(320, (WIDTH - 20 * (len(results) + 1)) // len(results))
    panels = [_erf_panel(result, lang, side, label, zoom) for label, result in results]
    first = results[0][1]
    if len({(r["model"], r["layer"]) for _, r in results}) == 1:
        title = words("erf_title", lang, layer=first["layer"], model=first["model"])
    else:
        title = words("erf_titles", lang)
    what = words("noise" if first["inputs"] == "noise" else "images", lang)
    how = words("erf_how", lang, n=first["images"], what=what)
    width = max(
        sum(p.width for p in panels) + 20 * (len(panels) + 1), _text_width(_font(TITLE, lang, True), title) + 32
    )
    height = 80 + max(p.height for p in panels) + 10
    canvas = Image.new("RGB", (min(width, 2 * WIDTH), height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    draw.text((16, 12), title, fill=INK, font=_font(TITLE, lang, True))
    draw.text((16, 44), how, fill=GREY, font=_font(SMALL, lang))
    x = 20
    for panel in panels:
        canvas.paste(panel, (x, 76))
        x += panel.width + 20
    canvas.info["lang"] = lang
    return canvas
