"""The facts of one analysis pass: a ``LayerRecord`` per leaf-layer call, the ``Join``s where paths meet, and the
``Analysis`` holding them with the totals and breakdowns computed from them.

This is the one source of truth that the table, the diagram, the charts, the details card and the overlays are all
views of. It knows nothing of how it is presented: ``visualizer.report`` writes the text table and the HTML, and the
engine (``visualizer.analysis``) hands an ``Analysis`` its presenter when it makes one, so ``print(analysis)`` and
Jupyter's display work without this module importing its renderers.

A layer is named by its *key*: the module's qualified name (``features.0``, ``layer1.0.conv1``), or ``name#k`` for
the k-th call (0-based) of a module called more than once (``layer1.0.relu#1``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, Protocol

from visualizer import breakdowns
from visualizer.kinds import kind_of
from visualizer.numbers import shape_text
from visualizer.receptive_field import field_display

# ---------------------------------------------------------------------------------------------- layer keys


def layer_key(name: str, call_index: int = 0) -> str:
    """``("layer1.0.relu", 1)`` → ``"layer1.0.relu#1"``; the first call is the bare name."""
    return name if call_index == 0 else f"{name}#{call_index}"


def parse_layer_key(key: str) -> tuple[str, int]:
    """``"layer1.0.relu#1"`` → ``("layer1.0.relu", 1)``; ``ValueError`` for a key that is not ``name`` or
    ``name#k``."""
    name, sep, call = str(key).partition("#")
    if sep and not call.isdigit():
        raise ValueError(f"bad layer key {key!r}; use a layer name, or name#k for its k-th call (0-based)")
    return name, int(call) if sep else 0


# ---------------------------------------------------------------------------------------------- records


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
    macs: int = 0  # torchinfo's convention (visualizer.analysis.macs): weights and biases, BatchNorm 2·C
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
        return layer_key(self.name, self.call_index)

    @property
    def kind(self) -> str:
        return kind_of(self)

    @property
    def rf_display(self) -> str:
        return field_display(self.receptive_field, self.rf_exact)  # Field.display's text, without a Field

    @property
    def block(self) -> str:
        return breakdowns.block_of(self.name)

    def to_dict(self) -> dict[str, Any]:
        """Every field (lists copied, as ``dataclasses.asdict`` would) and ``rf_display``.

        Written out rather than ``asdict``: its deep copy of each small list was most of a ResNet's export.
        """
        own = self.__dict__
        # The instance dict holds the fields in order (the dataclass __init__ sets them so): copied whole, it
        # is a tenth of the cost of reading 25 attributes; anything else added to the record is left out.
        d = own.copy() if tuple(own) == _RECORD_FIELDS else dict(zip(_RECORD_FIELDS, _record_values(self)))
        for n in _LIST_FIELDS:
            v = d[n]
            if isinstance(v, list):
                d[n] = list(v)
        d["rf_display"] = field_display(self.receptive_field, self.rf_exact)
        return d


_RECORD_FIELDS = tuple(f.name for f in fields(LayerRecord))
_LIST_FIELDS = tuple(f.name for f in fields(LayerRecord) if "list" in str(f.type))  # the ones asdict would copy
_record_values = attrgetter(*_RECORD_FIELDS)


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

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict`` (lists copied, the operands' lists too) and ``key``, written out: asdict's
        recursive deep copy cost more than the rest of a ResNet's joins."""
        return {
            "index": self.index,
            "op": self.op,
            "inputs": [list(i) for i in self.inputs],
            "after": self.after,
            "consumers": list(self.consumers),
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "key": self.key,
        }


class Presenter(Protocol):
    """How an ``Analysis`` shows itself (``visualizer.report`` is one)."""

    def text(self, analysis: Analysis) -> str: ...

    def html(self, analysis: Analysis) -> str: ...


@dataclass(repr=False)
class Analysis:
    """All records of one pass, with totals and breakdowns computed from them.

    In a notebook it shows itself as HTML (totals, the diagram and the layer table); ``print(analysis)`` gives the
    CLI's text table (both from its ``presenter``, ``visualizer.report`` for every analysis the engine makes).
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
    presenter: Presenter | None = field(default=None, compare=False)

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
        try:
            name, call = parse_layer_key(key)
        except ValueError as exc:
            raise KeyError(str(exc)) from None
        try:
            return self.layer(name, call)
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
            **breakdowns.all_breakdowns(self.layers),  # the five methods above, in one walk
            "notes": list(self.notes),
            "layers": [r.to_dict() for r in self.layers],
            "joins": [j.to_dict() for j in self.joins],
        }

    def __str__(self) -> str:
        return self.presenter.text(self) if self.presenter is not None else repr(self)

    def _repr_html_(self) -> str | None:
        """Jupyter's rich display: totals, the diagram and the per-layer table."""
        return self.presenter.html(self) if self.presenter is not None else None

    def __repr__(self) -> str:
        return (
            f"<Analysis of {self.model_name} at {shape_text(self.input_shape, 'x')}: {len(self.layers)} layer calls, "
            f"{self.total_params:,} parameters, {self.total_macs:,} MACs (torchinfo)>"
        )
