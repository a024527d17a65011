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

from visualizer.receptive_field import module_attr


def torchinfo_macs(module: nn.Module, out_shape: list[int]) -> int:
    """torchinfo's ``LayerInfo.calculate_macs``, for one call (batch included in ``out_shape``)."""
    return torchinfo_macs_with(torchinfo_terms(module), out_shape)


def torchinfo_terms(module: nn.Module) -> tuple[bool, int, int]:
    """What ``torchinfo_macs`` reads from the module, read once: (conv?, elements of the parameters named
    ``weight``/``bias``, elements of the other ``*weight*``/``*bias*`` ones, RNN-style ``weight_ih_l0``)."""
    main = other = 0
    for pname, p in _named_parameters(module):
        if pname in ("weight", "bias"):
            main += p.numel()
        elif "weight" in pname or "bias" in pname:
            other += p.numel()
    return "Conv" in type(module).__name__, main, other


def torchinfo_macs_with(terms: tuple[bool, int, int], out_shape: list[int]) -> int:
    """``torchinfo_macs`` from the module's ``torchinfo_terms``: ``numel × batch × output positions`` (conv)
    or ``numel × batch`` (others) per weight or bias, ``numel × out[0] × out[1]`` per RNN-style one."""
    if not out_shape:
        return 0
    is_conv, main, other = terms
    total = main * (math.prod(out_shape[:1] + out_shape[2:]) if is_conv else out_shape[0]) if main else 0
    return total + other * math.prod(out_shape[:2]) if other else total


def textbook_macs(module: nn.Module, in_shape: list[int] | None, out_shape: list[int]) -> int:
    """Multiplications by the layer's weights (batch included); 0 for layers without conv or linear weights."""
    return textbook_macs_with(textbook_terms(module), in_shape, out_shape)


def textbook_terms(module: nn.Module) -> tuple[str | None, int]:
    """What ``textbook_macs`` reads from the module, read once: which formula (``"transposed"``, ``"conv"``,
    ``"linear"`` or None: no weight multiplications) and the weight's number of elements."""
    w = module_attr(module, "weight", None)
    if not isinstance(w, torch.Tensor):
        return None, 0
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return "transposed", w.numel()
    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv", w.numel()
    if isinstance(module, nn.Linear):
        return "linear", w.numel()
    return None, 0


def textbook_macs_with(terms: tuple[str | None, int], in_shape: list[int] | None, out_shape: list[int]) -> int:
    """``textbook_macs`` from the module's ``textbook_terms``."""
    kind, n = terms
    if kind is None or not out_shape:
        return 0
    if kind == "transposed":
        # each input pixel meets every weight once (without an input shape: counted as a conv, as before)
        if in_shape:
            return n * math.prod(in_shape[:1] + in_shape[2:])
        kind = "conv"
    if kind == "conv":
        return n * math.prod(out_shape[:1] + out_shape[2:])
    return n * math.prod(out_shape[:-1])  # linear, every row: a position, a token, or the batch


def _named_parameters(module: nn.Module):
    """``module.named_parameters()``, read straight from a leaf's own dict (its generator machinery was a third
    of a record's cost); each parameter once, as ``named_parameters`` gives it."""
    children = module._modules
    if children and any(c is not None for c in children.values()):
        return module.named_parameters()
    if not module._parameters:
        return ()
    seen: set[int] = set()
    own = []
    for name, p in module._parameters.items():
        if p is not None and id(p) not in seen:
            seen.add(id(p))
            own.append((name, p))
    return own
