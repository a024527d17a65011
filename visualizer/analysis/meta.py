"""Zoo models on the meta device: every parameter's shape, none of its memory.

``meta_model(name)`` builds a zoo model (or custom VGG string, or ``tv:`` name) with no weights allocated and no
init cost, cached per name; the analysis engine runs its shape-only passes on it at any input size, and the
server's budgets count its parameters before anything real is built.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Sequence

import torch
from torch import nn

import zoo
from visualizer.analysis.collect import analyze
from visualizer.analysis.inputs import AnalysisError, check_input_shape, parse_input_shape
from visualizer.records import Analysis


@contextlib.contextmanager
def parameters_on_meta():
    """Parameters and buffers registered by this thread go to the meta device as they are created.

    For builders that compute with tensors while building (RegNet derives its widths with ``torch.pow`` and
    ``.tolist()``), which ``torch.device("meta")`` breaks. Other threads are untouched.
    """
    thread = threading.get_ident()
    register_parameter, register_buffer = nn.Module.register_parameter, nn.Module.register_buffer

    def parameter(self, name, param):
        if param is not None and threading.get_ident() == thread and not param.is_meta:
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def buffer(self, name, tensor, persistent=True):
        if tensor is not None and threading.get_ident() == thread:
            tensor = tensor.to("meta")
        register_buffer(self, name, tensor, persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter, buffer
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = register_parameter, register_buffer


_BUILD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=64)
def meta_model(name: str, num_classes: int | None = None) -> nn.Module:
    """A zoo model built directly on the meta device: no weights allocated, no init cost, any size later.

    ``num_classes``: with that head instead of the model's own (as a checkpoint or a training run builds it).
    """
    try:
        with torch.device("meta"):
            return zoo.create_model(name, num_classes=num_classes)
    except (NotImplementedError, RuntimeError):  # "Cannot copy out of meta tensor": it computes while building
        with _BUILD_LOCK, parameters_on_meta():
            return zoo.create_model(name, num_classes=num_classes)


def analyze_model(name: str, input_shape: Sequence[int] | str | None = None) -> Analysis:
    """Analyse a zoo model by name (architecture only: built on meta, so no weights are allocated).

    ``input_shape`` defaults to the model's design size. This is the engine's one cache of analyses: one per
    (model, input size), shared by every caller (the page's table, diagram, card, layer pickers and overlays), so
    treat the records as read-only.
    """
    try:
        spec = zoo.get_spec(name)
    except (zoo.UnknownModelError, zoo.ConfigError) as exc:
        raise AnalysisError(str(exc)) from None
    if input_shape is None:
        shape = spec.input_size
    elif isinstance(input_shape, str):
        shape = parse_input_shape(input_shape)
    else:
        shape = check_input_shape(input_shape)
    return _cached_analysis(spec.name, tuple(shape))


@functools.lru_cache(maxsize=64)
def _cached_analysis(name: str, shape: tuple[int, ...]) -> Analysis:
    spec = zoo.get_spec(name)
    return analyze(meta_model(name), shape, model_name=name, design_input_shape=spec.input_size)


def clear_caches() -> None:
    """Forget the meta models and analyses (after a name is registered again with another model)."""
    _cached_analysis.cache_clear()
    meta_model.cache_clear()
