"""One request, one path: a feature-maps request builds its model once and runs the network once.

Counted with PyTorch's global module hooks, independently of the code's own counters: every forward of the root
model, and every parameter registered with real (non-meta) storage, which is what building a model does.
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch
from torch import nn
from torch.nn.modules.module import register_module_forward_pre_hook, register_module_parameter_registration_hook
from torchvision.models import VGG

import zoo
from visualizer import forward_pass, weight_sources
from visualizer.images import example_images
from visualizer.views import features


@pytest.fixture
def counted():
    """``(real forwards of a VGG, real parameter tensors registered)`` while the test runs, from empty caches."""
    forwards: Counter = Counter()
    params: list[torch.Tensor] = []

    def pre(module, args):
        if isinstance(module, VGG) and not args[0].is_meta:  # the engine's shape-only passes run on meta
            forwards["VGG"] += 1

    def registered(module, name, param):
        if param is not None and not param.is_meta:
            params.append(param)

    handles = [register_module_forward_pre_hook(pre), register_module_parameter_registration_hook(registered)]
    forward_pass.clear()
    weight_sources.clear_cache()
    try:
        yield forwards, params
    finally:
        for h in handles:
            h.remove()


def _request(image):
    return features.feature_maps(image, "vgg11", "random", None, "features.3", 8, "mean", "viridis", "channel", "", "")


def test_one_feature_maps_request_is_one_build_and_one_forward(counted):
    forwards, params = counted
    with torch.device("meta"):  # counted on meta: registers nothing real
        layers = [m for m in zoo.create_model("vgg11").modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    out = _request(example_images()[0])
    grid, info, *_, state = out
    assert grid is not None and "Grad-CAM" in info
    # VGG-11: 8 convs and 3 linear layers, a weight and a bias each: one build registers 22 real tensors.
    assert len(layers) == 11 and len(params) == 2 * len(layers)
    # Grid, overview, predictions and Grad-CAM (whose layer needs gradients) all read one forward pass.
    assert forwards["VGG"] == 1
    run = forward_pass.cached(state["pass"])
    assert run.full_forwards == 1 and run.partial_forwards == 0


def test_a_click_afterwards_reads_the_same_pass(counted):
    forwards, params = counted
    image = example_images()[0]
    _request(image)
    before, built = forwards["VGG"], len(params)
    grid, overlay, text, _ = features.layer_maps(image, "vgg11", "random", "features.13")
    # Every spatial layer of VGG-11 at 224 was kept by the first pass: a click costs no forward and no build.
    assert grid is not None and overlay is not None and "features.13" in text
    assert forwards["VGG"] == before and len(params) == built


def test_a_units_tensors_come_from_the_pass_without_a_forward(counted):
    forwards, _ = counted
    image = example_images()[0]
    _request(image)
    loaded = weight_sources.load_weights("vgg11", "random")
    run = forward_pass.for_image(image, loaded)
    read = run.tensors(loaded, {"features.3": "inputs+output", "features.4": "output", "input": "output"})
    conv = read("features.3")
    # The conv's input is the pool's output, kept by the first pass (the very tensor the conv read), batch dim kept.
    assert forwards["VGG"] == 1 and conv.output.shape == (1, 128, 112, 112)
    (x,) = conv.inputs
    assert torch.equal(x, run.activation(loaded, "features.2")[None])
    with torch.no_grad():
        by_hand = loaded.model.features[:4](run.tensor.clone())
    assert torch.allclose(conv.output, by_hand, atol=1e-5)
    assert read("input").output is run.tensor and read("features.0").inputs[0].shape == run.tensor.shape
    assert forwards["VGG"] == 1
