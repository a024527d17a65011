"""The analysis engine: per-call records agree with torchinfo, breakdowns with hand counts, errors are one line."""
from __future__ import annotations

import json

import pytest
import torch
import torchinfo
import torchvision
from torch import nn

import zoo
from visualizer.analysis import AnalysisError, analyze, analyze_model, parse_input_shape


def _meta(builder, *args, **kwargs):
    with torch.device("meta"):
        return builder(*args, **kwargs)


def _torchinfo_leaf_calls(model: nn.Module, shape: tuple[int, ...]):
    s = torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu")
    leaves = [(li.class_name, li.output_size, li.macs) for li in s.summary_list if li.is_leaf_layer and li.executed]
    return s, leaves


@pytest.mark.parametrize("name, shape", [
    ("alexnet_cifar", None),
    ("resnet18_cifar", None),  # functional adds, empty nn.Sequential shortcuts (leaves that return their input)
    ("vgg_bn:16,M,32,32,M", (3, 40, 24)),
])
def test_zoo_models_agree_with_torchinfo_layer_by_layer(name, shape):
    torch.manual_seed(0)
    model = zoo.create_model(name)
    shape = shape or zoo.get_spec(name).input_size
    s, leaves = _torchinfo_leaf_calls(model, shape)
    a = analyze(model, shape)
    assert [(r.type, r.output_shape, r.macs) for r in a.layers] == leaves
    assert (a.total_macs, a.total_params, a.trainable_params) == (s.total_mult_adds, s.total_params,
                                                                     s.trainable_params)


def test_reused_relu_recorded_per_call_and_totals_agree_on_non_square_input():
    model = torchvision.models.resnet18()
    for p in model.layer1.parameters():  # frozen part: trainable and total must differ, as in torchinfo
        p.requires_grad_(False)
    s, leaves = _torchinfo_leaf_calls(model, (3, 64, 80))
    a = analyze(model, (3, 64, 80))
    assert [(r.type, r.output_shape, r.macs) for r in a.layers] == leaves
    assert (a.total_macs, a.total_params, a.trainable_params) == (s.total_mult_adds, s.total_params,
                                                                     s.trainable_params)
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
    assert {"model", "input_shape", "total_params", "trainable_params", "total_macs", "params_by_type",
            "layers"} <= set(d)
    for key in ("name", "type", "input_shape", "output_shape", "kernel", "stride", "padding", "dilation", "params",
                "trainable_params", "param_share", "macs", "activation_bytes", "receptive_field", "jump",
                "rf_center", "rf_display", "call_index"):
        assert key in d["layers"][0], key
    assert d["layers"][-1]["rf_display"] == "whole input"
    assert a.table_rows()[0]["Receptive field"] == "3×3"


def test_alexnet_conv_vs_fc_split_is_exact():
    a = analyze_model("alexnet")
    # By hand, from the architecture (the course notes' sum has a typo; these are exact):
    conv = (3 * 64 * 11 * 11 + 64) + (64 * 192 * 5 * 5 + 192) + (192 * 384 * 9 + 384) + (384 * 256 * 9 + 256) \
        + (256 * 256 * 9 + 256)
    fc = (256 * 6 * 6 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    split = a.conv_fc_split()
    assert (split["conv_params"], split["fc_params"]) == (conv, fc) and a.total_params == conv + fc
    assert split["fc_to_conv_params"] == pytest.approx(fc / conv)
    assert a.params_by_type() == {"Conv2d": conv, "ReLU": 0, "MaxPool2d": 0, "AdaptiveAvgPool2d": 0, "Dropout": 0,
                                  "Linear": fc}
    assert a.params_by_block() == {"features": conv, "avgpool": 0, "classifier": fc}


def test_vgg16_lesson_fc_holds_params_convs_do_the_work():
    a = analyze_model("vgg16")
    fc = (512 * 7 * 7 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)
    split = a.conv_fc_split()
    assert split["fc_params"] == fc and split["conv_params"] == a.total_params - fc
    assert split["fc_macs"] == fc  # one multiply-add per weight (and bias) at batch 1
    assert split["conv_macs"] > 100 * split["fc_macs"]
    assert sum(a.macs_by_type().values()) == sum(a.macs_by_block().values()) == a.total_macs


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
