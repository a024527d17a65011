"""Grad-CAM finds a pattern planted in a toy model, leaves the model untouched, and overlays correctly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from visualizer.features import overlay_heatmap
from visualizer.gradcam import grad_cam
from visualizer.images import example_images
from visualizer.views.features import explain
from visualizer.weight_sources import load_weights

CROSS = torch.tensor([[-1.0, 1.0, -1.0], [1.0, 1.0, 1.0], [-1.0, 1.0, -1.0]])
DIAGONAL = torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])


class PlantedDetector(nn.Module):
    """Channel 0 fires on a "+" pattern, channel 1 on a "\\" pattern; class 0 = cross, class 1 = diagonal.

    The conv is followed by an in-place ReLU, as in VGG, to check that Grad-CAM survives it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 2)
        with torch.no_grad():
            self.conv.weight.copy_(torch.stack([CROSS, DIAGONAL]).unsqueeze(1))
            # Only a full match survives the ReLU: 5 (cross) or 3 (diagonal) ones under the +1 weights.
            self.conv.bias.copy_(torch.tensor([-4.5, -2.5]))
            self.fc.weight.copy_(torch.eye(2))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.conv(x))).flatten(1))


def plant(image: torch.Tensor, pattern: torch.Tensor, top: int, left: int) -> None:
    image[0, 0, top : top + 3, left : left + 3] = (pattern > 0).float()


def centroid(heat: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[: heat.shape[0], : heat.shape[1]]
    total = heat.sum()
    return float((ys * heat).sum() / total), float((xs * heat).sum() / total)


def test_gradcam_highlights_the_planted_pattern_for_each_class():
    model = PlantedDetector().eval()
    x = torch.zeros(1, 1, 32, 32)
    plant(x, CROSS, 4, 22)  # cross centred at (5, 23)
    plant(x, DIAGONAL, 24, 6)  # diagonal centred at (25, 7)

    heat, cls = grad_cam(model, x, "conv", class_index=0)
    assert cls == 0 and heat.shape == (32, 32)
    assert heat.min() == pytest.approx(0.0) and heat.max() == pytest.approx(1.0)
    assert np.unravel_index(heat.argmax(), heat.shape) == (5, 23)
    cy, cx = centroid(heat)
    assert abs(cy - 5) < 1.5 and abs(cx - 23) < 1.5  # nothing at the diagonal

    heat, cls = grad_cam(model, x, "conv", class_index=1)
    assert np.unravel_index(heat.argmax(), heat.shape) == (25, 7)
    cy, cx = centroid(heat)
    assert abs(cy - 25) < 1.5 and abs(cx - 7) < 1.5


def test_gradcam_default_class_is_the_prediction_and_model_is_untouched():
    model = PlantedDetector().eval()
    x = torch.zeros(1, 1, 16, 16)
    plant(x, DIAGONAL, 5, 5)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    heat, cls = grad_cam(model, x, "conv")
    assert cls == int(model(x).argmax()) == 1
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_gradcam_errors():
    model = PlantedDetector().eval()
    x = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match="class_index must be in 0..1, got 5"):
        grad_cam(model, x, "conv", class_index=5)
    with pytest.raises(ValueError, match="spatial"):
        grad_cam(model, x, "fc")
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        grad_cam(model, x, "conv9")
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_overlay_heatmap_blends_toward_the_colormap():
    image = Image.new("RGB", (20, 10), (0, 0, 0))
    heat = np.zeros((5, 10), dtype=np.float32)
    heat[:, 5:] = 1.0
    out = overlay_heatmap(image, heat, alpha=1.0, colormap="gray")
    assert out.size == image.size
    pixels = np.asarray(out)
    assert pixels[5, 0].tolist() == [0, 0, 0] and pixels[5, 19].tolist() == [255, 255, 255]
    assert np.array_equal(np.asarray(overlay_heatmap(image, heat, alpha=0.0)), np.asarray(image))


def test_explain_end_to_end_on_a_small_zoo_model():
    model = load_weights("vgg:8,M,16,M", "random").model
    calls = []
    handle = model.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        result = explain(example_images()[0], "vgg:8,M,16,M", "random")
        again = explain(example_images()[0], "vgg:8,M,16,M", "random")  # a re-render: no second pass
        other = explain(example_images()[0], "vgg:8,M,16,M", "random", class_index=(result["class_index"] + 1) % 10)
    finally:
        handle.remove()
    assert len(calls) == 2 and np.array_equal(again["heatmap"], result["heatmap"])
    assert other["class_index"] != result["class_index"]
    # conv 0, relu 1, pool 2, conv 3, relu 4, pool 5 (8×8), then global pooling: Grad-CAM's default is the last
    # conv layer before the head (issue 17: not a max-pool), features.3.
    assert result["layer"] == "features.3"
    assert result["overlay"].size == (32, 32) and result["heatmap"].shape == (32, 32)
    assert 0.0 <= result["probability"] <= 1.0 and result["class_name"]
    assert "meaningless" in result["prediction_note"]


class ReusedReLU(nn.Module):
    """One ReLU module called twice, as in torchvision's BasicBlock; explain its second call."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 5, 3, padding=1, stride=2)
        self.act = nn.ReLU(inplace=True)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        x = self.act(self.conv2(self.act(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


def test_gradcam_of_a_second_call_matches_the_formula():
    torch.manual_seed(0)
    model = ReusedReLU().eval()
    x = torch.randn(1, 3, 12, 12)
    heat, cls = grad_cam(model, x, "act#1", class_index=2)

    # Independently: A = second ReLU output, α_k = mean of d score / d A_k, cam = ReLU(Σ α_k A_k).
    a = torch.relu(model.conv2(torch.relu(model.conv1(x)))).detach().requires_grad_(True)
    score = model.fc(a.mean(dim=(2, 3)))[0, 2]
    (grad,) = torch.autograd.grad(score, a)
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=(12, 12), mode="bilinear", align_corners=False)[0, 0].numpy()
    cam = (cam - cam.min()) / (cam.max() - cam.min())
    assert cls == 2
    assert np.allclose(heat, cam, atol=1e-5)
