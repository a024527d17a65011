"""CNN architecture visualizer: per-layer analysis of real PyTorch models, receptive fields, training.

``from visualizer import analyze`` is lazy so that ``import visualizer`` (and the CLI) stay light: nothing
heavy, and never Gradio, is imported until a name is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "analyze": "visualizer.analysis",
    "analyze_model": "visualizer.analysis",
    "Analysis": "visualizer.analysis",
    "LayerRecord": "visualizer.analysis",
    "AnalysisError": "visualizer.analysis",
    "parse_input_shape": "visualizer.analysis",
    "compare_stacks": "visualizer.stacks",
    "explain_unit": "visualizer.units.compute",
    "effective_rf": "visualizer.units.erf",
    "show": "visualizer.show_page",  # the page on a network of your own (imports Gradio, so only when used)
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'visualizer' has no attribute {name!r}")
