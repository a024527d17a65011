"""Collect: one shape-only pass over a module → one ``LayerRecord`` per leaf-layer call, and the ``Join``s.

Collect, then describe, then present (torchinfo's split): the pass (``shape_pass``) sees every leaf call with its
shapes and receptive fields; ``_Collector`` turns each into a record with its geometry, parameters and MACs; the
``Analysis`` computes totals and breakdowns from the records; ``visualizer.report`` presents them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from visualizer import report
from visualizer.analysis.diagnose import check_takes_one_tensor, explain_failure, where
from visualizer.analysis.inputs import AnalysisError, check_input_shape, parse_input_shape
from visualizer.analysis.macs import textbook_macs_with, textbook_terms, torchinfo_macs_with, torchinfo_terms
from visualizer.analysis.shape_pass import PassFailure, is_leaf, run_pass
from visualizer.receptive_field import UNKNOWN, Field, FieldTracker, geometry_parts, module_attr
from visualizer.records import Analysis, Join, LayerRecord


def analyze(
    model: nn.Module,
    input_shape: Sequence[int] | str = (3, 224, 224),
    model_name: str | None = None,
    *,
    design_input_shape: Sequence[int] | None = None,
    shape_rules: bool = True,
) -> Analysis:
    """Analyse ``model`` at ``input_shape`` (C, H, W; batch 1) in one shape-only pass.

    ``shape_rules=False`` runs every layer's meta kernel instead of the engine's shape rules (same records,
    slower: the reference the rules are tested against).

    Raises ``AnalysisError`` (one line) when the input does not fit the model.
    """
    if not isinstance(model, nn.Module):
        raise AnalysisError(
            f"analyze() takes a torch.nn.Module, got {type(model).__name__} {model!r:.60}; "
            "for a zoo model by name use analyze_model('vgg16')"
        )
    shape = parse_input_shape(input_shape) if isinstance(input_shape, str) else check_input_shape(input_shape)
    name = model_name or type(model).__name__
    check_takes_one_tensor(model, name)
    design = tuple(design_input_shape) if design_input_shape else None
    collector = _Collector(model)
    try:
        out, tracker = run_pass(
            model, shape, collector.on_leaf_call, shape_rules=shape_rules, modules=collector.modules
        )
    except PassFailure as failure:
        raise AnalysisError(explain_failure(failure, model, shape, name, design)) from None
    records = collector.records
    return Analysis(
        name,
        shape,
        records,
        collector.total,
        collector.trainable,
        list(out.shape) if out is not None else None,
        design,
        _notes(tracker, records, model, name),
        _joins(tracker, records, out),
        presenter=report,
    )


class _Collector:
    """Turns each leaf-layer call the pass reports into a ``LayerRecord``."""

    def __init__(self, model: nn.Module) -> None:
        named = list(model.named_modules())
        self.modules = [m for _, m in named]
        self.names = {id(m): n for n, m in named}
        self.calls: dict[int, int] = {}
        # Counted from the real parameters now: during the pass they are swapped for meta stand-ins, which know
        # their size but not whether the caller froze them. One walk over the modules' own parameter dicts:
        # the model's totals count a shared parameter once (as model.parameters() does), a leaf its own.
        seen: set[int] = set()
        total = trainable = 0
        self.own = {}
        for m in self.modules:
            slots = m.__dict__["_parameters"]
            n = n_trainable = 0  # this module's own parameters, each once
            if slots:  # most containers own none
                mine: set[int] = set()
                for p in slots.values():
                    if p is None or id(p) in mine:
                        continue
                    mine.add(id(p))
                    k = p.numel()
                    n += k
                    n_trainable += k if p.requires_grad else 0
                    if id(p) not in seen:
                        seen.add(id(p))
                        total += k
                        trainable += k if p.requires_grad else 0
            if is_leaf(m):  # a leaf's parameters are its own
                self.own[id(m)] = (n, n_trainable)
        self.total, self.trainable = total, trainable
        self.facts: dict[int, tuple] = {}  # id(leaf) → _facts(leaf), this pass only
        self.records: list[LayerRecord] = []

    def _facts(self, mod: nn.Module) -> tuple:
        """What a leaf's records take from the module itself, read at its first call (after it ran: a lazy
        layer has its parameters by then) and reused for its later calls in this pass."""
        g = geometry_parts(mod)
        params, trainable = self.own[id(mod)]
        return (
            self.names.get(id(mod), ""),
            type(mod).__name__,
            params,
            trainable,
            params / self.total if self.total else 0.0,
            # geometry: kernel, stride, padding ("same" stays a string), dilation
            g,
            int(module_attr(mod, "groups", 1) or 1),
            torchinfo_terms(mod),
            textbook_terms(mod),
        )

    def on_leaf_call(
        self,
        mod: nn.Module,
        in_shape: list[int] | None,
        out: torch.Tensor | None,
        f: Field | None,
        in_origin: str | None,
        f_in: Field | None,
    ) -> str:
        call = self.calls.get(id(mod), 0)
        self.calls[id(mod)] = call + 1
        facts = self.facts.get(id(mod)) if call else None
        if facts is None:
            facts = self.facts[id(mod)] = self._facts(mod)
        name, type_name, params, trainable, share, g, groups, ti_terms, tb_terms = facts
        out_shape = list(out.shape) if out is not None else None
        f = f or UNKNOWN  # an output the tracker never saw derive from the input (a constant, a non-tensor)
        record = LayerRecord(
            index=len(self.records),
            name=name,
            type=type_name,
            call_index=call,
            input_shape=in_shape,
            output_shape=out_shape,
            kernel=list(g[0]) if g else None,
            stride=list(g[1]) if g else None,
            padding=(g[2] if isinstance(g[2], str) else list(g[2])) if g else None,
            dilation=list(g[3]) if g else None,
            params=params,
            trainable_params=trainable,
            param_share=share,
            macs=torchinfo_macs_with(ti_terms, out_shape) if out_shape else 0,
            activation_bytes=out.numel() * out.element_size() if out is not None else 0,
            receptive_field=list(f.rf) if f.rf is not None else None,
            jump=list(f.jump) if f.jump is not None else None,
            rf_center=[float(c) for c in f.center] if f.center is not None else None,
            rf_exact=f.exact,
            textbook_macs=textbook_macs_with(tb_terms, in_shape, out_shape) if out_shape else 0,
            groups=groups,
            input_from=[in_origin] if in_origin else [],
            # no field for the input (None: not derived from the model's input) reads as Field(None, None, None)
            input_receptive_field=list(f_in.rf) if f_in is not None and f_in.rf is not None else None,
            input_jump=list(f_in.jump) if f_in is not None and f_in.jump is not None else None,
        )
        self.records.append(record)
        return record.key


def _notes(tracker: FieldTracker, records: list[LayerRecord], model: nn.Module, name: str) -> list[str]:
    notes = [
        f"a reshape in {where(c.module, model, name)} changed the batch dimension ({c}) and a later one restored it"
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
    return notes


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
