"""One unit of one layer, worked out with the network's own numbers: which inputs, which weights, which
products, which sum — and the check that the sum is the value the network computed there.

Layer geometry (kernel, stride, padding, dilation, groups) and the graph (``input_from``, ``Analysis.joins``
for a residual ⊕) are read from the analysis engine's records, the same numbers the table, the diagram and
the receptive-field overlays show; the weights are the module's; the tensors are those the layer received
and produced in the image's forward pass (a ``TensorSource``). Everything is summed in float64, so the
recomputed total differs from the network's float32 value only by the network's own rounding.

``LayerUnits`` is one layer of one image with its tensors captured: ``explain(channel, y, x)`` for any unit
reads the same tensors (◀ ▶ stepping runs no forward). ``explain_unit`` is the one-call form.

What each kind of layer shows (``kind`` in the result):

- ``conv``: the input patch the unit reads (after padding; ``window`` gives the rows and columns in the
  input map, dilation and stride included), each input channel's kernel slice, the products, each channel's
  partial sum, the bias and the total; the ``top`` channels by |partial sum| are shown, the rest summed in
  one line (``rest``) so the total adds up on screen.
- ``max_pool`` / ``avg_pool`` (adaptive ones too): the window, the winner or the mean (with its divisor).
- ``linear``: the top inputs by |input × weight|, the rest summed, the bias.
- ``batchnorm``: ``(x − μ)/√(σ² + ε)·γ + β`` with this channel's numbers.
- ``activation``: ReLU, ReLU6, LeakyReLU of the one input value.
- ``add`` (a join key ``⊕k``, e.g. a residual block's ``out + identity``): the operands and their sum.

``after`` follows the unit through what comes next while it stays one number: BatchNorm, a residual ⊕ and the
activation (ReLU's output is what the next layer reads).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from visualizer import forward_pass
from visualizer.analysis import analyze_model
from visualizer.records import Analysis, Join, LayerRecord
from visualizer.rf_overlay import unit_box
from visualizer.units.capture import INPUT, HookedTensors, TensorSource
from visualizer.units.prepare import (
    UnitRequestError,
    checked_analysis,
    image_tensor,
    network,
    record_of,
)
from visualizer.weight_sources import LoadedModel

TOP_TERMS = 6  # channels (conv) or inputs (linear) shown one by one; the others are summed in one line
MAX_AFTER = 3  # steps followed after the unit (conv → BN → ⊕ → ReLU is three)
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU)
EXPLAINED = (
    "Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d, Linear, BatchNorm1d/2d, ReLU, ReLU6, "
    "LeakyReLU, and a join such as a residual add (its key ⊕k)"
)


def kind_of_module(module: nn.Module) -> str | None:
    """The kind of computation a unit of this module shows; None when it is not one explained here."""
    if isinstance(module, nn.Conv2d):  # ConvTranspose2d is not a subclass
        return "conv"
    if isinstance(module, (nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
        return "max_pool"
    if isinstance(module, (nn.AvgPool2d, nn.AdaptiveAvgPool2d)):
        return "avg_pool"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return "batchnorm"
    if isinstance(module, ACTIVATIONS):
        return "activation"
    return None


# ------------------------------------------------------------------------------------------ what is needed


def _join(analysis: Analysis, key: str) -> Join | None:
    if not key.startswith("⊕"):
        return None
    index = key[1:]
    if not index.isdigit() or int(index) >= len(analysis.joins):
        known = ", ".join(j.key for j in analysis.joins[:6]) or "none in this model"
        raise UnitRequestError(f"{analysis.model_name} has no join {key!r}; its joins: {known}")
    return analysis.joins[int(index)]


def _join_reader(join: Join) -> str | None:
    """A record that reads the join's result (its input is the join's value), or None."""
    return next((c for c in join.consumers if c != "output"), None)


def following(analysis: Analysis, key: str, modules: dict[str, nn.Module]) -> list[str]:
    """The steps after ``key`` while its unit stays one number: BatchNorm, a join (⊕) and the activation,
    stopping after the activation or where the path forks."""
    steps: list[str] = []
    current = key
    for _ in range(MAX_AFTER):
        readers = [r for r in analysis.layers if r.input_from == [current]]
        joins = [j for j in analysis.joins if [current] in j.inputs]
        if len(readers) == 1 and not joins:
            module = modules.get(readers[0].name)
            if not isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, *ACTIVATIONS)):
                break
            steps.append(readers[0].key)
            current = readers[0].key
            if isinstance(module, ACTIVATIONS):
                break
        elif len(joins) == 1 and not readers and joins[0].op.rstrip("_") in ("add", "mul"):
            steps.append(joins[0].key)
            current = joins[0].key
        else:
            break
    return steps


def producing_layer(analysis: Analysis, key: str, modules: dict[str, nn.Module]) -> str:
    """The layer whose computation explains a unit of ``key``: ``key`` itself, or, for a BatchNorm or an
    activation that follows a conv or linear layer (conv → BN → ReLU), that layer, whose ``after`` steps then end
    at ``key`` (a click on a ReLU's map shows the convolution that made the value, then the ReLU)."""
    if _join(analysis, key) is not None:
        return key
    current = key
    for _ in range(MAX_AFTER):
        record = analysis.by_key(current)
        module = modules.get(record.name)
        if not isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, *ACTIVATIONS)) or len(record.input_from) != 1:
            return key
        source = record.input_from[0]
        if source == INPUT or _join(analysis, source) is not None or key not in following(analysis, source, modules):
            return key
        if kind_of_module(modules.get(analysis.by_key(source).name)) in ("conv", "linear"):
            return source
        current = source
    return key


def tensors_needed(analysis: Analysis, key: str, modules: dict[str, nn.Module]) -> dict[str, str]:
    """Which layer calls' tensors explaining a unit of ``key`` reads: key → ``"inputs+output"`` (the layer
    itself), ``"output"`` (the value after it, or a join operand) or ``"inputs"`` (a join's reader, whose
    input is the join's value). This is what a ``TensorSource`` must keep for this layer."""
    need: dict[str, set[str]] = {}

    def add(k: str, part: str) -> None:
        need.setdefault(k, set()).add(part)

    def add_source(source: str) -> None:
        join = _join(analysis, source)
        if join is None:
            add(source, "output")
            return
        reader = _join_reader(join)
        if reader is not None:
            add(reader, "inputs")
        else:
            for operand in join.inputs:
                add_source(operand[0])

    join = _join(analysis, key)
    if join is not None:
        for operand in join.inputs:
            add_source(operand[0])
        add_source(key)
    else:
        add(key, "inputs")
        add(key, "output")
    for step in following(analysis, key, modules):
        add_source(step)
        step_join = _join(analysis, step)
        for operand in step_join.inputs if step_join is not None else []:
            add_source(operand[0])  # the other path's value, shown in the step's rule
    return {k: "+".join(sorted(parts)) for k, parts in need.items()}


# ------------------------------------------------------------------------------------------ numbers


def _fmt(v: float) -> str:
    """4 significant digits with a real minus sign (what the pictures and formulas print)."""
    text = f"{v:.4g}"
    return text.replace("-", "−")


def _signed(v: float) -> str:
    return f"− {_fmt(-v)}" if v < 0 else f"+ {_fmt(v)}"


def _formulas(lhs: str, parts: list[tuple[float | None, str, str]], total: float) -> tuple[str, str]:
    """One line each in English and Korean: ``lhs = v1 (what) + v2 (what) … = total``; a part without a
    value is a rule written out (``(x − μ)/√(σ²+ε)·γ + β = …``)."""
    lines = []
    for lang in (1, 2):
        text = ""
        for i, part in enumerate(parts):
            if part[0] is None:
                text += (" " if i else "") + part[lang]
                continue
            value = _fmt(part[0]) if i == 0 else _signed(part[0])
            text += (" " if i else "") + value + (f" ({part[lang]})" if part[lang] else "")
        lines.append(f"{lhs} = {text} = {_fmt(total)}")
    return lines[0], lines[1]


def _pads(record: LayerRecord) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) padding from the record; "same" as PyTorch applies it (extra on the far side)."""
    if isinstance(record.padding, str):
        if record.padding == "valid":
            return 0, 0, 0, 0
        spans = [d * (k - 1) for k, d in zip(record.kernel, record.dilation)]
        return spans[0] // 2, spans[0] - spans[0] // 2, spans[1] // 2, spans[1] - spans[1] // 2
    ph, pw = record.padding
    return ph, ph, pw, pw


def _tap_index(index: np.ndarray, size: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(indices into the unpadded map, mask of taps on real pixels) for a conv's ``padding_mode``."""
    inside = (index >= 0) & (index < size)
    if mode == "zeros":
        return np.clip(index, 0, size - 1), inside
    if mode == "replicate":
        return np.clip(index, 0, size - 1), inside
    if mode == "circular":
        return index % size, inside
    reflected = np.abs(index)  # "reflect": mirror without repeating the edge pixel
    reflected = np.where(reflected >= size, 2 * (size - 1) - reflected, reflected)
    return reflected, inside


@dataclass
class LayerUnits:
    """One layer (or join) of one image, its tensors at hand: every unit's computation by ``explain``."""

    analysis: Analysis
    key: str
    modules: dict[str, nn.Module]
    tensors: TensorSource
    seen: Image.Image | None = None  # the picture the network sees (None for a tensor input)
    model_name: str = ""
    info: str = ""
    info_ko: str = ""  # ``info`` in Korean (the page's other language); "": as ``info``

    def __post_init__(self) -> None:
        self.join = _join(self.analysis, self.key)
        self.record = None if self.join is not None else record_of(self.analysis, self.key)
        self.module = None if self.record is None else self.modules.get(self.record.name)
        if self.join is not None:
            if self.join.op.rstrip("_") not in ("add", "mul"):
                raise UnitRequestError(
                    f"{self.key} joins its inputs by {self.join.op!r}; a unit is explained for an add or a mul join"
                )
            self.kind = self.join.op.rstrip("_")
        else:
            self.kind = kind_of_module(self.module) if self.module is not None else None
            if self.kind is None:
                raise UnitRequestError(
                    f"layer {self.key} is a {self.record.type}; a unit's computation is shown for {EXPLAINED}"
                )
            if self.kind in ("conv", "max_pool", "avg_pool") and len(self.record.output_shape or []) != 4:
                raise UnitRequestError(f"layer {self.key} ({self.record.type}) is not 2-D; pick a 2-D layer")
        self.after = following(self.analysis, self.key, self.modules)

    # -------------------------------------------------------------------------------------------- values

    def value_map(self, source: str) -> torch.Tensor:
        """The value of ``source`` (a record key, "input" or a join key) for this image, batch dim dropped."""
        join = _join(self.analysis, source)
        if join is None:
            return self.tensors(source).output[0]
        reader = _join_reader(join)
        if reader is not None:
            return self.tensors(reader).inputs[0][0]
        values = [self.value_map(operand[0]) for operand in join.inputs]
        total = values[0]
        for v in values[1:]:
            total = total + v if join.op.rstrip("_") == "add" else total * v
        return total

    @property
    def output(self) -> torch.Tensor:
        return self.value_map(self.key)

    @property
    def shape(self) -> tuple[int, ...]:
        """The layer's output for this image: (C, H, W) or (C,) — the units ◀ ▶ can step through."""
        return tuple(self.output.shape)

    def input_map(self, channel: int) -> np.ndarray | None:
        """The H×W map a unit of ``channel`` slides over (conv: the mean of the input channels it reads),
        for drawing its window; None for a linear layer or a join."""
        if self.record is None or self.kind == "linear":
            return None
        inp = self.tensors(self.key).inputs[0][0]
        if inp.dim() != 3:
            return None
        if self.kind == "conv":
            first, count = self._group_inputs(channel, inp.shape[0])
            return inp[first : first + count].double().mean(0).numpy()
        return inp[channel].double().numpy()

    def _group_inputs(self, channel: int, c_in: int) -> tuple[int, int]:
        groups = self.record.groups
        per_out = self.output.shape[0] // groups
        per_in = c_in // groups
        return (channel // per_out) * per_in, per_in

    # ------------------------------------------------------------------------------------------- explain

    def explain(self, channel: int, y: int | None = None, x: int | None = None, top: int = TOP_TERMS) -> dict:
        """The computation of unit ``(channel, y, x)`` (``y``/``x`` None: the channel's strongest position;
        always None for a linear layer's unit) as plain values; see the module docstring."""
        out = self.output
        channel, y, x = self._unit(out, channel, y, x)
        top = max(1, int(top))
        at = (channel,) if out.dim() == 1 else (channel, y, x)
        activation = float(out[at])
        body = getattr(self, f"_{self.kind}")(channel, y, x, top)
        recomputed = body.pop("total")
        name = self.key + (f"[{channel}]" if y is None else f"[{channel}, {y}, {x}]")
        formula, formula_ko = _formulas(name, body.pop("parts"), recomputed)
        result = {
            "model": self.model_name,
            "layer": self.key,
            "type": self.record.type if self.record else self.kind,  # a join: "add" (also for in-place add_)
            "kind": self.kind,
            "unit": {"channel": channel, "y": y, "x": x},
            "shape": list(out.shape),
            "activation": activation,
            "recomputed": recomputed,
            "difference": recomputed - activation,
            **body,
            "formula": formula,
            "formula_ko": formula_ko,
            "after": self._after(channel, y, x),
            "field": self._field(y, x),
            "info": self.info,
            "info_ko": self.info_ko or self.info,
        }
        return result

    def _unit(self, out: torch.Tensor, channel: Any, y: Any, x: Any) -> tuple[int, int | None, int | None]:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
            raise UnitRequestError(f"channel must be an integer, got {channel!r}")
        channel = int(channel)
        if not 0 <= channel < out.shape[0]:
            raise UnitRequestError(f"channel {channel} is outside {self.key}'s 0..{out.shape[0] - 1}")
        if out.dim() == 1:
            if y is not None or x is not None:
                raise UnitRequestError(
                    f"{self.key} gives a vector of {out.shape[0]} (no map): a unit is just a channel; leave y, x None"
                )
            return channel, None, None
        if out.dim() != 3:
            raise UnitRequestError(f"{self.key} gives shape {tuple(out.shape)}; units are explained on C×H×W maps")
        if y is None and x is None:  # the strongest position of this channel
            flat = int(out[channel].argmax())
            return channel, flat // out.shape[2], flat % out.shape[2]
        if y is None or x is None:
            raise UnitRequestError(f"give both y and x (or neither, for the strongest unit); got y={y}, x={x}")
        for name, v, size in (("y", y, out.shape[1]), ("x", x, out.shape[2])):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) < size:
                raise UnitRequestError(
                    f"{name}={v!r} is outside {self.key}'s {out.shape[1]}×{out.shape[2]} map (0..{size - 1})"
                )
        return channel, int(y), int(x)

    def _field(self, y: int | None, x: int | None) -> list[int] | None:
        """The unit's receptive field on the input, (top, left, bottom, right) inclusive pixels, from the
        records (a join: the union of its operands' fields); None where the unit sees the whole input."""
        return None if y is None else self._source_box(self.key, y, x)

    def _source_box(self, source: str, y: int, x: int) -> list[int] | None:
        size = self.analysis.input_shape[-2:]
        if source == INPUT:
            return [y, x, y, x]
        join = _join(self.analysis, source)
        if join is None:
            record = self.analysis.by_key(source)
            return None if record.receptive_field is None else list(unit_box(record, y, x, size))
        boxes = [self._source_box(op[0], y, x) for op in join.inputs]
        if any(b is None for b in boxes):
            return None
        return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]

    # ------------------------------------------------------------------------------------------ conv

    def _conv(self, c: int, y: int, x: int, top: int) -> dict:
        r, m = self.record, self.module
        inp = self.tensors(self.key).inputs[0][0]
        (kh, kw), (sh, sw), (dh, dw) = r.kernel, r.stride, r.dilation
        pt, pb, pl, pr = _pads(r)
        first, count = self._group_inputs(c, inp.shape[0])
        rows = y * sh - pt + dh * np.arange(kh)
        cols = x * sw - pl + dw * np.arange(kw)
        row_at, row_in = _tap_index(rows, inp.shape[1], m.padding_mode)
        col_at, col_in = _tap_index(cols, inp.shape[2], m.padding_mode)
        real = row_in[:, None] & col_in[None, :]
        patch = inp[first : first + count][:, row_at][:, :, col_at].double()
        if m.padding_mode == "zeros":
            patch = patch * torch.from_numpy(real)
        weights = m.weight[c].detach().double()
        products = patch * weights
        partial = products.sum(dim=(1, 2))
        bias = float(m.bias[c].detach()) if m.bias is not None else 0.0
        total = float(partial.sum()) + bias
        order = torch.argsort(partial.abs(), descending=True, stable=True).tolist()
        shown, others = order[:top], order[top:]
        terms = [
            {
                "channel": first + i,
                "inputs": patch[i].tolist(),
                "weights": weights[i].tolist(),
                "products": products[i].tolist(),
                "sum": float(partial[i]),
            }
            for i in shown
        ]
        rest = {"count": len(others), "sum": float(partial[others].sum()) if others else 0.0}
        parts = [(bias, "bias", "편향")] + [(t["sum"], f"ch {t['channel']}", f"채널 {t['channel']}") for t in terms]
        if others:
            parts.append((rest["sum"], f"{len(others)} other channels", f"나머지 채널 {len(others)}개"))
        return {
            "bias": bias,
            "terms": terms,
            "rest": rest,
            "geometry": {
                "kernel": list(r.kernel),
                "stride": list(r.stride),
                "padding": [pt, pb, pl, pr],  # top, bottom, left, right
                "padding_mode": m.padding_mode,
                "dilation": list(r.dilation),
                "groups": r.groups,
                "input_channels": [first, first + count],
            },
            "window": {"rows": rows.tolist(), "cols": cols.tolist(), "real": real.tolist()},
            "input_shape": list(inp.shape),
            "total": total,
            "parts": parts,
        }

    # ------------------------------------------------------------------------------------------ pools

    def _pool_window(self, y: int, x: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray, int | None]:
        """(rows, cols) the window of unit (y, x) covers in the input map (taps outside are padding), and an
        average pool's divisor (PyTorch's rule: padding counts unless ``count_include_pad=False``, windows
        running past the padded map in ceil mode are cut)."""
        m, r = self.module, self.record
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            out_h, out_w = self.output.shape[1:]
            # Adaptive pooling: unit i averages input rows floor(i·H/h) .. ceil((i+1)·H/h) − 1.
            rows = np.arange(math.floor(y * height / out_h), math.ceil((y + 1) * height / out_h))
            cols = np.arange(math.floor(x * width / out_w), math.ceil((x + 1) * width / out_w))
            return rows, cols, len(rows) * len(cols)
        (kh, kw), (sh, sw), (ph, pw) = r.kernel, r.stride, r.padding
        dh, dw = r.dilation
        rows = y * sh - ph + dh * np.arange(kh)
        cols = x * sw - pw + dw * np.arange(kw)
        if not isinstance(m, nn.AvgPool2d):
            return rows, cols, None
        if m.divisor_override:
            return rows, cols, int(m.divisor_override)
        h0, w0 = y * sh - ph, x * sw - pw
        h1, w1 = min(h0 + kh, height + ph), min(w0 + kw, width + pw)
        padded_area = (h1 - h0) * (w1 - w0)
        real_area = (min(h1, height) - max(h0, 0)) * (min(w1, width) - max(w0, 0))
        return rows, cols, padded_area if m.count_include_pad else real_area

    def _pool(self, c: int, y: int, x: int, top: int, is_max: bool) -> dict:
        full = self.tensors(self.key).inputs[0][0]
        inp = full[c].double()
        rows, cols, divisor = self._pool_window(y, x, inp.shape[0], inp.shape[1])
        inside = ((rows >= 0) & (rows < inp.shape[0]))[:, None] & ((cols >= 0) & (cols < inp.shape[1]))[None, :]
        values = inp[np.clip(rows, 0, inp.shape[0] - 1)][:, np.clip(cols, 0, inp.shape[1] - 1)]
        grid = [[float(values[i, j]) if inside[i, j] else None for j in range(len(cols))] for i in range(len(rows))]
        real = values[torch.from_numpy(inside)]
        base = {
            "terms": [{"channel": c, "inputs": grid}],
            "window": {"rows": rows.tolist(), "cols": cols.tolist(), "real": inside.tolist()},
            "input_shape": list(full.shape),
            "geometry": {
                "kernel": self.record.kernel or [len(rows), len(cols)],
                "stride": self.record.stride,
                "padding": self.record.padding,
                "dilation": self.record.dilation,
            },
        }
        if is_max:
            flat = int(torch.where(torch.from_numpy(inside), values, torch.tensor(-math.inf)).argmax())
            winner = (flat // len(cols), flat % len(cols))
            total = float(values[winner])
            base["terms"][0]["winner"] = list(winner)
            count = int(inside.sum())
            base["parts"] = [(None, f"the max of {count} values", f"값 {count}개 중 최댓값")]
            base["total"] = total
            return base
        total_sum = float(real.sum())
        total = total_sum / divisor
        base["terms"][0].update({"sum": total_sum, "divisor": divisor})
        base["parts"] = [(None, f"{_fmt(total_sum)} / {divisor}", f"{_fmt(total_sum)} / {divisor}")]
        base["total"] = total
        return base

    def _max_pool(self, c: int, y: int, x: int, top: int) -> dict:
        return self._pool(c, y, x, top, is_max=True)

    def _avg_pool(self, c: int, y: int, x: int, top: int) -> dict:
        return self._pool(c, y, x, top, is_max=False)

    # ------------------------------------------------------------------------------------------ linear

    def _linear(self, c: int, y: None, x: None, top: int) -> dict:
        m = self.module
        inp = self.tensors(self.key).inputs[0]
        if inp.dim() != 2:
            raise UnitRequestError(
                f"{self.key} is applied to a {tuple(inp.shape[1:])} input (tokens or positions); a unit is "
                "explained for a linear layer on a flat vector"
            )
        values = inp[0].double()
        weights = m.weight[c].detach().double()
        products = values * weights
        bias = float(m.bias[c].detach()) if m.bias is not None else 0.0
        total = float(products.sum()) + bias
        order = torch.argsort(products.abs(), descending=True, stable=True).tolist()
        shown, others = order[:top], order[top:]
        where = self._flattened_from(values.numel())
        terms = [
            {
                "index": i,
                "input": float(values[i]),
                "weight": float(weights[i]),
                "product": float(products[i]),
                **({"position": list(np.unravel_index(i, where))} if where else {}),
            }
            for i in shown
        ]
        rest = {"count": len(others), "sum": float(products[others].sum()) if others else 0.0}
        parts = [(bias, "bias", "편향")] + [(t["product"], f"x{t['index']}·w", f"x{t['index']}·w") for t in terms]
        if others:
            parts.append((rest["sum"], f"{len(others)} other inputs", f"나머지 입력 {len(others)}개"))
        return {
            "bias": bias,
            "terms": terms,
            "rest": rest,
            "input_shape": [values.numel()],
            "total": total,
            "parts": parts,
        }

    def _flattened_from(self, n: int) -> tuple[int, ...] | None:
        """(C, H, W) of the map this vector was flattened from (so input i can be named as a unit), or None."""
        source = self.record.input_from[0] if self.record.input_from else None
        if source is None or source == INPUT:
            return None
        try:
            shape = self.analysis.by_key(source).output_shape
        except KeyError:
            return None
        return tuple(shape[1:]) if shape and len(shape) == 4 and math.prod(shape[1:]) == n else None

    # ------------------------------------------------------------------------------------------ BN, ReLU

    def _batchnorm_numbers(
        self, module: nn.Module, inp: torch.Tensor, c: int
    ) -> tuple[float, float, float, float, float]:
        """(μ, σ², ε, γ, β) of channel ``c``: running statistics in eval mode, the batch's otherwise."""
        if module.training or module.running_mean is None:
            dims = [d for d in range(inp.dim()) if d != 1]
            mean = float(inp.double().mean(dim=dims)[c])
            var = float(inp.double().var(dim=dims, unbiased=False)[c])
        else:
            mean, var = float(module.running_mean[c]), float(module.running_var[c])
        gamma = float(module.weight[c].detach()) if module.weight is not None else 1.0
        beta = float(module.bias[c].detach()) if module.bias is not None else 0.0
        return mean, var, float(module.eps), gamma, beta

    def _batchnorm(self, c: int, y: int | None, x: int | None, top: int) -> dict:
        inp = self.tensors(self.key).inputs[0]
        value = float(inp[0, c] if y is None else inp[0, c, y, x])
        mean, var, eps, gamma, beta = self._batchnorm_numbers(self.module, inp, c)
        total = (value - mean) / math.sqrt(var + eps) * gamma + beta
        numbers = _batchnorm_rule(value, mean, var, eps, gamma, beta)
        return {
            "terms": [
                {"input": value, "mean": mean, "var": var, "eps": eps, "gamma": gamma, "beta": beta, "rule": numbers}
            ],
            "total": total,
            "parts": [(None, f"(x − μ)/√(σ²+ε)·γ + β = {numbers}", f"(x − μ)/√(σ²+ε)·γ + β = {numbers}")],
        }

    def _activation(self, c: int, y: int | None, x: int | None, top: int) -> dict:
        inp = self.tensors(self.key).inputs[0][0]
        value = float(inp[c] if y is None else inp[c, y, x])
        total, rule = _activate(self.module, value)
        return {"terms": [{"input": value, "rule": rule}], "total": total, "parts": [(None, rule, rule)]}

    # ------------------------------------------------------------------------------------------ joins

    def _join_terms(self, c: int, y: int | None, x: int | None) -> list[dict]:
        at = (c,) if y is None else (c, y, x)
        return [{"source": op[0], "value": float(self.value_map(op[0])[at])} for op in self.join.inputs]

    def _add(self, c: int, y: int | None, x: int | None, top: int) -> dict:
        terms = self._join_terms(c, y, x)
        total = math.fsum(t["value"] for t in terms)
        parts = [(t["value"], t["source"], t["source"]) for t in terms]
        return {"terms": terms, "total": total, "parts": parts}

    def _mul(self, c: int, y: int | None, x: int | None, top: int) -> dict:
        terms = self._join_terms(c, y, x)
        total = math.prod(t["value"] for t in terms)
        rule = " · ".join(f"{_fmt(t['value'])} ({t['source']})" for t in terms)
        return {"terms": terms, "total": total, "parts": [(None, rule, rule)]}

    # ------------------------------------------------------------------------------------------ after

    def _after(self, c: int, y: int | None, x: int | None) -> list[dict]:
        at = (c,) if y is None else (c, y, x)
        steps = []
        previous_key, previous = self.key, float(self.output[at])
        for key in self.after:
            value = float(self.value_map(key)[at])
            join = _join(self.analysis, key)
            if join is not None:
                others = [op[0] for op in join.inputs if op[0] != previous_key]
                values = [float(self.value_map(o)[at]) for o in others]
                if join.op.rstrip("_") == "add":
                    rule = " ".join([_fmt(previous), *(f"{_signed(v)} ({o})" for o, v in zip(others, values))])
                else:
                    rule = " · ".join([_fmt(previous), *(f"{_fmt(v)} ({o})" for o, v in zip(others, values))])
                steps.append({"layer": key, "type": join.op.rstrip("_"), "value": value, "rule": rule})
            else:
                record = self.analysis.by_key(key)
                module = self.modules[record.name]
                if isinstance(module, ACTIVATIONS):
                    _, rule = _activate(module, previous)
                else:  # BatchNorm: its input is the previous step's value (needed for batch statistics only)
                    numbers = self._batchnorm_numbers(module, self.value_map(previous_key)[None], c)
                    rule = _batchnorm_rule(previous, *numbers)
                steps.append({"layer": key, "type": record.type, "value": value, "rule": rule})
            previous_key, previous = key, value
        return steps


def _batchnorm_rule(value: float, mean: float, var: float, eps: float, gamma: float, beta: float) -> str:
    return f"({_fmt(value)} − {_fmt(mean)}) / √({_fmt(var)} + {eps:g}) · {_fmt(gamma)} + {_fmt(beta)}"


def _activate(module: nn.Module, value: float) -> tuple[float, str]:
    """(f(value), the rule with the numbers) for ReLU, ReLU6 and LeakyReLU."""
    if isinstance(module, nn.ReLU6):
        out = min(max(0.0, value), 6.0)
        return out, f"min(max(0, {_fmt(value)}), 6)"
    if isinstance(module, nn.LeakyReLU):
        slope = float(module.negative_slope)
        out = value if value >= 0 else slope * value
        return out, f"{_fmt(value)} if ≥ 0 else {slope:g}·{_fmt(value)}"
    return max(0.0, value), f"max(0, {_fmt(value)})"


# ------------------------------------------------------------------------------------------ entry points


def layer_units(
    model: nn.Module | str,
    image: Any,
    layer: str,
    *,
    weights: str = "auto",
    tensors: Callable[[str], Any] | None = None,
) -> LayerUnits:
    """One layer of one image, ready to explain any of its units (◀ ▶ stepping reads the same tensors).

    ``tensors`` is where the layer calls' tensors come from (a ``TensorSource``). By default a zoo model with
    an image reads the image's ``ForwardPass`` (``pass_units``: nothing runs for a layer it already holds);
    a bare module or a prepared tensor gets this package's own hooks, which capture what ``tensors_needed``
    lists with one early-stopped forward on first use.
    """
    net = network(model, weights)
    if tensors is None and net.loaded is not None and not isinstance(image, torch.Tensor):
        return pass_units(net.loaded, forward_pass.for_image(image, net.loaded), layer)
    x, seen = image_tensor(image, net)
    analysis = checked_analysis(net, x)
    _check_layer(analysis, layer)
    modules = dict(net.model.named_modules())
    if tensors is None:
        tensors = HookedTensors(net.model, x, tensors_needed(analysis, layer, modules), lock=net.lock)
    units = LayerUnits(analysis, layer, modules, tensors, seen, net.name, net.info)
    _ = units.output  # capture now: a layer that gives no tensor says so here, not at the first step
    return units


def pass_units(loaded: LoadedModel, run: forward_pass.ForwardPass, layer: str) -> LayerUnits:
    """One layer of the image ``run`` holds, read from that pass: what ``tensors_needed`` lists is captured by
    one ``ensure`` (no forward at all when the pass already holds it), and every unit's ◀ ▶ step reads the
    same tensors."""
    analysis = analyze_model(run.model_name, tuple(run.tensor.shape[1:]))  # the engine's one cache
    _check_layer(analysis, layer)
    modules = dict(loaded.model.named_modules())
    if not layer.startswith("⊕"):  # a layer no unit is explained for is refused before anything runs
        record = record_of(analysis, layer)
        if kind_of_module(modules.get(record.name)) is None:
            raise UnitRequestError(f"layer {layer} is a {record.type}; a unit's computation is shown for {EXPLAINED}")
    try:
        tensors = run.tensors(loaded, tensors_needed(analysis, layer, modules))
    except KeyError as exc:
        raise UnitRequestError(f"layer {layer!r} gave no tensor in the forward pass ({exc.args[0]})") from None
    units = LayerUnits(analysis, layer, modules, tensors, run.seen, run.model_name, run.info, run.info_ko)
    _ = units.output
    return units


def _check_layer(analysis: Analysis, layer: Any) -> None:
    if not isinstance(layer, str) or not layer:
        raise UnitRequestError(f"layer must be a layer key such as {analysis.layers[0].key!r}, got {layer!r}")
    if not layer.startswith("⊕"):
        record_of(analysis, layer)  # an unknown key says what keys look like before anything runs


def explain_unit(
    model: nn.Module | str,
    image: Any,
    layer: str,
    channel: int,
    y: int | None = None,
    x: int | None = None,
    *,
    weights: str = "auto",
    top: int = TOP_TERMS,
    tensors: Callable[[str], Any] | None = None,
) -> dict:
    """The computation of one unit, with the network's numbers (see the module docstring for each kind).

    ``model``: an ``nn.Module`` or a zoo name (weights from ``weights``: auto, random, imagenet, ...);
    ``image``: a path, a PIL image or a prepared ``(1, C, H, W)`` tensor; ``layer``: a record key (``name``,
    ``name#k``) or a join key (``⊕k``); ``y``/``x``: the position (None: the channel's strongest unit; always
    None for a linear layer). Returns at least ``activation`` (the network's value), ``recomputed`` (bias +
    every part, as shown), ``terms`` (the parts shown, with their inputs and weights) and ``formula``.
    """
    return layer_units(model, image, layer, weights=weights, tensors=tensors).explain(channel, y, x, top)
