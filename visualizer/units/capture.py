"""A layer call's input and output tensors for one input: what explaining one of its units needs.

A unit is worked out from the tensors its layer received and produced in the network's own forward pass;
nothing is recomputed by running layers again. ``LayerTensors`` (``features.capture``) holds one call's tensors,
and a ``TensorSource`` is anything that hands them out by layer key (``name`` or ``name#k``, the analysis
records' keys). There are two: the image's ``ForwardPass`` (``ForwardPass.tensors``: what the page and a zoo
model with an image read, so a unit of an already captured layer costs no forward at all), and
``HookedTensors`` here, for a bare ``nn.Module`` or a prepared tensor: one forward with hooks on the layers
asked for, stopped as soon as the last of them has run.

``forward_until`` is the effective receptive field's forward: it stops at a layer and hands back its output
with the autograd graph still attached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from visualizer.features import LayerTensors, named_module
from visualizer.records import parse_layer_key

INPUT = "input"  # the records' name for the network's input (``LayerRecord.input_from``)


TensorSource = Callable[[str], LayerTensors]  # layer key (or "input") → that call's tensors


class _Stop(Exception):
    """Raised by a hook once everything asked for has run: the rest of the network is not needed."""


def _tensors(values: Any) -> tuple[torch.Tensor, ...]:
    if isinstance(values, torch.Tensor):
        return (values,)
    if isinstance(values, (list, tuple)):
        return tuple(v for v in values if isinstance(v, torch.Tensor))
    return ()


def capture_layers(model: nn.Module, x: torch.Tensor, keys: Iterable[str]) -> dict[str, LayerTensors]:
    """One forward of ``x`` (no gradients) with hooks on the modules of ``keys``, stopped once the last of
    them has run; ``KeyError`` naming the layer when one never ran (or ran fewer times than ``name#k`` asks)."""
    wanted: dict[str, set[int]] = {}
    for key in dict.fromkeys(keys):
        if key != INPUT:
            name, call = parse_layer_key(key)
            wanted.setdefault(name, set()).add(call)
    got: dict[str, LayerTensors] = {}
    missing = sum(len(calls) for calls in wanted.values())
    handles = []
    calls: dict[str, int] = {}
    running: dict[str, list[tuple[int, tuple[torch.Tensor, ...]]]] = {}

    def pre(name: str):
        def hook(module: nn.Module, args: Any) -> None:
            index = calls.get(name, 0)
            calls[name] = index + 1
            inputs = tuple(t.detach().clone() for t in _tensors(args)) if index in wanted[name] else ()
            running.setdefault(name, []).append((index, inputs))

        return hook

    def post(name: str):
        def hook(module: nn.Module, args: Any, output: Any) -> None:
            nonlocal missing
            index, inputs = running[name].pop()
            if index not in wanted[name] or not isinstance(output, torch.Tensor):
                return
            got[name if index == 0 else f"{name}#{index}"] = LayerTensors(inputs, output.detach().clone())
            missing -= 1
            if missing == 0:
                raise _Stop

        return hook

    if not wanted:  # only the input asked for: nothing to run
        return {INPUT: LayerTensors((), x.detach())}
    try:
        for name in wanted:
            module = named_module(model, name)
            handles.append(module.register_forward_pre_hook(pre(name)))
            handles.append(module.register_forward_hook(post(name)))
        with torch.no_grad(), contextlib.suppress(_Stop), evaluating(model):
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    for name, indices in wanted.items():
        for index in indices:
            key = name if index == 0 else f"{name}#{index}"
            if key not in got:
                ran = calls.get(name, 0)
                raise KeyError(
                    f"layer {key!r} gave no tensor in the forward pass ({name} ran {ran} time(s)); "
                    "pick a layer key from the analysis table"
                )
    if INPUT in keys:
        got[INPUT] = LayerTensors((), x.detach())
    return got


@contextlib.contextmanager
def evaluating(model: nn.Module):
    """The network as it predicts: BatchNorm on its running statistics (so the images of a batch do not
    mix), Dropout off; every module's own mode is restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


class HookedTensors:
    """A ``TensorSource`` over one model and one input, by its own hooks: the first request captures every
    key in ``keys`` with one early-stopped forward; a key outside them costs one more (counted in
    ``forwards``). Stepping through a layer's units reads the same tensors again and runs nothing."""

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        keys: Iterable[str] = (),
        lock: contextlib.AbstractContextManager | None = None,
    ) -> None:
        self.model, self.x = model, x
        self.keys = list(dict.fromkeys(keys))
        self._lock = lock if lock is not None else contextlib.nullcontext()
        self._held: dict[str, LayerTensors] = {INPUT: LayerTensors((), x)}
        self.forwards = 0

    def __call__(self, key: str) -> LayerTensors:
        if key not in self._held:
            wanted = [k for k in dict.fromkeys([key, *self.keys]) if k not in self._held]
            # Hooks live on a model that may be shared (the weights cache): hold its lock while they are on.
            with self._lock:
                self._held.update(capture_layers(self.model, self.x, wanted))
            self.forwards += 1
        return self._held[key]


def forward_until(model: nn.Module, x: torch.Tensor, key: str) -> torch.Tensor:
    """The output of layer ``key`` for ``x``, by a forward that stops right after it; the output keeps its
    autograd graph (when ``x`` requires grad), so one backward from it reaches the input."""
    name, call = parse_layer_key(key)
    module = named_module(model, name)
    seen: list[torch.Tensor] = []
    calls = 0

    def hook(mod: nn.Module, args: Any, output: Any) -> None:
        nonlocal calls
        calls += 1
        if calls - 1 == call and isinstance(output, torch.Tensor):
            seen.append(output)
            raise _Stop

    handle = module.register_forward_hook(hook)
    try:
        with contextlib.suppress(_Stop), evaluating(model):
            model(x)
    finally:
        handle.remove()
    if not seen:
        raise KeyError(f"layer {key!r} gave no tensor in the forward pass ({name} ran {calls} time(s))")
    return seen[0]
