"""One shape-only forward pass on the meta device, with receptive fields tracked through every op.

Hooks on every module see each leaf-layer call (its input and output shapes, where its input came from) and hand
it to ``on_leaf_call``; nothing is allocated (meta tensors know their shapes only), so any input size is cheap.
The records themselves are made by ``visualizer.analysis.collect``.
"""

from __future__ import annotations

import threading
from itertools import chain
from typing import Any

import torch
from torch import nn

from visualizer.receptive_field import FieldTracker, input_field

BATCH = 1


class PassFailure(Exception):
    """The pass failed: the exception, and the module (and its input shape) it failed in."""

    def __init__(self, exc: BaseException, module: nn.Module | None, module_input: list[int] | None) -> None:
        super().__init__(str(exc))
        self.exc, self.module, self.module_input = exc, module, module_input


# Hooks live on the module and functional_call swaps its tensors: one pass at a time per process.
PASS_LOCK = threading.RLock()


def first_tensor(x: Any) -> torch.Tensor | None:
    """The first tensor in a module's input or output (a tensor, or one inside a tuple, list or dict)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (list, tuple)):
        for v in x:
            t = first_tensor(v)
            if t is not None:
                return t
    if isinstance(x, dict):
        return first_tensor(list(x.values()))
    return None


def _meta_state(model: nn.Module) -> dict[str, torch.Tensor] | None:
    """Meta stand-ins for the model's parameters and buffers (None when the model already lives on meta)."""
    tensors = list(chain(model.named_parameters(remove_duplicate=False), model.named_buffers(remove_duplicate=False)))
    if all(t.is_meta for _, t in tensors):
        return None
    return {n: torch.empty_like(t, device="meta") for n, t in tensors}


def run_pass(model: nn.Module, shape: tuple[int, ...], on_leaf_call=None) -> tuple[torch.Tensor | None, FieldTracker]:
    """One shape-only forward pass with receptive-field tracking; ``on_leaf_call(module, in, out, field)``.

    The caller's model is neither moved nor copied: ``functional_call`` swaps meta tensors in for the pass
    (so do not run inference on the same instance from another thread meanwhile; ``analyze_model`` uses its
    own meta instances). Modules are put in eval mode for the pass (BatchNorm in training mode refuses 1×1
    maps at batch 1) and restored afterwards.
    """
    with PASS_LOCK:
        return _run_locked(model, shape, on_leaf_call)


def _run_locked(model: nn.Module, shape: tuple[int, ...], on_leaf_call) -> tuple[torch.Tensor | None, FieldTracker]:
    tracker = FieldTracker(batch=BATCH)
    stack: list[tuple[nn.Module, list[int] | None, torch.Tensor | None]] = []

    def pre(mod, args):
        t = first_tensor(args)
        stack.append((mod, list(t.shape) if t is not None else None, t))

    def post(mod, args, out):
        _, in_shape, t_in = stack.pop()
        if on_leaf_call is not None and id(mod) in leaves:
            t = first_tensor(out)
            key = on_leaf_call(
                mod,
                in_shape,
                t,
                tracker.field(t) if t is not None else None,
                tracker.origin(t_in) if t_in is not None else None,
                tracker.field(t_in) if t_in is not None else None,
            )
            if key is not None and t is not None:
                tracker.set_origin(t, key)

    modules = list(model.modules())
    leaves = {id(m) for m in modules if next(m.children(), None) is None}
    handles = [m.register_forward_pre_hook(pre) for m in modules] + [m.register_forward_hook(post) for m in modules]
    modes = [(m, m.training) for m in modules]
    state = _meta_state(model)
    # The input takes the parameters' dtype (a half-precision model gets a half input, and half-size bytes).
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    x = torch.empty((BATCH, *shape), device="meta", dtype=dtype)
    tracker.track(x, input_field(len(shape) - 1))
    tracker.set_origin(x, "input")
    tracker.locate = lambda: stack[-1][0] if stack else None
    tracker.inside_leaf = lambda: bool(stack) and id(stack[-1][0]) in leaves
    try:
        model.eval()
        with torch.no_grad(), tracker:
            out = first_tensor(torch.func.functional_call(model, state, (x,)) if state is not None else model(x))
    except Exception as exc:
        mod, in_shape = stack[-1][:2] if stack else (None, None)
        rebatched = [c for c in tracker.batch_changes if not c.folded]
        if rebatched:  # a re-batching reshape is the root cause of what failed after it
            change = rebatched[0]
            raise PassFailure(change, change.module, change.before) from exc
        raise PassFailure(exc, mod, in_shape) from exc
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training
    if tracker.batch_changes and (out is None or out.ndim == 0 or out.shape[0] != BATCH):
        change = next((c for c in tracker.batch_changes if not c.folded), tracker.batch_changes[0])
        raise PassFailure(change, change.module, change.before)
    return out, tracker
