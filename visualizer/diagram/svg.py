"""Scene → SVG string: the page's diagram and the slide download are this same text.

Markup others can script against: every drawn layer is a ``<g>`` with ``data-layer`` (the record key, as in
the table) and ``data-shape`` (``CxHxW``); every shortcut a ``<g class="skip [projection]">`` with
``data-from`` / ``data-to``; a folded stage's ``×N`` badge carries ``data-expand``.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from visualizer.diagram.scene import Circle, Curve, Line, Poly, Scene, Text

STYLE = """
.layer, .stage, .expand { cursor: pointer; }
.layer:hover .face, .stage:hover .face { filter: brightness(1.15); }
.selected polygon { stroke: #ff7f0e; stroke-width: 2.4; }
.selected.tick polygon { stroke: #ff7f0e; stroke-width: 1.6; }
.selected circle { stroke: #ff7f0e; stroke-width: 3; }
text { font-family: 'DejaVu Sans', Verdana, Arial, sans-serif; pointer-events: none; }
"""


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _shape(s) -> str:
    if isinstance(s, Poly):
        pts = " ".join(f"{_n(x)},{_n(y)}" for x, y in s.points)
        cls = f' class="{s.cls}"' if s.cls else ""
        dash = ' stroke-dasharray="4 3"' if s.dash else ""
        return f'<polygon{cls} points="{pts}" fill="{s.fill}" stroke="{s.stroke}" stroke-width="{_n(s.width)}"{dash}/>'
    if isinstance(s, Curve):
        d = "M" + " L".join(f"{_n(x)},{_n(y)}" for x, y in s.points())
        dash = ' stroke-dasharray="6 4"' if s.dash else ""
        marker = ' marker-end="url(#arrow)"' if s.arrow else ""
        # A wide transparent twin makes the thin arc easy to hover.
        return (
            f'<path d="{d}" fill="none" stroke="transparent" stroke-width="9"/>'
            f'<path d="{d}" fill="none" stroke="{s.stroke}" stroke-width="{_n(s.width)}"{dash}{marker}/>'
        )
    if isinstance(s, Line):
        pts = " ".join(f"{_n(x)},{_n(y)}" for x, y in s.points)
        marker = ' marker-end="url(#arrow)"' if s.arrow else ""
        return f'<polyline points="{pts}" fill="none" stroke="{s.stroke}" stroke-width="{_n(s.width)}"{marker}/>'
    if isinstance(s, Circle):
        return f'<circle cx="{_n(s.cx)}" cy="{_n(s.cy)}" r="{_n(s.r)}" fill="{s.fill}" stroke="{s.stroke}"/>'
    if isinstance(s, Text):
        weight = ' font-weight="bold"' if s.bold else ""
        return (
            f'<text x="{_n(s.x)}" y="{_n(s.y)}" font-size="{_n(s.size)}" text-anchor="{s.anchor}" '
            f'fill="{s.color}"{weight}>{escape(s.text)}</text>'
        )
    raise TypeError(f"unknown shape {type(s).__name__}")


def size_attrs(width: float, height: float, fit: bool) -> str:
    """Fixed pixels, or (``fit``) the container's width, within 0.7× and 1.25× the drawing's own size: laid out
    at ``scene.FIT_WIDTH``, the page's column shows it about 1:1, its smallest text at ``MIN_FONT`` px or more."""
    if fit:
        return f'width="100%" style="min-width:{_n(width * 0.7)}px;max-width:{_n(width * 1.25)}px"'
    return f'width="{_n(width)}" height="{_n(height)}"'


def to_svg(scene: Scene, fit: bool = False) -> str:
    """The scene as a standalone SVG document (``fit``: scale to the container's width, for the page)."""
    size = size_attrs(scene.width, scene.height, fit)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cnn-diagram" viewBox="0 0 {_n(scene.width)} '
        f'{_n(scene.height)}" {size} role="img" aria-label={quoteattr(scene.title)}>',
        f"<title>{escape(scene.title)}</title>",
        f"<style>{STYLE}</style>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>',
        '<rect width="100%" height="100%" fill="#ffffff"/>',
    ]
    for g in scene.groups:
        attrs = "".join(f" {k}={quoteattr(v)}" for k, v in g.attrs.items())
        title = f"<title>{escape(g.title)}</title>" if g.title else ""
        out.append(f'<g class="{g.cls}"{attrs}>{title}{"".join(_shape(s) for s in g.shapes)}</g>')
    out.append("</svg>")
    return "\n".join(out)
