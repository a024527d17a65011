"""The analysis engine: one shape-only pass → one ``LayerRecord`` per leaf-layer call.

Collect, then describe, then present (torchinfo's split): hooks and a ``FieldTracker`` collect shapes and
receptive fields during a pass on the meta device (no activations, no allocations, any input size); a
``LayerRecord`` holds the facts of one call; totals and breakdowns are computed from the records; tables
and the CLI live in ``analysis_cli.py``.

Two MAC conventions, both per record:

- ``macs`` is torchinfo's "mult-adds", so totals agree with ``torchinfo.summary``: for each parameter named
  ``weight``/``bias``, conv layers count ``numel × batch × output positions`` and other layers ``numel × batch``
  (biases count as MACs; BatchNorm counts its 2·C affine parameters once, not per position; a linear layer
  applied at every position of a map or token sequence is counted once).
- ``textbook_macs`` counts the multiplications by weights, as textbooks and papers do:
  ``k_h·k_w·C_in/g·C_out·H_out·W_out`` for a conv (``…·H_in·W_in`` for a transposed conv, whose every input
  pixel meets every weight once), ``in·out`` per row for a linear layer, 0 for everything else.
"""

from __future__ import annotations

import contextlib
import functools
import html
import inspect
import math
import operator
import re
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import chain
from typing import Any

import torch
from torch import nn

from visualizer import breakdowns
from visualizer.receptive_field import (
    UNKNOWN,
    BatchChanged,
    Field,
    FieldTracker,
    InputTooSmall,
    geometry_of,
    input_field,
)

MAX_SIDE = 65536  # shape-only, so big sizes are cheap, but beyond this the numbers stop meaning anything
MAX_CHANNELS = 4096
BATCH = 1


class AnalysisError(ValueError):
    """Bad input for an analysis; ``str(err)`` is one line that says what was wrong and what would work."""


@dataclass
class LayerRecord:
    """The facts of one leaf-layer call (a module called twice gives two records)."""

    index: int  # execution order
    name: str  # qualified name from named_modules: "features.0", "layer1.0.conv1"
    type: str  # class name: "Conv2d"
    call_index: int  # 0 for the module's first call, 1 for its second, ...
    input_shape: list[int] | None
    output_shape: list[int] | None
    kernel: list[int] | None = None
    stride: list[int] | None = None
    padding: list[int] | str | None = None
    dilation: list[int] | None = None
    params: int = 0
    trainable_params: int = 0
    param_share: float = 0.0  # params / model's total params
    macs: int = 0  # torchinfo's convention (module docstring): weights and biases, BatchNorm 2·C
    activation_bytes: int = 0  # output size in bytes (batch 1)
    receptive_field: list[int] | None = None  # [rh, rw] in input pixels; None: whole input
    jump: list[float] | None = None  # effective stride [jh, jw]
    rf_center: list[float] | None = None  # centre of unit (0, 0)'s field, input pixel coordinates
    rf_exact: bool = True  # False: "≤" (rf an upper bound, units differ) or, with rf None, "unknown"
    textbook_macs: int = 0  # weights only: k·k·C_in/g·C_out per output position (conv), in·out (linear)
    groups: int = 1  # a conv's groups (C_in / groups input channels per filter)
    # The graph, as the pass saw it: where this call's input came from (record keys, "input", or a join
    # "⊕3"), and the receptive field of that input (for the r = r_prev + (k−1)·j_prev lesson).
    input_from: list[str] = field(default_factory=list)
    input_receptive_field: list[int] | None = None
    input_jump: list[float] | None = None

    @property
    def key(self) -> str:
        """``name``, or ``name#k`` for the k-th call of a module used more than once (the layer pickers' key)."""
        return self.name if self.call_index == 0 else f"{self.name}#{self.call_index}"

    @property
    def rf_display(self) -> str:
        return Field(_tup(self.receptive_field), _tup(self.jump), _tup(self.rf_center), self.rf_exact).display()

    @property
    def block(self) -> str:
        return breakdowns.block_of(self.name)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rf_display"] = self.rf_display
        return d


def _tup(v):
    return None if v is None else tuple(v)


@dataclass
class Join:
    """A functional op outside any layer where two or more paths meet: ResNet's ``out + identity``.

    ``inputs[i]`` are the record keys (or "input", or another join's ``key``) each operand came from;
    ``consumers`` the records that read the result; ``after`` the index of the last record before it.
    """

    index: int
    op: str  # "add", "mul", "cat", ...
    inputs: list[list[str]]
    after: int
    consumers: list[str] = field(default_factory=list)
    output_shape: list[int] | None = None

    @property
    def key(self) -> str:
        return f"⊕{self.index}"


@dataclass(repr=False)
class Analysis:
    """All records of one pass, with totals and breakdowns computed from them.

    In a notebook it shows itself as HTML (totals and the layer table); ``print(analysis)`` gives the CLI's
    text table.
    """

    model_name: str
    input_shape: tuple[int, ...]
    layers: list[LayerRecord]
    total_params: int
    trainable_params: int
    output_shape: list[int] | None = None
    design_input_shape: tuple[int, ...] | None = None
    notes: list[str] = field(default_factory=list)
    joins: list[Join] = field(default_factory=list)

    @property
    def total_macs(self) -> int:
        """torchinfo's convention: equals ``torchinfo.summary(...).total_mult_adds``."""
        return sum(r.macs for r in self.layers)

    @property
    def total_textbook_macs(self) -> int:
        """Multiplications by conv and linear weights only (``k·k·C_in/g·C_out·H·W``, ``in·out``)."""
        return sum(r.textbook_macs for r in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return self.total_params - self.trainable_params

    @property
    def total_activation_bytes(self) -> int:
        return sum(r.activation_bytes for r in self.layers)

    def params_by_type(self) -> dict[str, int]:
        return breakdowns.params_by_type(self.layers)

    def macs_by_type(self) -> dict[str, int]:
        return breakdowns.macs_by_type(self.layers)

    def params_by_block(self) -> dict[str, int]:
        return breakdowns.params_by_block(self.layers)

    def macs_by_block(self) -> dict[str, int]:
        return breakdowns.macs_by_block(self.layers)

    def conv_fc_split(self) -> dict[str, float | int | None]:
        return breakdowns.conv_fc_split(self.layers)

    def by_key(self, key: str) -> LayerRecord:
        """The record of ``name`` or ``name#k`` (the k-th call); ``KeyError`` naming real keys when absent."""
        name, _, call = key.partition("#")
        if call and not call.isdigit():
            raise KeyError(f"bad layer key {key!r}; use a layer name, or name#k for its k-th call")
        try:
            return self.layer(name, int(call) if call else 0)
        except KeyError:
            sample = ", ".join(r.key for r in self.layers[:6])
            raise KeyError(f"{self.model_name} has no layer {key!r}; layers look like: {sample}, ...") from None

    def layer(self, name: str, call_index: int = 0) -> LayerRecord:
        for r in self.layers:
            if r.name == name and r.call_index == call_index:
                return r
        raise KeyError(f"no layer {name!r} (call {call_index}) in {self.model_name}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "input_shape": list(self.input_shape),
            "design_input_shape": list(self.design_input_shape) if self.design_input_shape else None,
            "output_shape": self.output_shape,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "total_macs": self.total_macs,
            "total_textbook_macs": self.total_textbook_macs,
            "total_activation_bytes": self.total_activation_bytes,
            "params_by_type": self.params_by_type(),
            "macs_by_type": self.macs_by_type(),
            "params_by_block": self.params_by_block(),
            "macs_by_block": self.macs_by_block(),
            "conv_fc_split": self.conv_fc_split(),
            "notes": list(self.notes),
            "layers": [r.to_dict() for r in self.layers],
            "joins": [{**asdict(j), "key": j.key} for j in self.joins],
        }

    def table_rows(self) -> list[dict[str, Any]]:
        """One human-friendly row per record, for the app's table."""
        rows = []
        for r in self.layers:
            rows.append(
                {
                    "#": r.index,
                    "Layer": r.name + (f" (call {r.call_index + 1})" if r.call_index else ""),
                    "Type": r.type,
                    "Output shape": format_shape(r.output_shape[1:]) if r.output_shape else "",
                    "Kernel / stride / pad": _geometry_text(r),
                    "Params": r.params if r.call_index == 0 else 0,
                    "Params %": round(100 * r.param_share, 2) if r.call_index == 0 else 0.0,
                    MACS_TORCHINFO: r.macs,
                    MACS_TEXTBOOK: r.textbook_macs,
                    "Output KiB": round(r.activation_bytes / 1024, 1),
                    "Receptive field": r.rf_display,
                    "Jump": "" if r.jump is None else "×".join(_num_text(j) for j in r.jump),
                }
            )
        return rows

    def __str__(self) -> str:
        from visualizer.analysis_cli import format_table  # the CLI's module imports this one

        return format_table(self)

    def __repr__(self) -> str:
        return (
            f"<Analysis of {self.model_name} at {format_shape(self.input_shape)}: {len(self.layers)} layer calls, "
            f"{self.total_params:,} parameters, {self.total_macs:,} MACs (torchinfo)>"
        )

    def diagram_svg(self) -> str:
        """The architecture diagram as an SVG string from ``visualizer.diagram.render_svg``; "" while that
        module does not exist (it is being written separately; the HTML view leaves room for it)."""
        try:
            from visualizer.diagram import render_svg
        except ModuleNotFoundError as exc:
            if exc.name == "visualizer.diagram":
                return ""
            raise  # the module exists but one of its own imports is missing: say so
        return render_svg(self)

    def _repr_html_(self) -> str:
        """Jupyter's rich display: totals, the diagram (when available) and the per-layer table."""
        e = html.escape
        design = (
            f" (designed for {format_shape(self.design_input_shape)})"
            if self.design_input_shape and tuple(self.design_input_shape) != tuple(self.input_shape)
            else ""
        )
        totals = [
            ("Input", format_shape(self.input_shape) + design),
            ("Output", format_shape(self.output_shape[1:]) if self.output_shape else "–"),
            ("Parameters", f"{self.total_params:,} ({self.trainable_params:,} trainable)"),
            (MACS_TORCHINFO, f"{self.total_macs:,}"),
            (MACS_TEXTBOOK, f"{self.total_textbook_macs:,}"),
            ("Output activations", f"{self.total_activation_bytes / 2**20:,.1f} MiB (all layer outputs, batch 1)"),
        ]
        rows = self.table_rows()
        cols = list(rows[0]) if rows else []
        right = {"#", "Params", "Params %", MACS_TORCHINFO, MACS_TEXTBOOK, "Output KiB"}

        def cell(col: str, v: Any) -> str:
            text = f"{v:,}" if isinstance(v, int) and col != "#" else str(v)
            return f'<td style="text-align:{"right" if col in right else "left"}">{e(text)}</td>'

        parts = [
            '<div class="cnnviz-analysis">',
            f"<p><b>{e(self.model_name)}</b></p>",
            "<table>"
            + "".join(
                f'<tr><th style="text-align:left">{e(k)}</th><td style="text-align:left">{e(v)}</td></tr>'
                for k, v in totals
            )
            + "</table>",
        ]
        svg = self.diagram_svg()
        if svg:
            parts.append(f'<div class="cnnviz-diagram">{svg}</div>')
        parts += [
            f"<details open><summary>{len(rows)} layer calls</summary>",
            '<div style="max-height:480px;overflow:auto"><table>',
            "<thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr></thead><tbody>",
            *("<tr>" + "".join(cell(c, r[c]) for c in cols) + "</tr>" for r in rows),
            "</tbody></table></div></details>",
            *(f"<p><i>{e(note)}</i></p>" for note in self.notes + [MACS_NOTE]),
            "</div>",
        ]
        return "\n".join(parts)


MACS_TORCHINFO = "MACs (torchinfo)"
MACS_TEXTBOOK = "MACs (weights only)"
MACS_NOTE = (
    f"{MACS_TORCHINFO}: torchinfo's count, every weight and bias × output positions for convs, × 1 for "
    f"other layers (BatchNorm 2·C). {MACS_TEXTBOOK}: the textbook count, k·k·C_in/g·C_out·H_out·W_out for "
    "convs and in·out for linear layers."
)


def _num_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.2f}"


def _geometry_text(r: LayerRecord) -> str:
    if r.kernel is None:
        return ""
    pad = r.padding if isinstance(r.padding, str) else "×".join(map(str, r.padding))
    text = f"{'×'.join(map(str, r.kernel))} / {'×'.join(map(str, r.stride))} / {pad}"
    if r.dilation and any(d != 1 for d in r.dilation):
        text += f" / dil {'×'.join(map(str, r.dilation))}"
    return text


def format_shape(shape: Sequence[int] | None) -> str:
    return "x".join(str(int(s)) for s in shape) if shape is not None else ""


# ---------------------------------------------------------------------------------------------------------
# Input shapes


def parse_input_shape(text: str | Sequence[int], channels: int = 3) -> tuple[int, int, int]:
    """``"3x224x224"``, ``"224"``, ``"224x224"``, ``"3,224,224"`` (or a sequence) → ``(C, H, W)``."""
    if isinstance(text, str):
        parts = re.split(r"\s*[x×X,*]\s*|\s+", text.strip())
        if not parts or not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
            raise AnalysisError(
                f"input size {text!r} is not understood; write CxHxW, HxW or one side, e.g. 3x224x224 or 224"
            )
        dims = [int(p) for p in parts]
    else:
        dims = list(text)
    if len(dims) == 1:
        dims = [channels, dims[0], dims[0]]
    elif len(dims) == 2:
        dims = [channels, *dims]
    return check_input_shape(dims)


def check_input_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """Validate a ``(C, H, W)`` shape (a leading batch of 1 is dropped); raises ``AnalysisError``."""
    dims = list(shape)
    text = "x".join(str(d) for d in dims)
    if len(dims) == 4 and dims[0] == 1:
        dims = dims[1:]
    try:  # ints, numpy ints and 0-d integer tensors; not floats or bools
        if any(isinstance(d, bool) for d in dims):
            raise TypeError
        dims = [operator.index(d) for d in dims]
    except TypeError:
        dims = []
    if len(dims) != 3:
        raise AnalysisError(f"input size {text!r} must be three integers CxHxW (batch is always 1), e.g. 3x224x224")
    if any(d <= 0 for d in dims):
        raise AnalysisError(
            f"input size {text} has a zero or negative dimension; every size must be ≥ 1, e.g. 3x224x224"
        )
    c, h, w = dims
    if c > MAX_CHANNELS:
        raise AnalysisError(f"input size {text} has {c} channels; at most {MAX_CHANNELS} (images have 1 or 3)")
    if h > MAX_SIDE or w > MAX_SIDE:
        raise AnalysisError(f"input size {text} is too large: at most {MAX_SIDE} pixels per side")
    return (c, h, w)


# ---------------------------------------------------------------------------------------------------------
# The pass


class _PassFailure(Exception):
    def __init__(self, exc: BaseException, module: nn.Module | None, module_input: list[int] | None) -> None:
        super().__init__(str(exc))
        self.exc, self.module, self.module_input = exc, module, module_input


# Hooks live on the module and functional_call swaps its tensors: one pass at a time per process.
_PASS_LOCK = threading.RLock()


def _macs(module: nn.Module, out_shape: list[int]) -> int:
    """torchinfo's ``LayerInfo.calculate_macs``, for one call (batch included in ``out_shape``)."""
    if not out_shape:
        return 0
    total = 0
    is_conv = "Conv" in type(module).__name__
    for pname, p in module.named_parameters():
        n = p.numel()
        if pname in ("weight", "bias"):
            total += n * (math.prod(out_shape[:1] + out_shape[2:]) if is_conv else out_shape[0])
        elif "weight" in pname or "bias" in pname:  # RNN-style weight_ih_l0
            total += n * math.prod(out_shape[:2])
    return total


def _textbook_macs(module: nn.Module, in_shape: list[int] | None, out_shape: list[int]) -> int:
    """Multiplications by the layer's weights (batch included); 0 for layers without conv or linear weights."""
    w = getattr(module, "weight", None)
    if not isinstance(w, torch.Tensor) or not out_shape:
        return 0
    if isinstance(module, nn.modules.conv._ConvTransposeNd) and in_shape:
        return w.numel() * math.prod(in_shape[:1] + in_shape[2:])  # each input pixel meets every weight once
    if isinstance(module, nn.modules.conv._ConvNd):
        return w.numel() * math.prod(out_shape[:1] + out_shape[2:])
    if isinstance(module, nn.Linear):
        return w.numel() * math.prod(out_shape[:-1])  # every row: a position, a token, or the batch
    return 0


def _first_tensor(x: Any) -> torch.Tensor | None:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (list, tuple)):
        for v in x:
            t = _first_tensor(v)
            if t is not None:
                return t
    if isinstance(x, dict):
        return _first_tensor(list(x.values()))
    return None


def _meta_state(model: nn.Module) -> dict[str, torch.Tensor] | None:
    """Meta stand-ins for the model's parameters and buffers (None when the model already lives on meta)."""
    tensors = list(chain(model.named_parameters(remove_duplicate=False), model.named_buffers(remove_duplicate=False)))
    if all(t.is_meta for _, t in tensors):
        return None
    return {n: torch.empty_like(t, device="meta") for n, t in tensors}


def _run(model: nn.Module, shape: tuple[int, ...], on_leaf_call=None) -> tuple[torch.Tensor | None, FieldTracker]:
    """One shape-only forward pass with receptive-field tracking; ``on_leaf_call(module, in, out, field)``.

    The caller's model is neither moved nor copied: ``functional_call`` swaps meta tensors in for the pass
    (so do not run inference on the same instance from another thread meanwhile; ``analyze_model`` uses its
    own meta instances). Modules are put in eval mode for the pass (BatchNorm in training mode refuses 1×1
    maps at batch 1) and restored afterwards.
    """
    with _PASS_LOCK:
        return _run_locked(model, shape, on_leaf_call)


def _run_locked(model: nn.Module, shape: tuple[int, ...], on_leaf_call) -> tuple[torch.Tensor | None, FieldTracker]:
    tracker = FieldTracker(batch=BATCH)
    stack: list[tuple[nn.Module, list[int] | None, torch.Tensor | None]] = []

    def pre(mod, args):
        t = _first_tensor(args)
        stack.append((mod, list(t.shape) if t is not None else None, t))

    def post(mod, args, out):
        _, in_shape, t_in = stack.pop()
        if on_leaf_call is not None and id(mod) in leaves:
            t = _first_tensor(out)
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
            out = _first_tensor(torch.func.functional_call(model, state, (x,)) if state is not None else model(x))
    except Exception as exc:
        mod, in_shape = stack[-1][:2] if stack else (None, None)
        rebatched = [c for c in tracker.batch_changes if not c.folded]
        if rebatched:  # a re-batching reshape is the root cause of what failed after it
            change = rebatched[0]
            raise _PassFailure(change, change.module, change.before) from exc
        raise _PassFailure(exc, mod, in_shape) from exc
    finally:
        for h in handles:
            h.remove()
        for m, training in modes:
            m.training = training
    if tracker.batch_changes and (out is None or out.ndim == 0 or out.shape[0] != BATCH):
        change = next((c for c in tracker.batch_changes if not c.folded), tracker.batch_changes[0])
        raise _PassFailure(change, change.module, change.before)
    return out, tracker


def analyze(
    model: nn.Module,
    input_shape: Sequence[int] | str = (3, 224, 224),
    model_name: str | None = None,
    *,
    design_input_shape: Sequence[int] | None = None,
) -> Analysis:
    """Analyse ``model`` at ``input_shape`` (C, H, W; batch 1) in one shape-only pass.

    Raises ``AnalysisError`` (one line) when the input does not fit the model.
    """
    if not isinstance(model, nn.Module):
        raise AnalysisError(
            f"analyze() takes a torch.nn.Module, got {type(model).__name__} {model!r:.60}; "
            "for a zoo model by name use analyze_model('vgg16')"
        )
    shape = parse_input_shape(input_shape) if isinstance(input_shape, str) else check_input_shape(input_shape)
    name = model_name or type(model).__name__
    _check_takes_one_tensor(model, name)
    design = tuple(design_input_shape) if design_input_shape else None
    names = {id(m): n for n, m in model.named_modules()}
    calls: dict[int, int] = {}
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # Counted from the real parameters now: during the pass they are swapped for meta stand-ins, which know
    # their size but not whether the caller froze them.
    own = {
        id(m): (sum(p.numel() for p in m.parameters()), sum(p.numel() for p in m.parameters() if p.requires_grad))
        for m in model.modules()
        if next(m.children(), None) is None
    }
    records: list[LayerRecord] = []

    def on_leaf_call(
        mod: nn.Module, in_shape, out: torch.Tensor | None, f: Field | None, in_origin: str | None, f_in: Field | None
    ) -> str:
        call = calls.get(id(mod), 0)
        calls[id(mod)] = call + 1
        out_shape = list(out.shape) if out is not None else None
        params, trainable_here = own[id(mod)]
        g = geometry_of(mod)
        f = f or UNKNOWN  # an output the tracker never saw derive from the input (a constant, a non-tensor)
        f_in = f_in or Field(None, None, None)
        records.append(
            LayerRecord(
                index=len(records),
                name=names.get(id(mod), ""),
                type=type(mod).__name__,
                call_index=call,
                input_shape=in_shape,
                output_shape=out_shape,
                kernel=list(g.kernel) if g else None,
                stride=list(g.stride) if g else None,
                padding=(g.padding if isinstance(g.padding, str) else list(g.padding)) if g else None,
                dilation=list(g.dilation) if g else None,
                params=params,
                trainable_params=trainable_here,
                param_share=params / total if total else 0.0,
                macs=_macs(mod, out_shape) if out_shape else 0,
                activation_bytes=out.numel() * out.element_size() if out is not None else 0,
                receptive_field=list(f.rf) if f.rf is not None else None,
                jump=list(f.jump) if f.jump is not None else None,
                rf_center=[float(c) for c in f.center] if f.center is not None else None,
                rf_exact=f.exact,
                textbook_macs=_textbook_macs(mod, in_shape, out_shape) if out_shape else 0,
                groups=int(getattr(mod, "groups", 1) or 1),
                input_from=[in_origin] if in_origin else [],
                input_receptive_field=list(f_in.rf) if f_in.rf is not None else None,
                input_jump=list(f_in.jump) if f_in.jump is not None else None,
            )
        )
        return records[-1].key

    try:
        out, tracker = _run(model, shape, on_leaf_call)
    except _PassFailure as failure:
        raise AnalysisError(_explain(failure, model, shape, name, design)) from None
    joins = _joins(tracker, records, out)
    notes = [
        f"a reshape in {_where(c.module, model, name)} changed the batch dimension ({c}) and a later one restored it"
        for c in [c for c in tracker.batch_changes if not c.folded][:1]
    ]
    if any(not r.rf_exact and r.receptive_field is not None for r in records):
        notes.append(
            "≤ marks receptive fields that differ from unit to unit (adaptive pooling to a size that does "
            "not divide the map, transposed convolutions with stride > 1): the number is an upper bound"
        )
    if any(not r.rf_exact and r.receptive_field is None for r in records):
        notes.append(
            "unknown marks receptive fields the tracker cannot follow (resampling, token sequences, "
            "attention windows): no number is shown rather than a wrong one"
        )
    return Analysis(
        name, shape, records, total, trainable, list(out.shape) if out is not None else None, design, notes, joins
    )


def _joins(tracker: FieldTracker, records: list[LayerRecord], out: torch.Tensor | None) -> list[Join]:
    """The tracker's joins as ``Join``s, each placed after the last record that fed it, with its readers."""
    position = {r.key: r.index for r in records}
    joins: list[Join] = []
    for i, (op, operands, result) in enumerate(tracker.joins):
        after = max((position.get(o, -1) for o in operands), default=-1)
        after = max([after] + [joins[int(o[1:])].after for o in operands if o.startswith("⊕")])
        joins.append(Join(i, op, [[o] for o in operands], after, output_shape=list(result.shape)))
    for r in records:
        for source in r.input_from:
            if source.startswith("⊕"):
                joins[int(source[1:])].consumers.append(r.key)
    if out is not None and (tracker.origin(out) or "").startswith("⊕"):
        joins[int(tracker.origin(out)[1:])].consumers.append("output")
    return joins


def _check_takes_one_tensor(model: nn.Module, name: str) -> None:
    """The pass calls ``model(x)`` with one image batch; say so up front if ``forward`` needs more."""
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):  # builtins and C extensions: let the pass find out
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in params if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    takes_any = positional or any(p.kind is p.VAR_POSITIONAL for p in params)
    if len(required) > 1 or not takes_any:
        wanted = ", ".join(required) if required else "no arguments"
        raise AnalysisError(
            f"{name}.forward takes {wanted}; analyze() calls it with one image tensor (1, C, H, W) — wrap the model "
            "in a module whose forward(x) takes that tensor and supplies the rest"
        )


# ---------------------------------------------------------------------------------------------------------
# Errors for people

_TOO_SMALL = (
    "Output size is too small",
    "Kernel size can't be greater",
    "non-positive",
    "output size is too small",
    "Padding size should be less than",
)


def _is_too_small(exc: BaseException) -> bool:
    return isinstance(exc, InputTooSmall) or any(s in str(exc) for s in _TOO_SMALL)


def _fits(model: nn.Module, shape: tuple[int, ...]) -> str:
    """What one shape-only pass says about an input size: 'ok'; 'small' (an empty feature map somewhere);
    'head-short' / 'head-long' (a linear layer gets fewer / more features than it takes); 'other'."""
    try:
        _run(model, shape)
        return "ok"
    except _PassFailure as failure:
        if _is_too_small(failure.exc):
            return "small"
        mod, mod_in = failure.module, failure.module_input
        if isinstance(mod, nn.Linear) and mod_in:
            return "head-short" if mod_in[-1] < mod.in_features else "head-long"
        return "other"


def _smallest_at_least(small, start: int) -> int | None:
    """Smallest n ≥ start with ``small(n)`` False, or None below MAX_SIDE.

    Feature-map sizes never shrink when the input grows, so "too small" is monotone: double, then bisect.
    """
    lo, hi = start, start
    while small(hi):
        if hi >= MAX_SIDE:
            return None
        lo, hi = hi + 1, min(2 * hi, MAX_SIDE)
    while lo < hi:  # small(lo - 1) is True (or lo == start), small(hi) is False
        mid = (lo + hi) // 2
        if small(mid):
            lo = mid + 1
        else:
            hi = mid
    return hi


def smallest_input(model: nn.Module, shape: Sequence[int]) -> tuple[int, int, int] | None:
    """The smallest input, at least ``shape`` on each side, that produces no empty feature map."""
    c, h, w = shape
    if h == w:
        n = _smallest_at_least(lambda n: _fits(model, (c, n, n)) == "small", h)
        return None if n is None else (c, n, n)
    big = max(h, w, 1024)  # the other side, large enough not to be the problem
    hmin = _smallest_at_least(lambda n: _fits(model, (c, n, big)) == "small", h)
    wmin = _smallest_at_least(lambda n: _fits(model, (c, big, n)) == "small", w)
    return None if hmin is None or wmin is None else (c, hmin, wmin)


def smallest_working_input(model: nn.Module, shape: Sequence[int]) -> tuple[int, int, int] | None:
    """The smallest input, at least ``shape`` on each side, on which the whole pass runs, head included.

    The smallest size without empty feature maps may still be too small for a fixed-size head (a linear layer
    after flatten); the features it gets grow with the input, so the first square size that feeds the head
    enough is found by bisection, and it counts only if the head then gets exactly what it takes. None when
    no such size exists (the head needs one exact size that no square input gives, or something else fails).
    """
    best = smallest_input(model, shape)
    if best is None:
        return None
    verdict = _fits(model, best)
    if verdict == "ok":
        return best
    if verdict != "head-short":
        return None
    c = best[0]
    n = _smallest_at_least(lambda n: _fits(model, (c, n, n)) in ("small", "head-short"), max(best[1:]))
    return (c, n, n) if n is not None and _fits(model, (c, n, n)) == "ok" else None


def _where(mod: nn.Module | None, model: nn.Module, name: str) -> str:
    if mod is None or mod is model:
        return f"{name}.forward"
    qualified = next((n for n, m in model.named_modules() if m is mod), "?")
    return f"{qualified} ({type(mod).__name__})"


def _explain(
    failure: _PassFailure, model: nn.Module, shape: tuple[int, ...], name: str, design: tuple[int, ...] | None
) -> str:
    exc, mod, mod_in = failure.exc, failure.module, failure.module_input
    where = _where(mod, model, name)
    at = format_shape(shape)
    designed = f"; {name} was designed for {format_shape(design)}" if design else ""
    if _is_too_small(exc):
        best = smallest_input(model, shape)
        if best is None:
            return (
                f"input {at} is too small for {name}: {where} would output an empty feature map, and no input "
                f"up to {MAX_SIDE} pixels per side is large enough (too many downsampling layers?)"
            )
        working = smallest_working_input(model, shape)
        if working is not None:
            hint = f"the smallest input that works is {format_shape(working)}"
        elif design:
            hint = f"its head needs one exact size: use its design size {format_shape(design)}"
        else:
            hint = (
                f"from {format_shape(best)} on no map is empty, but the head then fails: the model needs the "
                "exact input size it was designed for"
            )
        return (
            f"input {at} is too small for {name}: {where} would output an empty feature map "
            f"(its input is {format_shape(mod_in[1:]) if mod_in else '?'}); {hint}"
        )
    if isinstance(exc, BatchChanged):
        return (
            f"input {at} does not fit {name}: a reshape in {where} turned {exc} — the batch size changed "
            f"from {BATCH}, so the head expects a different number of features{designed}"
        )
    if mod is not None and mod_in is not None and len(mod_in) >= 2:
        expected_c = getattr(mod, "in_channels", None) or (
            getattr(mod, "num_features", None) if isinstance(mod, nn.modules.batchnorm._NormBase) else None
        )
        if expected_c is not None and mod_in[1] != expected_c:
            if mod_in[1] == shape[0]:  # the input itself reached this layer with the wrong channel count
                return (
                    f"input {at} has {shape[0]} channel(s) but {where} expects {expected_c}; "
                    f"use {format_shape((expected_c, *shape[1:]))}"
                )
            return f"{where} expects {expected_c} channels but gets {mod_in[1]} at input {at}{designed}"
        if isinstance(mod, nn.Linear) and mod_in[-1] != mod.in_features:
            return (
                f"input {at} does not fit the head of {name}: {where} expects {mod.in_features} input features "
                f"but gets {mod_in[-1]}{designed}"
            )
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"{name} failed at input {at} in {where}: {first_line}"


# ---------------------------------------------------------------------------------------------------------
# Zoo models by name


@contextlib.contextmanager
def _parameters_on_meta():
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
def _meta_model(name: str) -> nn.Module:
    """A zoo model built directly on the meta device: no weights allocated, no init cost, any size later."""
    import zoo

    try:
        with torch.device("meta"):
            return zoo.create_model(name)
    except (NotImplementedError, RuntimeError):  # "Cannot copy out of meta tensor": it computes while building
        with _BUILD_LOCK, _parameters_on_meta():
            return zoo.create_model(name)


def analyze_model(name: str, input_shape: Sequence[int] | str | None = None) -> Analysis:
    """Analyse a zoo model by name (architecture only: built on meta, so no weights are allocated).

    ``input_shape`` defaults to the model's design size. Instances are cached per name, so calls at other
    sizes only pay for the pass.
    """
    import zoo

    try:
        spec = zoo.get_spec(name)
    except (zoo.UnknownModelError, zoo.ConfigError) as exc:
        raise AnalysisError(str(exc)) from None
    shape = spec.input_size if input_shape is None else input_shape
    return analyze(_meta_model(spec.name), shape, model_name=spec.name, design_input_shape=spec.input_size)
