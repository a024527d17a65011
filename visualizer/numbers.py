"""How quantities are written for people: counts, bytes, shapes, plain numbers and durations, one helper each.

Counts use SI prefixes, the way papers quote parameters and MACs (``138.36 M``); bytes use binary units, as the
server's flags are written (``3.0 GiB``). A shape is written ``3×224×224`` for reading and ``3x224x224`` where it
is also something to type back (input sizes, ``data-shape`` attributes, file names): ``shape_text(s, sep="x")``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
