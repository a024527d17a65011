"""The analysis engine: per-call records agree with torchinfo, breakdowns with hand counts, errors are one line."""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser

import pytest
import torch
import torchinfo
import torchvision
from torch import nn

import zoo
from visualizer import report
from visualizer.analysis import AnalysisError, analyze, analyze_model, parse_input_shape


def _meta(builder, *args, **kwargs):
    with torch.device("meta"):
        return builder(*args, **kwargs)


def _torchinfo_leaf_calls(model: nn.Module, shape: tuple[int, ...]):
    s = torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu")
    leaves = [(li.class_name, li.output_size, li.macs) for li in s.summary_list if li.is_leaf_layer and li.executed]
    return s, leaves


@pytest.mark.parametrize(
    "name, shape",
    [
        ("alexnet_cifar", None),
        ("resnet18_cifar", None),  # functional adds, empty nn.Sequential shortcuts (leaves that return their input)
        ("vgg_bn:16,M,32,32,M", (3, 40, 24)),
    ],
)
def test_zoo_models_agree_with_torchinfo_layer_by_layer(name, shape):
    torch.manual_seed(0)
    model = zoo.create_model(name)
    shape = shape or zoo.get_spec(name).input_size
    s, leaves = _torchinfo_leaf_calls(model, shape)
    a = analyze(model, shape)
    assert [(r.type, r.output_shape, r.macs) for r in a.layers] == leaves
    assert (a.total_macs, a.total_params, a.trainable_params) == (s.total_mult_adds, s.total_params, s.trainable_params)


def test_reused_relu_recorded_per_call_and_totals_agree_on_non_square_input():
    model = torchvision.models.resnet18()
    for p in model.layer1.parameters():  # frozen part: trainable and total must differ, as in torchinfo
        p.requires_grad_(False)
    s, leaves = _torchinfo_leaf_calls(model, (3, 64, 80))
    a = analyze(model, (3, 64, 80))
    assert [(r.type, r.output_shape, r.macs) for r in a.layers] == leaves
    assert (a.total_macs, a.total_params, a.trainable_params) == (s.total_mult_adds, s.total_params, s.trainable_params)
    # torchvision's BasicBlock calls self.relu twice: two records, never merged
    calls = [r.call_index for r in a.layers if r.name == "layer2.1.relu"]
    assert calls == [0, 1]
    assert a.layer("layer1.0.conv1").trainable_params == 0 and a.layer("layer1.0.conv1").params == 64 * 64 * 9


def test_caller_model_is_not_moved_changed_or_left_hooked():
    model = zoo.create_model("resnet18_cifar")
    model.train()
    model.layer1.eval()
    before = {n: (p.device, p.detach().clone()) for n, p in model.state_dict().items()}
    analyze(model, (3, 32, 32))
    after = model.state_dict()
    assert all(after[n].device == d and torch.equal(after[n], v) for n, (d, v) in before.items())
    assert model.training and not model.layer1.training and model.layer2.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_record_fields_and_json():
    a = analyze_model("alexnet_cifar")
    conv = a.layer("features.0")
    assert conv.input_shape == [1, 3, 32, 32] and conv.output_shape == [1, 64, 30, 30]
    assert (conv.kernel, conv.stride, conv.padding, conv.dilation) == ([3, 3], [1, 1], [0, 0], [1, 1])
    assert conv.params == 3 * 64 * 9 + 64 and conv.param_share == pytest.approx(conv.params / a.total_params)
    assert conv.activation_bytes == 64 * 30 * 30 * 4
    assert conv.receptive_field == [3, 3] and conv.jump == [1, 1] and conv.rf_center == [1.0, 1.0]
    d = json.loads(json.dumps(a.to_dict()))
    assert {
        "model",
        "input_shape",
        "total_params",
        "trainable_params",
        "total_macs",
        "params_by_type",
        "layers",
    } <= set(d)
    for key in (
        "name",
        "type",
        "input_shape",
        "output_shape",
        "kernel",
        "stride",
        "padding",
        "dilation",
        "params",
        "trainable_params",
        "param_share",
        "macs",
        "activation_bytes",
        "receptive_field",
        "jump",
        "rf_center",
        "rf_display",
        "call_index",
    ):
        assert key in d["layers"][0], key
    assert d["layers"][-1]["rf_display"] == "whole input"
    assert report.table_rows(a)[0]["Receptive field"] == "3×3"


def test_alexnet_conv_vs_fc_split_is_exact():
    a = analyze_model("alexnet")
    # By hand, from the architecture (the course notes' sum has a typo; these are exact):
    conv = (
        (3 * 64 * 11 * 11 + 64)
        + (64 * 192 * 5 * 5 + 192)
        + (192 * 384 * 9 + 384)
        + (384 * 256 * 9 + 256)
        + (256 * 256 * 9 + 256)
    )
    fc = (256 * 6 * 6 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    split = a.conv_fc_split()
    assert (split["conv_params"], split["fc_params"]) == (conv, fc) and a.total_params == conv + fc
    assert split["fc_to_conv_params"] == pytest.approx(fc / conv)
    assert a.params_by_type() == {
        "Conv2d": conv,
        "ReLU": 0,
        "MaxPool2d": 0,
        "AdaptiveAvgPool2d": 0,
        "Dropout": 0,
        "Linear": fc,
    }
    assert a.params_by_block() == {"features": conv, "avgpool": 0, "classifier": fc}


def test_vgg16_lesson_fc_holds_params_convs_do_the_work():
    a = analyze_model("vgg16")
    fc = (512 * 7 * 7 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    split = a.conv_fc_split()
    assert split["fc_params"] == fc and split["conv_params"] == a.total_params - fc
    assert split["fc_macs"] == fc  # one multiply-add per weight (and bias) at batch 1
    assert split["conv_macs"] > 100 * split["fc_macs"]
    assert sum(a.macs_by_type().values()) == sum(a.macs_by_block().values()) == a.total_macs


@pytest.mark.parametrize("name", ["alexnet", "resnet18_cifar"])  # ResNet's ReLUs are called more than once
def test_to_dict_breakdowns_in_one_walk_equal_the_five_methods(name):
    a = analyze_model(name)
    d = a.to_dict()
    for method in ("params_by_type", "macs_by_type", "params_by_block", "macs_by_block", "conv_fc_split"):
        got, want = d[method], getattr(a, method)()
        assert got == want and list(got) == list(want), method  # same keys in the same order


def test_record_and_join_exports_copy_their_lists():
    a = analyze_model("resnet18_cifar")
    r, j = a.layers[1], a.joins[0]
    d, dj = r.to_dict(), j.to_dict()
    assert d == {**dataclasses.asdict(r), "rf_display": r.rf_display}
    assert dj == {**dataclasses.asdict(j), "key": j.key}
    assert d["input_shape"] is not r.input_shape and dj["inputs"][0] is not j.inputs[0]
    r = dataclasses.replace(r)  # a copy: analyze_model's analyses are shared
    r.note = "an attribute added to a record"  # not a field: left out, the fields still all there
    assert r.to_dict() == d


def test_resnet_stage_breakdown_matches_module_parameters():
    model = _meta(torchvision.models.resnet34)
    a = analyze(model, (3, 224, 224))
    by_block = a.params_by_block()
    for stage in ("layer1", "layer2", "layer3", "layer4", "fc"):
        assert by_block[stage] == sum(p.numel() for p in model.get_submodule(stage).parameters())
    assert sum(by_block.values()) == a.total_params


def test_vgg19_at_2048_is_shape_only():
    a = analyze_model("vgg19", (3, 2048, 2048))
    # Five 2×2 pools: 2048 / 32 = 64. Field of pool5 by the recurrence, done here by hand:
    r, j = 1, 1
    for convs in (2, 2, 4, 4, 4):
        r += convs * 2 * j  # 3×3 convs
        r += j  # 2×2 pool
        j *= 2
    pool5 = a.layer("features.36")
    assert pool5.output_shape == [1, 512, 64, 64] and pool5.receptive_field == [r, r] and pool5.jump == [32, 32]
    assert pool5.activation_bytes == 512 * 64 * 64 * 4


# ---------------------------------------------------------------------------------------------------------
# Bad input: one clear line


def _error(fn, *args) -> str:
    with pytest.raises(AnalysisError) as info:
        fn(*args)
    msg = str(info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def _alexnet_side(n: int) -> int:
    """torchvision AlexNet's spatial size after features, from its layer arithmetic."""
    n = (n + 2 * 2 - 11) // 4 + 1  # conv1 11/4 pad 2
    n = (n - 3) // 2 + 1  # pool 3/2
    n = (n - 3) // 2 + 1  # conv2 keeps the size; pool 3/2
    return (n - 3) // 2 + 1  # conv3-5 keep it; pool 3/2


def test_too_small_names_first_empty_layer_and_smallest_size():
    msg = _error(analyze_model, "vgg16", (3, 16, 16))
    assert "features.30 (MaxPool2d)" in msg and "3x32x32" in msg  # five 2×2 pools need 2**5 pixels
    smallest = next(n for n in range(1, 300) if _alexnet_side(n) >= 1)
    msg = _error(analyze_model, "alexnet", (3, smallest - 1, smallest - 1))
    assert f"3x{smallest}x{smallest}" in msg and "too small" in msg
    msg = _error(analyze_model, "vgg16", (3, 31, 400))  # only one side too small
    assert "3x32x400" in msg


def test_fixed_head_mismatch_names_layer_features_and_design_size():
    msg = _error(analyze_model, "alexnet_cifar", (3, 64, 64))
    # at 64: conv 3 → 62, pool → 31, pool → 15, pool → 7; the head wants the 3×3 map of a 32×32 input
    assert "classifier.1 (Linear)" in msg and str(256 * 3 * 3) in msg and str(256 * 7 * 7) in msg
    assert "3x32x32" in msg


def test_reshape_that_changes_the_batch_is_flagged():
    class ViewHead(nn.Module):  # the notes' old ``x.view(-1, 16 * 4 * 4)``
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1)
            self.pool = nn.MaxPool2d(8)
            self.fc = nn.Linear(16 * 4 * 4, 10)

        def forward(self, x):
            return self.fc(self.pool(self.conv(x)).view(-1, 16 * 4 * 4))

    assert analyze(ViewHead(), (3, 32, 32)).output_shape == [1, 10]
    msg = _error(analyze, ViewHead(), (3, 64, 64))
    assert "batch" in msg and "[4, 256]" in msg


def test_wrong_channels_unknown_names_and_malformed_sizes():
    msg = _error(analyze_model, "resnet18", (1, 224, 224))
    assert "1 channel" in msg and "conv1" in msg and "3x224x224" in msg
    msg = _error(analyze_model, "resnet5", None)
    assert "resnet50" in msg and "vgg16" in msg  # lists valid names
    for bad in ("3x0x224", "-3x224x224", "3x224x", "abc", "3x224x224x5", "3x100000x100000"):
        _error(parse_input_shape, bad)
    _error(analyze_model, "vgg16", (3, 224))
    _error(analyze_model, "vgg16", (3.0, 224, 224))


def test_parse_input_shape_forms():
    assert parse_input_shape("3x224x224") == (3, 224, 224)
    assert parse_input_shape("224") == (3, 224, 224)
    assert parse_input_shape("224x160") == (3, 224, 160)
    assert parse_input_shape("1, 28, 28") == (1, 28, 28)
    assert parse_input_shape("3×32×32") == (3, 32, 32)


def test_half_precision_model_gets_a_half_input():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).half()
    a = analyze(model, (3, 10, 12))
    assert a.layers[0].output_shape == [1, 8, 8, 10] and a.layers[0].activation_bytes == 8 * 8 * 10 * 2


# ---------------------------------------------------------------------------------------------------------
# Trainable parameters per record, and the two MAC conventions


def test_trainable_params_per_record_come_from_the_real_parameters():
    a = analyze(torchvision.models.alexnet(), (3, 224, 224))
    assert a.layer("features.0").trainable_params == 64 * 3 * 11 * 11 + 64 == 23_296
    model = torchvision.models.resnet18()
    for p in model.layer2.parameters():
        p.requires_grad_(False)
    model.fc.bias.requires_grad_(False)
    a = analyze(model, (3, 64, 64))
    for r in a.layers:  # the truth, read straight off the module the record names
        module = model.get_submodule(r.name)
        assert r.trainable_params == sum(p.numel() for p in module.parameters() if p.requires_grad), r.name
    assert a.layer("layer2.0.conv1").trainable_params == 0 and a.layer("fc").trainable_params == 512 * 1000
    assert sum(r.trainable_params for r in a.layers if r.call_index == 0) == a.trainable_params


def test_textbook_macs_are_weights_times_positions():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 3, stride=2, padding=1)  # 16×20 → 8×10
            self.dw = nn.Conv2d(8, 8, 5, padding=2, groups=8)  # depthwise: C_in/g = 1
            self.bn = nn.BatchNorm2d(8)
            self.up = nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1, groups=2)  # 8×10 → 16×20
            self.per_position = nn.Linear(6, 12)  # on (1, 16, 20, 6): one row per position
            self.head = nn.Linear(12, 3)

        def forward(self, x):
            x = self.up(self.bn(self.dw(self.conv(x))))
            x = self.per_position(x.permute(0, 2, 3, 1))
            return self.head(x.mean((1, 2)))

    a = analyze(Mixed(), (4, 16, 20))
    expected = {
        "conv": 3 * 3 * 4 * 8 * 8 * 10,
        "dw": 5 * 5 * 1 * 8 * 8 * 10,
        "bn": 0,
        "up": 4 * 4 * (8 // 2) * 6 * 8 * 10,  # every input pixel meets k·k·C_out/g weights of its group, C_in of them
        "per_position": 6 * 12 * 16 * 20,
        "head": 12 * 3,
    }
    assert {r.name: r.textbook_macs for r in a.layers} == expected
    assert (
        a.total_textbook_macs == sum(expected.values()) and a.to_dict()["total_textbook_macs"] == a.total_textbook_macs
    )
    s, _ = _torchinfo_leaf_calls(Mixed(), (4, 16, 20))
    assert a.total_macs == s.total_mult_adds  # the other convention is still torchinfo's


def test_vgg16_textbook_macs_by_hand():
    a = analyze_model("vgg16")
    convs, c_in, side = 0, 3, 224
    for v in torchvision.models.vgg.cfgs["D"]:
        if v == "M":
            side //= 2
        else:
            convs += 3 * 3 * c_in * v * side * side
            c_in = v
    fc = 512 * 7 * 7 * 4096 + 4096 * 4096 + 4096 * 1000
    assert a.total_textbook_macs == convs + fc == 15_470_264_320
    assert (
        a.total_macs - a.total_textbook_macs
        == sum(r.output_shape[1] * r.output_shape[2] * r.output_shape[3] for r in a.layers if r.type == "Conv2d")
        + 4096
        + 4096
        + 1000
    )


# ---------------------------------------------------------------------------------------------------------
# A smallest-size hint is a size that runs


def _forward_runs(model: nn.Module, side: int) -> bool:
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, side, side))
        return True
    except RuntimeError:
        return False


def test_smallest_size_hint_runs_in_a_real_forward_head_included():
    model = zoo.create_model("alexnet_cifar")
    msg = _error(analyze, model, (3, 8, 8))
    side = int(msg.rsplit("smallest input that works is 3x", 1)[1].split("x")[0])
    assert msg.endswith(f"3x{side}x{side}")
    assert _forward_runs(model, side) and not _forward_runs(model, side - 1)
    # the same through the zoo (which knows the design size)
    assert f"3x{side}x{side}" in _error(analyze_model, "alexnet_cifar", (3, 8, 8))


def test_a_head_no_input_size_fits_gets_no_made_up_size():
    class Odd(nn.Module):  # 1 channel × (n − 2)² features can never be 7
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3)
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(7, 2)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(self.conv(x)), 1))

    msg = _error(analyze, Odd(), (3, 3, 3))
    assert "too small" in msg and "smallest input that works" not in msg and "exact input size" in msg
    assert not any(_forward_runs(Odd(), n) for n in range(4, 40))


def test_forward_that_needs_more_than_one_tensor_is_refused_clearly():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x, mask):
            return self.conv(x) * mask

    msg = _error(analyze, TwoInputs(), (3, 16, 16))
    assert "x, mask" in msg and "one image tensor" in msg

    class Optional(nn.Module):  # a second argument with a default is fine
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x, scale: float = 1.0):
            return self.conv(x) * scale

    assert analyze(Optional(), (3, 16, 16)).output_shape == [1, 4, 14, 14]


# ---------------------------------------------------------------------------------------------------------
# In a notebook and in print()


class _Cells(HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.open_tags, self.svg = 0, [], 0

    def handle_starttag(self, tag, attrs):
        if tag == "tr" and "tbody" in self.open_tags:
            self.rows += 1
        self.svg += tag == "svg"
        if tag not in ("br", "img"):
            self.open_tags.append(tag)

    def handle_endtag(self, tag):
        assert self.open_tags and self.open_tags[-1] == tag, (tag, self.open_tags[-3:])
        self.open_tags.pop()


def test_repr_html_shows_totals_the_diagram_and_every_layer_escaped():
    a = analyze(zoo.create_model("alexnet_cifar"), (3, 32, 32), model_name="<AlexNet & co>")
    page = a._repr_html_()
    parser = _Cells()
    parser.feed(page)
    assert parser.open_tags == [] and parser.rows == len(a.layers) and parser.svg >= 1
    assert page.index("<svg") < page.index("<thead>")  # the diagram is drawn above the table
    # every conv and linear layer drawn as a box of its own, named as in the table
    assert {f'data-layer="{r.key}"' for r in a.layers if r.kind in ("conv", "linear")} <= set(
        re.findall(r'data-layer="[^"]+"', page)
    )
    assert "&lt;AlexNet &amp; co&gt;" in page and "<AlexNet" not in page
    for text in (
        f"{a.total_params:,}",
        f"{a.total_macs:,}",
        f"{a.total_textbook_macs:,}",
        "MACs (torchinfo)",
        "MACs (weights only)",
        "features.0",
        "classifier.6",
    ):
        assert text in page, text


def test_an_analysis_made_by_hand_prints_its_repr_without_a_presenter():
    a = analyze_model("alexnet_cifar")
    bare = dataclasses.replace(a, presenter=None)
    assert str(bare) == repr(a) and bare._repr_html_() is None and str(a) != repr(a)


def test_print_gives_the_cli_table():
    a = analyze_model("vgg:8,M,16", (3, 48, 48))
    text = str(a)
    assert text.splitlines()[0] == "vgg:8,M,16 at input 3x48x48 (designed for 3x32x32)"
    assert f"{a.total_params:,}" in text and f"Total MACs:          {a.total_macs:,}" in text
    assert f"Textbook MACs:       {a.total_textbook_macs:,}" in text
    assert len(repr(a)) < 200 and "vgg:8,M,16" in repr(a)


# ---------------------------------------------------------------------------------------------------------
# torchvision classifiers by name


@pytest.mark.parametrize(
    "name",
    [
        "tv:mobilenet_v2",
        "tv:efficientnet_b0",
        "tv:densenet121",
        "tv:googlenet",
        "tv:convnext_tiny",
        "tv:inception_v3",
        "tv:vit_b_32",
    ],
)
def test_tv_models_agree_with_torchinfo_and_a_real_forward(name):
    torch.manual_seed(0)
    model = zoo.create_model(name).eval()
    side = 224 if name == "tv:vit_b_32" else 80  # a ViT's position embedding fixes its size; the CNNs go small
    s, leaves = _torchinfo_leaf_calls(model, (3, side, side))
    a = analyze(model, (3, side, side))
    assert [(r.type, r.output_shape, r.macs) for r in a.layers] == leaves
    assert (a.total_macs, a.total_params, a.trainable_params) == (s.total_mult_adds, s.total_params, s.trainable_params)
    with torch.no_grad():
        assert a.output_shape == list(model(torch.zeros(1, 3, side, side)).shape) == [1, 1000]


@pytest.mark.parametrize(
    "name", ["tv:mobilenet_v2", "tv:efficientnet_b0", "tv:densenet121", "tv:googlenet", "tv:convnext_tiny"]
)
def test_tv_models_by_name_at_their_design_size(name):
    spec = zoo.get_spec(name)
    a = analyze_model(name)
    assert a.model_name == name and a.input_shape == spec.input_size and a.output_shape == [1, 1000]
    assert a.total_params == spec.weights.meta["num_params"]
    assert not any(r.rf_display == "unknown" for r in a.layers)  # CNNs: every field followed (or whole input)
    # the classifier sees everything; nothing after global pooling claims a window
    assert a.layers[-1].rf_display == "whole input"


def test_vision_transformer_is_honest_about_what_it_cannot_follow():
    a = analyze_model("tv:vit_b_16")
    patches = a.layer("conv_proj")
    assert patches.receptive_field == [16, 16] and patches.jump == [16, 16] and patches.rf_exact
    after = a.layers[a.layers.index(patches) + 1 :]
    assert after and all(r.rf_display == "unknown" for r in after)
    assert any("unknown" in note for note in a.notes) and not any("batch" in note for note in a.notes)


def test_builders_that_compute_while_building_still_go_on_meta():
    # RegNet derives its widths with tensor arithmetic and .tolist(), which torch.device("meta") cannot do;
    # the analysis then builds it with parameters moved to meta as they are registered.
    spec = zoo.get_spec("tv:regnet_y_400mf")
    a = analyze_model("tv:regnet_y_400mf")
    assert a.total_params == spec.weights.meta["num_params"] and a.output_shape == [1, 1000]
    assert all(not p.is_meta for p in nn.Linear(2, 2).parameters())  # the patch is gone afterwards


def test_ten_kilobytes_of_digits_or_junk_as_an_input_size_get_a_short_clear_message():
    with pytest.raises(AnalysisError) as err:
        parse_input_shape("9" * 10_000)  # not "Exceeds the limit (4300 digits) for integer string conversion"
    message = str(err.value)
    assert "has a 10,000-digit number; every side is at most 65536 pixels" in message and len(message) < 250
    with pytest.raises(AnalysisError) as err:
        parse_input_shape("3x" + "ab" * 5_000)
    message = str(err.value)
    assert "is not understood; write CxHxW" in message and "(10,002 characters)" in message and len(message) < 250
    assert parse_input_shape("0003x224x224") == (3, 224, 224)  # leading zeros are no size


@pytest.mark.parametrize("name, smallest", [("vgg16", 32), ("alexnet_cifar", 26), ("resnet18_cifar", 25)])
def test_the_too_small_hint_names_the_real_smallest_size_of_that_model(name, smallest):
    with pytest.raises(AnalysisError) as err:
        analyze_model(name, (3, 1, 1))
    assert str(err.value).endswith(f"the smallest input that works is 3x{smallest}x{smallest}")
    # checked independently: one pixel less fails, that size works
    analyze_model(name, (3, smallest, smallest))
    with pytest.raises(AnalysisError):
        analyze_model(name, (3, smallest - 1, smallest - 1))


def test_resnet18_takes_a_one_pixel_input_and_says_nothing_about_sizes():
    a = analyze_model("resnet18", (3, 1, 1))  # every stride-2 layer pads: 1 → 1 all the way down
    assert a.output_shape == [1, 1000] and all(r.output_shape[-1] == 1 for r in a.layers if len(r.output_shape) == 4)
