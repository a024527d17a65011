"""What a layer is, in the words of the lesson: conv, pool, linear, norm, act, dropout, identity or other.

One answer for every view: the diagram draws by it, the details card explains by it, and the course notes'
conv-vs-fully-connected split counts ``conv`` against ``linear``. It reads a record's ``type`` (the module's
class name) and ``params``, nothing else.
"""

from __future__ import annotations

from typing import Any

ACTIVATIONS = {
    "ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "GELU", "SiLU", "Mish", "Hardswish", "Hardsigmoid",
    "Sigmoid", "Tanh", "Softplus",
}  # fmt: skip
PASS_THROUGH = {"Identity", "Sequential", "ModuleList"}  # an empty nn.Sequential() shortcut passes its input on


def kind_of(record: Any) -> str:
    """``"conv"`` for a ``LayerRecord`` of a Conv2d, ``"act"`` for a ReLU …"""
    t = record.type
    if "Conv" in t:
        return "conv"
    if "Pool" in t:
        return "pool"
    if "Linear" in t or t == "Bilinear":
        return "linear"
    if "Norm" in t:
        return "norm"
    if t in ACTIVATIONS:
        return "act"
    if t.startswith("Dropout") or t in ("AlphaDropout", "StochasticDepth"):
        return "dropout"
    if t in PASS_THROUGH and record.params == 0:
        return "identity"
    return "other"
