"""Two MAC conventions, both counted per layer call (batch included in the shapes given).

- ``torchinfo_macs`` is torchinfo's "mult-adds", so totals agree with ``torchinfo.summary``: for each parameter named
  ``weight``/``bias``, conv layers count ``numel × batch × output positions`` and other layers ``numel × batch``
  (biases count as MACs; BatchNorm counts its 2·C affine parameters once, not per position; a linear layer
  applied at every position of a map or token sequence is counted once).
- ``textbook_macs`` counts the multiplications by weights, as textbooks and papers do:
  ``k_h·k_w·C_in/g·C_out·H_out·W_out`` for a conv (``…·H_in·W_in`` for a transposed conv, whose every input
  pixel meets every weight once), ``in·out`` per row for a linear layer, 0 for everything else.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def torchinfo_macs(module: nn.Module, out_shape: list[int]) -> int:
    """torchinfo's ``LayerInfo.calculate_macs``, for one call (batch included in ``out_shape``)."""
    if not out_shape:
        return 0
    total = 0
    is_conv = "Conv" in type(module).__name__
    for pname, p in _named_parameters(module):
        n = p.numel()
        if pname in ("weight", "bias"):
            total += n * (math.prod(out_shape[:1] + out_shape[2:]) if is_conv else out_shape[0])
        elif "weight" in pname or "bias" in pname:  # RNN-style weight_ih_l0
            total += n * math.prod(out_shape[:2])
    return total


def textbook_macs(module: nn.Module, in_shape: list[int] | None, out_shape: list[int]) -> int:
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


def _named_parameters(module: nn.Module):
    """``module.named_parameters()``, read straight from a leaf's own dict (its generator machinery was a third
    of a record's cost); each parameter once, as ``named_parameters`` gives it."""
    if next(module.children(), None) is not None:
        return module.named_parameters()
    seen: set[int] = set()
    own = []
    for name, p in module._parameters.items():
        if p is not None and id(p) not in seen:
            seen.add(id(p))
            own.append((name, p))
    return own
