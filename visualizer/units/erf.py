"""The effective receptive field (Luo, Li, Urtasun & Zemel, "Understanding the Effective Receptive Field in
Deep Convolutional Neural Networks", NeurIPS 2016): which pixels of the theoretical box really move a unit.

For a chosen layer, the centre unit's value summed over the layer's channels is differentiated with respect
to the input; the gradient's absolute value, summed over the input's colour channels, is averaged over a small
batch. Absolute values, as Luo et al. read the gradient as "how much this pixel moves the unit": a pixel that
raises the unit in one image and lowers it in another still matters, and averaging signed gradients would
cancel it out. Inside the theoretical box the mass piles up in the middle (a Gaussian-like bell for a deep
stack), and ``mass50`` / ``mass95`` give the side of the centred square that holds half / 95 % of it.

Only the work the definition needs: one forward that stops at the layer and one backward for the whole batch.
In eval mode the images of a batch are independent (BatchNorm uses its running statistics), so the gradient of
the centre unit summed over the batch is every image's own gradient at once. The memory this takes (the batch
× the activations up to the layer, twice for their gradients) is checked against the server's training budget
before anything is allocated: a backward pass costs what a training step costs.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from visualizer import budgets
from visualizer.analysis import AnalysisError, parse_input_shape
from visualizer.budgets.limits import BudgetError
from visualizer.images import example_images
from visualizer.numbers import bytes_text
from visualizer.records import Analysis, LayerRecord
from visualizer.rf_overlay import unit_box, unit_center
from visualizer.units.capture import forward_until
from visualizer.units.prepare import Network, UnitRequestError, checked_analysis, checked_tensor, image_tensor, network

MAX_IMAGES = 64
NOISE_SEED = 0  # an input size means a batch of standard-normal images, the same on every call
STATISTIC = "mean over the batch of |∂(Σ_c y[c, centre]) / ∂x|, summed over the input channels"
_SHAPE_TEXT = re.compile(r"^\s*\d+(\s*[x×X,*]\s*\d+){0,2}\s*$")


def effective_rf(
    model: nn.Module | str,
    image_or_input_shape: Any,
    layer: str,
    *,
    images: int = 8,
    weights: str = "auto",
) -> dict:
    """The effective receptive field of ``layer``'s centre unit.

    ``image_or_input_shape``: an input size (``"3x224x224"``, ``(3, 32, 32)``: a batch of ``images``
    standard-normal inputs, seeded), one image (path, PIL; it comes first, the example photos fill the batch up
    to ``images``), a list of images, or a prepared ``(N, C, H, W)`` tensor (its first ``images``).

    Returns ``gradient`` (H×W float array on the input: ``STATISTIC``), ``theoretical`` (the record's
    receptive field ``[rh, rw]``, None for the whole input), ``box`` (its pixels, clipped to the input),
    ``center`` (the unit's field centre), ``mass50`` / ``mass95`` (sides of the centred squares holding 50 % /
    95 % of the gradient mass; None when the gradient is zero everywhere), ``unit`` ([y, x] of the centre
    unit), ``images`` (the batch size used) and ``inputs`` ("noise" or "images").
    """
    if isinstance(images, bool) or not isinstance(images, int) or not 1 <= images <= MAX_IMAGES:
        raise UnitRequestError(f"images must be a whole number from 1 to {MAX_IMAGES}, got {images!r}")
    return measure(network(model, weights), image_or_input_shape, layer, images)


def measure(net: Network, image_or_input_shape: Any, layer: str, images: int = 8) -> dict:
    """``effective_rf`` for a model made ready (``prepare.network`` / ``prepare.loaded_network``)."""
    batch, inputs = _batch(net, image_or_input_shape, images, layer)
    analysis = checked_analysis(net, batch[:1])
    record = _spatial_record(analysis, layer)
    check_budget(analysis, record, batch.shape[0])
    unit = centre_unit(record, batch.shape[-2:])
    gradient = input_gradient(net, batch, record.key, unit)
    height, width = batch.shape[-2:]
    center = unit_center(record, *unit) or ((height - 1) / 2, (width - 1) / 2)
    return {
        "model": net.name,
        "layer": record.key,
        "type": record.type,
        "unit": list(unit),
        "gradient": gradient,
        "statistic": STATISTIC,
        "theoretical": list(record.receptive_field) if record.receptive_field is not None else None,
        "theoretical_display": record.rf_display,
        "box": list(unit_box(record, *unit, (height, width))),
        "center": [float(center[0]), float(center[1])],
        "mass50": mass_side(gradient, center, 0.5),
        "mass95": mass_side(gradient, center, 0.95),
        "images": int(batch.shape[0]),
        "inputs": inputs,
        "input_shape": list(batch.shape[1:]),
        "info": net.info,
    }


def input_gradient(net: Network, batch: torch.Tensor, key: str, unit: tuple[int, int]) -> np.ndarray:
    """One forward stopped at ``key``, one backward of its centre unit (summed over channels and the batch):
    ``|∂/∂x|`` summed over input channels, averaged over the batch (H×W). No parameter gradient is computed
    or stored (``autograd.grad`` asks for the input's only)."""
    x = batch.detach().clone().requires_grad_(True)
    y, x_pos = unit
    with torch.enable_grad():
        with net.lock:  # hooks are on the (possibly shared) model only during the forward
            out = forward_until(net.model, x, key)
        (grad,) = torch.autograd.grad(out[:, :, y, x_pos].sum(), x)
    return grad.abs().sum(dim=1).mean(dim=0).double().numpy()


def mass_side(gradient: np.ndarray, center: Sequence[float], share: float) -> int | None:
    """The side (pixels) of the smallest square centred on ``center`` (row, col) holding ``share`` of the
    gradient's mass: odd sides around a pixel centre, even ones around a centre between pixels."""
    g = np.asarray(gradient, dtype=np.float64)
    total = g.sum()
    if not total > 0:
        return None
    rows = np.abs(np.arange(g.shape[0]) - center[0])
    cols = np.abs(np.arange(g.shape[1]) - center[1])
    distance = np.maximum(rows[:, None], cols[None, :])  # a square's half-side minus ½ is the Chebyshev distance
    order = np.argsort(distance, axis=None, kind="stable")
    d_sorted = distance.ravel()[order]
    mass = np.cumsum(g.ravel()[order])
    last = np.r_[d_sorted[1:] != d_sorted[:-1], True]  # the end of each ring: whole squares only
    enough = np.flatnonzero(last & (mass >= share * total * (1 - 1e-12)))
    return round(float(2 * d_sorted[enough[0]] + 1))


def centre_unit(record: LayerRecord, input_size: Sequence[int]) -> tuple[int, int]:
    """The unit whose field is centred closest to the input's centre (the middle of the map when the
    record has no field)."""
    out_h, out_w = record.output_shape[2:]
    if record.receptive_field is None or record.jump is None or record.rf_center is None:
        return (out_h - 1) // 2, (out_w - 1) // 2
    unit = []
    for size, n, c0, j in zip(input_size, (out_h, out_w), record.rf_center, record.jump):
        unit.append(min(n - 1, max(0, math.floor(((size - 1) / 2 - c0) / j + 0.5))))
    return unit[0], unit[1]


def erf_bytes(analysis: Analysis, record: LayerRecord, batch: int) -> int:
    """Bytes the pass holds at its peak, from the records: every activation up to the layer kept for the
    backward plus its gradient, and the input batch with its gradient."""
    upto = sum(r.activation_bytes for r in analysis.layers if r.index <= record.index)
    pixels = math.prod(analysis.input_shape) * 4
    return batch * 2 * (upto + pixels)


def check_budget(analysis: Analysis, record: LayerRecord, batch: int) -> int:
    """Refuse a batch whose pass would exceed the training budget (``--max-train-memory``); returns bytes."""
    need = erf_bytes(analysis, record, batch)
    limit = budgets.current().max_train_memory
    if need > limit:
        per_image = erf_bytes(analysis, record, 1)
        fits = limit // per_image
        hint = f"use at most {fits} image(s)" if fits >= 1 else "pick an earlier layer or a smaller input"
        raise BudgetError(
            f"the effective receptive field of {record.key} for {batch} image(s) would hold about "
            f"{bytes_text(need)} (activations up to the layer and their gradients), above this server's limit "
            f"of {bytes_text(limit)} (--max-train-memory); {hint}"
        )
    return need


def _spatial_record(analysis: Analysis, layer: str) -> LayerRecord:
    try:
        record = analysis.by_key(layer)
    except KeyError as exc:
        raise UnitRequestError(exc.args[0]) from None
    if record.output_shape is None or len(record.output_shape) != 4:
        shape = "×".join(map(str, record.output_shape[1:])) if record.output_shape else "no tensor"
        raise UnitRequestError(
            f"layer {layer} gives {shape}, not a C×H×W map: an effective receptive field needs a spatial layer "
            "(a conv, pool or activation before the global pooling)"
        )
    return record


def _is_shape(value: Any) -> bool:
    if isinstance(value, str):
        return bool(_SHAPE_TEXT.match(value)) and not os.path.exists(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return True
    return isinstance(value, (tuple, list)) and bool(value) and all(isinstance(v, int) for v in value)


def _batch(net: Network, source: Any, images: int, layer: str) -> tuple[torch.Tensor, str]:
    """``(N×C×H×W batch, "noise" | "images")`` from an input size (its pass checked against the budget before
    the noise is drawn), an image, a list of images or a tensor."""
    if _is_shape(source):
        try:
            shape = parse_input_shape(str(source) if isinstance(source, int) else source)
        except AnalysisError as exc:
            raise UnitRequestError(str(exc)) from None
        analysis = checked_analysis(net, torch.empty((1, *shape), device="meta"))
        check_budget(analysis, _spatial_record(analysis, layer), images)
        generator = torch.Generator().manual_seed(NOISE_SEED)
        return torch.randn((images, *shape), generator=generator), "noise"
    if isinstance(source, torch.Tensor):
        return checked_tensor(source)[:images], "images"
    if isinstance(source, (list, tuple)):
        chosen = list(source)[:images]
        if not chosen:
            raise UnitRequestError("the list of images is empty; pass at least one image, or an input size")
    else:
        chosen = [source, *example_images()[: images - 1]]
    tensors = [image_tensor(item, net)[0] for item in chosen]
    sizes = {tuple(t.shape[1:]) for t in tensors}
    if len(sizes) > 1:
        raise UnitRequestError(
            f"the images come out at different sizes ({', '.join('×'.join(map(str, s)) for s in sizes)}); pass "
            "tensors of one size"
        )
    return torch.cat(tensors), "images"
