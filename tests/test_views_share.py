"""The share line above the diagram (``views.architecture.share_line_html``): "FC 89 % of the weights · conv 99 % of
the MACs", checked against counts made here from torchvision's own modules (numel of every ``nn.Linear`` and
``nn.Conv2d`` parameter; MACs per output position by hand), and ``numbers.share_text``'s rounding.
"""

from __future__ import annotations

import re

import pytest
import torch
import torchvision
from torch import nn

from visualizer.numbers import share_text
from visualizer.views.architecture import run, share_line_html, shares


def _meta(builder) -> nn.Module:
    with torch.device("meta"):
        return builder()


def _params(model: nn.Module, kind: type) -> int:
    return sum(p.numel() for m in model.modules() if isinstance(m, kind) for p in m.parameters())


def _conv_and_fc_macs(model: nn.Module, size: int) -> tuple[int, int]:
    """torchinfo's convention: a conv's weights and biases once per output position, a linear layer's once."""
    conv = fc = 0
    hooks = []

    def count(module, _inputs, output):
        nonlocal conv, fc
        n = sum(p.numel() for p in module.parameters())
        if isinstance(module, nn.Conv2d):
            conv += n * output.shape[2] * output.shape[3]
        else:
            fc += n

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(count))
    model(torch.zeros(1, 3, size, size, device="meta"))
    for h in hooks:
        h.remove()
    return conv, fc


@pytest.mark.parametrize(
    "name, builder, fc_text",
    [
        ("vgg16", torchvision.models.vgg16, "89 %"),
        ("alexnet", torchvision.models.alexnet, "96 %"),
        ("resnet18", torchvision.models.resnet18, "4 %"),
    ],
)
def test_the_share_line_is_the_linear_layers_share_of_the_weights(name, builder, fc_text):
    model = _meta(builder)
    total = sum(p.numel() for p in model.parameters())
    fc, conv = _params(model, nn.Linear), _params(model, nn.Conv2d)
    s = shares(run(name, ""))
    assert (s["fc_params"], s["conv_params"], s["params"]) == (fc, conv, total)
    line = share_line_html(run(name, ""))
    assert share_text(fc, total) == fc_text
    assert f"FC</b> {fc_text} of the weights" in line and f"완전연결층</b>이 가중치의 {fc_text}" in line
    assert re.search(r"width:([\d.]+)%;background:#b07aa1", line).group(1) == f"{100 * fc / total:.2f}"


@pytest.mark.parametrize(
    "name, builder, conv_text",
    [("vgg16", torchvision.models.vgg16, "99.2 %"), ("alexnet", torchvision.models.alexnet, "92 %")],
)
def test_the_share_line_is_the_convs_share_of_the_work(name, builder, conv_text):
    # VGG and AlexNet have only convs and linear layers with MACs (ReLU, pooling and dropout count none).
    conv, fc = _conv_and_fc_macs(_meta(builder), 224)
    a = run(name, "")
    assert (shares(a)["conv_macs"], shares(a)["macs"]) == (conv, conv + fc)
    assert share_text(conv, conv + fc) == conv_text
    line = share_line_html(a)
    assert f"conv</b> {conv_text} of the MACs" in line and f"합성곱층</b>이 연산(MAC)의 {conv_text}" in line


@pytest.mark.parametrize(
    "part, whole, text",
    [
        (0, 10, "0 %"),
        (1, 1000, "< 1 %"),
        (894, 1000, "89 %"),
        (995, 1000, "99.5 %"),
        (9999, 10000, "99.9 %"),
        (1, 1, "100 %"),
        (5, 0, "0 %"),
    ],
)
def test_share_text_never_rounds_to_a_claim_it_is_not(part, whole, text):
    assert share_text(part, whole) == text
