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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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
        return tuple(map(int, v)) if len(v) == n else (int(v[0]),) * n
    return (int(v),) * n


_MISSING = object()
_MODULE_GETATTR = nn.Module.__getattr__


def module_attr(module: nn.Module, name: str, default: Any = None) -> Any:
    """``getattr(module, name, default)``, without the ``AttributeError`` that ``nn.Module.__getattr__`` raises
    and formats for a module lacking ``name`` (a microsecond each: most of reading a ReLU's would-be geometry).

    The same lookup in the same order: a name in the instance's dict, the class's attributes (properties
    included) and any class with a lookup of its own go through ``getattr``; then the module's parameters,
    buffers and submodules are read as ``nn.Module.__getattr__`` would, and ``default`` when none has it.
    """
    d = module.__dict__
    if name in d:  # found before __getattr__ is ever asked: the plain lookup is the fast one
        return getattr(module, name, default)
    cls = type(module)
    if cls.__getattr__ is not _MODULE_GETATTR or cls.__getattribute__ is not object.__getattribute__:
        return getattr(module, name, default)
    if hasattr(cls, name):
        return getattr(module, name, default)
    for slots in ("_parameters", "_buffers", "_modules"):
        own = d.get(slots)
        if own is not None and name in own:
            return own[name]
    return default


def geometry_of(module: nn.Module) -> Geometry | None:
    """Geometry of a conv or pooling module (None for layers without a window: ReLU, BN, Linear, ...)."""
    parts = geometry_parts(module)
    return Geometry(*parts) if parts is not None else None


def geometry_parts(module: nn.Module) -> tuple | None:
    """``geometry_of`` as a plain (kernel, stride, padding, dilation) tuple: the records copy the parts to lists
    anyway, and a frozen dataclass costs a microsecond to make."""
    k = module_attr(module, "kernel_size", _MISSING)
    if k is _MISSING or isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return None
    cls = type(module).__name__
    n = len(k) if isinstance(k, (list, tuple)) else (int(cls[-2]) if cls[-2:-1].isdigit() else 2)
    kernel = _tuple(k, n)
    stride = module_attr(module, "stride", None)
    stride = kernel if stride in (None, (), []) else _tuple(stride, n)
    padding = module_attr(module, "padding", 0)
    if isinstance(padding, str):
        padding = padding if padding != "valid" else (0,) * n
    else:
        padding = _tuple(padding, n)
    return kernel, stride, padding, _tuple(module_attr(module, "dilation", 1), n)  # AvgPool has no dilation


@dataclass(frozen=True)
class Field:
    """Receptive field of unit 0 of a feature map (see module docstring); ``rf=None``: whole input."""

    rf: tuple[int, ...] | None
    jump: tuple[float, ...] | None
    center: tuple[float, ...] | None
    # False when units differ from one another (adaptive pooling to a non-divisor size, transposed convs with
    # stride > 1): ``rf`` is then an upper bound, shown as "≤"; with ``rf=None``, False means "unknown".
    exact: bool = True

    @property
    def ndim(self) -> int:
        return 0 if self.rf is None else len(self.rf)

    def display(self) -> str:
        return field_display(self.rf, self.exact)


def field_display(rf: Sequence[int] | None, exact: bool = True) -> str:
    """``Field(rf, …, exact).display()``: "7×7", "≤7×7", "whole input" or "unknown" (records show theirs
    without building a ``Field``)."""
    if rf is None:
        return "whole input" if exact else "unknown"
    text = "×".join(map(str, rf))
    return text if exact else "≤" + text


WHOLE = Field(None, None, None)
UNKNOWN = Field(None, None, None, exact=False)  # an op that resamples space in a way not modelled here


def input_field(ndim: int = 2) -> Field:
    return Field((1,) * ndim, (1,) * ndim, (0.0,) * ndim)


def _num(x: float) -> float | int:
    """Keep integral values as ints (jumps are almost always integers) so they print and compare cleanly."""
    if type(x) is int:  # already one (most of a CNN's values): what round would give back
        return x
    return round(x) if abs(x - round(x)) < 1e-9 else x


def through_window(
    f: Field,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int] | None = None,
) -> Field:
    """The field after a conv / pool with this geometry (the recurrence in the module docstring)."""
    if f.rf is None:
        return WHOLE
    dilation = dilation or (1,) * len(kernel)
    rf, jump, center = [], [], []
    for r, j, c, k, s, p, d in zip(f.rf, f.jump, f.center, kernel, stride, padding, dilation):
        span = d * (k - 1)  # effective kernel minus one
        rf.append(_num(r + span * abs(j)))  # a flipped map has a negative jump; fields still grow
        jump.append(_num(j * s))
        center.append(_num(c + (span / 2 - p) * j))
    return Field(tuple(rf), tuple(jump), tuple(center), f.exact)


def through_transposed(
    f: Field,
    kernel: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    dilation: Sequence[int] | None = None,
) -> Field:
    """The field after a transposed conv (``ConvTranspose2d``): output ``o`` gets input ``i`` through tap ``t``
    when ``o = i·s − p + t·d``.

    Stride 1 is a conv with the kernel mirrored: exact, ``rf + d·(k − 1)·jump``. With stride s > 1 the output
    units are not alike: the taps that reach ``o`` depend on ``o mod s`` (about ⌈k/s⌉ inputs each), and their
    centres move in steps rather than by a constant jump. Then the field is marked inexact and ``rf`` is the
    smallest box on the grid ``center + y·jump/s`` that holds what every unit sees (one period of ``s``
    units is enough: the pattern repeats one input unit further on).
    """
    if f.rf is None:
        return f
    dilation = dilation or (1,) * len(kernel)
    rf, jump, center, exact = [], [], [], f.exact
    for r, j, c, k, s, p, d in zip(f.rf, f.jump, f.center, kernel, stride, padding, dilation):
        reach = []  # per output unit o < s: the (lowest, highest) input unit it receives, or None
        for o in range(s):
            ins = [(o + p - t * d) // s for t in range(k) if (o + p - t * d) % s == 0]
            reach.append((min(ins), max(ins)) if ins else None)
        # pixel extent of unit o: the fields of its input units, lowest to highest along the grid
        extent = [
            None
            if e is None
            else (min(c + e[0] * j, c + e[1] * j) - (r - 1) / 2, max(c + e[0] * j, c + e[1] * j) + (r - 1) / 2)
            for e in reach
        ]
        o0 = next((o for o, e in enumerate(extent) if e is not None), None)
        if o0 is None:  # k < s and no unit of the period gets an input: nothing to follow
            return UNKNOWN
        c0 = (extent[o0][0] + extent[o0][1]) / 2 - o0 * j / s
        if s == 1:
            lo, hi = extent[0]
            rf.append(_num(hi - lo + 1))
        else:
            half = max(max(c0 + o * j / s - e[0], e[1] - c0 - o * j / s) for o, e in enumerate(extent) if e)
            rf.append(math.ceil(2 * half + 1 - 1e-9))
            exact = False
        jump.append(_num(j / s))
        center.append(_num(c0))
    return Field(tuple(rf), tuple(jump), tuple(center), exact)


def union(fields: Iterable[Field]) -> Field:
    """Join fields that meet at one op (add, mul, cat, ...): unit 0 sees everything any input's unit 0 sees."""
    fields = list(fields)
    if not fields or any(f == WHOLE for f in fields):
        return WHOLE  # one operand depends on the whole input, so the result does
    if any(f.rf is None for f in fields):
        return UNKNOWN
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
            g = Geometry(g.kernel, g.stride, tuple(d * (k - 1) // 2 for k, d in zip(g.kernel, g.dilation)), g.dilation)
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
        # (1, heads, tokens, d) → (heads, tokens, d), (1, H, W, C) → (H·W, C): leading dims folded into dim 0
        # for a batched matrix product (attention heads, a linear layer on a map), restored right after.
        self.folded = any(math.prod(before[:k]) == after[0] for k in range(2, len(before)))


_MAX_POOLS = {
    aten.max_pool1d,
    aten.max_pool2d,
    aten.max_pool3d,
    aten.max_pool2d_with_indices,
    aten.max_pool3d_with_indices,
}
_AVG_POOLS = {aten.avg_pool1d, aten.avg_pool2d, aten.avg_pool3d}
_ADAPTIVE = {
    aten._adaptive_avg_pool2d,
    aten._adaptive_avg_pool3d,
    aten.adaptive_avg_pool1d,
    aten.adaptive_max_pool1d,
    aten.adaptive_max_pool2d,
    aten.adaptive_max_pool3d,
}
_REDUCTIONS = {aten.mean, aten.sum, aten.amax, aten.amin, aten.max, aten.min, aten.std, aten.var}
_VIEWS = {aten.view, aten._unsafe_view, aten.reshape}
_RESHAPES = _VIEWS | {aten.unsqueeze, aten.squeeze}
_PADS = {aten.constant_pad_nd}
_MATMULS = {aten.mm, aten.addmm, aten.bmm, aten.baddbmm}
# Same-shape ops that reorder or accumulate along one dim: followable only when that dim is not spatial.
_ALONG_DIM = {
    aten.roll,
    aten.cumsum,
    aten.cumprod,
    aten.sort,
    aten.argsort,
    aten.logcumsumexp,
    aten.gather,
    aten.scatter,
    aten.index_select,
    aten.scatter_add,
}
_SOFTMAXES = {aten._softmax, aten._log_softmax}
_TRAINING_NORMS = {aten.native_batch_norm, aten._native_batch_norm_legit}  # training=True: batch statistics


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


# ---------------------------------------------------------------------------------------------------------
# Layouts: where a tensor keeps its spatial axes
#
# Convolutions see maps as (N, C, *spatial), the "standard" layout (kept as ``None``: almost every op of a
# CNN stays in it, and the fast path never looks further). ConvNeXt's blocks permute to channels-last, and a
# linear layer on a 4-D tensor folds (1, H, W, C) into (H·W, C) and back; to follow these, a tensor's layout
# lists, per dim, the factors merged into it: ``(axis, size)`` for a spatial axis, ``(None, size)`` for
# anything else (size-1 factors are dropped: a one-unit axis carries no position). A reshape that would split
# a spatial axis (window partitions of Swin / MaxViT) or any op without a rule gives an unknown field, never a
# guessed one.

Factor = tuple[int | None, int]
Layout = tuple[tuple[Factor, ...], ...]


def _materialize(layout: Layout | None, shape: Sequence[int], n: int) -> Layout:
    if layout is not None:
        return layout
    first = len(shape) - n
    return tuple(() if s <= 1 else (((i - first) if i >= first else None, s),) for i, s in enumerate(shape))


def _canonical(layout: Layout, shape: Sequence[int], n: int) -> Layout | None:
    """``None`` when ``layout`` is the standard one for ``shape``: spatial axes alone in the last n dims."""
    first = len(shape) - n
    if first < 1:
        return layout
    for i, factors in enumerate(layout):
        if i >= first and shape[i] > 1:
            if factors != ((i - first, shape[i]),):
                return layout
        elif any(a is not None for a, _ in factors):
            return layout
    return None


def _labels(factors: Iterable[Factor]) -> set[int]:
    return {a for a, _ in factors if a is not None}


def _merge_plain(factors: list[Factor]) -> tuple[Factor, ...]:
    """Adjacent non-spatial factors merge into one (a reshape may regroup them freely)."""
    out: list[Factor] = []
    for a, s in factors:
        if a is None and out and out[-1][0] is None:
            out[-1] = (None, out[-1][1] * s)
        else:
            out.append((a, s))
    return tuple(out)


def _reshape_layout(layout: Layout, shape: Sequence[int]) -> Layout | None:
    """The layout after a view/reshape to ``shape`` (row-major), or None if it splits a spatial axis."""
    pending = list(_merge_plain([f for dim in layout for f in dim]))
    out = []
    for size in shape:
        dim: list[Factor] = []
        prod = 1
        while prod < size:
            if not pending or size % prod:
                return None
            a, s = pending[0]
            need = size // prod
            if s <= need and need % s == 0:
                dim.append((a, s))
                prod *= s
                pending.pop(0)
            elif a is None and s % need == 0:
                dim.append((None, need))
                pending[0] = (None, s // need)
                prod = size
            else:
                return None
        out.append(_merge_plain(dim))
    return None if pending else tuple(out)


class FieldTracker(TorchDispatchMode):
    """Carries a ``Field`` for every tensor derived from the input, through every aten op of the pass.

    Tensors are keyed by identity and kept alive for the pass (meta tensors own no memory), so ``field(t)``
    works from module hooks. In-place ops (``relu_``, ``add_``) update the field of the tensor they modify.
    """

    def __init__(self, batch: int = 1) -> None:
        super().__init__()
        self.batch = batch
        self._fields: dict[int, tuple[torch.Tensor, Field, Layout | None]] = {}
        self.batch_changes: list[BatchChanged] = []  # views that changed dim 0, in order (folds included)
        self.locate = lambda: None  # the module running now (set by analysis.py), for batch_changes
        self._rules = {
            aten.convolution: self._convolution,
            aten.flip: self._flip,
            aten.permute: self._permute,
            aten.transpose: self._permute,
            aten.t: self._permute,
            aten.select: self._select,
            aten.native_layer_norm: self._layer_norm,
            aten.native_group_norm: self._group_norm,
        }
        for group, rule in (
            (_MAX_POOLS | _AVG_POOLS, self._pool),
            (_ADAPTIVE, self._adaptive),
            (_REDUCTIONS, self._reduction),
            (_RESHAPES, self._reshape),
            (_PADS, self._pad),
            (_MATMULS, self._matmul),
            (_ALONG_DIM, self._along_dim),
            (_SOFTMAXES, self._softmax),
            (_TRAINING_NORMS, self._training_norm),
        ):
            self._rules.update(dict.fromkeys(group, rule))
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
        self._fields[id(t)] = (t, f, None)

    def field(self, t: Any) -> Field | None:
        entry = self._fields.get(id(t))
        return entry[1] if entry is not None else None

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # PyTorch otherwise wraps ``__torch_dispatch__`` in ``torch._disable_dynamo`` (a frame-hook switch on
        # every op of the pass); nothing compiles inside a shape-only pass, so the wrapper only costs time.
        return False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = _shape_only(func, args, kwargs)
        if out is NotImplemented:
            out = func(*args, **kwargs)
        self.follow(func.overloadpacket, args, kwargs, out)
        return out

    def follow(self, packet, args, kwargs, out, inputs: Sequence[torch.Tensor] | None = None) -> None:
        """Carry fields and origins to ``out``, the result of the op ``packet(*args, **kwargs)``.

        Called for every op the pass runs, and by the shape rules (``visualizer.analysis.shape_rules``) for the
        op a layer would have run, with an output they computed without running it: one set of field rules.
        ``inputs``: the arguments that may derive from the input, when the caller knows them (a layer's own
        parameters never do).
        """
        if inputs is None:
            inputs = _tensors(args) + _tensors(kwargs.values())
        tracked = [self._fields[id(a)] for a in inputs if id(a) in self._fields]
        if not tracked:
            return
        outputs = _tensors(out)
        if not outputs:
            return
        rule = self._rules.get(packet)
        x = args[0] if args and isinstance(args[0], torch.Tensor) else None
        entry = self._fields.get(id(x)) if x is not None else None
        result = None
        if rule is not None and (entry is not None or packet in _MATMULS):
            result = rule(packet, entry, args, kwargs, outputs[0], tracked)
        for i, o in enumerate(outputs):
            f, layout = result if (i == 0 and result is not None) else self._generic(tracked, o)
            self._check(packet, tracked, o, f, layout)
            self._fields[id(o)] = (o, f, layout)
        self._trace(packet, tracked, outputs)

    def follow_elementwise(self, x: torch.Tensor, out: torch.Tensor) -> bool:
        """``follow`` for an op whose output is ``x``'s shape, computed position by position from ``x`` alone
        (an activation, BatchNorm in eval mode), in the common case where the answer is known without the
        general rules: ``x``'s field and origin. False: not that case, call ``follow``."""
        entry = self._fields.get(id(x))
        if entry is None:
            return True  # not derived from the input: nothing to follow
        f, layout = entry[1], entry[2]
        if layout is not None or (f.rf is not None and x.ndim <= f.ndim):
            return False
        if out is not x:
            self._fields[id(out)] = (out, f, None)
            origin = self._origins.get(id(x))
            if origin is not None:
                self._origins[id(out)] = origin
        return True

    def follow_conv(self, x: torch.Tensor, out: torch.Tensor, kernel, stride, padding, dilation) -> bool:
        """``follow`` for a (non-transposed) convolution of ``x``, in the common case (standard layout) where its
        rule is the recurrence itself; False: not that case, call ``follow``."""
        entry = self._fields.get(id(x))
        if entry is None:
            return True
        f, layout = entry[1], entry[2]
        if layout is not None:
            return False
        self._fields[id(out)] = (out, f if f.rf is None else through_window(f, kernel, stride, padding, dilation), None)
        origin = self._origins.get(id(x))
        if origin is not None:
            self._origins[id(out)] = origin
        return True

    def _trace(self, packet, tracked, outputs) -> None:
        """Carry origins through ops; an op outside any layer whose operands come from different places is a
        join (the ⊕ of a residual block). Inside a layer the layer's own hook sets its output's origin."""
        if len(tracked) == 1:  # the common case (a layer's own op, a view): pass the origin on
            origin = self._origins.get(id(tracked[0][0]))
            if origin is not None:
                for o in outputs:
                    self._origins[id(o)] = origin
            return
        origins = list(dict.fromkeys(o for o in (self._origins.get(id(t)) for t, *_ in tracked) if o is not None))
        if not origins or not outputs:
            return
        if len(origins) > 1 and not self.inside_leaf():
            operands = [self._origins.get(id(t), "?") for t, *_ in tracked]
            self.joins.append((packet.__name__, operands, outputs[0]))
            origins = [f"⊕{len(self.joins) - 1}"]
        for o in outputs:
            self._origins[id(o)] = origins[0]

    # -- the generic rule: elementwise and layout-preserving ops ---------------------------------------

    def _generic(self, tracked, out) -> tuple[Field, Layout | None]:
        """Union of the inputs whose spatial dims line up with the output's (right-aligned, as broadcasting).

        If they do not line up (an unmodelled op that resamples or moves positions: upsampling, a reshape
        that splits a spatial axis) the field is unknown rather than wrong.
        """
        fields = [f for _, f, _ in tracked]
        if any(f.rf is None for f in fields):
            return union(fields), None
        n = fields[0].ndim
        if out.ndim >= n + 1 and all(
            lay is None and t.ndim >= n + 1 and t.shape[-n:] == out.shape[-n:] for t, _, lay in tracked
        ):
            return union(fields), None  # the fast path: standard layouts, same spatial size
        signature = None
        for t, _f, lay in tracked:
            shift = out.ndim - t.ndim
            if shift < 0:
                return UNKNOWN, None
            labelled = []
            for i, factors in enumerate(_materialize(lay, t.shape, n)):
                if _labels(factors):
                    if out.shape[i + shift] != t.shape[i]:
                        return UNKNOWN, None
                    labelled.append((i + shift, factors))
            if signature is None:
                signature = labelled
            elif labelled != signature:
                return UNKNOWN, None
        spatial = dict(signature or [])
        layout = tuple(spatial.get(i, ((None, s),) if s > 1 else ()) for i, s in enumerate(out.shape))
        return union(fields), _canonical(layout, out.shape, n)

    def _check(self, packet, tracked, out: torch.Tensor, f: Field, layout) -> None:
        if f.rf is not None and layout is None and out.ndim >= f.ndim and any(s == 0 for s in out.shape[-f.ndim :]):
            raise InputTooSmall(f"{packet} produced an empty map {list(out.shape)}")
        if (
            packet in _VIEWS
            and out.ndim >= 1
            and out.shape[0] != self.batch
            and all(t.ndim >= 1 and t.shape[0] == self.batch for t, _, _ in tracked)
        ):
            self.batch_changes.append(BatchChanged(self.locate(), list(tracked[0][0].shape), list(out.shape)))

    # -- rules: (op, entry of args[0], args, kwargs, first output, tracked inputs) → (Field, layout) -------

    @staticmethod
    def _standard(entry) -> bool:
        """True when the input's field has a spatial extent and its layout is the standard (N, C, *spatial)."""
        return entry[1].rf is not None and entry[2] is None

    def _windowed(self, entry, tracked, out) -> tuple[Field, Layout | None] | None:
        """What a conv or pool gives when its input is not a standard map (None: go on with the rule)."""
        if entry[1].rf is None:
            return self._generic(tracked, out)
        return None if entry[2] is None else (UNKNOWN, None)

    def _convolution(self, packet, entry, args, kwargs, out, tracked):
        if (early := self._windowed(entry, tracked, out)) is not None:
            return early
        fx, n = entry[1], entry[1].ndim
        k = tuple(args[1].shape[2:])  # args: x, w, b, stride, padding, dilation, transposed, output_padding, groups
        stride, padding, dilation = _tuple(args[3], n), _tuple(args[4], n), _tuple(args[5], n)
        through = through_transposed if args[6] else through_window
        return through(fx, k, stride, padding, dilation), None

    def _pool(self, packet, entry, args, kwargs, out, tracked):
        if (early := self._windowed(entry, tracked, out)) is not None:
            return early
        x, fx, n = entry[0], entry[1], entry[1].ndim
        k = _tuple(args[1], n)
        stride = args[2] if len(args) > 2 and args[2] not in ([], (), None) else k
        pad = args[3] if len(args) > 3 else 0
        dil = args[4] if packet in _MAX_POOLS and len(args) > 4 else 1
        k, s, p, d = k, _tuple(stride, n), _tuple(pad, n), _tuple(dil, n)
        in_sp, out_sp = x.shape[-n:], out.shape[-n:]
        # A window that covers the whole (padded) map and leaves one unit is global pooling.
        if all(o == 1 for o in out_sp) and all(
            dd * (kk - 1) + 1 >= i + 2 * pp for kk, dd, i, pp in zip(k, d, in_sp, p)
        ):
            return WHOLE, None
        return through_window(fx, k, s, p, d), None

    def _adaptive(self, packet, entry, args, kwargs, out, tracked):
        if (early := self._windowed(entry, tracked, out)) is not None:
            return early
        x, fx, n = entry[0], entry[1], entry[1].ndim
        in_sp, out_sp = x.shape[-n:], out.shape[-n:]
        if all(o == 1 for o in out_sp):
            return WHOLE, None
        rf, jump, center, exact = [], [], [], fx.exact
        for r, j, c, ni, no in zip(fx.rf, fx.jump, fx.center, in_sp, out_sp):
            k, s, c0, regular = _adaptive_window(ni, no)
            exact = exact and regular
            rf.append(_num(r + (k - 1) * abs(j)))
            jump.append(_num(j * s))
            center.append(_num(c + c0 * j))
        return Field(tuple(rf), tuple(jump), tuple(center), exact), None

    def _pad(self, packet, entry, args, kwargs, out, tracked):
        x, fx, layout = entry
        if fx.rf is None:
            return fx, None
        n = fx.ndim
        pad = list(args[1])  # (last-dim left, last-dim right, previous-dim left, ...)
        if layout is not None:  # channels-last and friends: only padding of non-spatial dims is followed
            dims = _materialize(layout, x.shape, n)
            padded = [x.ndim - 1 - i // 2 for i, v in enumerate(pad) if v]
            return (UNKNOWN, None) if any(_labels(dims[d]) for d in padded) else self._generic(tracked, out)
        lefts = [pad[2 * (n - 1 - i)] if 2 * (n - 1 - i) < len(pad) else 0 for i in range(n)]
        center = tuple(_num(c - p * j) for c, p, j in zip(fx.center, lefts, fx.jump))
        return Field(fx.rf, fx.jump, center, fx.exact), None

    def _flip(self, packet, entry, args, kwargs, out, tracked):
        """Reversing a spatial dim: unit 0 is the old last unit, and the grid runs backwards."""
        x, fx, layout = entry
        if fx.rf is None:
            return fx, None
        dims = _materialize(layout, x.shape, fx.ndim)
        jump, center = list(fx.jump), list(fx.center)
        for d in args[1]:
            factors = dims[d % x.ndim]
            if not _labels(factors):
                continue
            if len(factors) != 1:  # reversing merged axes reverses neither on its own grid
                return UNKNOWN, None
            ((a, size),) = factors
            center[a] = _num(center[a] + (size - 1) * jump[a])
            jump[a] = -jump[a]
        return Field(fx.rf, tuple(jump), tuple(center), fx.exact), layout

    def _permute(self, packet, entry, args, kwargs, out, tracked):
        x, fx, layout = entry
        if fx.rf is None:
            return fx, None
        dims = _materialize(layout, x.shape, fx.ndim)
        if packet is aten.permute:
            order = [d % x.ndim for d in args[1]]
        else:  # transpose(x, d0, d1), t(x)
            d0, d1 = (args[1] % x.ndim, args[2] % x.ndim) if len(args) > 2 else (0, 1)
            order = list(range(x.ndim))
            order[d0], order[d1] = order[d1], order[d0]
        return fx, _canonical(tuple(dims[d] for d in order), out.shape, fx.ndim)

    def _select(self, packet, entry, args, kwargs, out, tracked):
        x, fx, layout = entry
        if fx.rf is None:
            return fx, None
        dims = _materialize(layout, x.shape, fx.ndim)
        d = args[1] % x.ndim
        if _labels(dims[d]):  # one row of a map: a crop, not modelled
            return UNKNOWN, None
        return fx, _canonical(dims[:d] + dims[d + 1 :], out.shape, fx.ndim)

    def _reshape(self, packet, entry, args, kwargs, out, tracked):
        x, fx, layout = entry
        if fx.rf is None:
            return fx, None
        n = fx.ndim
        if layout is None and out.ndim >= n + 1 and x.ndim >= n + 1 and out.shape[-n:] == x.shape[-n:]:
            return fx, None
        new = _reshape_layout(_materialize(layout, x.shape, n), out.shape)
        if new is None:
            return UNKNOWN, None
        # A batch-sized vector in which channels and positions are mixed: the flatten before a classifier.
        # Whatever reads it (a linear layer) sees every position, so it is reported as the whole input.
        if out.ndim == 2 and not _labels(new[0]) and _labels(new[1]) and any(a is None and s > 1 for a, s in new[1]):
            return WHOLE, None
        return fx, _canonical(new, out.shape, n)

    def _mixing(self, entry, dims: Iterable[int], whole: bool) -> tuple[Field, Layout | None]:
        """An op where each output depends on every input along ``dims``: nothing changes unless those dims are
        spatial; then the whole input (``whole`` and every spatial axis mixed) or unknown (anything less)."""
        x, fx, layout = entry
        if fx.rf is None:
            return fx, None
        all_dims = _materialize(layout, x.shape, fx.ndim)
        mixed = set().union(*(_labels(all_dims[d % x.ndim]) for d in dims))
        if not mixed:
            return fx, layout
        everything = set().union(*(_labels(f) for f in all_dims))
        return (WHOLE if whole and mixed == everything else UNKNOWN), None

    def _layer_norm(self, packet, entry, args, kwargs, out, tracked):
        k = len(args[1])  # normalized_shape: the last k dims share their statistics
        return self._mixing(entry, range(entry[0].ndim - k, entry[0].ndim), whole=True)

    def _group_norm(self, packet, entry, args, kwargs, out, tracked):
        return self._mixing(entry, range(1, entry[0].ndim), whole=True)  # statistics over groups and space

    def _training_norm(self, packet, entry, args, kwargs, out, tracked):
        training = next((a for a in args[3:] if isinstance(a, bool)), False)
        if not training:
            return self._generic(tracked, out)
        return self._mixing(entry, [0, *range(2, entry[0].ndim)], whole=True)  # per-sample statistics

    def _softmax(self, packet, entry, args, kwargs, out, tracked):
        return self._mixing(entry, [args[1]], whole=True)

    def _along_dim(self, packet, entry, args, kwargs, out, tracked):
        """roll, sort, cumsum, gather …: followed along non-spatial dims only."""
        if packet is aten.roll:
            dims = args[2] if len(args) > 2 else kwargs.get("dims", ())
            dims = list(dims) if isinstance(dims, (list, tuple)) else [dims]
            if not dims:  # a roll of the flattened tensor
                return (UNKNOWN, None) if entry[1].rf is not None else (entry[1], None)
        else:
            d = args[1] if len(args) > 1 and isinstance(args[1], int) else kwargs.get("dim", -1)
            dims = [d]
        field, layout = self._mixing(entry, dims, whole=False)
        return (field, layout) if field is UNKNOWN or field.rf is None else self._generic(tracked, out)

    def _reduction(self, packet, entry, args, kwargs, out, tracked):
        x, fx, layout = entry
        if fx.rf is None:
            return fx, None
        dims = args[1] if len(args) > 1 and not isinstance(args[1], bool) else kwargs.get("dim")
        if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
            return WHOLE, None  # reduced to a single value
        dims = {d % x.ndim for d in ([dims] if isinstance(dims, int) else dims)}
        field, _ = self._mixing(entry, dims, whole=True)
        if field.rf is None:
            return field, None
        all_dims = _materialize(layout, x.shape, fx.ndim)
        keep = out.ndim == x.ndim
        kept = tuple(() if d in dims else f for d, f in enumerate(all_dims) if keep or d not in dims)
        return fx, _canonical(kept, out.shape, fx.ndim)

    def _matmul(self, packet, entry, args, kwargs, out, tracked):
        """mm / addmm / bmm / baddbmm: the contracted dim mixes; every other dim keeps its positions."""
        a, b = (args[1], args[2]) if packet in (aten.addmm, aten.baddbmm) else (args[0], args[1])
        # (operand, its contracted dim, {its dim: output dim}) — batch dims of bmm come from either operand
        operands = (
            (a, a.ndim - 1, {d: d for d in range(a.ndim - 1)}),
            (b, b.ndim - 2, {b.ndim - 1: out.ndim - 1, **{d: d for d in range(b.ndim - 2)}}),
        )
        fields, layout = [], [()] * out.ndim
        for t, contracted, to_out in operands:
            entry_t = self._fields.get(id(t))
            if entry_t is None:
                continue
            f, lay = entry_t[1], entry_t[2]
            if f.rf is None:
                return union([f] + fields), None
            dims = _materialize(lay, t.shape, f.ndim)
            if _labels(dims[contracted]):
                return self._mixing(entry_t, [contracted], whole=True)
            for d, o in to_out.items():
                if _labels(dims[d]):
                    if layout[o] and layout[o] != dims[d]:
                        return UNKNOWN, None
                    layout[o] = dims[d]
            fields.append(f)
        if not fields:  # only the bias is derived from the input
            return self._generic(tracked, out)
        full = tuple(f if f else (((None, s),) if s > 1 else ()) for f, s in zip(layout, out.shape))
        return union(fields), _canonical(full, out.shape, fields[0].ndim)
