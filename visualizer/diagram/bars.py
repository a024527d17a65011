"""Per-layer charts aligned under the diagram: parameters, MACs and the receptive field, one column per box.

Drawn on the diagram's own x positions (``Scene.centers``) and width, so a bar sits exactly under its box (a
drawing wrapped to rows: one even column per box, in the row's order), each bar in its box's colour:
VGG's lesson at a glance — the fully-connected layers hold most of the weights while the convs do most of
the work, and the receptive field climbs towards (and past) the input size.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from visualizer.diagram.scene import COLORS, MIN_FONT, Scene
from visualizer.diagram.svg import _n, size_attrs
from visualizer.records import Analysis

STRIP = 62  # height of one bar strip
LABEL_ROOM = 14  # above the tallest bar: its share, clear of the strip's title
GAP = 24
RF_COLOR = "#59a14f"


def _node_sums(scene: Scene, analysis: Analysis) -> list[tuple[str, float, int, int, list[int] | None, str, str]]:
    """Per drawn node: (key, x, parameters, MACs, receptive field at its output, label, kind)."""
    records = {r.key: r for r in analysis.layers}
    drawn = [n for n in scene.node_list if any(k in records for k in n.keys)]
    step = (scene.width - 28) / max(1, len(drawn))
    out = []
    for i, node in enumerate(drawn):
        keys = [k for k in node.keys if k in records]
        params = sum(records[k].params for k in keys if records[k].call_index == 0)
        macs = sum(records[k].macs for k in keys)
        last = records.get(node.tail) or records[keys[-1]]  # the record whose output the box shows
        rf = last.receptive_field
        x = scene.centers[node.key] if scene.rows == 1 else 14 + step * (i + 0.5)
        out.append((node.key, x, params, macs, rf, node.label or records[keys[0]].type, node.kind))
    return out


def render_bars_svg(scene: Scene, analysis: Analysis, fit: bool = False) -> str:
    """Three strips under the diagram: parameters and MACs per box (share of the total) and the receptive
    field after each box against the input size."""
    rows = _node_sums(scene, analysis)
    total_p = max(1, sum(r[2] for r in rows))
    total_m = max(1, sum(r[3] for r in rows))
    # The tallest bar fills its strip (a 7 % layer must still be seen next to a 74 % one); labels give shares.
    top_p = max([1] + [r[2] for r in rows]) / total_p
    top_m = max([1] + [r[3] for r in rows]) / total_m
    width = scene.width
    _, in_h, in_w = analysis.input_shape
    columns = [r[1] for r in rows]
    spacing = min([b - a for a, b in zip(columns, columns[1:])] or [24.0])
    bar_w = max(3.0, min(12.0, spacing - 3))
    y_p = GAP
    y_m = y_p + STRIP + GAP
    y_rf = y_m + STRIP + GAP
    height = y_rf + STRIP + 18
    size = size_attrs(width, height, fit)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cnn-bars" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'{size} role="img" aria-label="parameters, MACs and receptive field per layer">',
        "<style>text { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; pointer-events: none; } "
        ".bar { cursor: pointer; } .bar:hover rect { filter: brightness(1.2); } .ko { display: none; }</style>",
        '<rect width="100%" height="100%" fill="#ffffff"/>',
    ]

    def title(y: float, en: str, ko: str) -> None:
        # Both languages as tspans: the page's CSS shows one (``.en`` / ``.ko``), as in its bilingual HTML.
        text = f'<tspan class="en">{escape(en)}</tspan><tspan class="ko">{escape(ko)}</tspan>'
        out.append(
            f'<text x="4" y="{_n(y - 6)}" font-size="{MIN_FONT + 1}" fill="#333" font-weight="bold">{text}</text>'
        )
        out.append(f'<line x1="0" x2="{_n(width)}" y1="{_n(y + STRIP)}" y2="{_n(y + STRIP)}" stroke="#bbb"/>')

    title(y_p, "parameters per layer (share of the total)", "층별 파라미터 (전체 대비)")
    title(y_m, "MACs per layer (share of the total)", "층별 MAC 연산량 (전체 대비)")
    title(y_rf, f"receptive field after each layer vs the input ({in_h} px)", f"층별 수용 영역과 입력 크기 ({in_h} px)")
    label_end = {y_p: -1e9, y_m: -1e9}  # per strip: where the last share label ends
    for key, x, params, macs, _rf, label, kind in rows:
        for y0, value, total, top, what in (
            (y_p, params, total_p, top_p, "params 파라미터"),
            (y_m, macs, total_m, top_m, "MACs"),
        ):
            share = value / total
            h = (STRIP - LABEL_ROOM) * share / top
            # In its box's colour (as the share line above): purple FC bars among blue conv bars read at once,
            # also under a wrapped drawing, where a column no longer sits under its box.
            color = COLORS.get(kind, COLORS["other"]) if kind != "stage" else COLORS["conv"]
            tip = f"{key} ({label}): {what} {value:,} = {100 * share:.1f}%"
            out.append(
                f'<g class="bar" data-bar={quoteattr(key)}><title>{escape(tip)}</title>'
                f'<rect x="{_n(x - bar_w / 2)}" y="{_n(y0 + STRIP - max(h, 0.5 if value else 0))}" '
                f'width="{_n(bar_w)}" height="{_n(max(h, 0.5 if value else 0))}" fill="{color}"/>'
                f'<rect x="{_n(x - bar_w / 2 - 3)}" y="{_n(y0)}" width="{_n(bar_w + 6)}" height="{STRIP}" '
                'fill="transparent"/></g>'
            )
            text_w = 0.64 * MIN_FONT * len(f"{100 * share:.0f}%")
            if share >= 0.01 and x - text_w / 2 > label_end[y0] + 2:  # a share's label, unless it would touch the last
                label_end[y0] = x + text_w / 2
                out.append(
                    f'<text x="{_n(x)}" y="{_n(y0 + STRIP - h - 3)}" font-size="{MIN_FONT}" text-anchor="middle" '
                    f'fill="#333">{100 * share:.0f}%</text>'
                )
    # Receptive field: a line of points; after flatten / global pooling a unit sees the whole input.
    top = max([in_h] + [r[4][0] for r in rows if r[4]])
    scale = STRIP / top
    y_input = y_rf + STRIP - in_h * scale
    out.append(
        f'<line x1="0" x2="{_n(width)}" y1="{_n(y_input)}" y2="{_n(y_input)}" stroke="#999" stroke-dasharray="5 4"/>'
    )
    out.append(
        # at the left, under the line: the first layers' fields are small, so their dots sit low, clear of it
        f'<text x="4" y="{_n(y_input + MIN_FONT + 1)}" font-size="{MIN_FONT}" text-anchor="start" fill="#666">'
        f'<tspan class="en">input</tspan><tspan class="ko">입력</tspan> {in_h}×{in_w}</text>'
    )
    points = []
    for key, x, _, _, rf, label, _kind in rows:
        whole = rf is None
        value = in_h if whole else rf[0]
        y = y_rf + STRIP - value * scale
        points.append((x, y))
        tip = f"{key} ({label}): receptive field {'whole input' if whole else '×'.join(map(str, rf))}"
        fill = "#ffffff" if whole else RF_COLOR
        out.append(
            f'<g class="bar" data-bar={quoteattr(key)}><title>{escape(tip)}</title>'
            f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3.5" fill="{fill}" stroke="{RF_COLOR}" stroke-width="1.5"/></g>'
        )
    if len(points) > 1:
        path = " ".join(f"{_n(x)},{_n(y)}" for x, y in points)
        out.insert(-len(points), f'<polyline points="{path}" fill="none" stroke="{RF_COLOR}" stroke-width="1.5"/>')
    out.append("</svg>")
    return "\n".join(out)


__all__ = ["render_bars_svg"]
