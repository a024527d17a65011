"""Bar charts drawn as HTML: from zero, in the order given, each bar with its value written beside it.

The 3×3 vs 5×5 and Compare tabs draw their charts here rather than with Gradio's bar chart: updated with a new
order of bars, Gradio 6.31's chart drew the previous answer's data (the stacks chart one slider release behind; the
Compare charts still showing a model just removed), and sent without an order it kept its first colours and drew
no bars at all. A chart here is part of the answer's HTML, so it always shows that answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

# Tableau 10 (the diagram's and Gradio's families of colour): bar i of every chart of one answer gets colour i.
PALETTE = ("#4e79a7", "#e15759", "#f28e2b", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")


def bar_chart(title: str, bars: Sequence[tuple[str, float, str]], colors: Sequence[str] = PALETTE) -> str:
    """One chart: ``title`` above, then a row per ``(label, value, value as written)``, the longest bar the
    largest value (0 for none); ``data-bar`` names each row's label."""
    top = max((value for _, value, _ in bars), default=0.0) or 1.0
    rows = "".join(
        f"<div class='cnnviz-bar-row' data-bar={quoteattr(label)}>"
        f"<span class='cnnviz-bar-label'>{escape(label)}</span>"
        f"<span class='cnnviz-bar-track'><span class='cnnviz-bar' style='width:{100 * max(0.0, value) / top:.1f}%;"
        f"background:{colors[i % len(colors)]}'></span></span>"
        f"<span class='cnnviz-bar-value'>{escape(written)}</span></div>"
        for i, (label, value, written) in enumerate(bars)
    )
    return f"<div class='cnnviz-bars'><div class='cnnviz-bars-title'>{escape(title)}</div>{rows}</div>"
