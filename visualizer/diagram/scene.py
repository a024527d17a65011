"""Geometry: nodes and shortcuts → a ``Scene`` of plain shapes (polygons, curves, text) in pixel coordinates.

The scene is what both writers draw (``svg.py`` for the page and slides, ``raster.py`` for PNG), so the two
exports are the same picture. Boxes follow convnet-drawer's 3D look: the front face's height is the map's H,
the oblique depth its W, the thickness its C, each on a clamped log scale so that VGG-16's 224×224×64 and
7×7×512 both stay readable. Shortcut arcs are stacked on levels (as visualtorch does) so none cross.

With ``max_width`` the row wraps: items go to further rows (never cutting a shortcut's span, so every arc stays
on one row), rows balanced in width, a connector leading from each row's end to the next row's start. The page
draws at ``FIT_WIDTH`` so the whole network is seen at once with every label at least ``MIN_FONT`` px.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from visualizer.diagram.graph import Node, Skip, nodes
from visualizer.kinds import kind_of
from visualizer.numbers import count_text, shape_text
from visualizer.records import Analysis, LayerRecord

COLORS = {  # front-face colours per kind (Tableau 10): conv blue, pool red, fc purple ...
    "conv": "#4e79a7",
    "pool": "#e15759",
    "linear": "#b07aa1",
    "norm": "#59a14f",
    "act": "#edc948",
    "dropout": "#bab0ac",
    "join": "#f28e2b",
    "stage": "#3b6a9a",
    "identity": "#9c9c9c",
    "other": "#9c9c9c",
    "input": "#c9d3de",
}
TEXT = "#222222"
MUTED = "#666666"
FONT = 11  # px; no text is smaller: read on a 1024 px projector at 1:1
MIN_FONT = FONT
FIT_WIDTH = 920.0  # the page's drawing width: a 1024 px window's column is ~936 px
GAP = 6  # between nodes (labels keep 4 px of their own)
WRAPPED_BOXES = 0.6  # box size in a drawing that wraps to rows
ROW_GAP = 14  # between wrapped rows (the connector runs in it)
TOP_PAD, SIDE_PAD = 12, 14
ARC_STEP = 15  # vertical distance between arc levels


def _log_scale(n: float, lo: float, per_octave: float, lo_clamp: float, hi_clamp: float) -> float:
    return min(hi_clamp, max(lo_clamp, lo + per_octave * math.log2(max(n, 1))))


def box_size(shape: Sequence[int] | None, kind: str) -> tuple[float, float, float]:
    """(thickness w ← C, height h ← H, depth d ← W) in pixels for an output shape."""
    if kind in ("norm", "act", "dropout", "identity"):  # thin slabs: they keep the shape of what they follow
        _, h, d = box_size(shape, "conv")
        return 5.0, h, d
    if kind == "input":  # the image itself: a thin sheet, whatever its channel count
        _, h, d = box_size(shape, "conv")
        return 6.0, h, d
    if not shape:
        return 10.0, 30.0, 6.0
    if len(shape) == 1:  # a vector (fully-connected output): a tall thin bar
        return 10.0, _log_scale(shape[0], 10, 12, 16, 150), 6.0
    c, sides = shape[0], shape[1:]
    h = _log_scale(sides[0], 14, 18, 12, 160)
    d = _log_scale(sides[-1], 4, 7.5, 4, 64)
    w = _log_scale(c, -30, 10, 4, 80)
    return w, h, d


_EM = {**dict.fromkeys("0123456789", 0.636), "×": 0.838, " ": 0.318, "/": 0.337, ".": 0.318, ",": 0.318}


def _text_width(text: str, size: float = FONT) -> float:
    """Width in px in DejaVu Sans (the drawing's first font): its digit and × widths, about 0.6 em otherwise."""
    return size * sum(_EM.get(ch, 0.6) for ch in text) + 4


# ---------------------------------------------------------------------------------------------- shapes


@dataclass
class Poly:
    points: list[tuple[float, float]]
    fill: str
    stroke: str = "#333333"
    width: float = 0.8
    dash: bool = False
    cls: str = ""


@dataclass
class Curve:
    """A shortcut's path: up from (x0, y0) to ``top``, across, and down to (x1, y1), corners rounded by ``r``;
    ``arrow``: an arrowhead at the end."""

    x0: float
    y0: float
    x1: float
    y1: float
    top: float
    stroke: str
    width: float = 1.6
    dash: bool = False
    arrow: bool = True
    r: float = 10.0

    def points(self, n: int = 8) -> list[tuple[float, float]]:
        """The path sampled as a polyline (each rounded corner as ``n`` segments)."""
        r = min(self.r, abs(self.x1 - self.x0) / 2, max(self.y0 - self.top, 1), max(self.y1 - self.top, 1))
        pts = [(self.x0, self.y0)]
        for cx, cy, a0 in ((self.x0 + r, self.top + r, math.pi), (self.x1 - r, self.top + r, 1.5 * math.pi)):
            pts += [
                (cx + r * math.cos(a0 + 0.5 * math.pi * i / n), cy + r * math.sin(a0 + 0.5 * math.pi * i / n))
                for i in range(n + 1)
            ]
        pts.append((self.x1, self.y1))
        return pts


@dataclass
class Line:
    """An open polyline (a wrapped row's connector), ``arrow``: an arrowhead at its end."""

    points: list[tuple[float, float]]
    stroke: str
    width: float = 1.4
    arrow: bool = True


@dataclass
class Text:
    x: float
    y: float
    text: str
    size: float = FONT
    anchor: str = "middle"  # start | middle | end
    color: str = TEXT
    bold: bool = False


@dataclass
class Circle:
    cx: float
    cy: float
    r: float
    fill: str
    stroke: str = "#333333"


@dataclass
class Group:
    """Shapes that belong to one thing on the page (a layer, a shortcut); ``attrs`` become SVG attributes."""

    cls: str
    attrs: dict[str, str] = field(default_factory=dict)
    title: str = ""
    shapes: list = field(default_factory=list)


@dataclass
class Scene:
    width: float
    height: float
    groups: list[Group]
    title: str
    centers: dict[str, float] = field(default_factory=dict)  # node key → x of its centre (for aligned charts)
    node_list: list[Node] = field(default_factory=list)  # the row drawn (the bars under it use its order)
    rows: int = 1  # rows the drawing wraps to (one: the bars can sit under their boxes)


# ---------------------------------------------------------------------------------------------- layout


def _lighter(hex_color: str, f: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    mix = (lambda v: round(v + (255 - v) * f)) if f > 0 else (lambda v: round(v * (1 + f)))
    return "#" + "".join(f"{max(0, min(255, mix(v))):02x}" for v in (r, g, b))


def _box(x: float, y_mid: float, w: float, h: float, d: float, color: str, dash: bool = False) -> list[Poly]:
    """Front face, top and side of a box whose front face is centred on ``y_mid``."""
    dx, dy = d * 0.7, d * 0.5
    y0 = y_mid - h / 2
    front = Poly([(x, y0), (x + w, y0), (x + w, y0 + h), (x, y0 + h)], color, dash=dash, cls="face")
    top = Poly([(x, y0), (x + dx, y0 - dy), (x + w + dx, y0 - dy), (x + w, y0)], _lighter(color, 0.35), dash=dash)
    side = Poly(
        [(x + w, y0), (x + w + dx, y0 - dy), (x + w + dx, y0 + h - dy), (x + w, y0 + h)],
        _lighter(color, -0.25),
        dash=dash,
    )
    return [front, top, side]


def _record_title(r: LayerRecord) -> str:
    parts = [f"{r.key} · {r.type}", f"output {shape_text(r.output_shape[1:] if r.output_shape else None)}"]
    if r.kernel is not None:
        parts.append(f"kernel {shape_text(r.kernel)}, stride {shape_text(r.stride)}")
    parts.append(f"params 파라미터 {r.params:,} · MACs {count_text(r.macs)}")
    rf = r.rf_display
    jump = shape_text(r.jump, empty="–")
    parts.append(f"receptive field 수용 영역 {rf} · jump 점프 {jump}")
    return "\n".join(parts)


def _node_title(node: Node, records: dict[str, LayerRecord]) -> str:
    if node.kind == "join":
        head = "⊕ residual sum (shortcut joins here) · 잔차 합 (지름길이 합쳐지는 곳)"
        return "\n".join([head] + [_record_title(records[k]) for k in node.keys if k in records])
    first = records[node.keys[0]]
    text = _record_title(first)
    if node.kind == "stage":
        params = sum(records[k].params for k in node.keys if records[k].call_index == 0)
        macs = sum(records[k].macs for k in node.keys)
        last = records.get(node.tail) or first  # the stage's output: its last block's
        text = (
            f"{node.label}: {node.count} units folded · {node.count}개 단위 접힘\n"
            f"output {shape_text(node.shape)} · params 파라미터 {params:,} · MACs {count_text(macs)}\n"
            f"receptive field at its end 끝의 수용 영역 {last.rf_display}\n"
            "click ×N to expand · ×N을 클릭하면 펼칩니다"
        )
    elif len(node.keys) > 1:
        text += "\nwith 함께: " + ", ".join(f"{k} ({records[k].type})" for k in node.keys[1:] if k in records)
    return text


def _conv_keys(node: Node, records: dict[str, LayerRecord]) -> list[str]:
    return [k for k in node.keys if k in records and kind_of(records[k]) in ("conv", "linear")]


@dataclass
class _Layout:
    """Where everything goes, decided before anything is drawn: one entry per drawn item, in call order."""

    items: list[tuple[str, Node | None]]  # ("input", None) or ("node", node)
    sizes: list[tuple[float, float, float]]  # per item: thickness, height, depth
    labels: list[tuple[str, str]]  # per item: above, below
    slots: list[float]  # per item: the width it takes on its row (box or labels, whichever is wider)
    records: dict[str, LayerRecord]
    fold: str
    xs: list[float] = field(default_factory=list)  # per item: the x of its front face
    row_of: list[int] = field(default_factory=list)  # per item: its row
    width: float = 0.0
    band: float = 0.0  # one row's height (every row the same, so the rows line up)
    y_mid0: float = 0.0  # the first row's centre line; row r's is y_mid0 + r * band
    y_bottom0: float = 0.0  # the first row's labels under the boxes
    arc_base0: float = 0.0  # arcs' apexes are stacked up from here (first row)
    height: float = 0.0
    one: float = 0.0  # the bottom of the first row's band

    def y_mid(self, i: int) -> float:
        return self.y_mid0 + self.row_of[i] * self.band

    def y_bottom(self, i: int) -> float:
        return self.y_bottom0 + self.row_of[i] * self.band

    def arc_base(self, i: int) -> float:
        return self.arc_base0 + self.row_of[i] * self.band


def build(
    analysis: Analysis,
    fold: str = "blocks",
    expanded: Iterable[str] = (),
    selected: str | None = None,
    show_input: bool = True,
    max_width: float | None = None,
) -> Scene:
    """Lay the analysis out: boxes left to right (wrapped to rows no wider than ``max_width``, if given),
    shortcut arcs above, labels around.

    In phases: what to draw (``graph.nodes``), each item's slot width, arc levels, the rows (breaks only where no
    shortcut is cut, see ``_breakable``), x positions and vertical bands, then the shapes of each node, each
    shortcut, the rows' connectors, and the selection mark.
    """
    row, found = nodes(analysis, fold, expanded)
    items: list[tuple[str, Node | None]] = ([("input", None)] if show_input else []) + [("node", n) for n in row]
    layout = _slots(analysis, items, fold)
    if max_width is not None and _row_width(layout.slots, [0]) > max_width:
        layout = _slots(analysis, items, fold, WRAPPED_BOXES)  # rows to come: smaller boxes, fewer and lower rows
    arcs = _arc_levels(items, found)
    _wrap(layout, arcs, max_width)
    _rows(layout, levels=1 + max((level for *_, level in arcs), default=-1))
    groups: list[Group] = []
    centers: dict[str, float] = {}
    for i, (tag, node) in enumerate(items):
        if tag == "input":
            groups.append(_input_group(layout, i, analysis, centers))
        else:
            groups += _node_groups(layout, i, node, centers)
    for a, b, skip, level in arcs:  # drawn last: on top of the boxes' labels they pass over
        groups += _shortcut_groups(layout, a, b, skip, level, centers)
    groups += _connectors(layout)
    if selected:
        _mark_selected(groups, selected)
    title = f"{analysis.model_name} at {shape_text(analysis.input_shape)}"
    rows = 1 + max(layout.row_of, default=0)
    return Scene(layout.width, layout.height, groups, title, centers, row, rows)


def _slots(analysis: Analysis, items: list[tuple[str, Node | None]], fold: str, scale: float = 1.0) -> _Layout:
    """Each item's box size (``scale``× ``box_size``), labels and slot width: the box (with its depth) or its
    labels, whichever is wider."""
    sizes, labels = [], []
    for tag, node in items:
        if tag == "input":
            sizes.append(box_size(list(analysis.input_shape), "input"))
            labels.append(("input", shape_text(analysis.input_shape)))
        elif node.kind == "join":
            sizes.append((26.0, 18.0, 0.0))  # the ⊕, with room for arcs to land clear of the boxes
            labels.append(("", ""))
        else:
            sizes.append(box_size(node.shape, node.kind))
            labels.append((node.label, shape_text(node.shape)))
    if scale != 1.0:  # the ⊕ keeps its size: arcs land on it
        sizes = [
            size if node is not None and node.kind == "join" else tuple(v * scale for v in size)
            for size, (_, node) in zip(sizes, items)
        ]
    slots = []
    for (w, _h, d), (top, bottom), (_tag, node) in zip(sizes, labels, items):
        body = w + d * 0.7 + (14 if node is not None and node.kind == "stage" else 0)  # the ×N badge sticks out
        top_size = FONT + 1.5 if node is not None and node.kind == "stage" else FONT  # a stage's label is bold
        slots.append(max(body, _text_width(top, top_size), _text_width(bottom, MIN_FONT)))
    records = {r.key: r for r in analysis.layers}
    return _Layout(items, sizes, labels, slots, records, fold)


def _arc_levels(items: list[tuple[str, Node | None]], found: list[Skip]) -> list[tuple[int, int, Skip, int]]:
    """``(from item, to item, shortcut, level)`` per drawn shortcut: one level per overlapping span, lowest free
    level first (visualtorch's stacking, so no two arcs cross)."""
    key_to_item = {}
    for i, (tag, node) in enumerate(items):
        if tag == "input":
            key_to_item["input"] = i
            continue
        for k in node.keys:
            key_to_item[k] = i
        if node.join:
            key_to_item[node.join] = i
    arcs = []
    for s in found:
        a, b = key_to_item.get(s.source), key_to_item.get(s.join.key)
        if a is None or b is None or a == b or items[b][1].kind != "join":
            continue  # folded inside a stage: the stage box says it holds residual blocks
        arcs.append((a, b, s))
    levels: list[list[tuple[int, int]]] = []
    out = []
    for a, b, s in sorted(arcs, key=lambda t: (t[1] - t[0], t[0])):
        # Arcs that merely touch (one block's ⊕ is the next block's start) still alternate levels: on one
        # level they would read as one long line.
        level = next((i for i, spans in enumerate(levels) if all(b < lo or a > hi for lo, hi in spans)), None)
        if level is None:
            levels.append([])
            level = len(levels) - 1
        levels[level].append((a, b))
        out.append((a, b, s, level))
    return out


def _breakable(n: int, arcs: list[tuple[int, int, Skip, int]]) -> list[bool]:
    """``ok[i]``: a new row may start at item ``i``: no shortcut is cut, except one that leaves from the last item
    of the row before (it then branches off the connector that brings that item's output into the new row)."""
    ok = [True] * n
    for a, b, *_ in arcs:
        for i in range(a + 2, b + 1):
            ok[i] = False
    ok[0] = False
    return ok


def _greedy_rows(slots: list[float], ok: list[bool], limit: float) -> list[int]:
    """Row starts: fill a row up to ``limit``, then break at its last allowed point (a piece no break can cut
    stays whole, wider than the limit if it must)."""
    starts, start, width, last_ok = [0], 0, 0.0, None
    i = 0
    while i < len(slots):
        if ok[i] and i > start:
            last_ok = i
        width += slots[i] + (GAP if i > start else 0)
        if width + 2 * SIDE_PAD > limit and last_ok is not None:
            start, last_ok = last_ok, None
            starts.append(start)
            i, width = start, 0.0
            continue
        i += 1
    return starts


def _row_width(slots: list[float], starts: list[int]) -> float:
    ends = starts[1:] + [len(slots)]
    return max(sum(slots[a:b]) + GAP * (b - a - 1) for a, b in zip(starts, ends)) + 2 * SIDE_PAD


def _wrap(layout: _Layout, arcs: list[tuple[int, int, Skip, int]], max_width: float | None) -> None:
    """Rows and x positions: one row, or as few rows as fit ``max_width``, made as even as that many allow."""
    slots = layout.slots
    starts = [0]
    if max_width is not None and slots and _row_width(slots, [0]) > max_width:
        ok = _breakable(len(slots), arcs)
        starts = _greedy_rows(slots, ok, max_width)
        lo, hi = _row_width(slots, [0]) / len(starts), max_width  # balance: the narrowest limit, same row count
        for _ in range(24):
            mid = (lo + hi) / 2
            if len(_greedy_rows(slots, ok, mid)) <= len(starts):
                hi = mid
            else:
                lo = mid
        starts = _greedy_rows(slots, ok, hi)
    layout.row_of, layout.xs = [], []
    for r, (a, b) in enumerate(zip(starts, starts[1:] + [len(slots)])):
        x = SIDE_PAD
        for i in range(a, b):
            w, _h, d = layout.sizes[i]
            body = w + d * 0.7
            layout.xs.append(x + (slots[i] - body) / 2)
            layout.row_of.append(r)
            x += slots[i] + GAP
    layout.width = _row_width(slots, starts)


def _rows(layout: _Layout, levels: int) -> None:
    """The vertical layout of one band (every row alike): arcs on top, the labels, the boxes, the labels under
    them, a stage's ticks."""
    arc_room = ((levels + 1) * ARC_STEP + 16) if levels else 0
    max_h = max(h for _, h, _ in layout.sizes)
    max_dy = max(d * 0.5 for _, _, d in layout.sizes)
    layout.arc_base0 = TOP_PAD + arc_room
    layout.y_mid0 = TOP_PAD + arc_room + FONT + 10 + max_dy + max_h / 2
    layout.y_bottom0 = layout.y_mid0 + max_h / 2 + FONT + 6
    tick_rows = 0
    for (_tag, node), (w, _h, d) in zip(layout.items, layout.sizes):
        if node is not None and node.kind == "stage":
            tick_rows = max(tick_rows, math.ceil(len(_conv_keys(node, layout.records)) / _ticks_per_row(w, d)))
    one = layout.y_bottom0 + FONT + 8 + (tick_rows * 5 + 8 if tick_rows else 0) + 6
    rows = 1 + max(layout.row_of, default=0)
    layout.one = one
    layout.band = one - TOP_PAD + ROW_GAP
    layout.height = one + (rows - 1) * layout.band


def _connectors(layout: _Layout) -> list[Group]:
    """From each row's last item to the next row's first: right, down into the gap between rows, back left,
    and down into the next row's first box (so the order reads on like a line of text)."""
    out = []
    for r in range(max(layout.row_of, default=0)):
        last = max(i for i, row in enumerate(layout.row_of) if row == r)
        first = last + 1
        (w, _h, d), x0 = layout.sizes[last], layout.xs[last]
        x_end = x0 + w + d * 0.7 + 3
        y0, y1 = layout.y_mid(last), layout.y_mid(first)
        gap_y = layout.one + r * layout.band + ROW_GAP / 2 - 3  # between row r's last labels and row r+1's arcs
        right, left = layout.width - SIDE_PAD / 2, SIDE_PAD / 2
        fx = layout.xs[first] - 2
        pts = [(x_end, y0), (right, y0), (right, gap_y), (left, gap_y), (left, y1), (fx, y1)]
        g = Group("wrap", {"data-row": str(r + 1)}, "continues on the next row · 다음 줄에 이어집니다")
        g.shapes.append(Line(pts, "#888888"))
        out.append(g)
    return out


def _ticks_per_row(w: float, d: float) -> int:
    return max(4, int((w + d * 0.7) // 5))


def _input_group(layout: _Layout, i: int, analysis: Analysis, centers: dict[str, float]) -> Group:
    (w, h, d), x0 = layout.sizes[i], layout.xs[i]
    cx = x0 + (w + d * 0.7) / 2
    g = Group(
        "input",
        {"data-input": "input", "data-shape": shape_text(analysis.input_shape, "x")},
        f"input 입력 {shape_text(analysis.input_shape)}",
    )
    y_mid = layout.y_mid(i)
    g.shapes += _box(x0, y_mid, w, h, d, COLORS["input"])
    g.shapes.append(Text(cx, y_mid - h / 2 - d * 0.5 - 5, "input", color=MUTED))
    g.shapes.append(Text(cx, layout.y_bottom(i), layout.labels[i][1], size=MIN_FONT, color=MUTED))
    centers["input"] = cx
    return g


def _node_groups(layout: _Layout, i: int, node: Node, centers: dict[str, float]) -> list[Group]:
    """A layer's box (a ⊕'s circle, a folded stage's stack with its badge and ticks), with its data-* markup."""
    (w, h, d), x0, (top, bottom) = layout.sizes[i], layout.xs[i], layout.labels[i]
    records, y_mid = layout.records, layout.y_mid(i)
    cx = x0 + (w + d * 0.7) / 2
    centers[node.key] = cx
    for k in node.keys:
        centers.setdefault(k, cx)
    attrs = {"data-shape": shape_text(node.shape, "x")}
    if node.keys:
        attrs["data-layer"] = node.keys[0]
        attrs["data-index"] = str(records[node.keys[0]].index)  # its row in the layer table
    if len(node.keys) > 1 and node.kind != "stage":
        attrs["data-folded"] = " ".join(node.keys[1:])
    if node.kind == "join":
        attrs["data-join"] = node.join
        g = Group(f"layer {node.kind}" if node.keys else "join", attrs, _node_title(node, records))
        g.shapes.append(Circle(cx, y_mid, 9, COLORS["join"]))
        g.shapes.append(Text(cx, y_mid + 4.5, "+", size=14, bold=True, color="#ffffff"))
        if node.keys:
            g.shapes.append(Text(cx, y_mid + 24, "ReLU", size=MIN_FONT, color=MUTED))
        return [g]
    if node.kind == "stage":
        return _stage_groups(layout, i, node, attrs)
    thin = node.kind in ("norm", "act", "dropout", "identity")
    g = Group(f"layer {node.kind}", attrs, _node_title(node, records))
    g.shapes += _box(x0, y_mid, w, h, d, COLORS.get(node.kind, COLORS["other"]))
    if not thin or layout.fold == "none":
        size = FONT if node.kind not in ("norm", "act", "dropout") else MIN_FONT
        g.shapes.append(Text(cx, y_mid - h / 2 - d * 0.5 - 5, top, size=size))
    if not thin:
        g.shapes.append(Text(cx, layout.y_bottom(i), bottom, size=MIN_FONT))
    return [g]


def _stage_groups(layout: _Layout, i: int, node: Node, attrs: dict[str, str]) -> list[Group]:
    """A folded stage: a stack of boxes, its ×N badge (a click expands it), and one tick per conv underneath."""
    (w, h, d), x0, (top, bottom) = layout.sizes[i], layout.xs[i], layout.labels[i]
    records, y_mid = layout.records, layout.y_mid(i)
    cx = x0 + (w + d * 0.7) / 2
    attrs["data-stage"] = node.stage
    attrs["data-count"] = str(node.count)
    # The box stands for the whole stage (its output shape); its layers are the ticks underneath, so it carries
    # data-stage (and data-first: the layer a click selects) instead of a data-layer.
    del attrs["data-layer"], attrs["data-index"]
    attrs["data-first"] = node.keys[0]
    attrs["data-keys"] = " ".join(node.keys)
    g = Group("stage", attrs, _node_title(node, records))
    for back in (2, 1):  # a stack of boxes behind: several units folded into one
        g.shapes += _box(x0 + back * 4, y_mid - back * 4, w, h, d, _lighter(COLORS["stage"], 0.45))
    g.shapes += _box(x0, y_mid, w, h, d, COLORS["stage"])
    g.shapes.append(Text(cx, y_mid - h / 2 - d * 0.5 - 16, top, size=FONT + 1, bold=True))
    g.shapes.append(Text(cx, layout.y_bottom(i), bottom, size=MIN_FONT))
    badge = Group("expand", {"data-expand": node.stage}, "expand this stage · 이 단계를 펼치기")
    bx, by = x0 + w + d * 0.7 - 2, y_mid - h / 2 - d * 0.5
    badge.shapes.append(Circle(bx, by, 13, "#ffffff", COLORS["stage"]))
    badge.shapes.append(Text(bx, by + 4, f"×{node.count}", size=MIN_FONT, bold=True, color=COLORS["stage"]))
    out = [g, badge]
    per_row = _ticks_per_row(w, d)
    for t, k in enumerate(_conv_keys(node, records)):
        r = records[k]
        tx = x0 + (t % per_row) * 5
        ty = layout.y_bottom(i) + 8 + (t // per_row) * 5
        tick = Group("layer tick", _layer_attrs(r), _record_title(r))
        tick.shapes.append(
            Poly([(tx, ty), (tx + 4, ty), (tx + 4, ty + 4), (tx, ty + 4)], COLORS[kind_of(r)], width=0.3)
        )
        out.append(tick)
    return out


def _layer_attrs(r: LayerRecord) -> dict[str, str]:
    """The markup of an element standing for one record: its key, output shape and table row."""
    return {"data-layer": r.key, "data-shape": shape_text(r.output_shape[1:], "x"), "data-index": str(r.index)}


def _shortcut_groups(layout: _Layout, a: int, b: int, s: Skip, level: int, centers: dict[str, float]) -> list[Group]:
    """A shortcut's arc from item ``a`` to the ⊕ at item ``b``, and its own layers (a projection) on the arc."""
    items, sizes, y_mid = layout.items, layout.sizes, layout.y_mid(b)
    # Into a ⊕ slightly left of its centre, out of one slightly right: two arcs never share a stroke.
    xa, xb = centers_of(items[a], centers), centers_of(items[b], centers) - 3
    source_is_join = items[a][1] is not None and items[a][1].kind == "join"
    # Leave from above the source's label (from the top of a ⊕), so the arc never crosses text.
    xa += 3 if source_is_join else 0
    y_start = y_mid - 9 if source_is_join else y_mid - sizes[a][1] / 2 - sizes[a][2] * 0.5 - FONT - 6
    if layout.row_of[a] != layout.row_of[b]:  # the source ends the row before: branch off the connector
        xa, y_start = SIDE_PAD / 2, y_mid
    apex = layout.arc_base(b) - (level + 1) * ARC_STEP
    proj = s.projection
    color = "#c0392b" if proj else "#555555"
    via = [layout.records[k] for k in s.via if k in layout.records]
    label = _shortcut_label(via)
    attrs = {"data-from": s.source, "data-to": s.target, "data-block": s.block, "data-join": s.join.key}
    title = f"shortcut 지름길 {s.block}: {label if proj else 'identity 항등'}\nfrom 출발 {s.source} → ⊕ → {s.target}"
    g = Group("skip" + (" projection" if proj else ""), attrs, title)
    g.shapes.append(Curve(xa, y_start, xb, y_mid - 9, apex, color, dash=proj))
    if not via:
        return [g]
    # The shortcut's own layers sit on the arc: clickable like any other layer.
    mid_x, text = (xa + xb) / 2, label if proj else "identity"
    tw = _text_width(text, MIN_FONT) + 8
    main = via[0]
    extra = {"data-folded": " ".join(r.key for r in via[1:])} if len(via) > 1 else {}
    tag = Group("layer shortcut", {**_layer_attrs(main), **extra}, "\n".join(_record_title(r) for r in via))
    tag.shapes.append(_rect(mid_x - tw / 2, apex - 8, mid_x + tw / 2, apex + 6, "#ffffff", color, 1.0))
    tag.shapes.append(Text(mid_x, apex + 3, text, size=MIN_FONT, color=color))
    out = [g, tag]
    if layout.fold == "none" and len(via) > 1:  # every layer: the shortcut's BatchNorm gets its own element
        for r in via[1:]:
            x = mid_x + tw / 2
            box = _rect(x + 2, apex - 8, x + 7, apex + 6, COLORS[kind_of(r)], "#333333", 0.6)
            out.append(Group("layer shortcut-extra", _layer_attrs(r), _record_title(r), [box]))
    return out


def _rect(x0: float, y0: float, x1: float, y1: float, fill: str, stroke: str, width: float) -> Poly:
    return Poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], fill, stroke=stroke, width=width)


def _mark_selected(groups: list[Group], key: str) -> None:
    """Mark the one element that shows layer ``key``: its own element, else the box it is folded into, else
    the folded stage holding it."""
    for test in (
        lambda g: g.attrs.get("data-layer") == key,
        lambda g: key in g.attrs.get("data-folded", "").split(),
        lambda g: key in g.attrs.get("data-keys", "").split(),
    ):
        hit = next((g for g in groups if test(g)), None)
        if hit is not None:
            hit.cls += " selected"
            return


def centers_of(item: tuple[str, Node | None], centers: dict[str, float]) -> float:
    tag, node = item
    return centers["input"] if tag == "input" else centers[node.key]


def _shortcut_label(via: list[LayerRecord]) -> str:
    conv = next((r for r in via if kind_of(r) == "conv"), None)
    if conv is None:
        return "identity"
    k = shape_text(conv.kernel) if len(set(conv.kernel)) > 1 else f"{conv.kernel[0]}×{conv.kernel[0]}"
    stride = conv.stride[0] if conv.stride and len(set(conv.stride)) == 1 else None
    return k + (f", /{stride}" if stride and stride != 1 else "")
