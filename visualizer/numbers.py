"""How quantities are written for people: counts, bytes, shapes, plain numbers and durations, one helper each;
and a number people typed (or a script sent), read back with the range it must be in (``checked_number``).

Counts use SI prefixes, the way papers quote parameters and MACs (``138.36 M``); bytes use binary units, as the
server's flags are written (``3.0 GiB``). A shape is written ``3×224×224`` for reading and ``3x224x224`` where it
is also something to type back (input sizes, ``data-shape`` attributes, file names): ``shape_text(s, sep="x")``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

SI_PREFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
BINARY_UNITS = (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 conv``, ``2 convs``; ``many`` for a noun that does not just take an s (``1 nonlinearity``,
    ``3 nonlinearities``). English only: Korean nouns do not change with the number."""
    return f"{n:,} {noun if n == 1 else (many or noun + 's')}"


def count_text(n: float, unit: str = "") -> str:
    """12_345_678 → ``12.35 M``; 512 → ``512``; with ``unit``: ``12.35 MB``."""
    for div, prefix in SI_PREFIXES:
        if abs(n) >= div:
            return f"{n / div:.2f} {prefix}{unit}"
    return f"{n:g}{(' ' + unit) if unit else ''}"


def bytes_text(n: float) -> str:
    """Binary units: 3·2³⁰ → ``3.0 GiB``; under a KiB: ``512 B``."""
    for unit, size in BINARY_UNITS:
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def number_text(x: float) -> str:
    """A whole number with thousands separators (``1,024``), anything else as short as it is exact (``0.5``)."""
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def share_text(part: float, whole: float) -> str:
    """A share as a whole percent (``89 %``), never rounded to a claim it is not: under 1 % but above zero is
    ``< 1 %``, above 99 % but short of all is floored to a tenth (``99.9 %``), so "100 %" means all."""
    if whole <= 0 or part <= 0:
        return "0 %"
    p = 100 * part / whole
    if p >= 100:
        return "100 %"
    if p > 99:
        return f"{math.floor(p * 10) / 10:.1f} %"
    return "< 1 %" if p < 1 else f"{round(p)} %"


def shape_text(shape: Sequence[float] | None, sep: str = "×", empty: str = "") -> str:
    """``[3, 224, 224]`` → ``3×224×224`` (``sep="x"``: ``3x224x224``); ``empty`` for None or ``[]``; fractional
    entries (a receptive field's jump of 0.5) keep their fraction."""
    if not shape:
        return empty
    return sep.join(str(int(s)) if float(s).is_integer() else f"{s:g}" for s in shape)


def duration_text(seconds: float | None) -> str:
    """``65`` → ``1:05``, ``3725`` → ``1:02:05``; ``–`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def checked_number(value: Any, name: str, kind: type, lo: float, hi: float) -> Any:
    """A number typed or sent for ``name`` (a float from the page, a string or anything else from an API call) as a
    checked ``kind`` (int or float) from ``lo`` to ``hi``, or a ``ValueError`` that says what would work."""
    try:  # a float from the page, or a string from an API call ('2.5', '3')
        number = float(value) if value is not None and not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        shown = str(value) if len(str(value)) <= 40 else str(value)[:40] + "…"
        raise ValueError(f"{name} is empty or not a number ({shown!r}); enter a value from {lo:g} to {hi:g}")
    if kind is int:
        if not number.is_integer():  # 2.5 epochs is refused, not silently run as 2
            raise ValueError(f"{name} must be a whole number, got {number:g}; e.g. {max(lo, math.floor(number)):g}")
        value = int(number)
    else:
        value = number
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be from {lo:g} to {hi:g}, got {value:g}")
    return value
