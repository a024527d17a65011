"""Shape rules: a layer's output shape from its own attributes, without running its meta kernel.

A shape-only pass spends most of its time in meta kernels (Python decompositions for convolutions, BatchNorm,
linear layers) and in the Python layers above them. For the layers a CNN is made of, the output shape is a
textbook formula of the layer's geometry, so the pass computes it here and hands the tracker the op the layer
*would* have run, with that output (``FieldTracker.follow``): receptive fields, origins, joins and the
empty-map checks go through the very same rules as when the kernel runs.

A rule answers only when it is sure to agree with the kernel: the exact stock class (a subclass may override
``forward``), one tensor input in the standard contiguous layout, matching channels and dtypes, an output of
at least one unit per side. Anything else (an error to report, an unusual layout, padding modes, unbatched
input) returns ``None`` and the layer's own forward runs on meta, so messages and records are unchanged.
``run_pass(..., shape_rules=False)`` turns the rules off: the reference they are tested against.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from visualizer.receptive_field import FieldTracker

aten = torch.ops.aten

Rule = Callable[[nn.Module, torch.Tensor, FieldTracker], torch.Tensor | None]


def _pair(v) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _standard(x: torch.Tensor, ndim: int) -> bool:
    """A meta tensor of ``ndim`` dims in the default contiguous layout (what the rules' outputs assume)."""
    return x.is_meta and x.ndim == ndim and x.is_contiguous()


def _new(shape, x: torch.Tensor) -> torch.Tensor:
    # Made outside the tracker (a factory op has nothing to follow; a trip through Python dispatch costs more
    # than the rule itself).
    with torch._C._DisableTorchDispatch():
        return torch.empty(shape, dtype=x.dtype, device=_META)  # a device object: no string to parse


_META = torch.device("meta")


def _tensor_slot(mod: nn.Module, name: str):
    """``getattr(mod, name)`` for a parameter or buffer, read from its dict (``nn.Module.__getattr__`` is a
    Python call per read); anywhere else (an attribute of the instance) goes through ``getattr``."""
    d = mod.__dict__
    for slots in (d["_parameters"], d["_buffers"]):
        if name in slots:
            return slots[name] if name not in d else getattr(mod, name)
    return getattr(mod, name)


def _window_out(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Output length of a conv or pool window along one dim (PyTorch's ``pooling_output_shape``)."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:  # the last window must start inside the input or its left padding
        out -= 1
    return out


def _conv2d(mod: nn.Conv2d, x: torch.Tensor, tracker: FieldTracker) -> torch.Tensor | None:
    w, b = _tensor_slot(mod, "weight"), _tensor_slot(mod, "bias")
    if (
        mod.padding_mode != "zeros"
        or isinstance(mod.padding, str)
        or not _standard(x, 4)
        or x.shape[1] != mod.in_channels
        or w.dtype != x.dtype
        or not w.is_meta
        or not w.is_contiguous()
        or (b is not None and b.dtype != x.dtype)
    ):
        return None
    k, s, p, d = mod.kernel_size, mod.stride, mod.padding, mod.dilation
    h, wd = (_window_out(x.shape[2 + i], k[i], s[i], p[i], d[i], False) for i in range(2))
    if h < 1 or wd < 1:
        return None
    out = _new((x.shape[0], mod.out_channels, h, wd), x)
    if not tracker.follow_conv(x, out, k, s, p, d):
        args = (x, w, b, list(s), list(p), list(d), False, [0, 0], mod.groups)
        tracker.follow(aten.convolution, args, {}, out, (x,))
    return out


def _pool_geometry(mod) -> tuple[tuple[int, int], ...]:
    return _pair(mod.kernel_size), _pair(mod.stride), _pair(mod.padding)


def _pooled(x: torch.Tensor, k, s, p, d, ceil_mode: bool) -> tuple[int, int] | None:
    if any(pp > kk // 2 for pp, kk in zip(p, k)):  # the kernel refuses padding over half the window
        return None
    h, w = (_window_out(x.shape[2 + i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(2))
    return (h, w) if h >= 1 and w >= 1 else None


def _max_pool2d(mod: nn.MaxPool2d, x: torch.Tensor, tracker: FieldTracker) -> torch.Tensor | None:
    if mod.return_indices or not _standard(x, 4):
        return None
    k, s, p = _pool_geometry(mod)
    d = _pair(mod.dilation)
    size = _pooled(x, k, s, p, d, mod.ceil_mode)
    if size is None:
        return None
    out = _new((*x.shape[:2], *size), x)
    tracker.follow(aten.max_pool2d_with_indices, (x, list(k), list(s), list(p), list(d), mod.ceil_mode), {}, out, (x,))
    return out


def _avg_pool2d(mod: nn.AvgPool2d, x: torch.Tensor, tracker: FieldTracker) -> torch.Tensor | None:
    if not _standard(x, 4):
        return None
    k, s, p = _pool_geometry(mod)
    size = _pooled(x, k, s, p, (1, 1), mod.ceil_mode)
    if size is None:
        return None
    out = _new((*x.shape[:2], *size), x)
    args = (x, list(k), list(s), list(p), mod.ceil_mode, mod.count_include_pad, mod.divisor_override)
    tracker.follow(aten.avg_pool2d, args, {}, out, (x,))
    return out


def _adaptive_avg_pool2d(mod: nn.AdaptiveAvgPool2d, x: torch.Tensor, tracker: FieldTracker) -> torch.Tensor | None:
    size = mod.output_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    if not _standard(x, 4) or len(size) != 2 or not all(isinstance(v, int) and v >= 1 for v in size):
        return None
    out = _new((*x.shape[:2], *size), x)
    if size == (1, 1):  # ATen computes this case as a mean over the map
        tracker.follow(aten.mean, (x, [-1, -2], True), {}, out, (x,))
    else:
        tracker.follow(aten._adaptive_avg_pool2d, (x, list(size)), {}, out, (x,))
    return out


def _batch_norm2d(mod: nn.BatchNorm2d, x: torch.Tensor, tracker: FieldTracker) -> torch.Tensor | None:
    rm, rv = _tensor_slot(mod, "running_mean"), _tensor_slot(mod, "running_var")
    # Batch statistics (training, or no running ones) mix positions: the kernel's rule has to see that.
    if mod.training or rm is None or rv is None or not _standard(x, 4) or x.shape[1] != mod.num_features:
        return None
    out = _new(x.shape, x)
    if not tracker.follow_elementwise(x, out):
        args = (x, mod.weight, mod.bias, rm, rv, False, mod.momentum or 0.0, mod.eps)
        tracker.follow(aten.native_batch_norm, args, {}, (out,), (x,))
    return out


def _linear(mod: nn.Linear, x: torch.Tensor, tracker: FieldTracker) -> torch.Tensor | None:
    w, b = _tensor_slot(mod, "weight"), _tensor_slot(mod, "bias")
    if not _standard(x, 2) or x.shape[1] != mod.in_features or w.dtype != x.dtype:
        return None
    if b is not None and b.dtype != x.dtype:
        return None
    out = _new((x.shape[0], mod.out_features), x)
    # ATen's linear on a matrix: addmm(bias, x, wᵀ), or mm(x, wᵀ) without a bias (wᵀ is not derived from
    # the input, so the weight itself stands in for it: only its number of dims is read)
    if b is not None:
        tracker.follow(aten.addmm, (b, x, w), {}, out, (x,))
    else:
        tracker.follow(aten.mm, (x, w), {}, out, (x,))
    return out


def _flatten(mod: nn.Flatten, x: torch.Tensor, tracker: FieldTracker) -> torch.Tensor | None:
    if not x.is_meta or x.ndim < 1 or not x.is_contiguous():
        return None
    start, end = mod.start_dim, mod.end_dim
    if not (-x.ndim <= start < x.ndim and -x.ndim <= end < x.ndim):
        return None
    start, end = start % x.ndim, end % x.ndim
    if start > end:
        return None
    if start == end:
        return x  # ATen returns the tensor itself
    shape = [*x.shape[:start], math.prod(x.shape[start : end + 1]), *x.shape[end + 1 :]]
    out = _new(shape, x)
    tracker.follow(aten.view, (x, shape), {}, out, (x,))
    return out


def _passthrough(mod: nn.Module, x: torch.Tensor, tracker: FieldTracker) -> torch.Tensor | None:
    """Identity, and Dropout in eval mode: ATen hands back the input tensor itself, no op runs."""
    if mod.training and not isinstance(mod, nn.Identity):
        return None
    return x


def _elementwise(op, inplace_op) -> Rule:
    def rule(mod: nn.Module, x: torch.Tensor, tracker: FieldTracker) -> torch.Tensor | None:
        if not x.is_meta or not x.is_floating_point() or not x.is_contiguous():
            return None
        if getattr(mod, "inplace", False):
            if not tracker.follow_elementwise(x, x):
                tracker.follow(inplace_op, (x,), {}, x, (x,))
            return x
        out = _new(x.shape, x)
        if not tracker.follow_elementwise(x, out):
            tracker.follow(op, (x,), {}, out, (x,))
        return out

    return rule


# The stock classes only: ``type(module)`` is looked up, so a subclass (which may override forward) runs its own.
RULES: dict[type, Rule] = {
    nn.Conv2d: _conv2d,
    nn.MaxPool2d: _max_pool2d,
    nn.AvgPool2d: _avg_pool2d,
    nn.AdaptiveAvgPool2d: _adaptive_avg_pool2d,
    nn.BatchNorm2d: _batch_norm2d,
    nn.Linear: _linear,
    nn.Flatten: _flatten,
    nn.Dropout: _passthrough,
    nn.Identity: _passthrough,
    nn.ReLU: _elementwise(aten.relu, aten.relu_),
    nn.ReLU6: _elementwise(aten.hardtanh, aten.hardtanh_),
    nn.SiLU: _elementwise(aten.silu, aten.silu_),
    nn.Hardswish: _elementwise(aten.hardswish, aten.hardswish_),
    nn.Hardsigmoid: _elementwise(aten.hardsigmoid, aten.hardsigmoid_),
    nn.Sigmoid: _elementwise(aten.sigmoid, aten.sigmoid_),
    nn.Tanh: _elementwise(aten.tanh, aten.tanh_),
    nn.GELU: _elementwise(aten.gelu, aten.gelu_),
    nn.LeakyReLU: _elementwise(aten.leaky_relu, aten.leaky_relu_),
    nn.ELU: _elementwise(aten.elu, aten.elu_),
    nn.Mish: _elementwise(aten.mish, aten.mish_),
}


def install_rules(modules: list[nn.Module], tracker: FieldTracker) -> list[nn.Module]:
    """Give each stock leaf layer a forward that tries its shape rule first; returns the modules changed
    (``uninstall_rules`` them after the pass). A module with a forward of its own on the instance is left alone."""
    changed = []
    for m in modules:
        rule = rule_for(m)
        if rule is None:
            continue
        m.__dict__["forward"] = _ruled_forward(m, rule, tracker)
        changed.append(m)
    return changed


def rule_for(module: nn.Module) -> Rule | None:
    """The rule ``install_rules`` gives ``module``: its exact class's, unless it has a forward of its own on the
    instance (None: it runs its own forward)."""
    rule = RULES.get(type(module))
    return None if rule is None or "forward" in module.__dict__ else rule


def uninstall_rules(modules: list[nn.Module]) -> None:
    for m in modules:
        m.__dict__.pop("forward", None)


def _ruled_forward(mod: nn.Module, rule: Rule, tracker: FieldTracker):
    forward = type(mod).forward

    def ruled(*args, **kwargs):
        if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor):
            out = rule(mod, args[0], tracker)
            if out is not None:
                return out
        return forward(mod, *args, **kwargs)

    return ruled
