"""Grad-CAM (Selvaraju et al., 2017): where in the image a conv layer found evidence for a class.

The class score's gradient with respect to a layer's activation, averaged over space, weighs that layer's
channels; the ReLU of the weighted sum, upsampled to the input, is the heatmap. As pytorch-grad-cam splits it:
the hook is ``features.capture.CamCapture``, the math is here (``grad_cam_heatmap``), the picture is
``features.pictures.overlay_heatmap``; an image's ``ForwardPass`` runs it on the same forward as its feature maps.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visualizer.features.capture import CamCapture


def grad_cam_heatmap(
    activation: torch.Tensor, logits: torch.Tensor, class_index: int | None, size: Sequence[int], layer: str = ""
) -> tuple[np.ndarray, int]:
    """``(heatmap H×W in [0, 1] at ``size``, class explained)`` from a layer's output captured as a leaf
    (``CamCapture``) and the logits of the same pass; ``class_index`` None: the top prediction."""
    if activation.dim() != 4:
        raise ValueError(
            f"Grad-CAM needs a layer with a spatial C×H×W output; {layer!r} gives shape "
            f"{tuple(activation.shape[1:])} (pick a conv layer)"
        )
    logits = logits.reshape(1, -1)
    if class_index is None:
        class_index = int(logits[0].argmax())
    if not 0 <= class_index < logits.shape[1]:
        raise ValueError(f"class_index must be in 0..{logits.shape[1] - 1}, got {class_index}")
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(logits[0, class_index], activation, allow_unused=True)
    if grad is None:  # the class score does not depend on this layer (a side branch)
        grad = torch.zeros_like(activation)
    weights = grad.mean(dim=(2, 3), keepdim=True)  # α_k: global-average-pooled gradients
    cam = F.relu((weights * activation.detach()).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=tuple(size), mode="bilinear", align_corners=False)[0, 0]
    lo, hi = float(cam.min()), float(cam.max())
    heat = (cam - lo) / (hi - lo) if hi > lo else torch.zeros_like(cam)
    return heat.numpy().astype(np.float32), int(class_index)


def grad_cam_with_logits(
    model: nn.Module, input_tensor: torch.Tensor, layer_name: str, class_index: int | None = None
) -> tuple[np.ndarray, int, torch.Tensor]:
    """Grad-CAM of one image on its own forward pass: ``(heatmap, class explained, logits)``.

    ``layer_name`` is a module name (``name#k`` for the k-th call of a reused module). The model's parameters
    get no gradients (nothing accumulates in ``.grad``), so a cached, shared model is safe to use.
    """
    if input_tensor.dim() != 4 or input_tensor.shape[0] != 1:
        raise ValueError(f"grad_cam explains one image: expected a 1×C×H×W tensor, got {tuple(input_tensor.shape)}")
    with CamCapture(model, layer_name) as cam, torch.enable_grad():
        logits = model(input_tensor)
        heat, index = grad_cam_heatmap(cam.captured(), logits, class_index, input_tensor.shape[-2:], layer_name)
    return heat, index, logits.detach().reshape(1, -1)[0]


def grad_cam(
    model: nn.Module, input_tensor: torch.Tensor, layer_name: str, class_index: int | None = None
) -> tuple[np.ndarray, int]:
    """``(heatmap H×W float32 in [0, 1] at the input's resolution, class index explained)``."""
    heat, index, _ = grad_cam_with_logits(model, input_tensor, layer_name, class_index)
    return heat, index
