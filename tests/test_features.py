"""Feature capture hooks only what is asked and cleans up; grids show the channels they claim, in order."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from visualizer import features, forward_pass
from visualizer.features import (
    FeatureCapture,
    GridLayout,
    feature_grid,
    filters_picture,
    first_rgb_conv,
    overview_strip,
    spatial_layers,
    stage_layers,
)
from visualizer.images import example_images
from visualizer.views.features import explore
from visualizer.weight_sources import load_weights


class Twice(nn.Module):
    """conv → in-place ReLU, and one ReLU module called twice (as torchvision's BasicBlock does)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        x = self.act(self.conv(x))
        x = self.act(self.pool(x) - 0.5)  # second call of the same module
        return self.head(x.mean(dim=(2, 3)))


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_capture_hooks_only_asked_layers_and_removes_them():
    torch.manual_seed(0)
    model = Twice().eval()
    x = torch.randn(1, 3, 8, 8)
    with FeatureCapture(model, ["conv"]) as cap:
        assert [m for m in model.modules() if m._forward_hooks or m._forward_pre_hooks] == [model.conv]
        model(x)
    assert hook_count(model) == 0
    # The conv output as the conv computed it, negatives included, despite the in-place ReLU after it.
    expected = F.conv2d(x, model.conv.weight, model.conv.bias, padding=1)
    assert torch.allclose(cap.get("conv"), expected, atol=1e-6)
    assert (cap.get("conv") < 0).any()


def test_capture_module_called_twice_and_errors():
    torch.manual_seed(0)
    model = Twice().eval()
    x = torch.randn(1, 3, 8, 8)
    with FeatureCapture(model, ["act"]) as cap:
        model(x)
    first = F.relu(F.conv2d(x, model.conv.weight, model.conv.bias, padding=1))
    assert torch.allclose(cap.get("act"), first, atol=1e-6)
    assert torch.allclose(cap.get("act#1"), F.relu(F.max_pool2d(first, 2) - 0.5), atol=1e-6)
    with pytest.raises(KeyError, match="ran 2 time"):
        cap.get("act#2")
    with pytest.raises(ValueError, match="no layer 'nope'.*conv"):
        FeatureCapture(model, ["nope"])


def test_kept_inputs_are_what_an_in_place_layer_read_before_it_ran():
    torch.manual_seed(0)
    model = Twice().eval()
    x = torch.randn(1, 3, 8, 8)
    with FeatureCapture(model, [], keep_inputs=["act", "act#1"]) as cap:
        model(x)
    assert hook_count(model) == 0
    conv = F.conv2d(x, model.conv.weight, model.conv.bias, padding=1)
    # act is ReLU(inplace=True): its input, read after it ran, would already be clipped at zero.
    (first,) = cap.get_inputs("act")
    assert torch.allclose(first, conv, atol=1e-6) and (first < 0).any()
    (second,) = cap.get_inputs("act#1")
    assert torch.allclose(second, F.max_pool2d(F.relu(conv), 2) - 0.5, atol=1e-6) and (second < 0).any()


def test_fed_by_names_the_layer_whose_unchanged_output_a_layer_read():
    torch.manual_seed(0)
    model = Twice().eval()
    with torch.no_grad(), FeatureCapture(model, ["conv", "act", "pool", "head"]) as cap:
        model(torch.randn(1, 3, 8, 8))
    # act read conv's output as returned (it then changed it in place: that is act's own doing); pool read
    # act's; act#1 read ``pool(x) - 0.5``, a new tensor, and head a mean: neither is a captured output.
    assert cap.fed_by == {"act": "conv", "pool": "act"}
    assert torch.equal(cap.get("act"), torch.relu(cap.get("conv")))


def test_fed_by_ignores_an_output_changed_in_place_before_it_was_read():
    class Shifted(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.act = nn.Conv2d(1, 1, 1), nn.ReLU()

        def forward(self, x):
            y = self.conv(x)
            y += 1  # in place, outside any layer: the ReLU does not read what the conv returned
            return self.act(y)

    model = Shifted().eval()
    with torch.no_grad(), FeatureCapture(model, ["conv", "act"]) as cap:
        model(torch.randn(1, 1, 3, 3))
    assert cap.fed_by == {}


def test_hooks_removed_when_forward_fails():
    model = Twice().eval()
    with pytest.raises(RuntimeError), FeatureCapture(model, ["conv", "pool"]):
        model(torch.randn(1, 5, 8, 8))  # wrong channel count
    assert hook_count(model) == 0


def test_stop_early_skips_the_rest_of_the_network():
    ran = []
    model = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(), nn.Conv2d(2, 2, 1))
    model[2].register_forward_pre_hook(lambda m, a: ran.append("later layer"))
    x = torch.randn(1, 3, 4, 4)
    with FeatureCapture(model, ["1", "0"], stop_early=True) as cap:
        model(x)
        ran.append("after the forward")  # skipped: the forward ended at layer 1
    assert ran == []
    assert torch.allclose(cap.get("1"), torch.relu(model[0](x)))
    assert hook_count(model) == 1  # only the pre-hook this test added


def tile_pixels(image, layout: GridLayout, i: int) -> np.ndarray:
    x0, y0 = layout.tile_origin(i)
    block = np.asarray(image)[y0 : y0 + layout.tile_h, x0 : x0 + layout.tile_w, 0].astype(int)
    return block[:: layout.scale, :: layout.scale]  # one pixel per unit


@pytest.mark.parametrize("rank_by", ["mean", "max"])
def test_grid_shows_claimed_channels_in_claimed_order(rank_by):
    rng = np.random.default_rng(0)
    act = rng.normal(size=(12, 5, 7)).astype(np.float32)
    act[3, 2, 2] = 9.0  # a high max but an ordinary mean: ranks differently under "max"
    image, tiles = feature_grid(act, top_n=5, rank_by=rank_by, colormap="gray", normalize="channel")

    score = {c: float(act[c].mean() if rank_by == "mean" else act[c].max()) for c in range(12)}
    expected = sorted(range(12), key=lambda c: -score[c])[:5]
    assert [t.channel for t in tiles] == expected
    assert (expected[0] == 3) == (rank_by == "max")

    layout = GridLayout.for_maps(len(tiles), 5, 7)
    assert image.size == layout.size
    for i, tile in enumerate(tiles):
        a = act[tile.channel]
        assert tile.min == pytest.approx(a.min()) and tile.max == pytest.approx(a.max())
        assert tile.score == pytest.approx(score[tile.channel], rel=1e-5)
        expected_gray = np.floor((a - a.min()) / (a.max() - a.min()) * 255 + 0.5)  # gray LUT is the identity
        assert np.array_equal(tile_pixels(image, layout, i), expected_gray.astype(int))


def test_grid_shared_normalization_and_top_n_clipping():
    act = np.stack([np.full((4, 4), v, dtype=np.float32) for v in (1.0, 3.0, 2.0)])
    act[0, 0, 0] = 0.0
    image, tiles = feature_grid(act, top_n=10, colormap="gray", normalize="shared")
    assert [t.channel for t in tiles] == [1, 2, 0]  # all 3 channels, by mean
    layout = GridLayout.for_maps(3, 4, 4)
    # One scale for all tiles: 0 → 0, 3 → 255.
    assert tile_pixels(image, layout, 0)[1, 1] == 255
    assert tile_pixels(image, layout, 1)[1, 1] == round(2 / 3 * 255)
    assert tile_pixels(image, layout, 2)[0, 0] == 0 and tile_pixels(image, layout, 2)[1, 1] == 85


def test_grid_rejects_bad_options():
    act = np.zeros((2, 3, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="rank_by"):
        feature_grid(act, rank_by="median")
    with pytest.raises(ValueError, match="normalize"):
        feature_grid(act, normalize="global")
    with pytest.raises(ValueError, match="unknown colormap 'nocolor'"):
        feature_grid(act, colormap="nocolor")
    with pytest.raises(ValueError, match="C×H×W"):
        feature_grid(np.zeros((3, 3)))


def test_layout_click_maps_to_unit():
    layout = GridLayout.for_maps(5, 7, 7, cols=3)
    s = layout.scale
    assert s * 7 >= features.MIN_TILE
    x0, y0 = layout.tile_origin(4)  # row 1, col 1
    assert layout.unit_at(x0 + 3 * s + s // 2, y0 + 6 * s + 1) == (4, 6, 3)
    assert layout.unit_at(x0, y0 - 2) is None  # the label strip
    empty_x = x0 + layout.tile_w + layout.pad  # row 1, col 2: the sixth cell, which has no map
    assert layout.unit_at(empty_x + 1, y0 + 1) is None


def vgg16_expected_spatial():
    """VGG-16 (config D) from the paper's table: conv3-64 ×2, pool, conv3-128 ×2, pool, 3×256, 3×512, 3×512."""
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, i, size = [], 0, 224
    for v in cfg:
        if v == "M":
            size //= 2
            layers.append((f"features.{i}", "MaxPool2d", layers[-1][2], size))
            i += 1
        else:
            layers += [(f"features.{i}", "Conv2d", v, size), (f"features.{i + 1}", "ReLU", v, size)]
            i += 2
    return layers


def test_spatial_layers_and_stages_of_vgg16():
    found = spatial_layers("vgg16")
    expected = vgg16_expected_spatial() + [("avgpool", "AdaptiveAvgPool2d", 512, 7)]
    assert [(s.key, s.kind, s.channels, s.height) for s in found] == expected
    # Stages: the last layer at each resolution (the ReLU before each pool), then the last pool.
    assert [s.key for s in stage_layers(found)] == [
        "features.3",
        "features.8",
        "features.15",
        "features.22",
        "features.29",
        "features.30",
    ]


def test_gradcam_defaults_to_the_last_conv_before_the_head():
    # Issue 17: it was the last stage's layer, for VGG-16 the max-pool features.30. Independently of the records:
    # VGG-16's 13 convs sit at features.0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28 (two modules per conv, one
    # per pool); ResNet-18's last block ends conv2; AlexNet's fifth conv is features.10; SqueezeNet's last conv is
    # its head (1×1 to the 1000 classes), so the one before it, the last Fire's 3×3 expand.
    assert features.default_cam_layer("vgg16") == "features.28"
    assert features.default_cam_layer("resnet18") == "layer4.1.conv2"
    assert features.default_cam_layer("alexnet") == "features.10"
    assert features.default_cam_layer("tv:squeezenet1_1") == "features.12.expand3x3"
    kinds = {s.key: s.kind for s in spatial_layers("vgg16")}
    assert kinds[features.default_cam_layer("vgg16")] == "Conv2d"


def test_stages_of_resnets_are_the_stage_outputs():
    # torchvision ResNet: stem ReLU (112×112), then each stage's last block output, which is the block's
    # last ReLU call (BasicBlock: 2 calls, Bottleneck: 3). Blocks per stage from the paper's table.
    for name, blocks, relu_calls in [("resnet18", [2, 2, 2, 2], 2), ("resnet50", [3, 4, 6, 3], 3)]:
        expected = ["relu"] + [f"layer{i + 1}.{n - 1}.relu#{relu_calls - 1}" for i, n in enumerate(blocks)]
        stages = stage_layers(spatial_layers(name))
        assert [s.key for s in stages] == expected
        assert [s.height for s in stages] == [112, 56, 28, 14, 7]
    assert features.default_layer("vgg16") == "features.22"


def test_spatial_layers_of_a_module_list_repeated_calls():
    found = spatial_layers(Twice(), input_size=(3, 8, 8))
    assert [(s.key, s.call_index, s.height) for s in found] == [
        ("conv", 0, 8),
        ("act", 0, 8),
        ("pool", 0, 4),
        ("act#1", 1, 4),
    ]


def test_overview_strip_one_tile_per_stage():
    left_bright = np.zeros((4, 8, 8), dtype=np.float32)
    left_bright[:, :, :4] = 1.0
    strip = overview_strip([("a", left_bright), ("b", np.ones((16, 2, 2), dtype=np.float32))], tile=64, colormap="gray")
    one = overview_strip([("a", left_bright)], tile=64)
    assert strip.width - one.width == 64 + 6 and strip.height == one.height
    pixels = np.asarray(strip)[-6 - 32, 6 : 6 + 64, 0]  # a row through the first map
    assert pixels[:30].min() == 255 and pixels[34:].max() == 0


def test_first_layer_filters_as_rgb_patches():
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))
    with torch.no_grad():
        model[0].weight.zero_()
        model[0].weight[0, 0] = 1.0  # filter 0: red only
        model[0].weight[1, 2] = -1.0  # filter 1: everything but blue (blue is its minimum)
    image = np.asarray(filters_picture(first_rgb_conv(model).weight, pad=2))
    assert tuple(image[2, 2]) == (255, 0, 0)
    s = 8  # 3×3 kernels enlarged to 24 px
    assert tuple(image[2, 2 + 3 * s + 2]) == (255, 255, 0)
    with pytest.raises(ValueError, match="no Conv2d taking 3 input channels"):
        first_rgb_conv(nn.Sequential(nn.Conv2d(1, 2, 3)))


def test_explore_one_forward_pass_for_grid_and_predictions():
    name = "vgg:8,M,16,M"
    model = load_weights(name, "random").model
    calls = []
    handle = model.register_forward_pre_hook(lambda m, args: calls.append(1))
    try:
        forward_pass.clear()
        result = explore(example_images()[0], name, "random", layer="features.3", top_n=4)
    finally:
        handle.remove()
    assert len(calls) == 1
    assert hook_count(model) == 0
    assert result["forward_pass"].full_forwards == 1 and result["forward_pass"].partial_forwards == 0
    assert result["shape"] == (16, 16, 16) and len(result["channels"]) == 4
    assert result["input"].size == (32, 32)
    assert result["grid"].size == result["layout"].size
    names = [n for n, _ in result["predictions"]]
    probs = [p for _, p in result["predictions"]]
    assert len(names) == 5 and set(names) <= set(__import__("zoo").CIFAR10_CLASSES)
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    assert "meaningless" in result["prediction_note"]
    assert result["overview"] is not None and result["filters"] is not None
    with pytest.raises(ValueError, match="no layer 'classifier'"):
        explore(example_images()[0], name, "random", layer="classifier")


def test_explore_follows_a_checkpoint_as_it_is_rewritten(tmp_path):
    import os

    import zoo
    from visualizer.checkpoint import make_checkpoint, save_checkpoint

    name, path = "vgg:8,M,16,M", tmp_path / "latest.pt"
    model = zoo.create_model(name)
    image = example_images()[0]

    def write(epoch):
        save_checkpoint(
            make_checkpoint(
                model_name=name,
                class_names=zoo.CIFAR10_CLASSES,
                model=model,
                optimizer=None,
                config={},
                epoch=epoch,
                step=10 * epoch,
            ),
            path,
        )
        os.utime(path, ns=(epoch, epoch * 10**9))  # distinct mtimes even on coarse file systems

    write(1)
    before = explore(image, name, "checkpoint", layer="features.0", checkpoint_path=str(path), overview=False)
    with torch.no_grad():
        model.features[0].weight.mul_(-1.0)  # "training" changed the first layer
    write(2)
    after = explore(image, name, "checkpoint", layer="features.0", checkpoint_path=str(path), overview=False)
    assert "epoch 1" in before["info"] and "epoch 2" in after["info"]
    assert before["prediction_note"] == "" and after["prediction_note"] == ""
    # Negated filters: the new maps are the old ones negated, so the ranking and ranges change.
    old = {t.channel: (t.min, t.max) for t in before["channels"]}
    new = {t.channel: (t.min, t.max) for t in after["channels"]}
    shared = set(old) & set(new)
    assert all(new[c] != old[c] for c in shared)
    assert np.asarray(before["grid"]).shape == np.asarray(after["grid"]).shape
    assert not np.array_equal(np.asarray(before["grid"]), np.asarray(after["grid"]))
