"""The analysis engine: one shape-only pass over a model → one ``LayerRecord`` per leaf-layer call.

``analyze(module, "3x224x224")`` for any ``nn.Module`` whose forward takes one image tensor; ``analyze_model(name)``
for a zoo model (built on the meta device: no weights allocated; one cached analysis per model and input size).
Inside: ``inputs`` (sizes as people type them), ``shape_pass`` (the pass on meta, receptive fields tracked),
``macs`` (the two MAC conventions), ``collect`` (calls → records), ``diagnose`` (errors for people), ``meta``
(zoo models on meta). The records themselves are ``visualizer.records``; their presentation ``visualizer.report``.
"""

from visualizer.analysis.collect import analyze
from visualizer.analysis.diagnose import check_takes_one_tensor, smallest_input, smallest_working_input
from visualizer.analysis.inputs import MAX_CHANNELS, MAX_SIDE, AnalysisError, check_input_shape, parse_input_shape
from visualizer.analysis.meta import analyze_model, meta_model
from visualizer.records import Analysis, Join, LayerRecord

__all__ = [
    "MAX_CHANNELS",
    "MAX_SIDE",
    "Analysis",
    "AnalysisError",
    "Join",
    "LayerRecord",
    "analyze",
    "analyze_model",
    "check_input_shape",
    "check_takes_one_tensor",
    "meta_model",
    "parse_input_shape",
    "smallest_input",
    "smallest_working_input",
]
