"""Capture: forward hooks on the layers asked for, and nothing else.

``FeatureCapture`` keeps the outputs (and, where asked, the inputs) of named layers during a forward pass, and can
stop the pass as soon as it has them; ``CamCapture`` turns one layer's output into a leaf that Grad-CAM
differentiates against. Layers are named by the analysis records' keys (``name`` or ``name#k``).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from visualizer.records import parse_layer_key


def named_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule called ``name``; a ``ValueError`` listing real names when there is none."""
    modules = dict(model.named_modules())
    if name not in modules or name == "":
        sample = ", ".join(n for n in list(modules)[1:9])
        raise ValueError(f"{type(model).__name__} has no layer {name!r}; layer names look like: {sample}, ...")
    return modules[name]


@dataclass(frozen=True)
class LayerTensors:
    """One layer call, for one input: the tensors it received (copied before it ran, so an in-place op cannot
    change them afterwards) and the tensor it returned (copied before the next in-place ReLU); batch dim kept."""

    inputs: tuple[torch.Tensor, ...]
    output: torch.Tensor


class _StopForward(Exception):
    """Raised by a hook once every asked-for layer has run; ``FeatureCapture.__exit__`` swallows it."""


class FeatureCapture:
    """Context manager: forward hooks on the named layers only, removed on exit.

    >>> with FeatureCapture(model, ["features.28"]) as cap:
    ...     logits = model(x)
    >>> cap.get("features.28")  # 1×C×H×W, a copy (safe from later in-place ReLUs)

    ``stop_early=True`` ends the forward pass as soon as every asked-for layer has run once (no logits;
    statements after ``model(x)`` inside the ``with`` block are skipped): an early layer then costs a
    fraction of the whole network.

    ``fed_by`` says which captured layer's output another captured layer read *as it was returned* (the very
    tensor, not changed in place since: its version counter is the same), so that layer's input is already
    here without keeping it: ``fed_by["features.2"] == "features.1"``.
    """

    def __init__(
        self, model: nn.Module, layers: Iterable[str], stop_early: bool = False, keep_inputs: Iterable[str] = ()
    ) -> None:
        keep_inputs = {parse_layer_key(layer)[0] for layer in keep_inputs}
        self.layers = list(dict.fromkeys([*(parse_layer_key(layer)[0] for layer in layers), *keep_inputs]))
        self._modules = [(name, named_module(model, name)) for name in self.layers]
        self.outputs: dict[str, list[torch.Tensor]] = {name: [] for name in self.layers}
        self.inputs: dict[str, list[tuple[torch.Tensor, ...]]] = {name: [] for name in keep_inputs}
        self.stop_early = stop_early
        self._reading: dict[str, list[tuple[torch.Tensor, ...]]] = {}  # inputs of calls still running
        self.fed_by: dict[str, str] = {}
        self._returned: list[tuple[str, Any, int]] = []  # (layer key, weak ref to its output, output's version)
        self._calls: dict[str, int] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> FeatureCapture:
        for name, module in self._modules:
            self._handles.append(module.register_forward_pre_hook(self._pre_hook(name)))
            self._handles.append(module.register_forward_hook(self._hook(name)))
        return self

    def watch(self, key: str, tensor: torch.Tensor) -> None:
        """Count ``tensor`` as ``key``'s output for ``fed_by`` (the network's input: ``watch("input", x)``)."""
        if not tensor.is_inference():
            self._returned.append((key, weakref.ref(tensor), tensor._version))

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> bool:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        return exc_type is _StopForward

    def _pre_hook(self, name: str):
        def hook(module: nn.Module, inputs: Any) -> None:
            call = self._calls.get(name, 0)
            self._calls[name] = call + 1
            first = next((t for t in inputs if isinstance(t, torch.Tensor)), None)
            if first is not None and not first.is_inference():
                for source, ref, version in reversed(self._returned):
                    if ref() is first:
                        if first._version == version:
                            self.fed_by[name if call == 0 else f"{name}#{call}"] = source
                        break
            if name in self.inputs:
                # What the layer reads (a unit's computation starts from it), copied before it runs: an in-place
                # layer (ReLU(inplace=True), the ReLU after a residual ``out += identity``) overwrites its input.
                self._reading.setdefault(name, []).append(
                    tuple(t.detach().clone() for t in inputs if isinstance(t, torch.Tensor))
                )

        return hook

    def _hook(self, name: str):
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor):
                # Clone: the next ReLU(inplace=True) would otherwise overwrite a conv's output we keep.
                call = len(self.outputs[name])
                self.outputs[name].append(output.detach().clone())
                if not output.is_inference():
                    key = name if call == 0 else f"{name}#{call}"
                    self._returned.append((key, weakref.ref(output), output._version))
            if name in self.inputs:
                self.inputs[name].append(self._reading[name].pop())
            if self.stop_early and all(self.outputs.values()):
                raise _StopForward

        return hook

    def get(self, layer: str, call_index: int | None = None) -> torch.Tensor:
        """Output of ``layer`` (``name`` or ``name#k``) at its ``call_index``-th call in the last forward."""
        name, index = parse_layer_key(layer)
        index = index if call_index is None else call_index
        calls = self.outputs.get(name)
        if calls is None:
            raise KeyError(f"layer {name!r} was not captured; captured: {', '.join(self.layers)}")
        if index >= len(calls):
            raise KeyError(f"layer {name!r} ran {len(calls)} time(s) in the forward pass; no call #{index}")
        return calls[index]

    def get_inputs(self, layer: str) -> tuple[torch.Tensor, ...]:
        """The tensors ``layer`` (``name`` or ``name#k``) read at that call; it must be in ``keep_inputs``."""
        name, index = parse_layer_key(layer)
        calls = self.inputs.get(name)
        if calls is None:
            raise KeyError(f"the inputs of {name!r} were not kept; kept: {', '.join(self.inputs) or 'none'}")
        if index >= len(calls):
            raise KeyError(f"layer {name!r} ran {len(calls)} time(s) in the forward pass; no call #{index}")
        return calls[index]


class CamCapture:
    """Context manager: the output of ``layer_name`` (``name#k``: its k-th call) becomes a leaf we can
    differentiate the class score against, so Grad-CAM can ride on any forward pass (the feature maps' one).

    >>> with CamCapture(model, "features.28") as cam, torch.enable_grad():
    ...     logits = model(x)
    >>> grad_cam_heatmap(cam.activation, logits, None, x.shape[-2:])   # visualizer.gradcam
    """

    def __init__(self, model: nn.Module, layer_name: str) -> None:
        self.layer_name = layer_name
        self._name, self._call = parse_layer_key(layer_name)
        self._module = named_module(model, self._name)
        self.calls = 0
        self.activation: torch.Tensor | None = None
        self._handle = None

    def __enter__(self) -> CamCapture:
        self._handle = self._module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> Any:
        index = self.calls
        self.calls += 1
        if index != self._call or not isinstance(output, torch.Tensor):
            return None
        # Swap in a leaf we can differentiate against; hand the rest of the network a clone of it, so a
        # following ReLU(inplace=True) changes the clone and never the activation we weigh.
        leaf = output.detach().requires_grad_(True)
        self.activation = leaf
        return leaf.clone()

    def captured(self) -> torch.Tensor:
        """The layer's output as a leaf tensor; ``ValueError`` when that call never produced a tensor."""
        if self.activation is None:
            raise ValueError(
                f"layer {self.layer_name!r} did not produce a tensor in call #{self._call} "
                f"(it ran {self.calls} time(s))"
            )
        return self.activation
