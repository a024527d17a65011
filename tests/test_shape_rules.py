"""Shape rules (``visualizer.analysis.shape_rules``): the same records as running every meta kernel, and output
shapes equal to what the real layers compute on real tensors."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import zoo
from visualizer.analysis import AnalysisError, analyze, meta_model
from visualizer.analysis.shape_rules import RULES, install_rules, uninstall_rules
from visualizer.receptive_field import FieldTracker, input_field


def _both(model: nn.Module, shape) -> tuple[dict, dict]:
    return analyze(model, shape, shape_rules=False).to_dict(), analyze(model, shape, shape_rules=True).to_dict()


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_zoo_model_gets_the_same_records_with_and_without_rules(name):
    spec = zoo.get_spec(name)
    without, with_rules = _both(meta_model(name), spec.input_size)
    assert with_rules == without
    assert len(with_rules["layers"]) > 5


@pytest.mark.parametrize(
    "name, shape",
    [
        ("tv:mobilenet_v3_small", (3, 224, 224)),  # Hardswish, SE blocks (adaptive pool + scale), ceil-free pools
        ("tv:efficientnet_b0", (3, 224, 224)),  # SiLU, stochastic depth, depthwise convs (groups)
        ("tv:squeezenet1_0", (3, 224, 224)),  # MaxPool2d(ceil_mode=True), cat of branches
        ("tv:densenet121", (3, 96, 96)),  # AvgPool2d transitions, functional cat
        ("tv:regnet_x_400mf", (3, 160, 160)),  # grouped convs
        ("tv:convnext_tiny", (3, 64, 64)),  # channels-last blocks: LayerNorm, permutes, linear on 4-D (falls back)
        ("resnet18", (3, 37, 53)),  # odd sizes: pools and strides that do not divide
        ("vgg16", (3, 32, 32)),  # the adaptive pool upsamples a 1×1 map to 7×7 (non-divisor windows)
    ],
)
def test_torchvision_models_and_odd_sizes_get_the_same_records(name, shape):
    without, with_rules = _both(meta_model(name), shape)
    assert with_rules == without


def test_a_real_model_on_cpu_gets_the_same_records_and_keeps_its_weights():
    model = zoo.create_model("resnet18_cifar")
    model.layer1[0].conv1.weight.requires_grad_(False)  # frozen: counted from the real parameters
    before = {n: t.clone() for n, t in model.state_dict().items()}
    without, with_rules = _both(model, (3, 32, 32))
    assert with_rules == without
    assert with_rules["trainable_params"] == with_rules["total_params"] - 64 * 64 * 9
    after = model.state_dict()
    assert all(not t.is_meta and torch.equal(t, before[n]) for n, t in after.items())
    assert all(not any(k == "forward" for k in m.__dict__) for m in model.modules())  # the rules are taken off


class _Odd(nn.Module):
    """Layers the rules cover, at settings where they are easy to get wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(3, 8, (3, 5), stride=(2, 1), padding=(1, 2), dilation=(1, 2)),
            nn.BatchNorm2d(8),
            nn.ReLU6(inplace=True),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=4, bias=False),
            nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True),
            nn.LeakyReLU(0.1),
            nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False),
            nn.Conv2d(16, 16, 1, padding_mode="reflect"),  # not a rule: runs its own forward
            nn.AdaptiveAvgPool2d((3, 2)),
            nn.Dropout(0.5),
            nn.Flatten(),
            nn.Linear(16 * 3 * 2, 10, bias=False),
            nn.Identity(),
            nn.GELU(),
        )

    def forward(self, x):
        return self.layers(x)


@pytest.mark.parametrize("shape", [(3, 29, 31), (3, 8, 8), (3, 64, 17)])
def test_odd_geometries_give_the_same_records(shape):
    without, with_rules = _both(_Odd(), shape)
    assert with_rules == without


@pytest.mark.parametrize("shape", [(3, 2, 2), (1, 64, 64), (3, 1, 1)])
def test_failures_give_the_same_message_with_and_without_rules(shape):
    model = zoo.create_model("alexnet_cifar") if shape[0] == 1 else _Odd()
    messages = []
    for rules in (False, True):
        with pytest.raises(AnalysisError) as err:
            analyze(model, shape, shape_rules=rules)
        messages.append(str(err.value))
    assert messages[0] == messages[1]


@pytest.mark.parametrize(
    "k, s, p, d, ceil, n", list(itertools.product((1, 2, 3), (1, 2, 3), (0, 1), (1, 2), (False, True), (5, 6, 7)))
)
def test_pool_and_conv_shapes_match_real_layers_on_cpu(k, s, p, d, ceil, n):
    """Each rule's output shape against the real layer on a real tensor (the kernels themselves, not meta)."""
    x = torch.zeros(1, 2, n, n + 1)
    cases = [nn.MaxPool2d(k, s, p, d, ceil_mode=ceil), nn.AvgPool2d(k, s, p, ceil_mode=ceil)]
    if not ceil:
        cases.append(nn.Conv2d(2, 4, k, s, p, d))
    for layer in cases:
        try:
            real = list(layer(x).shape)
        except RuntimeError:
            real = None  # the layer refuses: the rule must not answer either
        tracker = FieldTracker()
        xm = torch.empty(1, 2, n, n + 1, device="meta")
        tracker.track(xm, input_field(2))
        meta_layer = layer.to("meta")
        with tracker:
            out = RULES[type(layer)](meta_layer, xm, tracker)
        assert (list(out.shape) if out is not None else None) == real, layer


def test_rules_cover_the_stock_classes_only():
    class MyConv(nn.Conv2d):  # a subclass may compute something else: it runs its own forward
        def forward(self, x):
            return super().forward(x)[:, :, ::2]

    convs = [nn.Conv2d(3, 4, 3), MyConv(3, 4, 3)]
    ruled = install_rules(convs, FieldTracker())
    try:
        assert ruled == convs[:1]
        assert "forward" in convs[0].__dict__ and "forward" not in convs[1].__dict__
    finally:
        uninstall_rules(ruled)
    assert "forward" not in convs[0].__dict__
    a = analyze(nn.Sequential(MyConv(3, 4, 3)), (3, 8, 8))
    assert a.layers[0].output_shape == [1, 4, 3, 6]


def test_a_models_own_hooks_run_before_the_records_are_taken():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    handle = model[0].register_forward_pre_hook(lambda m, args: (args[0][:, :, ::2, ::2],))  # halves the input
    try:
        a = analyze(model, (3, 32, 32))
    finally:
        handle.remove()
    assert a.layers[0].input_shape == [1, 3, 16, 16] and a.layers[0].output_shape == [1, 4, 14, 14]
    assert analyze(model, (3, 32, 32)).layers[0].output_shape == [1, 4, 30, 30]  # ours came off with the pass
    assert all("forward" not in m.__dict__ for m in model.modules())


@pytest.mark.parametrize("name", ["resnet18", "vgg11_bn", "tv:googlenet", "tv:densenet121", "tv:vit_b_16"])
def test_wrapped_forwards_give_the_same_records_as_hooks(name):
    """The pass wraps each module's forward unless a module has hooks of its own; then it hooks every module.
    A do-nothing hook on the root takes the second way: the records must not tell them apart."""
    model, shape = meta_model(name), zoo.get_spec(name).input_size
    wrapped = analyze(model, shape).to_dict()
    handle = model.register_forward_hook(lambda *args: None)
    try:
        hooked = analyze(model, shape).to_dict()
    finally:
        handle.remove()
    assert wrapped == hooked
