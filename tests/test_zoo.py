"""The zoo: every model builds and runs at its design size; parameter counts from independent sources."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest
import torch
import torchvision.models as tvm
from torch import nn

import zoo
from zoo.registry import weights_cache_path


def n_params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def fc(cin, cout):
    return cin * cout + cout


def bn(c):
    return 2 * c


# Hand-derived from the course notes' layer lists (independent of the zoo code).
ALEXNET_CIFAR = (
    conv(3, 64, 3)
    + conv(64, 192, 3)
    + conv(192, 384, 3)
    + conv(384, 256, 3)
    + conv(256, 256, 1)
    + fc(256 * 3 * 3, 1024)
    + fc(1024, 512)
    + fc(512, 10)
)


def resnet_cifar(blocks):
    total = conv(3, 64, 3, bias=False) + bn(64)
    cin = 64
    for width, n, stride in zip([64, 128, 256, 512], blocks, [1, 2, 2, 2]):
        for i in range(n):
            s = stride if i == 0 else 1
            total += conv(cin, width, 3, False) + bn(width) + conv(width, width, 3, False) + bn(width)
            if s != 1 or cin != width:
                total += conv(cin, width, 1, False) + bn(width)
            cin = width
    return total + fc(512, 10)


def vgg_convs(cfg, batch_norm):
    total, cin = 0, 3
    for v in cfg:
        if v != "M":
            total += conv(cin, v, 3) + (bn(v) if batch_norm else 0)
            cin = v
    return total


VGG19_CFG = [64, 64, "M", 128, 128, "M"] + [256] * 4 + ["M"] + [512] * 4 + ["M"] + [512] * 4 + ["M"]
HEAD = fc(512, 512) + fc(512, 128) + fc(128, 10)
EXPECTED_CIFAR = {
    "alexnet_cifar": ALEXNET_CIFAR,
    "resnet18_cifar": resnet_cifar([2, 2, 2, 2]),
    "resnet34_cifar": resnet_cifar([3, 4, 6, 3]),
    "vgg19_cifar": vgg_convs(VGG19_CFG, True) + HEAD,
    "vgg19_finetune_cifar": vgg_convs(VGG19_CFG, False) + HEAD,
}


def test_names_are_exactly_the_issue_list():
    expected = {
        "alexnet",
        "vgg11",
        "vgg11_bn",
        "vgg13",
        "vgg13_bn",
        "vgg16",
        "vgg16_bn",
        "vgg19",
        "vgg19_bn",
        "resnet18",
        "resnet34",
        "resnet50",
        "resnet101",
        "resnet152",
        "alexnet_cifar",
        "resnet18_cifar",
        "resnet34_cifar",
        "vgg19_cifar",
        "vgg19_finetune_cifar",
    }
    assert set(zoo.list_models()) == expected


def test_known_course_note_figures():
    # Published/well-known counts: CIFAR ResNet-18 has 11,173,962 parameters, AlexNet-CIFAR 4,617,546.
    assert EXPECTED_CIFAR["resnet18_cifar"] == 11_173_962
    assert EXPECTED_CIFAR["alexnet_cifar"] == 4_617_546


@pytest.mark.parametrize("name", sorted(EXPECTED_CIFAR))
def test_cifar_models_forward_and_count(name):
    spec = zoo.get_spec(name)
    assert spec.input_size == (3, 32, 32) and spec.dataset == "cifar10"
    assert spec.class_names == zoo.CIFAR10_CLASSES
    model = zoo.create_model(name).eval()
    assert n_params(model) == EXPECTED_CIFAR[name]
    with torch.no_grad():
        out = model(torch.randn(2, *spec.input_size))
    assert out.shape == (2, 10)


@pytest.mark.parametrize("name", [n for n in zoo.list_models() if zoo.get_spec(n).dataset == "imagenet"])
def test_imagenet_models_match_torchvision(name):
    spec = zoo.get_spec(name)
    model = zoo.create_model(name).eval()
    # Two independent references: torchvision's own builder (on meta: shapes only, no init cost), and the
    # count in its weights metadata.
    with torch.device("meta"):
        reference = getattr(tvm, name)(weights=None)
    assert n_params(model) == n_params(reference)
    assert n_params(model) == spec.weights.meta["num_params"]
    assert len(spec.class_names) == 1000 and spec.class_names[0] == "tench"
    assert spec.input_size == (3, 224, 224)
    assert spec.description and spec.family in name
    with torch.no_grad():
        out = model(torch.randn(1, *spec.input_size))
    assert out.shape == (1, 1000)


@pytest.mark.parametrize("name, head_in", [("alexnet", 4096), ("resnet18", 512), ("vgg11", 4096)])
def test_num_classes_replaces_only_the_last_layer(name, head_in):
    base = zoo.create_model(name)
    ten = zoo.create_model(name, num_classes=10)
    assert n_params(ten) == n_params(base) - fc(head_in, 1000) + fc(head_in, 10)
    base_names = [n for n, _ in base.named_modules()]
    assert base_names == [n for n, _ in ten.named_modules()]  # same structure, only a layer swapped
    assert ten(torch.randn(1, 3, 224, 224)).shape == (1, 10)


def test_num_classes_on_cifar_models():
    assert zoo.create_model("resnet18_cifar", num_classes=100)(torch.randn(1, 3, 32, 32)).shape == (1, 100)
    with pytest.raises(ValueError, match="num_classes"):
        zoo.create_model("alexnet_cifar", num_classes=0)


def test_unknown_name_lists_valid_names():
    with pytest.raises(zoo.UnknownModelError) as err:
        zoo.create_model("resnet19")
    msg = str(err.value)
    assert "'resnet19'" in msg
    for name in zoo.list_models():
        assert name in msg
    with pytest.raises(zoo.UnknownModelError):
        zoo.get_spec(None)


def test_custom_vgg_config_builds_and_counts():
    model = zoo.create_model("vgg:64,64,M,128,128,M")
    expected = conv(3, 64, 3) + conv(64, 64, 3) + conv(64, 128, 3) + conv(128, 128, 3) + fc(128, 10)
    assert n_params(model) == expected
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 10)
    bn_model = zoo.create_model("vgg_bn:16,M,32")
    assert n_params(bn_model) == conv(3, 16, 3) + bn(16) + conv(16, 32, 3) + bn(32) + fc(32, 10)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn_model.modules()) == 2
    assert zoo.get_spec(" vgg: 64, m,128 ").name == "vgg:64,M,128"


@pytest.mark.parametrize(
    "text, pointer",
    [
        ("vgg:64,x12,M", "token 2 'x12'"),
        ("vgg:64,,M", "token 2 ''"),
        ("vgg:64,-3", "token 2 '-3'"),
        ("vgg:99999", "token 1 '99999'"),
        ("vgg:", "no layers"),
        ("vgg:M,M", "no conv layer"),
    ],
)
def test_custom_vgg_bad_strings_point_at_the_token(text, pointer):
    with pytest.raises(zoo.ConfigError) as err:
        zoo.create_model(text)
    assert pointer in str(err.value)


def test_custom_vgg_with_a_superscript_or_a_huge_number_gets_the_configs_message():
    with pytest.raises(zoo.ConfigError) as err:  # '²'.isdigit() is True, but int('²') fails
        zoo.get_spec("vgg:64,²,M")
    assert str(err.value) == (
        "token 2 '²' in 'vgg:64,²,M' is not a conv width (an integer from 1 to 4096) or 'M' (2×2 max-pool) "
        "('²' is not a plain digit: type it as 0-9)"
    )
    with pytest.raises(zoo.ConfigError) as err:  # 10,000 digits: not Python's int-size limit, and not echoed whole
        zoo.get_spec("vgg:" + "1" * 10_000)
    assert "is not a conv width (an integer from 1 to 4096)" in str(err.value) and len(str(err.value)) < 300
    assert "(10,000 characters)" in str(err.value)
    with pytest.raises(zoo.UnknownModelError) as err:
        zoo.get_spec("x" * 10_000)
    assert "unknown model 'xxx" in str(err.value) and "x" * 100 not in str(err.value)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def test_pretrained_loads_through_torchvision_cache(torch_home):
    weights = tvm.ResNet18_Weights.IMAGENET1K_V1
    path = weights_cache_path(weights)
    assert path.startswith(str(torch_home)) and path.endswith("resnet18-f37072fd.pth")
    os.makedirs(os.path.dirname(path))
    reference = tvm.resnet18(weights=None)
    torch.save(reference.state_dict(), path)
    model = zoo.create_model("resnet18", pretrained=True)
    for (k, a), (_, b) in zip(model.state_dict().items(), reference.state_dict().items()):
        assert torch.equal(a, b), k
    # Fine-tuning as in the notes: pretrained body, new 10-way head.
    ten = zoo.create_model("resnet18", pretrained=True, num_classes=10)
    assert torch.equal(ten.conv1.weight, reference.conv1.weight) and ten.fc.out_features == 10


def test_pretrained_finetune_model_takes_imagenet_features(torch_home):
    weights = tvm.VGG19_Weights.IMAGENET1K_V1
    path = weights_cache_path(weights)
    os.makedirs(os.path.dirname(path))
    # Only the conv part is needed by this model; a features-only file keeps the test small.
    donor = tvm.vgg19(weights=None).features
    torch.save({f"features.{k}": v for k, v in donor.state_dict().items()}, path)
    model = zoo.create_model("vgg19_finetune_cifar", pretrained=True)
    assert torch.equal(model.features[0].weight, donor[0].weight)
    assert torch.equal(model.features[34].bias, donor[34].bias)


def test_offline_pretrained_is_a_clear_error(torch_home, monkeypatch):
    def no_route(address, timeout=None):
        raise OSError(101, "Network is unreachable")

    # Offline for certain (a test must never download 233 MB on a connected machine).
    monkeypatch.setattr(socket, "create_connection", no_route)
    with pytest.raises(zoo.WeightsUnavailableError) as err:
        zoo.create_model("alexnet", pretrained=True)
    msg = str(err.value)
    assert "alexnet-owt-7be5be79.pth" in msg and str(torch_home) in msg and "download" in msg


def test_a_server_that_never_answers_is_bounded_in_time(monkeypatch):
    # A firewall that drops packets (or a DNS look-up that hangs): the check gives up after its timeout.
    release = threading.Event()
    monkeypatch.setattr(socket, "create_connection", lambda address, timeout=None: release.wait(5))
    started = time.monotonic()
    with pytest.raises(OSError, match="no answer from download.pytorch.org within 0.2 s"):
        zoo.check_reachable("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", timeout=0.2)
    assert time.monotonic() - started < 2
    release.set()


def test_models_without_pretrained_weights_say_so():
    with pytest.raises(zoo.WeightsUnavailableError, match="no pretrained weights"):
        zoo.create_model("alexnet_cifar", pretrained=True)


# ---------------------------------------------------------------------------------------------------------
# Any torchvision classifier as tv:<name>

NAMED_IN_THE_ISSUE = ["tv:mobilenet_v2", "tv:efficientnet_b0", "tv:densenet121", "tv:googlenet", "tv:convnext_tiny"]


def test_every_torchvision_classifier_has_a_tv_name():
    names = zoo.list_torchvision_models()
    assert names == ["tv:" + n for n in tvm.list_models(module=tvm)]
    assert set(NAMED_IN_THE_ISSUE) <= set(names) and "tv:vgg16" in names
    assert not any(n.startswith("tv:") for n in zoo.list_models())  # the zoo's own list is unchanged


@pytest.mark.parametrize(
    "name, side",
    [("tv:mobilenet_v2", 224), ("tv:efficientnet_b3", 300), ("tv:inception_v3", 299), ("tv:efficientnet_v2_l", 480)],
)
def test_tv_specs_come_from_the_weights_metadata(name, side):
    spec = zoo.get_spec(name)
    weights = tvm.get_model_weights(name[3:]).DEFAULT
    preset = weights.transforms()  # torchvision's own preprocessing object: its crop is the design size
    assert spec.input_size == (3, side, side) and list(preset.crop_size) == [side]
    assert spec.class_names == weights.meta["categories"] and spec.num_classes == 1000
    assert spec.min_size == weights.meta["min_size"] and spec.dataset == "imagenet"
    assert (list(spec.mean), list(spec.std)) == (list(preset.mean), list(preset.std))
    assert spec.description and spec.weights is weights


@pytest.mark.parametrize("name", NAMED_IN_THE_ISSUE)
def test_tv_models_build_count_and_run(name):
    spec = zoo.get_spec(name)
    model = zoo.create_model(name).eval()
    assert n_params(model) == spec.weights.meta["num_params"]  # the architecture its weights were trained on
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)
    ten = zoo.create_model(name, num_classes=10).eval()
    head_in = next(m for m in reversed(list(ten.modules())) if isinstance(m, nn.Linear)).in_features
    assert n_params(ten) == n_params(model) - fc(head_in, 1000) + fc(head_in, 10)
    with torch.no_grad():
        assert ten(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_googlenet_is_built_as_shipped_without_aux_heads():
    model = zoo.create_model("tv:googlenet")
    assert model.aux1 is None and model.aux2 is None and model.transform_input
    shipped = tvm.googlenet(weights=None, aux_logits=False, transform_input=True, init_weights=False)
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in shipped.named_parameters()]


def test_tv_pretrained_loads_through_torchvision_and_replaces_the_head(torch_home):
    weights = tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    path = weights_cache_path(weights)
    os.makedirs(os.path.dirname(path))
    reference = tvm.mobilenet_v3_small(weights=None)
    torch.save(reference.state_dict(), path)
    model = zoo.create_model("tv:mobilenet_v3_small", pretrained=True)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    ten = zoo.create_model("tv:mobilenet_v3_small", pretrained=True, num_classes=10)
    assert torch.equal(ten.features[0][0].weight, reference.features[0][0].weight)
    assert ten.classifier[-1].out_features == 10 and ten.classifier[0].out_features == 1024


def test_tv_squeezenet_head_is_a_conv_and_is_replaced_too():
    model = zoo.create_model("tv:squeezenet1_1", num_classes=7)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)


def test_tv_offline_pretrained_is_a_clear_error(torch_home, monkeypatch):
    def no_route(address, timeout=None):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_route)
    with pytest.raises(zoo.WeightsUnavailableError) as err:
        zoo.create_model("tv:mobilenet_v2", pretrained=True)
    assert "mobilenet_v2-7ebf99e0.pth" in str(err.value) and str(torch_home) in str(err.value)


def test_unknown_tv_names_and_bare_torchvision_names_say_what_works():
    with pytest.raises(zoo.UnknownModelError) as err:
        zoo.get_spec("tv:mobilenet_v9")
    assert "tv:mobilenet_v2" in str(err.value) and "tv:convnext_tiny" in str(err.value)
    with pytest.raises(zoo.UnknownModelError, match="reachable as 'tv:mobilenet_v2'"):
        zoo.get_spec("mobilenet_v2")


def test_every_description_has_its_korean_one():
    # The page shows one language at a time: every model's description exists in Korean too (data, with the spec).
    names = [*zoo.list_models(), "vgg_bn:64,M,128", "tv:mobilenet_v2"]
    for name in names:
        spec = zoo.get_spec(name)
        assert any("\uac00" <= ch <= "\ud7a3" for ch in spec.description_ko), (name, spec.description_ko)
    assert "3×3 합성곱 2개, 최대 풀링 1개" in zoo.get_spec("vgg:64,64,M").description_ko
    assert zoo.get_spec("resnet50").description_ko.count("병목(bottleneck) 블록") == 1
