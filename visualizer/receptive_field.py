"""Exact receptive fields for any graph of conv / pool / elementwise ops, tracked during the shape-only pass.

Coordinates (shared with the overlays): input pixel ``i`` is centred at ``i`` (0-indexed), per spatial dim.
A ``Field`` describes unit 0 of a feature map: it sees input pixels ``center ± (rf - 1) / 2``, and unit ``y``
is centred at ``center + y * jump``. ``rf=None`` means "no spatial field": the value depends on the whole
input (after global pooling, flatten, linear layers, or anything that mixes spatial positions).

Single-path recurrence (Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks",
Distill 2019), with ``k' = dilation * (kernel - 1) + 1``::

    rf_out = rf_in + (k' - 1) * jump_in
    jump_out = jump_in * stride
    center_out = center_in + ((k' - 1) / 2 - padding) * jump_in

Multi-path graphs (ResNet's ``out + identity``) need more than module hooks: the add is a functional op that
no hook sees. ``FieldTracker`` is a ``TorchDispatchMode`` that watches every aten op of the pass, so fields
are propagated through convolutions and pools from their real arguments, and joined (union of the regions
seen by unit 0) wherever tensors meet: add, mul, cat, in-place ops.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

aten = torch.ops.aten


@dataclass(frozen=True)
class Geometry:
    """Kernel, stride, padding, dilation of one windowed layer, per spatial dim (read once from the module)."""

    kernel: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...] | str  # "same" / "valid" stay strings: their numbers depend on the kernel only
    dilation: tuple[int, ...]


def _tuple(v: Any, n: int) -> tuple[int, ...]:
    if isinstance(v, (list, tuple)):
        return tuple(int(x) for x in v) if len(v) == n else tuple(int(v[0]) for _ in range(n))
    return (int(v),) * n


def geometry_of(module: nn.Module) -> Geometry | None:
    """Geometry of a conv or pooling module (None for layers without a window: ReLU, BN, Linear, ...)."""
    if not hasattr(module, "kernel_size") or isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return None
    k = module.kernel_size
    cls = type(module).__name__
    n = len(k) if isinstance(k, (list, tuple)) else (int(cls[-2]) if cls[-2:-1].isdigit() else 2)
    kernel = _tuple(k, n)
    stride = getattr(module, "stride", None)
    stride = kernel if stride in (None, (), []) else _tuple(stride, n)
    padding = getattr(module, "padding", 0)
    if isinstance(padding, str):
        padding = padding if padding != "valid" else (0,) * n
    else:
        padding = _tuple(padding, n)
    return Geometry(kernel, stride, padding, _tuple(getattr(module, "dilation", 1), n))


@dataclass(frozen=True)
class Field:
    """Receptive field of unit 0 of a feature map (see module docstring); ``rf=None``: whole input."""

    rf: tuple[int, ...] | None
    jump: tuple[float, ...] | None
    center: tuple[float, ...] | None
    exact: bool = True  # False only for irregular windows (adaptive pooling to a non-divisor size)

    @property
    def ndim(self) -> int:
        return 0 if self.rf is None else len(self.rf)

    def display(self) -> str:
        if self.rf is None:
            return "whole input" if self.exact else "unknown"
        text = "×".join(str(r) for r in self.rf)
        return text if self.exact else "≤" + text


WHOLE = Field(None, None, None)
UNKNOWN = Field(None, None, None, exact=False)  # an op that resamples space in a way not modelled here


def input_field(ndim: int = 2) -> Field:
    return Field((1,) * ndim, (1,) * ndim, (0.0,) * ndim)


def _num(x: float) -> float | int:
    """Keep integral values as ints (jumps are almost always integers) so they print and compare cleanly."""
    return int(round(x)) if abs(x - round(x)) < 1e-9 else x


def through_window(f: Field, kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
                   dilation: Sequence[int] | None = None) -> Field:
    """The field after a conv / pool with this geometry (the recurrence in the module docstring)."""
    if f.rf is None:
        return WHOLE
    dilation = dilation or (1,) * len(kernel)
    rf, jump, center = [], [], []
    for r, j, c, k, s, p, d in zip(f.rf, f.jump, f.center, kernel, stride, padding, dilation):
        span = d * (k - 1)  # effective kernel minus one
        rf.append(_num(r + span * j))
        jump.append(_num(j * s))
        center.append(_num(c + (span / 2 - p) * j))
    return Field(tuple(rf), tuple(jump), tuple(center), f.exact)


def union(fields: Iterable[Field]) -> Field:
    """Join fields that meet at one op (add, mul, cat, ...): unit 0 sees everything any input's unit 0 sees."""
    fields = list(fields)
    if not fields or any(f.rf is None for f in fields):
        return WHOLE
    if len(fields) == 1 or all(f == fields[0] for f in fields[1:]):
        return fields[0]
    n = fields[0].ndim
    rf, jump, center = [], [], []
    exact = all(f.exact for f in fields)
    for i in range(n):
        lo = min(f.center[i] - (f.rf[i] - 1) / 2 for f in fields)
        hi = max(f.center[i] + (f.rf[i] - 1) / 2 for f in fields)
        jumps = {f.jump[i] for f in fields}
        exact = exact and len(jumps) == 1  # unequal grids: unit 0 is exact, later units only bounded
        rf.append(_num(hi - lo + 1))
        jump.append(max(jumps))
        center.append(_num((lo + hi) / 2))
    return Field(tuple(rf), tuple(jump), tuple(center), exact)


def receptive_field_recurrence(layers: Iterable[Geometry | tuple], ndim: int = 2) -> list[Field]:
    """The classic single-path formula: one Field per layer, in order.

    ``layers`` holds ``Geometry`` objects or plain ``(kernel, stride, padding[, dilation])`` tuples (ints or
    per-dim tuples). Layers without geometry (ReLU, BN) do not change the field, so leave them out.
    """
    out, f = [], input_field(ndim)
    for g in layers:
        if not isinstance(g, Geometry):
            k, s, p, *d = g
            g = Geometry(_tuple(k, ndim), _tuple(s, ndim), _tuple(p, ndim), _tuple(d[0] if d else 1, ndim))
        if isinstance(g.padding, str):  # "same": symmetric padding (d * (k - 1)) // 2 before the extra one
            g = Geometry(g.kernel, g.stride, tuple(d * (k - 1) // 2 for k, d in zip(g.kernel, g.dilation)),
                         g.dilation)
        f = through_window(f, g.kernel, g.stride, g.padding, g.dilation)
        out.append(f)
    return out


# ---------------------------------------------------------------------------------------------------------
# Tracking during the pass


class InputTooSmall(RuntimeError):
    """An op produced an empty feature map; raised inside the pass, turned into a message by analysis.py."""


class BatchChanged(RuntimeError):
    """A reshape turned the batch of 1 into something else (a head that silently re-batches features)."""

    def __init__(self, module: Any, before: list[int], after: list[int]) -> None:
        super().__init__(f"{before} → {after}")
        self.module, self.before, self.after = module, before, after


_MAX_POOLS = {aten.max_pool1d, aten.max_pool2d, aten.max_pool3d, aten.max_pool2d_with_indices,
              aten.max_pool3d_with_indices}
_AVG_POOLS = {aten.avg_pool1d, aten.avg_pool2d, aten.avg_pool3d}
_ADAPTIVE = {aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d, aten.adaptive_avg_pool1d,
             aten.adaptive_max_pool1d, aten.adaptive_max_pool2d, aten.adaptive_max_pool3d}
_REDUCTIONS = {aten.mean, aten.sum, aten.amax, aten.amin, aten.max, aten.min, aten.std, aten.var}
_RESHAPES = {aten.view, aten._unsafe_view, aten.reshape}
_PADS = {aten.constant_pad_nd}


def _adaptive_window(n_in: int, n_out: int) -> tuple[int, float, float, bool]:
    """(largest window, stride, centre of window 0, regular?) of adaptive pooling along one dim."""
    if n_in % n_out == 0:
        k = n_in // n_out
        return k, k, (k - 1) / 2, True
    # torch's windows: [floor(i * n_in / n_out), ceil((i + 1) * n_in / n_out)); sizes differ by one.
    sizes = [math.ceil((i + 1) * n_in / n_out) - (i * n_in) // n_out for i in range(n_out)]
    first = math.ceil(n_in / n_out)
    return max(sizes), n_in / n_out, (first - 1) / 2, False


_BATCH_NORMS = {aten.native_batch_norm, aten._native_batch_norm_legit_no_training}
_SAME_SHAPE_INPLACE = {aten.relu_, aten.add_, aten.mul_, aten.hardtanh_, aten.silu_, aten.sigmoid_}
_SAME_SHAPE = {aten.relu, aten.add, aten.mul, aten.hardtanh, aten.silu, aten.sigmoid, aten.gelu}


def _tensors(x) -> list[torch.Tensor]:
    """Tensors in an op's arguments or results (aten args nest at most as lists of tensors)."""
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, (list, tuple)) or type(x).__name__ == "dict_values":
        return [t for v in x for t in _tensors(v)]
    return []


def _shape_only(func, args, kwargs):
    """Outputs of a few frequent shape-preserving ops without running their meta kernels.

    On meta, BatchNorm and elementwise ops go through Python decompositions (~2 ms per BatchNorm), which
    dominated ResNet passes; their output is simply a tensor shaped like the input.
    """
    packet = func.overloadpacket
    if packet in _BATCH_NORMS:
        x = args[0]
        return torch.empty_like(x), x.new_empty((0,)), x.new_empty((0,))
    if packet in _SAME_SHAPE_INPLACE or packet in _SAME_SHAPE:
        x = args[0]
        others = [a for a in args[1:] if isinstance(a, torch.Tensor)]
        # Same shape and dtype, floating point: no broadcasting or type promotion to get wrong.
        if x.is_floating_point() and all(o.shape == x.shape and o.dtype == x.dtype for o in others):
            return x if packet in _SAME_SHAPE_INPLACE else torch.empty_like(x)
    return NotImplemented


class FieldTracker(TorchDispatchMode):
    """Carries a ``Field`` for every tensor derived from the input, through every aten op of the pass.

    Tensors are keyed by identity and kept alive for the pass (meta tensors own no memory), so ``field(t)``
    works from module hooks. In-place ops (``relu_``, ``add_``) update the field of the tensor they modify.
    """

    def __init__(self, batch: int = 1) -> None:
        super().__init__()
        self.batch = batch
        self._fields: dict[int, tuple[torch.Tensor, Field]] = {}
        self.batch_changes: list[BatchChanged] = []  # reshapes that changed dim 0, in order
        self.locate = lambda: None  # the module running now (set by analysis.py), for batch_changes
        # Provenance, for drawing the graph: where each tensor came from (a layer's key, set by analysis.py,
        # or a join), and the joins themselves: ops outside any layer where differently sourced tensors meet.
        self.inside_leaf = lambda: False  # set by analysis.py
        self._origins: dict[int, str] = {}
        self.joins: list[tuple[str, list[str], torch.Tensor]] = []  # (op, origin of each operand, result)

    def set_origin(self, t: torch.Tensor, origin: str) -> None:
        self._origins[id(t)] = origin

    def origin(self, t: Any) -> str | None:
        return self._origins.get(id(t))

    def track(self, t: torch.Tensor, f: Field) -> None:
        self._fields[id(t)] = (t, f)

    def field(self, t: Any) -> Field | None:
        entry = self._fields.get(id(t))
        return entry[1] if entry is not None else None

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = _shape_only(func, args, kwargs)
        if out is NotImplemented:
            out = func(*args, **kwargs)
        inputs = _tensors(args) + _tensors(kwargs.values())
        tracked = [(a, self._fields[id(a)][1]) for a in inputs if id(a) in self._fields]
        if not tracked:
            return out
        outputs = _tensors(out)
        packet = func.overloadpacket
        first_out = outputs[0] if outputs else None
        new = self._rule(packet, args, tracked, first_out)
        for i, o in enumerate(outputs):
            f = new if i == 0 else self._generic(tracked, o, packet)
            self._check(packet, tracked, o, f)
            self._fields[id(o)] = (o, f)
        self._trace(packet, tracked, outputs)
        return out

    def _trace(self, packet, tracked, outputs) -> None:
        """Carry origins through ops; an op outside any layer whose operands come from different places is a
        join (the ⊕ of a residual block). Inside a layer the layer's own hook sets its output's origin."""
        origins = list(dict.fromkeys(o for o in (self._origins.get(id(t)) for t, _ in tracked) if o is not None))
        if not origins or not outputs:
            return
        if len(origins) > 1 and not self.inside_leaf():
            operands = [self._origins.get(id(t), "?") for t, _ in tracked]
            self.joins.append((packet.__name__, operands, outputs[0]))
            origins = [f"⊕{len(self.joins) - 1}"]
        for o in outputs:
            self._origins[id(o)] = origins[0]

    # -- rules ------------------------------------------------------------------------------------------

    def _rule(self, packet, args, tracked, out) -> Field:
        x = args[0] if args and isinstance(args[0], torch.Tensor) else None
        fx = self.field(x) if x is not None else None
        if fx is None or fx.rf is None or out is None:
            return self._generic(tracked, out, packet)
        n = fx.ndim
        if packet is aten.convolution and not args[6]:  # args: x, w, b, stride, padding, dilation, transposed
            k = tuple(args[1].shape[2:])
            return through_window(fx, k, _tuple(args[3], n), _tuple(args[4], n), _tuple(args[5], n))
        if packet in _MAX_POOLS or packet in _AVG_POOLS:
            k = _tuple(args[1], n)
            stride = args[2] if len(args) > 2 and args[2] not in ([], (), None) else k
            pad = args[3] if len(args) > 3 else 0
            dil = args[4] if packet in _MAX_POOLS and len(args) > 4 else 1
            k, s, p, d = k, _tuple(stride, n), _tuple(pad, n), _tuple(dil, n)
            in_sp, out_sp = x.shape[-n:], out.shape[-n:]
            # A window that covers the whole (padded) map and leaves one unit is global pooling.
            if all(o == 1 for o in out_sp) and all(dd * (kk - 1) + 1 >= i + 2 * pp
                                                   for kk, dd, i, pp in zip(k, d, in_sp, p)):
                return WHOLE
            return through_window(fx, k, s, p, d)
        if packet in _ADAPTIVE:
            in_sp, out_sp = x.shape[-n:], out.shape[-n:]
            if all(o == 1 for o in out_sp):
                return WHOLE
            rf, jump, center, exact = [], [], [], fx.exact
            for r, j, c, ni, no in zip(fx.rf, fx.jump, fx.center, in_sp, out_sp):
                k, s, c0, regular = _adaptive_window(ni, no)
                exact = exact and regular
                rf.append(_num(r + (k - 1) * j))
                jump.append(_num(j * s))
                center.append(_num(c + c0 * j))
            return Field(tuple(rf), tuple(jump), tuple(center), exact)
        if packet in _REDUCTIONS and len(args) > 1 and args[1] is not None:
            dims = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
            spatial = {x.ndim - n + i for i in range(n)}
            if any((d % x.ndim) in spatial for d in dims):
                return WHOLE
        if packet in _PADS:
            pad = list(args[1])  # (last-dim left, last-dim right, previous-dim left, ...)
            lefts = [pad[2 * (n - 1 - i)] if 2 * (n - 1 - i) < len(pad) else 0 for i in range(n)]
            center = tuple(_num(c - p * j) for c, p, j in zip(fx.center, lefts, fx.jump))
            return Field(fx.rf, fx.jump, center, fx.exact)
        return self._generic(tracked, out, packet)

    def _generic(self, tracked, out, packet=None) -> Field:
        """Elementwise / layout ops: union of the inputs whose spatial dims line up with the output's.

        If the spatial dims do not line up (flatten, view to a vector, matmul), positions have been mixed:
        the result depends on the whole input. An unmodelled op that returns a differently sized map of the
        same rank (upsampling, transposed conv) gets an unknown field rather than a wrong one.
        """
        if out is None:
            return WHOLE
        fields = []
        for t, f in tracked:
            if f.rf is None:
                return f
            n = f.ndim
            if out.ndim < n + 1 or t.ndim < n + 1 or tuple(out.shape[-n:]) != tuple(t.shape[-n:]):
                resampled = out.ndim == t.ndim >= n + 2 and packet not in _RESHAPES
                return UNKNOWN if resampled else WHOLE
            fields.append(f)
        return union(fields)

    def _check(self, packet, tracked, out: torch.Tensor, f: Field) -> None:
        if f.rf is not None and out.ndim >= f.ndim and any(s == 0 for s in out.shape[-f.ndim:]):
            raise InputTooSmall(f"{packet} produced an empty map {list(out.shape)}")
        if (packet in _RESHAPES and out.ndim >= 1 and out.shape[0] != self.batch
                and all(t.ndim >= 1 and t.shape[0] == self.batch for t, _ in tracked)):
            self.batch_changes.append(BatchChanged(self.locate(), list(tracked[0][0].shape), list(out.shape)))
