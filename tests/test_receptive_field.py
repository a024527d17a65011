"""Receptive fields: against an independent measurement and against published values.

The measurement does not use the engine at all: it builds a *linearized* copy of the network (every conv
becomes "average the input channels, then a uniform positive window with the conv's own geometry", transposed
convs likewise, a linear layer averages its features, ReLU, GELU, BatchNorm and LayerNorm become identities,
max-pooling becomes average pooling), so the gradient of one output unit with respect to the input is
positive exactly on the pixels that unit can see. The extent of that support
is the receptive field; its midpoint is the field's centre. The model's own ``forward`` runs, so functional
adds, multiplies and concatenations in it are measured too.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.resnet import Bottleneck

from visualizer.analysis import analyze
from visualizer.receptive_field import Geometry, geometry_of, receptive_field_recurrence
from visualizer.rf_overlay import unit_field

# ---------------------------------------------------------------------------------------------------------
# The independent measurement


class _UniformConv(nn.Module):
    """A conv collapsed to one channel with uniform positive weights and the conv's own geometry.

    Every channel of the linearized network would carry the same values, so one channel is enough (and
    keeps the measurement cheap); adds and concatenations still line up because every conv outputs one.
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        w = torch.full((1, 1, *c.kernel_size), 1.0 / math.prod(c.kernel_size), dtype=x.dtype)
        y = F.conv2d(x.mean(1, keepdim=True), w, None, c.stride, c.padding, c.dilation)
        return y


class _UniformConvTranspose(nn.Module):
    """A transposed conv collapsed the same way: one channel, uniform positive weights, its own geometry."""

    def __init__(self, conv: nn.ConvTranspose2d) -> None:
        super().__init__()
        self.conv = conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        w = torch.full((1, 1, *c.kernel_size), 1.0 / math.prod(c.kernel_size), dtype=x.dtype)
        return F.conv_transpose2d(
            x.mean(1, keepdim=True), w, None, c.stride, c.padding, c.output_padding, 1, c.dilation
        )


class _MeanOfFeatures(nn.Module):
    """A linear layer on the last dim (channels-last maps) as the mean of its features: one output feature."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(-1, keepdim=True)


def linearize(model: nn.Module) -> nn.Module:
    """Replace, in place, every leaf that is not linear-and-positive by one that is."""
    for name, mod in list(model.named_modules()):
        if not name or next(mod.children(), None) is not None:
            continue
        if isinstance(mod, nn.Conv2d):
            new = _UniformConv(mod)
        elif isinstance(mod, nn.ConvTranspose2d):
            new = _UniformConvTranspose(mod)
        elif isinstance(mod, nn.Linear):
            new = _MeanOfFeatures()
        elif isinstance(mod, nn.MaxPool2d):
            assert mod.dilation in (1, (1, 1))
            new = nn.AvgPool2d(mod.kernel_size, mod.stride, mod.padding, mod.ceil_mode)
        elif isinstance(mod, (nn.ReLU, nn.ReLU6, nn.BatchNorm2d, nn.Dropout, nn.Sigmoid, nn.GELU, nn.LayerNorm)):
            new = nn.Identity()
        else:
            continue
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, new)
    return model.double().eval()


class _Stop(Exception):
    pass


def measured_fields(
    model: nn.Module, names: list[str], shape: tuple[int, int, int], stop_at: str | None = None
) -> dict[tuple, tuple]:
    """{(name, call): (unit (y, x), (rh, rw), (ch, cw), inside)} from the input-gradient support of one unit.

    The unit is the one nearest the feature map's centre; ``inside`` says whether its support stays clear of
    the image border (only then is the extent the whole field). ``stop_at`` ends the forward after that
    layer (the one-channel copy cannot run a classifier head).
    """
    outs: dict[tuple, torch.Tensor] = {}

    def keep(n):
        def hook(m, i, o):
            outs[(n, sum(1 for k in outs if k[0] == n))] = o
            if n == stop_at:
                raise _Stop

        return hook

    hooks = [model.get_submodule(n).register_forward_hook(keep(n)) for n in names]
    x = torch.rand(1, *shape, dtype=torch.float64) + 0.5
    x.requires_grad_(True)
    try:
        model(x)
    except _Stop:
        pass
    for h in hooks:
        h.remove()
    result = {}
    for key, o in outs.items():
        y, xx = o.shape[2] // 2, o.shape[3] // 2
        result[key] = ((y, xx), *unit_support(o, x, y, xx))
    return result


def unit_support(o: torch.Tensor, x: torch.Tensor, y: int, xx: int) -> tuple[tuple, tuple, bool, tuple]:
    """(extent, centre, inside, (top, left, bottom, right)) of the input pixels unit (y, xx) of ``o`` sees."""
    (g,) = torch.autograd.grad(o[0, :, y, xx].sum(), x, retain_graph=True)
    support = g[0].abs().sum(0) > 0
    rows = support.any(1).nonzero().flatten()
    cols = support.any(0).nonzero().flatten()
    r0, r1, c0, c1 = rows.min().item(), rows.max().item(), cols.min().item(), cols.max().item()
    inside = r0 > 0 and c0 > 0 and r1 < x.shape[2] - 1 and c1 < x.shape[3] - 1
    return (r1 - r0 + 1, c1 - c0 + 1), ((r0 + r1) / 2, (c0 + c1) / 2), inside, (r0, c0, r1, c1)


def assert_engine_matches_measurement(
    model: nn.Module, shape: tuple[int, int, int], names: list[str], stop_at: str | None = None
) -> int:
    """Compare every call of every named layer with the measurement; returns how many calls were compared."""
    a = analyze(model, shape)
    measured = measured_fields(linearize(model), names, shape, stop_at)
    checked = 0
    for (n, call), ((y, x), rf, centre, inside, _) in measured.items():
        if not inside:  # a field clipped by the image border has no measurable extent
            continue
        r = a.layer(n, call)
        assert tuple(r.receptive_field) == rf, (n, call)
        expected_centre = (r.rf_center[0] + y * r.jump[0], r.rf_center[1] + x * r.jump[1])
        assert expected_centre == pytest.approx(centre), (n, call)
        checked += 1
    return checked


class Branches(nn.Module):
    """A multi-path toy with non-square everything: the field after each join covers both paths."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, kernel_size=(3, 5), stride=(1, 2), padding=(1, 0), dilation=(2, 1))
        self.wide = nn.Conv2d(4, 4, kernel_size=(1, 7), padding=(0, 3))  # 1×7 on one path ...
        self.tall = nn.Conv2d(4, 4, kernel_size=(7, 1), padding=(3, 0))  # ... 7×1 on the other
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.gate = nn.Conv2d(4, 4, kernel_size=5, padding=2)
        self.side = nn.Conv2d(4, 2, kernel_size=3, stride=2, padding=1)
        self.head = nn.Conv2d(6, 3, kernel_size=(2, 3), stride=(2, 1))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.stem(x))
        x = self.relu(self.wide(x) + self.tall(x))  # functional add: field becomes 7×7 around the stem's
        p = self.pool(x)
        p = p * self.gate(p)  # functional mul joins a 5×5 path
        x = torch.cat([p, self.side(x)], dim=1)  # concat joins a stride-2 3×3 path
        return self.relu(self.head(x))


# ---------------------------------------------------------------------------------------------------------
# Tests against the measurement


def test_multi_path_toy_matches_measurement_on_non_square_input():
    torch.manual_seed(0)
    names = ["stem", "wide", "tall", "relu", "pool", "gate", "side", "head"]
    a = analyze(Branches(), (3, 61, 83))
    # The add joins a 1×7 and a 7×1 path: each alone is thin, the sum (second ReLU call) sees a full box.
    joined = a.layer("relu", 1).receptive_field
    assert joined[0] > a.layer("wide").receptive_field[0] and joined[1] > a.layer("tall").receptive_field[1]
    checked = assert_engine_matches_measurement(Branches(), (3, 61, 83), names)
    assert checked == len(names) + 2  # ReLU is called three times


def test_resnet18_matches_measurement_including_shortcuts():
    # torchvision's block order is conv1, bn1, relu, conv2, bn2, downsample, add, relu: a hook-order
    # recurrence would stack the downsample's stride onto the main path. The engine must not.
    torch.manual_seed(0)
    model = torchvision.models.resnet18()
    names = [
        "conv1",
        "maxpool",
        "layer1.1.conv2",
        "layer2.0.conv1",
        "layer2.0.downsample.0",
        "layer2.1.conv2",
        "layer3.0.conv2",
        "layer3.1.bn2",
        "layer4.0.conv2",
    ]
    checked = assert_engine_matches_measurement(model, (3, 320, 352), names, stop_at=names[-1])
    assert checked == len(names)


def test_vgg16_features_match_measurement():
    torch.manual_seed(0)
    features = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    names = ["0", "4", "9", "16", "23", "28", "30"]  # conv1_1, pool1, pool2, pool3, pool4, conv5_3, pool5
    checked = assert_engine_matches_measurement(features, (3, 256, 256), names)
    assert checked == len(names)


# ---------------------------------------------------------------------------------------------------------
# Published values
#
# Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks", Distill 2019
# (doi:10.23915/distill.00021), and the table of their library (github.com/google-research/receptive_field),
# list for the last feature map before the classifier of the TF-Slim models: alexnet_v2 r=195, effective
# stride 32, effective padding 64; vgg_16 r=212, stride 32, padding 90; resnet_v1_50 r=483,
# resnet_v1_101 r=1027, resnet_v1_152 r=1507, all with stride 32. "Effective padding" P relates to our
# centre of unit 0 as P = (r − 1)/2 − centre. Padding conventions (TF "SAME" vs torchvision's explicit
# padding) move P but never r or the stride.


def _meta(builder):
    with torch.device("meta"):
        return builder()


def test_vgg16_pool5_published():
    a = analyze(_meta(torchvision.models.vgg16), (3, 224, 224))
    pool5 = a.layer("features.30")
    assert pool5.receptive_field == [212, 212] and pool5.jump == [32, 32]
    assert (212 - 1) / 2 - pool5.rf_center[0] == 90  # same symmetric 3×3 padding as TF-Slim: same P
    # conv5_3, one pooling earlier (the lead-in figure of the course notes)
    assert a.layer("features.28").receptive_field == [196, 196]


def test_alexnet_pool5_published():
    # torchvision's AlexNet has alexnet_v2's kernels and strides (11/4, 3/2, 5, 3/2, 3, 3, 3, 3/2).
    a = analyze(_meta(torchvision.models.alexnet), (3, 224, 224))
    pool5 = a.layer("features.12")
    assert pool5.receptive_field == [195, 195] and pool5.jump == [32, 32]


def slim_resnet_v1(units: list[int]) -> nn.Sequential:
    """TF-Slim's resnet_v1 layout: the stride-2 3×3 conv is in the LAST unit of blocks 1–3.

    (torchvision's "v1.5" puts it in the first unit of blocks 2–4, which gives a smaller field: 427 for
    ResNet-50, checked below.)
    """
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    inplanes = 64
    for block, (n, planes) in enumerate(zip(units, [64, 128, 256, 512])):
        for u in range(n):
            stride = 2 if u == n - 1 and block < 3 else 1
            down = None
            if stride != 1 or inplanes != planes * 4:
                down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4))
            layers.append(Bottleneck(inplanes, planes, stride, down))
            inplanes = planes * 4
    return nn.Sequential(*layers)


@pytest.mark.parametrize("units, published", [([3, 4, 6, 3], 483), ([3, 4, 23, 3], 1027), ([3, 8, 36, 3], 1507)])
def test_resnet_v1_published(units, published):
    a = analyze(_meta(lambda: slim_resnet_v1(units)), (3, 224, 224))
    last = a.layers[-1]  # the final ReLU after the last residual add
    assert last.receptive_field == [published, published] and last.jump == [32, 32]


def test_torchvision_resnet50_final_field():
    # By the recurrence: stem 7/2 → 7, pool 3/2 → 11, then +2·jump per 3×3 conv: layer1 3×(+8) → 35,
    # layer2 (+8 at j=4, then 3×(+16)) → 91, layer3 (+16, 5×(+32)) → 267, layer4 (+32, 2×(+64)) → 427.
    a = analyze(_meta(torchvision.models.resnet50), (3, 224, 224))
    assert a.layer("layer4.2.relu", 2).receptive_field == [427, 427]
    assert a.layer("avgpool").receptive_field is None and a.layer("fc").rf_display == "whole input"


# ---------------------------------------------------------------------------------------------------------
# The plain recurrence and the "no spatial field" cases


def test_recurrence_matches_engine_on_a_single_path_net():
    features = _meta(lambda: torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["E"]))
    a = analyze(features, (3, 224, 224))
    geoms = [geometry_of(m) for m in features if geometry_of(m) is not None]
    fields = receptive_field_recurrence(geoms)
    windowed = [r for r in a.layers if r.kernel is not None]
    assert [list(f.rf) for f in fields] == [r.receptive_field for r in windowed]
    assert [list(f.jump) for f in fields] == [r.jump for r in windowed]
    assert [list(f.center) for f in fields] == [r.rf_center for r in windowed]


def test_recurrence_by_hand():
    # Two 3×3 convs (padding 1) then a 2×2/2 pool: r = 3, 5, 6; jump 1, 1, 2; centre 0, 0, 0.5.
    f = receptive_field_recurrence([(3, 1, 1), (3, 1, 1), (2, 2, 0)])
    assert [x.rf for x in f] == [(3, 3), (5, 5), (6, 6)]
    assert f[-1].jump == (2, 2) and f[-1].center == (0.5, 0.5)
    # dilation 2 makes a 3×3 kernel span 5
    assert receptive_field_recurrence([Geometry((3, 3), (1, 1), (2, 2), (2, 2))])[0].rf == (5, 5)


def test_global_pooling_flatten_and_gating_have_no_spatial_field():
    class SE(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.squeeze = nn.AdaptiveAvgPool2d(1)
            self.excite = nn.Conv2d(8, 8, 1)
            self.gated = nn.Identity()
            self.fc = nn.Linear(8 * 16 * 16, 2)

        def forward(self, x):
            x = self.conv(x)
            x = self.gated(x * torch.sigmoid(self.excite(self.squeeze(x))))  # every unit now sees everything
            return self.fc(torch.flatten(x, 1))

    a = analyze(SE(), (3, 16, 16))
    assert a.layer("conv").receptive_field == [3, 3]
    assert a.layer("squeeze").receptive_field is None
    assert a.layer("gated").receptive_field is None and a.layer("gated").rf_display == "whole input"
    assert a.layer("fc").receptive_field is None


def test_adaptive_pooling_regular_and_irregular():
    features = _meta(lambda: nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.AdaptiveAvgPool2d((4, 3))))
    a = analyze(features, (3, 8, 9))  # 8 → 4 and 9 → 3: regular windows 2×3, strides 2×3
    assert a.layers[1].receptive_field == [3 + 1, 3 + 2] and a.layers[1].jump == [2, 3] and a.layers[1].rf_exact
    b = analyze(features, (3, 10, 9))  # 10 → 4: windows of 3 and 2 pixels, not a regular grid
    assert not b.layers[1].rf_exact and b.layers[1].rf_display.startswith("≤")
    assert b.layers[1].receptive_field[0] == 3 + 2  # the largest window (3) after the 3×3 conv


def test_unmodelled_resampling_is_unknown_not_whole_input():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Upsample(scale_factor=2), nn.Conv2d(4, 4, 3), nn.Flatten())
    a = analyze(net, (3, 12, 12))
    assert a.layers[0].rf_display == "3×3"
    assert [r.rf_display for r in a.layers[1:]] == ["unknown", "unknown", "unknown"]


# ---------------------------------------------------------------------------------------------------------
# Transposed convolutions, flips and channels-last blocks


def test_stride_1_transposed_conv_grows_the_field_like_a_conv():
    # A stride-1 transposed conv is a conv with the kernel mirrored: 3, then 3 + 2 = 5, then 7 (by hand).
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ConvTranspose2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)
    )
    a = analyze(net, (3, 20, 24))
    assert [r.receptive_field for r in a.layers] == [[3, 3], [5, 5], [7, 7]]
    assert all(r.rf_exact and r.jump == [1, 1] for r in a.layers)
    assert assert_engine_matches_measurement(net, (3, 20, 24), ["0", "1", "2"]) == 3
    # dilation and asymmetric padding: 3 + 2·(5 − 1) = 11 rows, 3 + 1·(3 − 1) = 5 columns
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ConvTranspose2d(4, 4, (5, 3), padding=(1, 2), dilation=(2, 1))
    )
    assert analyze(net, (3, 24, 24)).layers[1].receptive_field == [11, 5]
    assert assert_engine_matches_measurement(net, (3, 24, 24), ["0", "1"]) == 2


@pytest.mark.parametrize("kernel, stride, padding", [(4, 2, 1), (2, 2, 0), (3, 2, 1), (5, 3, 2)])
def test_strided_transposed_conv_is_an_upper_bound_that_holds_every_unit(kernel, stride, padding):
    # With stride > 1 the output units differ (the taps reaching unit o depend on o mod stride): the engine must
    # not call its number exact, and its box (centre + y·jump, size rf) must hold what each unit really sees.
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ConvTranspose2d(4, 4, kernel, stride, padding), nn.Conv2d(4, 4, 3, padding=1)
    )
    shape = (3, 24, 24)
    a = analyze(net, shape)
    lin = linearize(net)
    x = (torch.rand(1, *shape, dtype=torch.float64) + 0.5).requires_grad_(True)
    outs = [lin[0](x)]
    outs += [lin[1](outs[-1])]
    outs += [lin[2](outs[-1])]
    for record, o in zip(a.layers[1:], outs[1:]):
        assert not record.rf_exact and record.rf_display.startswith("≤")
        assert record.jump == [pytest.approx(1 / stride)] * 2
        largest = 0
        for y in range(6 * stride, 8 * stride):  # two periods of units, clear of the border
            extent, _, inside, (r0, c0, r1, c1) = unit_support(o, x, y, y)
            assert inside
            largest = max(largest, extent[0])
            top, left, bottom, right = unit_field(record, y, y)
            assert top <= r0 and left <= c0 and bottom >= r1 and right >= c1, (record.name, y)
        assert largest <= record.receptive_field[0] <= largest + 2  # a bound, and a close one


def test_flip_along_width_puts_unit_0_at_the_far_edge_with_a_negative_jump():
    class Flipped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3)
            self.b = nn.Conv2d(4, 4, 3)

        def forward(self, x):
            return self.b(torch.flip(self.a(x), dims=[3]))

    a = analyze(Flipped(), (3, 16, 20))
    # By hand: conv a (3×3, no padding) maps column i to centre i + 1; the flipped map's unit 0 is a's last
    # column, 20 − 3, centred at 18; conv b's unit 0 then sits one step further along the reversed grid: 17.
    b = a.layer("b")
    assert b.receptive_field == [5, 5] and b.jump == [1, -1] and b.rf_center == [2.0, 17.0]
    torch.manual_seed(0)
    assert assert_engine_matches_measurement(Flipped(), (3, 16, 20), ["a", "b"]) == 2


def test_channels_last_blocks_convnext_style_match_measurement():
    # ConvNeXt's block permutes to (N, H, W, C), applies LayerNorm and two Linear layers per position (a view
    # to (H·W, C) and back inside), then permutes back and adds the shortcut: every step keeps positions.
    from torchvision.models.convnext import CNBlock, LayerNorm2d

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 4, stride=4),
        LayerNorm2d(8),
        CNBlock(8, 1.0, 0.0),
        CNBlock(8, 1.0, 0.0),
        LayerNorm2d(8),
        nn.Conv2d(8, 16, 2, stride=2),
        CNBlock(16, 1.0, 0.0),
    )
    a = analyze(net, (3, 160, 192))
    assert not a.notes  # no folded linear reported as a batch change, nothing unknown
    names = ["0", "2.block.0", "2.block.6", "3.block.6", "5", "6.block.6"]  # (N, C, H, W) outputs: measurable
    assert assert_engine_matches_measurement(net, (3, 160, 192), names) == len(names)
    # the per-position layers in between (channels-last records) keep the depthwise conv's field
    for name in ("2.block.1", "2.block.2", "2.block.3", "2.block.4", "2.block.5"):
        assert a.layer(name).receptive_field == a.layer("2.block.0").receptive_field == [4 + 24] * 2
    # by hand: stem 4, +6·4 per 7×7 depthwise conv at jump 4 (two blocks), ×2 downsample (+4), +6·8
    assert a.layer("6.block.6").receptive_field == [4 + 2 * 24 + 4 + 48] * 2


def test_mobilenet_v2_depthwise_separable_blocks_match_measurement():
    # Inverted residuals: 1×1 expand, 3×3 depthwise (stride 1 or 2), 1×1 project, shortcut add when shapes match.
    torch.manual_seed(0)
    features = torchvision.models.mobilenet_v2().features
    # stem conv; depthwise convs at stride 1 and 2; the first conv after blocks that end in a shortcut add
    names = ["0.0", "1.conv.0.0", "2.conv.1.0", "3.conv.1.0", "4.conv.0.0", "7.conv.1.0", "11.conv.0.0"]
    checked = assert_engine_matches_measurement(features, (3, 224, 240), names, stop_at=names[-1])
    assert checked == len(names)
