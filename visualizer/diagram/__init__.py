"""The network drawn: ``LayerRecord``s → an SVG string (and the same picture as PNG).

``render_svg(analysis)`` is the one call; ``graph`` decides what is drawn (shortcuts, folding), ``scene``
where (boxes on a log scale, arcs on levels), ``svg`` and ``raster`` how. Nothing here runs a model: the
diagram is a view of the analysis engine's records, like the table beside it.
"""

from __future__ import annotations

from collections.abc import Iterable

from visualizer.diagram.graph import FOLDS, Node, Skip, nodes, skips
from visualizer.diagram.raster import to_image
from visualizer.diagram.scene import Scene, build
from visualizer.diagram.svg import to_svg
from visualizer.records import Analysis


def render_svg(
    analysis: Analysis,
    fold: str = "blocks",
    expanded: Iterable[str] = (),
    selected: str | None = None,
    fit: bool = False,
    max_width: float | None = None,
) -> str:
    """The architecture of ``analysis`` as an SVG document.

    ``fold``: ``"none"`` (every layer), ``"blocks"`` (conv + BN + ReLU as one box; every residual block) or
    ``"stages"`` (runs of same-shaped blocks as one box with a count; ``expanded`` lists the stages, by
    their first layer's key, to draw open). ``selected``: a layer key to highlight. ``fit``: scale to the
    page's width instead of a fixed pixel size. ``max_width``: wrap to rows no wider (the page's ``FIT_WIDTH``).
    """
    return to_svg(build(analysis, fold, expanded, selected, max_width=max_width), fit=fit)


def render_png(
    analysis: Analysis,
    fold: str = "blocks",
    expanded: Iterable[str] = (),
    selected: str | None = None,
    scale: float = 2.0,
    max_width: float | None = None,
):
    """The same drawing as a PIL image (``scale``× the SVG's pixel size, for slides)."""
    return to_image(build(analysis, fold, expanded, selected, max_width=max_width), scale=scale)


__all__ = ["FOLDS", "Node", "Scene", "Skip", "build", "nodes", "render_png", "render_svg", "skips"]
