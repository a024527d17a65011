"""Capturing a layer call's tensors: inputs before the layer ran, outputs before an in-place op changed them,
the k-th call of a reused module, a forward that stops after the last layer asked for."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from visualizer.units.capture import INPUT, HookedTensors, capture_layers, forward_until


class Tripwire(nn.Module):
    """Fails the test if the forward runs this far."""

    def forward(self, x):
        raise AssertionError("the forward should have stopped before this layer")


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)  # overwrites the conv's output and is called twice
        self.conv2 = nn.Conv2d(2, 2, 1)
        self.end = Tripwire()

    def forward(self, x):
        x = self.relu(self.conv(x))
        x = self.relu(self.conv2(x) - 1.0)
        return self.end(x)


def test_inplace_relu_leaves_the_captured_conv_output_and_relu_input_alone():
    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(1, 1, 6, 6)
    got = capture_layers(net, x, ["conv", "relu", "relu#1"])
    expected = net.conv(x).detach()
    assert (expected < 0).any()  # there is something for the ReLU to overwrite
    assert torch.equal(got["conv"].output, expected)
    assert torch.equal(got["conv"].inputs[0], x)
    assert torch.equal(got["relu"].inputs[0], expected)  # copied before the in-place ReLU ran
    assert torch.equal(got["relu"].output, expected.clamp(min=0))
    second = net.conv2(expected.clamp(min=0)).detach() - 1.0
    assert torch.equal(got["relu#1"].inputs[0], second) and torch.equal(got["relu#1"].output, second.clamp(min=0))
    assert sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in net.modules()) == 0


def test_a_call_that_never_happens_is_named():
    net = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU()).eval()
    with pytest.raises(KeyError, match=r"'1#1'.*ran 1 time"):
        capture_layers(net, torch.randn(1, 1, 6, 6), ["1#1"])


def test_hooked_tensors_capture_once_and_count_extra_forwards():
    net = Net().eval()
    source = HookedTensors(net, torch.randn(1, 1, 6, 6), ["conv", "relu"])
    source("conv"), source("relu"), source("conv")
    assert source.forwards == 1
    source("conv2")
    assert source.forwards == 2
    assert source(INPUT).output is source.x


def test_forward_until_keeps_the_graph_to_the_input():
    net = Net().eval()
    x = torch.randn(1, 1, 6, 6, requires_grad=True)
    out = forward_until(net, x, "conv2")
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.shape == x.shape and grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
