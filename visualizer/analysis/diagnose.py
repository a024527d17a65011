"""Errors for people: why a pass failed, in one line that says what would work.

A model that needs several inputs is caught before the pass (``check_takes_one_tensor``). A failed pass is
explained from where it failed (``explain_failure``): an input too small for the downsampling (with the smallest
size that works, found by bisection over shape-only passes), the wrong number of channels, a head that expects
another number of features, a reshape that changed the batch dimension.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

from torch import nn

from visualizer.analysis.inputs import MAX_SIDE, AnalysisError
from visualizer.analysis.shape_pass import BATCH, PassFailure, run_pass
from visualizer.numbers import shape_text
from visualizer.receptive_field import BatchChanged, InputTooSmall


def check_takes_one_tensor(model: nn.Module, name: str) -> None:
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
        run_pass(model, shape)
        return "ok"
    except PassFailure as failure:
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


def where(mod: nn.Module | None, model: nn.Module, name: str) -> str:
    if mod is None or mod is model:
        return f"{name}.forward"
    qualified = next((n for n, m in model.named_modules() if m is mod), "?")
    return f"{qualified} ({type(mod).__name__})"


def explain_failure(
    failure: PassFailure, model: nn.Module, shape: tuple[int, ...], name: str, design: tuple[int, ...] | None
) -> str:
    exc, mod, mod_in = failure.exc, failure.module, failure.module_input
    place = where(mod, model, name)
    at = shape_text(shape, "x")
    designed = f"; {name} was designed for {shape_text(design, 'x')}" if design else ""
    if _is_too_small(exc):
        best = smallest_input(model, shape)
        if best is None:
            return (
                f"input {at} is too small for {name}: {place} would output an empty feature map, and no input "
                f"up to {MAX_SIDE} pixels per side is large enough (too many downsampling layers?)"
            )
        working = smallest_working_input(model, shape)
        if working is not None:
            hint = f"the smallest input that works is {shape_text(working, 'x')}"
        elif design:
            hint = f"its head needs one exact size: use its design size {shape_text(design, 'x')}"
        else:
            hint = (
                f"from {shape_text(best, 'x')} on no map is empty, but the head then fails: the model needs the "
                "exact input size it was designed for"
            )
        return (
            f"input {at} is too small for {name}: {place} would output an empty feature map "
            f"(its input is {shape_text(mod_in[1:], 'x') if mod_in else '?'}); {hint}"
        )
    if isinstance(exc, BatchChanged):
        return (
            f"input {at} does not fit {name}: a reshape in {place} turned {exc} — the batch size changed "
            f"from {BATCH}, so the head expects a different number of features{designed}"
        )
    if mod is not None and mod_in is not None and len(mod_in) >= 2:
        expected_c = getattr(mod, "in_channels", None) or (
            getattr(mod, "num_features", None) if isinstance(mod, nn.modules.batchnorm._NormBase) else None
        )
        if expected_c is not None and mod_in[1] != expected_c:
            if mod_in[1] == shape[0]:  # the input itself reached this layer with the wrong channel count
                return (
                    f"input {at} has {shape[0]} channel(s) but {place} expects {expected_c}; "
                    f"use {shape_text((expected_c, *shape[1:]), 'x')}"
                )
            return f"{place} expects {expected_c} channels but gets {mod_in[1]} at input {at}{designed}"
        if isinstance(mod, nn.Linear) and mod_in[-1] != mod.in_features:
            return (
                f"input {at} does not fit the head of {name}: {place} expects {mod.in_features} input features "
                f"but gets {mod_in[-1]}{designed}"
            )
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"{name} failed at input {at} in {place}: {first_line}"


# ---------------------------------------------------------------------------------------------------------
