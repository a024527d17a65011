"""Parameter and MAC breakdowns, all computed from the same ``LayerRecord`` list (one source of truth).

A module called twice appears twice in the records; its parameters are counted once (first call), its
MACs on every call — the way torchinfo counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from visualizer.kinds import kind_of


def block_of(name: str) -> str:
    """Top-level block or stage of a qualified layer name: ``features.3`` → ``features``, ``layer1.0.conv1``
    → ``layer1``; a model that is itself a leaf has the empty name."""
    return name.split(".", 1)[0] if name else "(model)"


def _group(records: Iterable, key: Callable, value: str, first_call_only: bool) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in records:
        if first_call_only and r.call_index > 0:
            continue
        k = key(r)
        out[k] = out.get(k, 0) + getattr(r, value)
    return out


def params_by_type(records: Iterable) -> dict[str, int]:
    return _group(records, lambda r: r.type, "params", True)


def macs_by_type(records: Iterable) -> dict[str, int]:
    return _group(records, lambda r: r.type, "macs", False)


def params_by_block(records: Iterable) -> dict[str, int]:
    return _group(records, lambda r: block_of(r.name), "params", True)


def macs_by_block(records: Iterable) -> dict[str, int]:
    return _group(records, lambda r: block_of(r.name), "macs", False)


def _conv_or_fc(record) -> str:
    kind = kind_of(record)
    return "fc" if kind == "linear" else ("conv" if kind == "conv" else "other")


def conv_fc_split(records: Iterable) -> dict[str, float | int | None]:
    """Parameters and MACs of conv layers versus fully-connected layers, with their ratios."""
    p: dict[str, int] = {}
    m: dict[str, int] = {}
    for r in records:  # one pass, each record's kind read once (what two ``_group`` calls give)
        k = _conv_or_fc(r)
        if r.call_index <= 0:  # parameters on the first call only
            p[k] = p.get(k, 0) + r.params
        m[k] = m.get(k, 0) + r.macs
    return _split(p, m)


def _split(p: dict[str, int], m: dict[str, int]) -> dict[str, float | int | None]:
    conv_p, fc_p, conv_m, fc_m = p.get("conv", 0), p.get("fc", 0), m.get("conv", 0), m.get("fc", 0)
    return {
        "conv_params": conv_p,
        "fc_params": fc_p,
        "other_params": p.get("other", 0),
        "fc_to_conv_params": fc_p / conv_p if conv_p else None,
        "conv_macs": conv_m,
        "fc_macs": fc_m,
        "other_macs": m.get("other", 0),
        "conv_to_fc_macs": conv_m / fc_m if fc_m else None,
    }


def all_breakdowns(records: Iterable) -> dict[str, dict]:
    """The five breakdowns above, keyed by their function names, from one walk over the records (an export
    wants them all: five walks with a key function and ``getattr`` per record were a fifth of a ResNet's)."""
    p_type: dict[str, int] = {}
    m_type: dict[str, int] = {}
    p_block: dict[str, int] = {}
    m_block: dict[str, int] = {}
    p_split: dict[str, int] = {}
    m_split: dict[str, int] = {}
    for r in records:
        t, b, k, macs = r.type, block_of(r.name), _conv_or_fc(r), r.macs
        m_type[t] = m_type.get(t, 0) + macs
        m_block[b] = m_block.get(b, 0) + macs
        m_split[k] = m_split.get(k, 0) + macs
        if r.call_index <= 0:  # parameters on the first call only
            params = r.params
            p_type[t] = p_type.get(t, 0) + params
            p_block[b] = p_block.get(b, 0) + params
            p_split[k] = p_split.get(k, 0) + params
    return {
        "params_by_type": p_type,
        "macs_by_type": m_type,
        "params_by_block": p_block,
        "macs_by_block": m_block,
        "conv_fc_split": _split(p_split, m_split),
    }
