"""A unit's computation adds up to what the network computed, for every kind of layer, on toy nets whose
numbers are worked out here by hand (explicit loops over numpy arrays) and on zoo and torchvision models."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from visualizer import explain_unit as lazy_explain_unit
from visualizer.images import example_images, load_image, preprocess
from visualizer.units.compute import explain_unit, layer_units, tensors_needed
from visualizer.units.prepare import network
from visualizer.weight_sources import load_weights

IMAGE = example_images()[0]


def close(result: dict) -> bool:
    """The issue's bar: |Δ| ≤ 1e-4 relative (plus fp32's own rounding for a value near zero)."""
    return abs(result["recomputed"] - result["activation"]) <= 1e-4 * abs(result["activation"]) + 1e-7


def hand_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, c: int, y: int, xx: int, s, p, d, groups) -> float:
    """One output of a 2-D convolution by the textbook loops: zero padding, stride, dilation, groups."""
    c_in = x.shape[0]
    per_in, per_out = c_in // groups, w.shape[0] // groups
    first = (c // per_out) * per_in
    total = float(b[c])
    for ci in range(per_in):
        for i in range(w.shape[2]):
            for j in range(w.shape[3]):
                r = y * s[0] - p[0] + i * d[0]
                q = xx * s[1] - p[1] + j * d[1]
                if 0 <= r < x.shape[1] and 0 <= q < x.shape[2]:
                    total += float(x[first + ci, r, q]) * float(w[c, ci, i, j])
    return total


class ConvBnRelu(nn.Module):
    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.bn = nn.BatchNorm2d(conv.out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.bn(self.conv(x)))


def _toy(conv: nn.Conv2d) -> ConvBnRelu:
    torch.manual_seed(0)
    model = ConvBnRelu(conv)
    with torch.no_grad():
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


@pytest.mark.parametrize(
    "conv",
    [
        nn.Conv2d(4, 6, 3, stride=2, padding=1, dilation=2, groups=2),
        nn.Conv2d(3, 5, (3, 2), stride=(1, 2), padding=(2, 0)),
        nn.Conv2d(6, 6, 3, padding=1, groups=6),  # depthwise
    ],
    ids=["stride-dilation-groups", "rectangular", "depthwise"],
)
def test_conv_unit_matches_hand_loops_and_the_network(conv):
    model = _toy(conv)
    torch.manual_seed(1)
    x = torch.randn(1, conv.in_channels, 11, 12)
    units = layer_units(model, x, "conv")
    out = conv(x)[0].detach()
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    xn = x[0].numpy()
    for c, y, xx in [(0, 0, 0), (conv.out_channels - 1, out.shape[1] - 1, out.shape[2] - 1), (1, 2, 1)]:
        r = units.explain(c, y, xx, top=2)
        by_hand = hand_conv(xn, w, b, c, y, xx, conv.stride, conv.padding, conv.dilation, conv.groups)
        assert r["activation"] == pytest.approx(float(out[c, y, xx]), abs=1e-6)
        assert r["recomputed"] == pytest.approx(by_hand, rel=1e-9, abs=1e-12)
        assert close(r)
        # What is shown adds up: bias + shown partial sums + the folded rest = the total.
        shown = sum(t["sum"] for t in r["terms"])
        assert r["bias"] + shown + r["rest"]["sum"] == pytest.approx(r["recomputed"], abs=1e-12)
        assert len(r["terms"]) + r["rest"]["count"] == conv.in_channels // conv.groups
        # Each shown channel: products are inputs × weights, summing to its partial sum.
        for t in r["terms"]:
            products = np.array(t["inputs"]) * np.array(t["weights"])
            assert np.allclose(products, t["products"]) and products.sum() == pytest.approx(t["sum"])
        sums = [abs(t["sum"]) for t in r["terms"]]
        assert sums == sorted(sums, reverse=True)
        # After the conv: BatchNorm with this channel's numbers, then the ReLU.
        bn = model.bn
        expected_bn = (float(out[c, y, xx]) - float(bn.running_mean[c])) / math.sqrt(
            float(bn.running_var[c]) + bn.eps
        ) * float(bn.weight[c].detach()) + float(bn.bias[c].detach())
        assert [s["layer"] for s in r["after"]] == ["bn", "relu"]
        assert r["after"][0]["value"] == pytest.approx(expected_bn, abs=1e-5)
        assert r["after"][1]["value"] == pytest.approx(max(0.0, expected_bn), abs=1e-5)


def test_conv_window_and_padding_are_where_the_textbook_puts_them():
    conv = nn.Conv2d(1, 1, 3, stride=2, padding=1, dilation=2)
    r = explain_unit(_toy(conv), torch.randn(1, 1, 9, 9), "conv", 0, 0, 1)
    # Unit (0, 1): rows 0·2 − 1 + {0, 2, 4}, columns 1·2 − 1 + {0, 2, 4}.
    assert r["window"]["rows"] == [-1, 1, 3] and r["window"]["cols"] == [1, 3, 5]
    assert r["window"]["real"][0] == [False, False, False] and r["window"]["real"][1] == [True, True, True]
    assert r["terms"][0]["inputs"][0] == [0.0, 0.0, 0.0]  # the padded row reads zeros
    assert r["geometry"]["padding"] == [1, 1, 1, 1] and r["geometry"]["dilation"] == [2, 2]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_conv_padding_modes(mode):
    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode)
    model = _toy(conv)
    x = torch.randn(1, 2, 6, 7)
    units = layer_units(model, x, "conv")
    for y, xx in [(0, 0), (5, 6), (0, 6)]:
        assert close(units.explain(2, y, xx))


def test_same_padding_with_an_even_kernel_pads_the_far_side():
    conv = nn.Conv2d(2, 2, 4, padding="same")  # PyTorch pads 1 before and 2 after
    r = explain_unit(_toy(conv), torch.randn(1, 2, 8, 8), "conv", 1, 7, 7)
    assert r["geometry"]["padding"] == [1, 2, 1, 2]
    assert close(r)


class Pools(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.max = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.avg_in = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True)  # padding counts
        self.avg_out = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.adaptive = nn.AdaptiveAvgPool2d(3)  # 7 → 3: windows of 3 that overlap
        self.adaptive_max = nn.AdaptiveMaxPool2d((2, 3))

    def forward(self, x):
        return self.max(x) + self.avg_in(x) + self.avg_out(x), self.adaptive(x), self.adaptive_max(x)


def test_pools_winner_mean_and_divisor():
    torch.manual_seed(2)
    x = torch.randn(1, 2, 7, 7)
    model = Pools().eval()
    xn = x[0, 1].numpy()
    # Max pool unit (3, 3) with ceil mode: rows 5..7 → 5, 6 only (7 is past the map).
    r = explain_unit(model, x, "max", 1, 3, 3)
    assert r["recomputed"] == pytest.approx(float(xn[5:7, 5:7].max())) and close(r)
    assert r["terms"][0]["inputs"][2] == [None, None, None]
    i, j = r["terms"][0]["winner"]
    assert r["terms"][0]["inputs"][i][j] == pytest.approx(r["recomputed"])
    # count_include_pad: the corner unit divides by 9 although 4 real pixels are read.
    r = explain_unit(model, x, "avg_in", 1, 0, 0)
    assert r["terms"][0]["divisor"] == 9 and r["recomputed"] == pytest.approx(xn[0:2, 0:2].sum() / 9) and close(r)
    # count_include_pad=False: divides by the 4 real pixels.
    r = explain_unit(model, x, "avg_out", 1, 0, 0)
    assert r["terms"][0]["divisor"] == 4 and r["recomputed"] == pytest.approx(xn[0:2, 0:2].mean()) and close(r)
    # Adaptive 7 → 3: unit 1 reads rows floor(7/3)=2 .. ceil(14/3)−1=4.
    r = explain_unit(model, x, "adaptive", 1, 1, 1)
    assert r["window"]["rows"] == [2, 3, 4] and r["recomputed"] == pytest.approx(xn[2:5, 2:5].mean()) and close(r)
    r = explain_unit(model, x, "adaptive_max", 1, 1, 2)
    assert r["recomputed"] == pytest.approx(xn[3:7, 4:7].max()) and close(r)


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc = nn.Linear(12, 5)
        self.bn = nn.BatchNorm1d(5)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x):
        return self.act(self.bn(self.fc(torch.flatten(self.pool(x), 1))))


def test_linear_shows_the_largest_products_and_folds_the_rest():
    torch.manual_seed(3)
    model = Head().eval()
    with torch.no_grad():
        model.bn.running_mean.fill_(0.3)
        model.bn.running_var.fill_(2.0)
    x = torch.randn(1, 3, 4, 4)
    flat = torch.flatten(model.pool(x), 1)[0].detach().numpy().astype(np.float64)
    w = model.fc.weight.detach().numpy().astype(np.float64)[4]
    r = explain_unit(model, x, "fc", 4, top=3)
    products = flat * w
    expected = list(np.argsort(-np.abs(products), kind="stable")[:3])
    assert [t["index"] for t in r["terms"]] == expected
    assert r["rest"]["count"] == 9
    assert r["rest"]["sum"] == pytest.approx(products[np.argsort(-np.abs(products), kind="stable")[3:]].sum())
    assert r["recomputed"] == pytest.approx(products.sum() + float(model.fc.bias[4].detach())) and close(r)
    assert r["unit"] == {"channel": 4, "y": None, "x": None}
    # Input 5 of the flattened 3×2×2 map is channel 1, row 0, column 1.
    assert all(t["position"] == list(np.unravel_index(t["index"], (3, 2, 2))) for t in r["terms"])
    # BatchNorm1d and LeakyReLU after it.
    bn_value = (r["activation"] - 0.3) / math.sqrt(2.0 + 1e-5)
    assert r["after"][0]["value"] == pytest.approx(bn_value, abs=1e-5)
    assert r["after"][1]["value"] == pytest.approx(bn_value if bn_value >= 0 else 0.1 * bn_value, abs=1e-5)
    r = explain_unit(model, x, "act", 4)
    assert r["kind"] == "activation" and close(r)


def test_batchnorm_unit_is_the_formula_with_this_channels_numbers():
    model = _toy(nn.Conv2d(2, 3, 1))
    x = torch.randn(1, 2, 5, 5)
    r = explain_unit(model, x, "bn", 2, 1, 3)
    conv_out = float(model.conv(x)[0, 2, 1, 3].detach())
    bn = model.bn
    t = r["terms"][0]
    assert t["input"] == pytest.approx(conv_out, abs=1e-6)
    assert (t["mean"], t["var"], t["gamma"], t["beta"]) == pytest.approx(
        (float(bn.running_mean[2]), float(bn.running_var[2]), float(bn.weight[2].detach()), float(bn.bias[2].detach()))
    )
    assert close(r) and "√" in r["formula"]


# ------------------------------------------------------------------------------------------ zoo models


@pytest.mark.parametrize(
    "model, layer, unit",
    [
        ("vgg11", "features.0", (7, None, None)),  # the first conv: its input is the image itself
        ("vgg11", "features.3", (5, 0, 0)),  # a corner: padding
        ("vgg11", "features.2", (3, 10, 20)),  # max pool
        ("vgg11", "classifier.0", (5, None, None)),  # 25088 → 4096
        ("resnet18", "conv1", (5, 0, 1)),  # 7×7, stride 2, padding 3
        ("resnet18", "layer2.0.downsample.0", (9, 3, 4)),  # 1×1, stride 2
        ("resnet18", "layer1.0.bn2", (4, 5, 6)),
        ("resnet18", "⊕0", (4, 5, 6)),  # out + identity
        ("resnet18", "layer1.0.relu#1", (4, 5, 6)),  # the reused ReLU's second call
        ("resnet18", "avgpool", (11, 0, 0)),
        ("resnet18", "fc", (11, None, None)),
        ("alexnet_cifar", "features.3", (8, None, None)),
        ("alexnet_cifar", "classifier.4", (8, None, None)),
        ("resnet18_cifar", "layer3.0.conv1", (3, 7, 0)),  # stride 2
        ("resnet18_cifar", "⊕2", (3, 7, 0)),  # projection shortcut
        ("resnet18_cifar", "avgpool", (3, 0, 0)),
        ("tv:mobilenet_v2", "features.2.conv.1.0", (20, 0, 55)),  # depthwise, stride 2
        ("tv:mobilenet_v2", "features.1.conv.1", (3, 4, 4)),  # 1×1 after a depthwise conv
        ("tv:mobilenet_v2", "⊕2", (7, 3, 3)),  # a join whose operand is another join
    ],
)
def test_zoo_units_add_up_to_the_network(model, layer, unit):
    r = explain_unit(model, IMAGE, layer, *unit, weights="random")
    assert close(r), (r["recomputed"], r["activation"])
    assert r["formula"].startswith(layer) and r["formula_ko"].startswith(layer)


def test_the_activation_is_the_real_networks_value():
    """Checked against the model's own submodules run by hand, not through any hook."""
    loaded = load_weights("resnet18", "random")
    m = loaded.model
    x, _ = preprocess(load_image(IMAGE), "resnet18")
    with torch.no_grad():
        stem = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        block = m.layer1[0]
        main = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(stem)))))
        out = torch.relu(main + stem)
    r = explain_unit("resnet18", IMAGE, "⊕0", 4, 5, 6, weights="random")
    assert r["activation"] == pytest.approx(float((main + stem)[0, 4, 5, 6]), abs=1e-5)
    assert {t["source"]: t["value"] for t in r["terms"]} == pytest.approx(
        {"layer1.0.bn2": float(main[0, 4, 5, 6]), "maxpool": float(stem[0, 4, 5, 6])}, abs=1e-5
    )
    assert r["after"][-1]["value"] == pytest.approx(float(out[0, 4, 5, 6]), abs=1e-5)


def test_stepping_reads_the_same_tensors_without_a_forward():
    """The hooks' own source (a prepared tensor); the image's ForwardPass is tested in test_views_units.py."""
    x, _ = preprocess(load_image(IMAGE), "vgg11")
    units = layer_units("vgg11", x, "features.3", weights="random")
    assert units.tensors.forwards == 1
    seen = [units.explain(2, 10, x)["activation"] for x in range(5)]
    assert units.tensors.forwards == 1  # ◀ ▶: five units, no second forward
    assert seen == [pytest.approx(float(units.output[2, 10, x])) for x in range(5)]
    model = units.tensors.model
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules()) == 0


def test_what_a_unit_needs_from_the_forward_pass():
    net = network("resnet18", "random")
    analysis = net.analysis((3, 224, 224))
    modules = dict(net.model.named_modules())
    assert tensors_needed(analysis, "layer1.0.conv2", modules) == {
        "layer1.0.conv2": "inputs+output",
        "layer1.0.bn2": "output",
        "maxpool": "output",  # the ⊕'s other operand
        "layer1.0.relu#1": "inputs+output",  # its input is the ⊕'s value, its output the ReLU's
    }
    assert tensors_needed(analysis, "⊕0", modules) == {
        "layer1.0.bn2": "output",
        "maxpool": "output",
        "layer1.0.relu#1": "inputs+output",
    }


def test_explain_unit_is_importable_from_the_package():
    assert lazy_explain_unit is explain_unit


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: explain_unit("vgg11", IMAGE, "features.99", 0, weights="random"), "layers look like"),
        (lambda: explain_unit("vgg11", IMAGE, "classifier.2", 0, weights="random"), "Dropout; a unit's computation"),
        (lambda: explain_unit("vgg11", IMAGE, "features.3", 128, weights="random"), "channel 128 is outside"),
        (lambda: explain_unit("vgg11", IMAGE, "features.3", 1, 3, 200, weights="random"), "x=200 is outside"),
        (lambda: explain_unit("vgg11", IMAGE, "features.3", 1, 3, weights="random"), "give both y and x"),
        (lambda: explain_unit("vgg11", IMAGE, "classifier.0", 1, 0, 0, weights="random"), "leave y, x None"),
        (lambda: explain_unit("vgg11", IMAGE, "⊕0", 1, weights="random"), "has no join"),
        (lambda: explain_unit("vgg11", torch.zeros(2, 3, 224, 224), "features.0", 1, weights="random"), "x[:1]"),
        (lambda: explain_unit(nn.Sequential(nn.Conv2d(1, 1, 3)), torch.zeros(1, 1, 5, 5), "", 0), "layer key"),
        (lambda: explain_unit(nn.Sequential(nn.Conv2d(1, 1, 3)), IMAGE, "0", 0, weights="imagenet"), "own weights"),
        (lambda: explain_unit("no_such_net", IMAGE, "conv1", 0), "no_such_net"),
    ],
)
def test_bad_requests_say_what_would_work(call, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(")):
        call()
