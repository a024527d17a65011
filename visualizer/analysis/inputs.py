"""Input sizes as people type them (``3x224x224``, ``224``, ``224x224``, ``3,224,224``) → a checked ``(C, H, W)``."""

from __future__ import annotations

import operator
import re
from collections.abc import Sequence

from zoo.custom_vgg import quoted

MAX_SIDE = 65536  # shape-only, so big sizes are cheap, but beyond this the numbers stop meaning anything
MAX_CHANNELS = 4096
_DIGITS = 9  # more digits than this is no size (MAX_SIDE has 5)


class AnalysisError(ValueError):
    """Bad input for an analysis; ``str(err)`` is one line that says what was wrong and what would work."""


def parse_input_shape(text: str | Sequence[int], channels: int = 3) -> tuple[int, int, int]:
    """``"3x224x224"``, ``"224"``, ``"224x224"``, ``"3,224,224"`` (or a sequence, or one side as a number) →
    ``(C, H, W)``."""
    if isinstance(text, int) and not isinstance(text, bool):  # what an API caller may send for one side
        text = str(text)
    if not isinstance(text, (str, Sequence)):
        raise _not_understood(str(text))
    if isinstance(text, str):
        parts = re.split(r"\s*[x×X,*]\s*|\s+", text.strip())
        if not parts or not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
            raise _not_understood(text)
        # A number longer than any size could be is refused before int() (whose own limit is 4300 digits).
        long = next((p for p in parts if len(p.lstrip("+-0")) > _DIGITS), None)
        if long is not None:
            raise AnalysisError(
                f"input size {quoted(text)} has a {len(long.lstrip('+-0')):,}-digit number; every side is at most "
                f"{MAX_SIDE} pixels (channels at most {MAX_CHANNELS}), e.g. 3x224x224"
            )
        dims = [int(p) for p in parts]
    else:
        dims = list(text)
    if len(dims) == 1:
        dims = [channels, dims[0], dims[0]]
    elif len(dims) == 2:
        dims = [channels, *dims]
    return check_input_shape(dims)


def _not_understood(text: str) -> AnalysisError:
    return AnalysisError(
        f"input size {quoted(text)} is not understood; write CxHxW, HxW or one side, e.g. 3x224x224 or 224"
    )


def check_input_shape(shape: Sequence[int]) -> tuple[int, int, int]:
    """Validate a ``(C, H, W)`` shape (a leading batch of 1 is dropped); raises ``AnalysisError``."""
    dims = list(shape)
    text = "x".join(str(d) for d in dims)
    text = text if len(text) <= 60 else text[:28] + "…" + text[-28:]
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
