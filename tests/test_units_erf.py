"""The effective receptive field: exact on nets whose gradient can be worked out by hand, inside the theoretical
box on real ones, one gradient per image whatever the batch, and refused before it would not fit."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from visualizer import budgets
from visualizer import effective_rf as lazy_effective_rf
from visualizer.budgets import BudgetError
from visualizer.units.erf import effective_rf, mass_side


def _constant(model: nn.Module, value: float = 1.0) -> nn.Module:
    for p in model.parameters():
        nn.init.constant_(p, value)
    return model.eval()


def test_a_linear_net_has_exactly_the_theoretical_box_as_support():
    """No ReLU, average pools, positive weights: every pixel of the box reaches the unit, none outside.

    By hand: conv 3 → 3 (jump 1); avgpool 2 → 3 + 1 = 4 (jump 2); conv 3 → 4 + 2·2 = 8; avgpool 2 → 8 + 1·2 = 10
    (jump 4); conv 3 → 10 + 2·4 = 18. Without padding unit y starts at pixel 4y.
    """
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.Conv2d(2, 3, 3), nn.AvgPool2d(2), nn.Conv2d(3, 2, 3, bias=False)
    )
    for p in model.parameters():
        nn.init.uniform_(p, 0.1, 1.0)
    r = effective_rf(model.eval(), (1, 40, 40), "4", images=3)
    assert r["theoretical"] == [18, 18]
    y, x = r["unit"]
    support = r["gradient"] != 0
    expected = np.zeros((40, 40), dtype=bool)
    expected[4 * y : 4 * y + 18, 4 * x : 4 * x + 18] = True
    assert np.array_equal(support, expected)
    assert r["box"] == [4 * y, 4 * x, 4 * y + 17, 4 * x + 17]
    assert r["center"] == [4 * y + 8.5, 4 * x + 8.5]


def test_two_uniform_3x3_convs_give_the_triangle():
    """Ones everywhere: the gradient counts paths, (1, 2, 3, 2, 1) per axis; channels only scale it."""
    model = _constant(nn.Sequential(nn.Conv2d(1, 3, 3, padding=1, bias=False), nn.Conv2d(3, 2, 3, padding=1)))
    r = effective_rf(model, (1, 15, 15), "1", images=2)
    triangle = np.array([1, 2, 3, 2, 1], dtype=np.float64)
    expected = np.zeros((15, 15))
    expected[5:10, 5:10] = np.outer(triangle, triangle) * 3 * 2  # 3 middle channels × 2 summed outputs
    assert np.allclose(r["gradient"], expected)
    # Mass by hand: the total is 9² = 81 (×6); the centre 1×1 holds 9, the 3×3 holds 7² = 49, the 5×5 all.
    assert r["mass50"] == 3 and r["mass95"] == 5 and r["theoretical"] == [5, 5]


def test_four_uniform_2x2_convs_give_the_binomial():
    model = _constant(nn.Sequential(*[nn.Conv2d(1, 1, 2, bias=False) for _ in range(4)]))
    r = effective_rf(model, (1, 12, 12), "3", images=1)
    binomial = np.array([math.comb(4, k) for k in range(5)], dtype=np.float64)  # 1 4 6 4 1
    y, x = r["unit"]
    expected = np.zeros((12, 12))
    expected[y : y + 5, x : x + 5] = np.outer(binomial, binomial)
    assert np.allclose(r["gradient"], expected)
    # By hand: the field is 5 wide and centred on pixel y + 2; per axis the middle pixel holds 6/16 of the mass,
    # the middle three 14/16: the 3×3 square holds (14/16)² = 77 %, the 5×5 all of it.
    assert r["center"] == [y + 2.0, x + 2.0]
    assert r["mass50"] == 3 and r["mass95"] == 5


def test_mass_side_by_hand():
    g = np.zeros((9, 9))
    g[4, 4] = 1.0
    assert mass_side(g, (4, 4), 0.95) == 1
    g[2:7, 2:7] += 1.0 / 25  # a ring of 24 more small values
    assert mass_side(g, (4, 4), 0.5) == 1  # the spike holds (1 + 1/25)/2 of the mass
    assert mass_side(g, (4, 4), 0.95) == 5
    h = np.zeros((8, 8))
    h[3:5, 3:5] = 1.0
    assert mass_side(h, (3.5, 3.5), 0.95) == 2  # a centre between pixels: even sides
    assert mass_side(np.zeros((4, 4)), (1.5, 1.5), 0.5) is None


def test_images_in_a_batch_stay_independent_with_batchnorm_in_eval_mode():
    """The batch's gradient is the mean of the images' own gradients (BatchNorm must use its running
    statistics; the model is put in eval mode for the pass and handed back in training mode)."""
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    model.train()
    x = torch.randn(3, 3, 16, 16)
    batch = effective_rf(model, x, "3", images=3)["gradient"]
    alone = [effective_rf(model, x[i : i + 1], "3", images=1)["gradient"] for i in range(3)]
    assert np.allclose(batch, np.mean(alone, axis=0), rtol=1e-5, atol=1e-9)
    assert model.training and all(m.training for m in model.modules())


def test_zoo_model_gradient_stays_inside_the_theoretical_box():
    r = effective_rf("resnet18_cifar", "3x32x32", "layer1.1.relu2", images=2, weights="random")
    assert r["gradient"].shape == (32, 32) and r["inputs"] == "noise" and r["images"] == 2
    top, left, bottom, right = r["box"]
    outside = np.ones((32, 32), dtype=bool)
    outside[top : bottom + 1, left : right + 1] = False
    assert r["gradient"][outside].max() == 0.0 and r["gradient"].max() > 0
    assert r["theoretical"] == [11, 11]  # the stem and two blocks of two 3×3 convs: 1 + 5·2
    assert 1 <= r["mass50"] <= r["mass95"] <= 11


def test_an_image_comes_first_and_the_examples_fill_the_batch():
    from visualizer.images import example_images

    examples = example_images()
    r = effective_rf("alexnet_cifar", examples[0], "features.2", images=3, weights="random")
    assert r["images"] == min(3, len(examples) + 1) and r["inputs"] == "images"
    r = effective_rf("alexnet_cifar", [examples[0]], "features.2", images=3, weights="random")
    assert r["images"] == 1


def test_a_batch_over_the_budget_is_refused_naming_the_limit(monkeypatch):
    before = budgets.current()
    budgets.configure(max_train_memory=64 * 2**20)

    def no_noise(*args, **kwargs):
        raise AssertionError("the noise batch was drawn before the budget check")

    monkeypatch.setattr(torch, "randn", no_noise)  # refused before anything is allocated
    try:
        # By the records: features.0–2 hold 64×224×224 ×2 + 64×112×112 floats (28.9 MB) per image, twice
        # with their gradients, plus the input: one image fits 64 MiB, eight do not.
        with pytest.raises(BudgetError, match=r"64\.0 MiB \(--max-train-memory\); use at most 1 image"):
            effective_rf("vgg11", "3x224x224", "features.2", images=8, weights="random")
        with pytest.raises(BudgetError, match=r"limit of 64\.0 MiB \(--max-train-memory\); pick an earlier layer"):
            effective_rf("vgg11", "3x224x224", "features.10", images=1, weights="random")
    finally:
        budgets.configure(**{f: getattr(before, f) for f in before.__dataclass_fields__})


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: effective_rf("alexnet_cifar", "3x32x32", "classifier.1", weights="random"), "not a C×H×W map"),
        (lambda: effective_rf("alexnet_cifar", "3x32x32", "features.0", images=0, weights="random"), "from 1 to"),
        (lambda: effective_rf("alexnet_cifar", "3x32x32", "nope", weights="random"), "layers look like"),
        (lambda: effective_rf("alexnet_cifar", [], "features.0", weights="random"), "empty"),
    ],
)
def test_bad_requests_say_what_would_work(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_effective_rf_is_importable_from_the_package():
    assert lazy_effective_rf is effective_rf
