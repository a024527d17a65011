"""Grad-CAM (Selvaraju et al., 2017): where in the image a conv layer found evidence for a class.

The class score's gradient with respect to a layer's activation, averaged over space, weighs that
layer's channels; the ReLU of the weighted sum, upsampled to the input, is the heatmap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from visualizer.features import colorize, colormap_lut, named_module, parse_layer


def grad_cam(
    model: nn.Module, input_tensor: torch.Tensor, layer_name: str, class_index: int | None = None
) -> tuple[np.ndarray, int]:
    """``(heatmap H×W float32 in [0, 1] at the input's resolution, class index explained)``.

    ``layer_name`` is a module name (``name#k`` for the k-th call of a reused module); ``class_index``
    defaults to the top prediction. The model's parameters get no gradients (nothing accumulates in
    ``.grad``), so a cached, shared model is safe to use.
    """
    heat, index, _ = grad_cam_with_logits(model, input_tensor, layer_name, class_index)
    return heat, index


class CamCapture:
    """Context manager: the output of ``layer_name`` (``name#k``: its k-th call) becomes a leaf we can
    differentiate the class score against, so Grad-CAM can ride on any forward pass (the feature maps' one).

    >>> with CamCapture(model, "features.28") as cam, torch.enable_grad():
    ...     logits = model(x)
    ...     heat, index = cam.heatmap(logits, None, x.shape[-2:])
    """

    def __init__(self, model: nn.Module, layer_name: str) -> None:
        self.layer_name = layer_name
        self._name, self._call = parse_layer(layer_name)
        self._module = named_module(model, self._name)
        self._calls = 0
        self.activation: torch.Tensor | None = None
        self._handle = None

    def __enter__(self) -> CamCapture:
        self._handle = self._module.register_forward_hook(self._hook)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> Any:
        index = self._calls
        self._calls += 1
        if index != self._call or not isinstance(output, torch.Tensor):
            return None
        # Swap in a leaf we can differentiate against; hand the rest of the network a clone of it, so a
        # following ReLU(inplace=True) changes the clone and never the activation we weigh.
        leaf = output.detach().requires_grad_(True)
        self.activation = leaf
        return leaf.clone()

    def heatmap(self, logits: torch.Tensor, class_index: int | None, size: Sequence[int]) -> tuple[np.ndarray, int]:
        """``(heatmap H×W in [0, 1] at ``size``, class explained)`` from the logits of the hooked pass."""
        if self.activation is None:
            raise ValueError(
                f"layer {self.layer_name!r} did not produce a tensor in call #{self._call} "
                f"(it ran {self._calls} time(s))"
            )
        activation = self.activation
        if activation.dim() != 4:
            raise ValueError(
                f"Grad-CAM needs a layer with a spatial C×H×W output; {self.layer_name!r} gives "
                f"shape {tuple(activation.shape[1:])} (pick a conv layer)"
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
    """``grad_cam`` plus the logits of the same forward pass (for the class probability)."""
    if input_tensor.dim() != 4 or input_tensor.shape[0] != 1:
        raise ValueError(f"grad_cam explains one image: expected a 1×C×H×W tensor, got {tuple(input_tensor.shape)}")
    with CamCapture(model, layer_name) as cam, torch.enable_grad():
        logits = model(input_tensor)
        heat, index = cam.heatmap(logits, class_index, input_tensor.shape[-2:])
    return heat, index, logits.detach().reshape(1, -1)[0]


def overlay_heatmap(image: Image.Image, heatmap: np.ndarray, alpha: float = 0.5, colormap: str = "jet") -> Image.Image:
    """``image`` with ``heatmap`` (values in [0, 1], any size: resized to the image) blended on top."""
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float32)), 0.0, 1.0)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D (H×W), got shape {heat.shape}")
    heat_img = Image.fromarray(heat, mode="F").resize(image.size, Image.Resampling.BILINEAR)
    colored = Image.fromarray(colorize(np.asarray(heat_img)[None], colormap_lut(colormap))[0])
    return Image.blend(image.convert("RGB"), colored, alpha)


def explain(
    image: Any,
    model_name: str,
    source: str = "random",
    layer: str | None = None,
    class_index: int | None = None,
    checkpoint_path: str | None = None,
    alpha: float = 0.5,
) -> dict[str, Any]:
    """Image in → Grad-CAM overlay for one class at one conv layer (default: the last conv-stage layer).

    Returns ``overlay`` (PIL), ``heatmap`` (H×W array), ``class_index``, ``class_name``, ``probability``,
    ``layer``, ``input`` (PIL the network sees), ``prediction_note``, ``info``. Reads the image's
    ``ForwardPass`` (shared with the feature maps: one forward pass per image, model and weights).
    """
    from visualizer.features import default_cam_layer
    from visualizer.forward_pass import forward_pass
    from visualizer.predictions import prediction_note

    run = forward_pass(image, model_name, source, checkpoint_path)
    loaded = run.loaded
    if layer is None:  # the classic choice: the last stage that still has a spatial map (before pooling)
        layer = default_cam_layer(loaded.model_name)
    heat, index = run.grad_cam(layer, class_index)
    seen, logits = run.seen, run.logits
    probs = torch.softmax(logits.float(), dim=0)
    return {
        "overlay": overlay_heatmap(seen, heat, alpha=alpha),
        "heatmap": heat,
        "class_index": index,
        "class_name": loaded.class_names[index],
        "probability": float(probs[index]),
        "layer": layer,
        "input": seen,
        "prediction_note": prediction_note(loaded.source, loaded.model_name),
        "info": loaded.info,
    }
