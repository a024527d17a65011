"""Networks of your own in the zoo (``zoo/user.py``): listed, specced and built like the zoo's models, on the meta
device without copying a weight, with random init, or with their own weights.

Expected values come from the modules themselves (their tensors, their class lists) or from torchvision's metadata.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torchvision
from torch import nn

import zoo
from zoo.user import meta_copy


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)
        self.scale = nn.Parameter(torch.full((1,), 2.0))  # a tensor no layer re-initialises

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(torch.relu(self.bn(self.conv(x)))), 1)) * self.scale


def _trained(net: nn.Module) -> nn.Module:
    """A few optimizer steps, so the weights (and BatchNorm's running statistics) are not their init."""
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(4, 3, 32, 32)).sum().backward()
        opt.step()
    return net


@pytest.fixture(autouse=True)
def _own_models_removed():
    before = set(zoo.user_models())
    yield
    for name in set(zoo.user_models()) - before:
        zoo.unregister_model(name)


def test_an_instance_is_listed_and_specced_with_cifar_defaults():
    spec = zoo.register_model(TinyNet())
    assert spec.name == "TinyNet" and zoo.list_models()[-1] == "TinyNet" and zoo.get_spec("TinyNet") is spec
    assert (spec.family, spec.input_size, spec.dataset) == ("user", (3, 32, 32), "cifar10")
    assert spec.class_names == zoo.CIFAR10_CLASSES and spec.num_classes == 10
    assert (spec.mean, spec.std) == (zoo.CIFAR10_MEAN, zoo.CIFAR10_STD)
    assert not spec.has_pretrained  # no ImageNet weights: "own" is a weight source of its own


def test_imagenet_defaults_for_a_224_input_and_a_1000_way_head():
    spec = zoo.register_model(TinyNet(num_classes=1000), name="wide", input_size=(3, 224, 224))
    assert spec.class_names == list(torchvision.models.ResNet18_Weights.DEFAULT.meta["categories"])
    assert (spec.dataset, spec.mean, spec.std) == ("imagenet", zoo.IMAGENET_MEAN, zoo.IMAGENET_STD)


def test_other_heads_get_numbered_classes_or_the_names_given():
    assert zoo.register_model(TinyNet(num_classes=3), name="three").class_names == ["class 0", "class 1", "class 2"]
    spec = zoo.register_model(TinyNet(num_classes=2), name="cats", class_names=["cat", "dog"])
    assert (spec.class_names, spec.dataset) == (["cat", "dog"], "custom")
    with pytest.raises(zoo.UserModelError, match="outputs 2 classes but 3 class names"):
        zoo.register_model(TinyNet(num_classes=2), name="wrong", class_names=["a", "b", "c"])


@pytest.mark.parametrize(
    "name, words",
    [
        ("vgg16", "built-in model"),
        ("tv:resnet18", "looks like a zoo name"),
        ("vgg:64,M", "looks like"),
        (" x", "spaces"),
    ],
)
def test_names_that_would_shadow_the_zoo_are_refused(name, words):
    with pytest.raises(zoo.UserModelError, match=words):
        zoo.register_model(TinyNet(), name=name)


def test_a_name_is_taken_until_replaced():
    zoo.register_model(TinyNet(), name="mine")
    with pytest.raises(zoo.UserModelError, match="already registered"):
        zoo.register_model(TinyNet(), name="mine")
    spec = zoo.register_model(TinyNet(num_classes=4), name="mine", replace=True)
    assert spec.num_classes == 4 and zoo.list_models().count("mine") == 1


def test_meta_build_of_an_instance_copies_no_tensor(monkeypatch):
    net = _trained(TinyNet())
    zoo.register_model(net, name="meta_net")
    before = {n: (t.data_ptr(), t.clone()) for n, t in net.state_dict().items()}

    def refuse(self, memo):
        raise AssertionError("a real tensor was deep-copied")

    monkeypatch.setattr(torch.Tensor, "__deepcopy__", refuse)
    monkeypatch.setattr(nn.Parameter, "__deepcopy__", refuse)
    with pytest.raises(AssertionError, match="deep-copied"):  # the trap works: a plain deepcopy falls in
        copy.deepcopy(net)
    with torch.device("meta"):
        meta = zoo.create_model("meta_net")
    monkeypatch.undo()
    assert all(t.is_meta for t in [*meta.parameters(), *meta.buffers()])
    assert [(n, t.shape) for n, t in meta.state_dict().items()] == [(n, t.shape) for n, t in net.state_dict().items()]
    for n, t in net.state_dict().items():  # the instance's tensors: same storage, same values
        assert t.data_ptr() == before[n][0] and torch.equal(t, before[n][1])
    assert meta.fc is not net.fc and meta.scale.requires_grad


def test_random_init_is_fresh_and_leaves_the_instance_alone():
    net = _trained(TinyNet()).train()
    kept = copy.deepcopy(net.state_dict())
    zoo.register_model(net, name="fresh")
    torch.manual_seed(0)
    fresh = zoo.create_model("fresh")
    assert not torch.equal(fresh.conv.weight, net.conv.weight)
    assert torch.equal(fresh.bn.running_mean, torch.zeros(8)) and not torch.equal(net.bn.running_mean, torch.zeros(8))
    assert torch.equal(fresh.scale, net.scale)  # no layer says how to draw it: the instance's value
    torch.manual_seed(0)
    assert torch.equal(zoo.create_model("fresh").conv.weight, fresh.conv.weight)  # seeded like the zoo's models
    assert all(torch.equal(v, kept[k]) for k, v in net.state_dict().items()) and net.training


def test_own_weights_are_the_instances_current_ones_and_follow_its_training():
    net = TinyNet()
    zoo.register_model(net, name="own")
    key = zoo.own_weights_key("own")
    own = zoo.own_model("own")
    assert all(torch.equal(a, b) for a, b in zip(own.state_dict().values(), net.state_dict().values()))
    assert own.conv.weight.data_ptr() != net.conv.weight.data_ptr()  # a copy: the page never touches yours
    _trained(net)
    assert zoo.own_weights_key("own") != key
    assert torch.equal(zoo.own_model("own").conv.weight, net.conv.weight)


def test_a_factory_builds_with_its_arguments_and_any_head():
    spec = zoo.register_model(TinyNet, args={"width": 4}, name="factory")
    assert spec.num_classes == 10 and not zoo.has_own_weights("factory")
    assert zoo.create_model("factory").conv.out_channels == 4
    assert zoo.create_model("factory", num_classes=3).fc.out_features == 3  # it takes num_classes
    with torch.device("meta"):
        assert zoo.create_model("factory").fc.weight.is_meta
    with pytest.raises(zoo.UserModelError, match="without weights of its own"):
        zoo.own_model("factory")


def test_an_instance_cannot_change_its_head():
    zoo.register_model(TinyNet(), name="fixed")
    with pytest.raises(zoo.HeadMismatchError, match="outputs 10 classes, not 3"):
        zoo.create_model("fixed", num_classes=3)
    assert zoo.create_model("fixed", num_classes=10).fc.out_features == 10
    with pytest.raises(zoo.WeightsUnavailableError, match="no ImageNet weights"):
        zoo.create_model("fixed", pretrained=True)


def test_build_records_say_how_to_build_it_again():
    zoo.register_model(TinyNet, args={"width": 4}, name="from_file", origin={"file": "/x/net.py", "factory": "TinyNet"})
    assert zoo.build_record("from_file", num_classes=5) == {
        "name": "from_file",
        "input_size": [3, 32, 32],
        "file": "/x/net.py",
        "factory": "TinyNet",
        "args": {"width": 4, "num_classes": 5},
    }
    zoo.register_model(TinyNet(), name="from_python")
    record = zoo.build_record("from_python", num_classes=10)
    assert (record["module"], record["class"], "file" in record) == (__name__, "TinyNet", False)
    assert zoo.build_record("vgg16") is None


def test_meta_copy_of_a_tied_weight_stays_tied():
    net = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4))
    net[1].weight = net[0].weight
    meta = meta_copy(net)
    assert meta[1].weight is meta[0].weight and meta[0].weight.is_meta
