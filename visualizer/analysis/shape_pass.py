"""One shape-only forward pass on the meta device, with receptive fields tracked through every op.

A wrapper around every module's forward (hooks, when the model has hooks of its own) sees each leaf-layer call
(its input and output shapes, where its input came from) and hands it to ``on_leaf_call``; nothing is allocated
(meta tensors know their shapes only), so any input size is cheap.
The records themselves are made by ``visualizer.analysis.collect``.
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from torch import nn

from visualizer.analysis.shape_rules import install_rules, rule_for, uninstall_rules
from visualizer.receptive_field import FieldTracker, input_field

BATCH = 1


class PassFailure(Exception):
    """The pass failed: the exception, and the module (and its input shape) it failed in."""

    def __init__(self, exc: BaseException, module: nn.Module | None, module_input: list[int] | None) -> None:
        super().__init__(str(exc))
        self.exc, self.module, self.module_input = exc, module, module_input


# Wrappers and hooks live on the module and the pass swaps its tensors: one pass at a time per process.
PASS_LOCK = threading.RLock()


def first_tensor(x: Any) -> torch.Tensor | None:
    """The first tensor in a module's input or output (a tensor, or one inside a tuple, list or dict)."""
    if isinstance(x, torch.Tensor):
        return x
    if type(x) is tuple and x and isinstance(x[0], torch.Tensor):  # a layer's arguments: (x,), without recursion
        return x[0]
    if isinstance(x, (list, tuple)):
        for v in x:
            t = first_tensor(v)
            if t is not None:
                return t
    if isinstance(x, dict):
        return first_tensor(list(x.values()))
    return None


def _swap_to_meta(modules: list[nn.Module]) -> list[tuple[dict, dict]]:
    """Put meta stand-ins in every parameter and buffer slot that holds a real tensor; returns what to put back
    (each changed slot dict with its original entries: one ``update`` per dict restores them).

    What ``torch.func.functional_call`` does, without its name bookkeeping (a tensor shared by two modules
    gets one stand-in, so ties survive).
    """
    undo, standins = [], {}
    for m in modules:
        d = m.__dict__
        for slots in (d["_parameters"], d["_buffers"]):
            if not slots:  # most containers own nothing
                continue
            saved = {}
            for name, t in slots.items():  # values replaced, keys unchanged: safe while iterating
                if t is None or t.is_meta:
                    continue
                s = standins.get(id(t))
                if s is None:
                    s = standins[id(t)] = torch.empty_like(t, device=_META)  # a device object: no string to parse
                saved[name] = t
                slots[name] = s
            if saved:
                undo.append((slots, saved))
    return undo


_META = torch.device("meta")


def is_leaf(m: nn.Module) -> bool:
    """No child modules (``next(m.children(), None) is None``, read from its dict)."""
    children = m._modules
    return not children or all(c is None for c in children.values())  # most leaves: an empty dict, no generator


def _hook(handles: list, modules: list[nn.Module], pre, post, leaves: set[int], tracker: FieldTracker | None) -> None:
    """``pre``/``post`` on every call of ``modules``, and the shape rules on the ``leaves`` (unless ``tracker`` is
    None: rules off); appends the handles to remove to ``handles`` as it goes (all removed, should one fail).

    A wrapper around each module's forward, which also tries the module's shape rule (one closure and one call
    per layer instead of two), unless a module already has hooks of its own: then ours go on each module, after
    theirs, so that what they change is what the records see, and the rules go on the modules' forwards.
    """
    if any(m._forward_hooks or m._forward_pre_hooks for m in modules):
        if tracker is not None:
            handles.append(_Unruled(install_rules([m for m in modules if id(m) in leaves], tracker)))
        handles.extend(m.register_forward_pre_hook(pre) for m in modules)
        handles.extend(m.register_forward_hook(post) for m in modules)
    elif tracker is None:
        handles.extend(_Wrapped(m, pre, post) for m in modules)
    else:
        handles.extend(_Wrapped(m, pre, post, rule_for(m) if id(m) in leaves else None, tracker) for m in modules)


class _Unruled:
    """``uninstall_rules`` as a handle."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.modules = modules

    def remove(self) -> None:
        uninstall_rules(self.modules)


class _Wrapped:
    """``pre``/``post`` around one module's forward, as an instance attribute (removed after the pass).

    Cheaper than hooks: with no hook anywhere, PyTorch calls ``forward`` directly. Only used while no module
    has hooks (PyTorch would then run them around this wrapper, not around the records).
    """

    def __init__(self, module: nn.Module, pre, post, rule=None, tracker: FieldTracker | None = None) -> None:
        self.module, self.own = module, module.__dict__.get("forward")
        forward = self.own or type(module).forward.__get__(module)

        def wrapped(*args, **kwargs):
            pre(module, args)
            out = forward(*args, **kwargs)
            post(module, args, out)
            return out

        def ruled(*args, **kwargs):  # what install_rules' forward does, inside the wrapper
            pre(module, args)
            out = None
            if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor):
                out = rule(module, args[0], tracker)
            if out is None:  # no rule for this call: the layer's own forward, on meta
                out = forward(*args, **kwargs)
            post(module, args, out)
            return out

        module.__dict__["forward"] = wrapped if rule is None else ruled

    def remove(self) -> None:
        if self.own is None:
            self.module.__dict__.pop("forward", None)
        else:
            self.module.__dict__["forward"] = self.own


def run_pass(
    model: nn.Module,
    shape: tuple[int, ...],
    on_leaf_call=None,
    *,
    shape_rules: bool = True,
    modules: list[nn.Module] | None = None,
) -> tuple[torch.Tensor | None, FieldTracker]:
    """One shape-only forward pass with receptive-field tracking; ``on_leaf_call(module, in, out, field)``.

    With ``shape_rules`` the stock layers (conv, pools, BatchNorm, activations, linear, flatten, dropout) get
    their output from ``visualizer.analysis.shape_rules`` instead of their meta kernels; the records are the
    same either way (tested over the zoo), the pass several times faster.

    The caller's model is neither moved nor copied: meta stand-ins are swapped in for its tensors during the pass
    (so do not run inference on the same instance from another thread meanwhile; ``analyze_model`` uses its
    own meta instances). Modules are put in eval mode for the pass (BatchNorm in training mode refuses 1×1
    maps at batch 1) and restored afterwards. ``modules``: ``list(model.modules())`` when the caller has walked
    the model already (one walk per analysis).
    """
    with PASS_LOCK:
        return _run_locked(model, shape, on_leaf_call, shape_rules, modules or list(model.modules()))


def _set_training(modules: list[nn.Module], modes: list[bool]) -> None:
    """``m.training = mode`` for each module, written straight into its ``__dict__`` (``nn.Module.__setattr__``
    and ``train()``'s recursion were a tenth of a ResNet's pass); a module whose class has a ``train`` of its own
    gets it called, as ``model.eval()`` would."""
    for m, mode in zip(modules, modes):
        if type(m).train is _MODULE_TRAIN:
            m.__dict__["training"] = mode
        else:
            m.train(mode)


_MODULE_TRAIN = nn.Module.train


def _run_locked(
    model: nn.Module, shape: tuple[int, ...], on_leaf_call, shape_rules: bool, modules: list[nn.Module]
) -> tuple[torch.Tensor | None, FieldTracker]:
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

    leaves = {id(m) for m in modules if is_leaf(m)}
    handles: list = []
    modes = [m.training for m in modules]
    # The input takes the parameters' dtype (a half-precision model gets a half input, and half-size bytes).
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.get_default_dtype())
    x = torch.empty((BATCH, *shape), device="meta", dtype=dtype)
    tracker.track(x, input_field(len(shape) - 1))
    tracker.set_origin(x, "input")
    tracker.locate = lambda: stack[-1][0] if stack else None
    tracker.inside_leaf = lambda: bool(stack) and id(stack[-1][0]) in leaves
    swapped: list[tuple[dict, dict]] = []
    try:
        _set_training(modules, [False] * len(modules))
        swapped = _swap_to_meta(modules)
        _hook(handles, modules, pre, post, leaves, tracker if shape_rules else None)
        with torch.no_grad(), tracker:
            out = first_tensor(model(x))
    except Exception as exc:
        mod, in_shape = stack[-1][:2] if stack else (None, None)
        rebatched = [c for c in tracker.batch_changes if not c.folded]
        if rebatched:  # a re-batching reshape is the root cause of what failed after it
            change = rebatched[0]
            raise PassFailure(change, change.module, change.before) from exc
        raise PassFailure(exc, mod, in_shape) from exc
    finally:
        for h in reversed(handles):
            h.remove()
        for slots, saved in reversed(swapped):
            slots.update(saved)
        _set_training(modules, modes)
    if tracker.batch_changes and (out is None or out.ndim == 0 or out.shape[0] != BATCH):
        change = next((c for c in tracker.batch_changes if not c.folded), tracker.batch_changes[0])
        raise PassFailure(change, change.module, change.before)
    return out, tracker
