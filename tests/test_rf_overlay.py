"""Overlay boxes equal the pixels a unit really depends on (gradient support), via the analysis engine's records."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import zoo
from visualizer.analysis import analyze_model
from visualizer.features import GridLayout
from visualizer.rf_overlay import (
    click_to_unit,
    draw_receptive_field,
    map_click_to_unit,
    unit_box,
    unit_overlay,
)
from visualizer.views.features import explore, rf_from_click


def positive_copy(model: nn.Module) -> nn.Module:
    """Same geometry, but every path carries a positive signal: positive weights, zero biases, max-pools
    swapped for average pools (a max-pool's gradient reaches one pixel only). Then an input pixel gets a
    non-zero gradient exactly when it lies in the unit's receptive field."""
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, nn.MaxPool2d):
                setattr(module, child_name, nn.AvgPool2d(child.kernel_size, child.stride, child.padding))
    with torch.no_grad():
        for p_name, p in model.named_parameters():
            p.fill_(0.0 if p_name.endswith("bias") else 0.05)
    return model.eval()


class _Stop(Exception):
    pass


def gradient_support(model: nn.Module, layer: str, call: int, shape, units):
    """Per unit (y, x) of ``layer``: (top, left, bottom, right) of the input pixels it responds to."""
    outputs = []

    def hook(module, inputs, output):
        outputs.append(output)
        if len(outputs) > call:
            raise _Stop  # the rest of the network is not needed

    handle = dict(model.named_modules())[layer].register_forward_hook(hook)
    image = torch.ones(1, *shape, requires_grad=True)
    try:
        model(image)
    except _Stop:
        pass
    finally:
        handle.remove()
    boxes = []
    for y, x in units:
        (grad,) = torch.autograd.grad(outputs[call][0, :, y, x].sum(), image, retain_graph=True)
        rows, cols = np.nonzero(grad[0].abs().sum(0).numpy())
        boxes.append((int(rows.min()), int(cols.min()), int(rows.max()), int(cols.max())))
    return boxes


@pytest.mark.parametrize(
    "model_name, layer, units",
    [
        ("alexnet", "features.10", [(0, 0), (6, 3), (12, 12)]),  # 11×11/4 conv, 3×3/2 pools, clipped at borders
        ("resnet18_cifar", "layer2.0.relu2", [(0, 0), (7, 15)]),  # after the residual add: two paths joined
        ("resnet18_cifar", "layer3.1.relu2", [(3, 4)]),
    ],
)
def test_boxes_equal_gradient_support(model_name, layer, units):
    torch.manual_seed(0)
    model = positive_copy(zoo.create_model(model_name))
    shape = zoo.get_spec(model_name).input_size
    name, _, call = layer.partition("#")
    record = analyze_model(model_name).by_key(layer)
    assert record.receptive_field is not None
    expected = gradient_support(model, name, int(call or 0), shape, units)
    assert [unit_box(record, y, x, shape[1:]) for y, x in units] == expected


def test_whole_input_and_clipping_by_the_conventions():
    # Unit (y, x) is centred at centre + y*jump and covers centre ± (rf - 1) / 2, clipped to the image.
    record = {"receptive_field": [5, 7], "jump": [2, 4], "rf_center": [0.0, 1.0]}
    assert unit_box(record, 0, 0, (20, 30)) == (0, 0, 2, 4)
    assert unit_box(record, 3, 2, (20, 30)) == (4, 6, 8, 12)
    assert unit_box(record, 9, 7, (20, 30)) == (16, 26, 19, 29)
    assert unit_box({"receptive_field": None, "jump": None, "rf_center": None}, 0, 0, (20, 30)) == (0, 0, 19, 29)
    fc = analyze_model("resnet18").layer("fc")
    assert fc.receptive_field is None and unit_box(fc, 0, 0, 224) == (0, 0, 223, 223)


def test_draw_keeps_inside_dims_outside_and_scales_small_inputs():
    rng = np.random.default_rng(0)
    data = rng.integers(50, 250, (8, 10, 3), dtype=np.uint8)
    out = np.asarray(draw_receptive_field(Image.fromarray(data), (2, 3, 5, 7), min_display=1, dim=0.5)).astype(int)
    assert out.shape == data.shape
    assert np.array_equal(out[3:5, 4:7], data[3:5, 4:7])  # inside, away from the outline
    assert np.all(np.abs(out[0, :] - data[0, :] * 0.5) <= 1)  # outside: dimmed
    assert tuple(out[2, 3]) == (255, 40, 40)  # the outline
    big = draw_receptive_field(Image.fromarray(data), [(0, 0, 0, 0)], min_display=40)
    assert big.size == (40, 32)  # 4× nearest-neighbour enlargement


def test_clicks_map_to_units():
    layout = GridLayout.for_maps(4, 14, 14)
    x0, y0 = layout.tile_origin(3)
    s = layout.scale
    px, py = x0 + 5 * s + 1, y0 + 2 * s + 1
    assert click_to_unit(layout, px, py) == (3, 2, 5)
    width, height = layout.size
    assert click_to_unit(layout, px / 2, py / 2, displayed_size=(width / 2, height / 2)) == (3, 2, 5)
    assert map_click_to_unit(223, 0, (224, 224), (7, 7)) == (0, 6)
    assert map_click_to_unit(100, 200, (224, 224), (14, 14)) == (12, 6)


def test_unit_overlay_of_a_record():
    image = Image.fromarray(np.full((32, 32, 3), 128, dtype=np.uint8))
    record = analyze_model("vgg:8,M,16,M").by_key("features.3")
    view = unit_overlay(image, record, 2, 3, (32, 32))
    assert view["box"] == unit_box(record, 2, 3, 32)
    assert view["overlay"].size == (224, 224)  # 32×32 input shown 7× larger
    assert "receptive field" in view["text"]
    with pytest.raises(ValueError, match="outside features.3's 16×16 map"):
        unit_overlay(image, record, 16, 0, (32, 32))


def test_click_on_explore_grid_gives_that_units_field():
    image = Image.fromarray(np.full((32, 32, 3), 90, dtype=np.uint8))
    result = explore(image, "vgg:8,M,16,M", layer="features.3", top_n=4)
    layout = result["layout"]
    x0, y0 = layout.tile_origin(2)
    state = {"model_name": "vgg:8,M,16,M", "layer": "features.3", "layout": layout, "input": result["input"],
             "channels": [t.channel for t in result["channels"]]}  # fmt: skip
    overlay, text = rf_from_click(state, x0 + 9 * layout.scale, y0 + 4 * layout.scale)
    record = analyze_model("vgg:8,M,16,M").by_key("features.3")
    expected = unit_overlay(result["input"], record, 4, 9, (32, 32))
    assert np.array_equal(np.asarray(overlay), np.asarray(expected["overlay"]))
    # Both languages, the page shows one: the English half is the channel and the overlay's own line.
    assert f'<span class="en">Channel {state["channels"][2]}: {expected["text"]}</span>' in text
    assert "unit (4, 9)" in text and '<span class="ko">채널 ' in text
    with pytest.raises(ValueError, match="between the maps"):
        rf_from_click(state, 0, 0)
