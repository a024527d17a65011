"""Geometry: nodes and shortcuts → a ``Scene`` of plain shapes (polygons, curves, text) in pixel coordinates.

The scene is what both writers draw (``svg.py`` for the page and slides, ``raster.py`` for PNG), so the two
exports are the same picture. Boxes follow convnet-drawer's 3D look: the front face's height is the map's H,
the oblique depth its W, the thickness its C, each on a clamped log scale so that VGG-16's 224×224×64 and
7×7×512 both stay readable. Shortcut arcs are stacked on levels (as visualtorch does) so none cross.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from visualizer.analysis import Analysis, LayerRecord
from visualizer.diagram.graph import Node, kind_of, nodes

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
FONT = 11  # px
GAP = 16  # between nodes
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


def _text_width(text: str, size: float = FONT) -> float:
    return 0.6 * size * len(text)


def shape_text(shape: Sequence[int] | None) -> str:
    return "×".join(str(int(s)) for s in shape) if shape else ""


def human(n: float) -> str:
    for div, prefix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= div:
            return f"{n / div:.3g}{prefix}"
    return f"{n:g}"


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
        parts.append(f"kernel {'×'.join(map(str, r.kernel))}, stride {'×'.join(map(str, r.stride))}")
    parts.append(f"params 파라미터 {r.params:,} · MACs {human(r.macs)}")
    rf = r.rf_display
    jump = "×".join(f"{j:g}" for j in r.jump) if r.jump is not None else "–"
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
            f"output {shape_text(node.shape)} · params 파라미터 {params:,} · MACs {human(macs)}\n"
            f"receptive field at its end 끝의 수용 영역 {last.rf_display}\n"
            "click ×N to expand · ×N을 클릭하면 펼칩니다"
        )
    elif len(node.keys) > 1:
        text += "\nwith 함께: " + ", ".join(f"{k} ({records[k].type})" for k in node.keys[1:] if k in records)
    return text


def _conv_keys(node: Node, records: dict[str, LayerRecord]) -> list[str]:
    return [k for k in node.keys if k in records and kind_of(records[k]) in ("conv", "linear")]


def build(
    analysis: Analysis,
    fold: str = "blocks",
    expanded: Iterable[str] = (),
    selected: str | None = None,
    show_input: bool = True,
) -> Scene:
    """Lay the analysis out: one row of boxes left to right, shortcut arcs above, labels around."""
    row, found = nodes(analysis, fold, expanded)
    records = {r.key: r for r in analysis.layers}
    items: list[tuple[str, Node | None]] = ([("input", None)] if show_input else []) + [("node", n) for n in row]

    sizes = []
    for tag, node in items:
        if tag == "input":
            sizes.append(box_size(list(analysis.input_shape), "input"))
        elif node.kind == "join":
            sizes.append((26.0, 18.0, 0.0))  # the ⊕, with room for arcs to land clear of the boxes
        else:
            sizes.append(box_size(node.shape, node.kind))
    max_h = max(h for _, h, _ in sizes)
    max_dy = max(d * 0.5 for _, _, d in sizes)

    # Horizontal slots: box (with its depth) or its labels, whichever is wider.
    labels = []
    for tag, node in items:
        if tag == "input":
            labels.append(("input", shape_text(analysis.input_shape)))
        elif node.kind == "join":
            labels.append(("", ""))
        else:
            labels.append((node.label, shape_text(node.shape)))
    xs, x = [], SIDE_PAD
    for (w, _h, d), (top, bottom) in zip(sizes, labels):
        body = w + d * 0.7
        slot = max(body, _text_width(top), _text_width(bottom, FONT - 1))
        xs.append(x + (slot - body) / 2)
        x += slot + GAP
    width = x - GAP + SIDE_PAD

    # Arcs: one level per overlapping span, lowest free level first.
    key_to_item = {}
    for i, (tag, node) in enumerate(items):
        if tag == "input":
            key_to_item["input"] = i
        else:
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
    arc_level = []
    for a, b, s in sorted(arcs, key=lambda t: (t[1] - t[0], t[0])):
        # Arcs that merely touch (one block's ⊕ is the next block's start) still alternate levels: on one
        # level they would read as one long line.
        level = next((i for i, spans in enumerate(levels) if all(b < lo or a > hi for lo, hi in spans)), None)
        if level is None:
            levels.append([])
            level = len(levels) - 1
        levels[level].append((a, b))
        arc_level.append((a, b, s, level))
    arc_room = ((len(levels) + 1) * ARC_STEP + 16) if levels else 0
    label_room = FONT + 8
    y_mid = TOP_PAD + arc_room + label_room + max_dy + max_h / 2
    y_bottom_labels = y_mid + max_h / 2 + FONT + 6
    has_stage = any(n is not None and n.kind == "stage" for _, n in items)
    tick_rows = 0
    if has_stage:
        for (_tag, node), (w, _h, d) in zip(items, sizes):
            if node is not None and node.kind == "stage":
                per_row = max(4, int((w + d * 0.7) // 5))
                tick_rows = max(tick_rows, math.ceil(len(_conv_keys(node, records)) / per_row))
    height = y_bottom_labels + FONT + 8 + (tick_rows * 5 + 8 if tick_rows else 0) + 6

    groups: list[Group] = []
    centers: dict[str, float] = {}
    for i, ((tag, node), (w, h, d), (top, bottom)) in enumerate(zip(items, sizes, labels)):
        x0 = xs[i]
        cx = x0 + (w + d * 0.7) / 2
        if tag == "input":
            g = Group(
                "input",
                {"data-input": "input", "data-shape": "x".join(map(str, analysis.input_shape))},
                f"input 입력 {shape_text(analysis.input_shape)}",
            )
            g.shapes += _box(x0, y_mid, w, h, d, COLORS["input"])
            g.shapes.append(Text(cx, y_mid - h / 2 - d * 0.5 - 5, "input", color=MUTED))
            g.shapes.append(Text(cx, y_bottom_labels, bottom, size=FONT - 1, color=MUTED))
            groups.append(g)
            centers["input"] = cx
            continue
        centers[node.key] = cx
        for k in node.keys:
            centers.setdefault(k, cx)
        attrs = {"data-shape": "x".join(map(str, node.shape)) if node.shape else ""}
        if node.keys:
            attrs["data-layer"] = node.keys[0]
            attrs["data-index"] = str(records[node.keys[0]].index)  # its row in the layer table
        if len(node.keys) > 1 and node.kind != "stage":
            attrs["data-folded"] = " ".join(node.keys[1:])
        cls = f"layer {node.kind}"
        if node.kind == "join":
            attrs["data-join"] = node.join
            g = Group(cls if node.keys else "join", attrs, _node_title(node, records))
            g.shapes.append(Circle(cx, y_mid, 9, COLORS["join"]))
            g.shapes.append(Text(cx, y_mid + 4.5, "+", size=14, bold=True, color="#ffffff"))
            if len(node.keys) > 0:
                g.shapes.append(Text(cx, y_mid + 24, "ReLU", size=FONT - 2, color=MUTED))
            groups.append(g)
            continue
        if node.kind == "stage":
            attrs["data-stage"] = node.stage
            attrs["data-count"] = str(node.count)
            # The box stands for the whole stage (its output shape); its layers are the ticks underneath, so
            # it carries data-stage (and data-first: the layer a click selects) instead of a data-layer.
            del attrs["data-layer"], attrs["data-index"]
            attrs["data-first"] = node.keys[0]
            attrs["data-keys"] = " ".join(node.keys)
            g = Group("stage", attrs, _node_title(node, records))
            for back in (2, 1):  # a stack of boxes behind: several units folded into one
                g.shapes += _box(x0 + back * 4, y_mid - back * 4, w, h, d, _lighter(COLORS["stage"], 0.45))
            g.shapes += _box(x0, y_mid, w, h, d, COLORS["stage"])
            g.shapes.append(Text(cx, y_mid - h / 2 - d * 0.5 - 14, top, bold=True))
            g.shapes.append(Text(cx, y_bottom_labels, bottom, size=FONT - 1))
            groups.append(g)
            badge = Group("expand", {"data-expand": node.stage}, "expand this stage · 이 단계를 펼치기")
            bx, by = x0 + w + d * 0.7 - 2, y_mid - h / 2 - d * 0.5
            badge.shapes.append(Circle(bx, by, 10, "#ffffff", COLORS["stage"]))
            badge.shapes.append(Text(bx, by + 4, f"×{node.count}", size=FONT - 3, bold=True, color=COLORS["stage"]))
            groups.append(badge)
            convs = _conv_keys(node, records)
            per_row = max(4, int((w + d * 0.7) // 5))
            for t, k in enumerate(convs):
                r = records[k]
                tx = x0 + (t % per_row) * 5
                ty = y_bottom_labels + 8 + (t // per_row) * 5
                tick = Group(
                    "layer tick",
                    {"data-layer": k, "data-shape": "x".join(map(str, r.output_shape[1:])), "data-index": str(r.index)},
                    _record_title(r),
                )
                tick.shapes.append(
                    Poly([(tx, ty), (tx + 4, ty), (tx + 4, ty + 4), (tx, ty + 4)], COLORS[kind_of(r)], width=0.3)
                )
                groups.append(tick)
            continue
        g = Group(cls, attrs, _node_title(node, records))
        g.shapes += _box(x0, y_mid, w, h, d, COLORS.get(node.kind, COLORS["other"]))
        if node.kind not in ("norm", "act", "dropout", "identity") or fold == "none":
            g.shapes.append(
                Text(
                    cx,
                    y_mid - h / 2 - d * 0.5 - 5,
                    top,
                    size=FONT if node.kind not in ("norm", "act", "dropout") else FONT - 2,
                )
            )
        if node.kind not in ("norm", "act", "dropout", "identity"):
            g.shapes.append(Text(cx, y_bottom_labels, bottom, size=FONT - 1))
        groups.append(g)

    # Shortcut arcs (drawn last: on top of the boxes' labels they pass over).
    arc_base = TOP_PAD + arc_room
    for a, b, s, level in arc_level:
        # Into a ⊕ slightly left of its centre, out of one slightly right: two arcs never share a stroke.
        xa, xb = centers_of(items[a], centers), centers_of(items[b], centers) - 3
        source_is_join = items[a][1] is not None and items[a][1].kind == "join"
        # Leave from above the source's label (from the top of a ⊕), so the arc never crosses text.
        xa += 3 if source_is_join else 0
        y_start = y_mid - 9 if source_is_join else y_mid - sizes[a][1] / 2 - sizes[a][2] * 0.5 - FONT - 6
        y_end = y_mid - 9
        apex = arc_base - (level + 1) * ARC_STEP
        proj = s.projection
        color = "#c0392b" if proj else "#555555"
        via = [records[k] for k in s.via if k in records]
        label = _shortcut_label(via)
        attrs = {"data-from": s.source, "data-to": s.target, "data-block": s.block, "data-join": s.join.key}
        g = Group(
            "skip" + (" projection" if proj else ""),
            attrs,
            (
                f"shortcut 지름길 {s.block}: "
                + (label if proj else "identity 항등")
                + f"\nfrom 출발 {s.source} → ⊕ → {s.target}"
            ),
        )
        g.shapes.append(Curve(xa, y_start, xb, y_end, apex, color, dash=proj))
        groups.append(g)
        if via:  # the shortcut's own layers sit on the arc: clickable like any other layer
            mid_x = (xa + xb) / 2
            mid_y = apex
            text = label if proj else "identity"
            tw = _text_width(text, FONT - 1) + 8
            main = via[0]
            tag = Group(
                "layer shortcut",
                {
                    "data-layer": main.key,
                    "data-shape": "x".join(map(str, main.output_shape[1:])),
                    "data-index": str(main.index),
                    **({"data-folded": " ".join(r.key for r in via[1:])} if len(via) > 1 else {}),
                },
                "\n".join(_record_title(r) for r in via),
            )
            tag.shapes.append(
                Poly(
                    [
                        (mid_x - tw / 2, mid_y - 8),
                        (mid_x + tw / 2, mid_y - 8),
                        (mid_x + tw / 2, mid_y + 6),
                        (mid_x - tw / 2, mid_y + 6),
                    ],
                    "#ffffff",
                    stroke=color,
                    width=1.0,
                )
            )
            tag.shapes.append(Text(mid_x, mid_y + 2.5, text, size=FONT - 1, color=color))
            groups.append(tag)
            if fold == "none" and len(via) > 1:  # every layer: the shortcut's BatchNorm gets its own element
                for extra in via[1:]:
                    groups.append(
                        Group(
                            "layer shortcut-extra",
                            {
                                "data-layer": extra.key,
                                "data-shape": "x".join(map(str, extra.output_shape[1:])),
                                "data-index": str(extra.index),
                            },
                            _record_title(extra),
                            [
                                Poly(
                                    [
                                        (mid_x + tw / 2 + 2, mid_y - 8),
                                        (mid_x + tw / 2 + 7, mid_y - 8),
                                        (mid_x + tw / 2 + 7, mid_y + 6),
                                        (mid_x + tw / 2 + 2, mid_y + 6),
                                    ],
                                    COLORS[kind_of(extra)],
                                    width=0.6,
                                )
                            ],
                        )
                    )
    if selected:
        _mark_selected(groups, selected)
    title = f"{analysis.model_name} at {shape_text(analysis.input_shape)}"
    return Scene(width, height, groups, title, centers, row)


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
    k = "×".join(map(str, conv.kernel)) if len(set(conv.kernel)) > 1 else f"{conv.kernel[0]}×{conv.kernel[0]}"
    stride = conv.stride[0] if conv.stride and len(set(conv.stride)) == 1 else None
    return k + (f", /{stride}" if stride and stride != 1 else "")
