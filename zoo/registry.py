"""Model specs as data: what every other part of the app needs to know about a model.

``list_models()`` and ``create_model()`` are the one entry point (as in timm); ``get_spec()`` gives the
metadata (design input size, dataset, class names, normalization, origin) that travels with the model.

Besides the zoo's own names, every torchvision classification builder is reachable as ``tv:<name>``
(``tv:mobilenet_v2``, ``tv:efficientnet_b0``, ``tv:convnext_tiny`` …; ``list_torchvision_models()``), with
its spec read from its default weights' metadata: input size, categories, normalization, smallest input.
"""

from __future__ import annotations

import os
import socket
import urllib.error
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision.models as tvm
from torch import nn

from zoo import cifar
from zoo.custom_vgg import build_custom, canonical_name, is_custom_name, parse_config, quoted

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Seconds to wait for the weights server before saying "offline" (the download itself has no timeout).
CONNECT_TIMEOUT_S = 10.0


class UnknownModelError(ValueError):
    """A model name that is not in the zoo; the message lists the valid names."""


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights that could not be had (offline, or no such weights); says where they would go."""


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str  # "alexnet" | "vgg" | "resnet" | (tv: models) "mobilenet", "efficientnet", "convnext", "vit" …
    input_size: tuple[int, int, int]  # (C, H, W) the architecture was designed for
    dataset: str  # "imagenet" | "cifar10"
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    description: str
    builder: Callable[..., nn.Module] = field(repr=False, compare=False)
    weights: Any = None  # torchvision WeightsEnum member (ImageNet weights) or None
    min_size: tuple[int, int] | None = None  # smallest (H, W) torchvision's metadata says works
    classes: tuple[str, ...] | None = None  # class names given with the model (user models); else the dataset's
    description_ko: str = ""  # the description in Korean (the page's other language); "" : as ``description``

    @property
    def class_names(self) -> list[str]:
        if self.classes is not None:
            return list(self.classes)
        if self.dataset == "imagenet":
            return list(self.weights.meta["categories"])
        return list(CIFAR10_CLASSES)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def has_pretrained(self) -> bool:
        return self.weights is not None


_ORIGINS = {
    "alexnet": "AlexNet (Krizhevsky, Sutskever & Hinton, 2012), torchvision's single-GPU variant",
    "vgg": "VGG (Simonyan & Zisserman, 2014): stacks of 3×3 convs",
    "resnet": "ResNet (He, Zhang, Ren & Sun, 2015): residual blocks with identity shortcuts",
}
_VGG_DEPTHS = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}
_ORIGINS_KO = {
    "alexnet": "AlexNet (Krizhevsky, Sutskever & Hinton, 2012), torchvision의 단일 GPU 변형",
    "vgg": "VGG (Simonyan & Zisserman, 2014): 3×3 합성곱을 쌓은 구조",
    "resnet": "ResNet (He, Zhang, Ren & Sun, 2015): 항등 지름길(shortcut)이 있는 잔차 블록",
}


def _imagenet_spec(name: str) -> ModelSpec:
    family = "alexnet" if name == "alexnet" else ("vgg" if name.startswith("vgg") else "resnet")
    weights = tvm.get_model_weights(name).DEFAULT
    detail = _ORIGINS[family]
    if family == "vgg":
        base = name.removesuffix("_bn")
        detail += f", config {_VGG_DEPTHS[base]}" + (" with BatchNorm" if name.endswith("_bn") else "")
    elif family == "resnet":
        block = "bottleneck" if int(name[6:]) >= 50 else "basic"
        detail += f", {name[6:]} layers, {block} blocks"
    detail_ko = _ORIGINS_KO[family]
    if family == "vgg":
        detail_ko += f", 구성 {_VGG_DEPTHS[name.removesuffix('_bn')]}" + (
            " + BatchNorm" if name.endswith("_bn") else ""
        )
    elif family == "resnet":
        detail_ko += f", {name[6:]}층, " + ("병목(bottleneck) 블록" if int(name[6:]) >= 50 else "기본(basic) 블록")
    return ModelSpec(
        name=name,
        family=family,
        input_size=(3, 224, 224),
        dataset="imagenet",
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        description=f"{detail}; ImageNet, 1000 classes (torchvision builder, weights {weights.name})",
        description_ko=f"{detail_ko}; ImageNet, 1000개 클래스 (torchvision 빌더, 가중치 {weights.name})",
        builder=getattr(tvm, name),
        weights=weights,
        min_size=tuple(weights.meta.get("min_size", (1, 1))),
    )


def _cifar_spec(
    name: str,
    family: str,
    builder: Callable[..., nn.Module],
    description: str,
    weights: Any = None,
    description_ko: str = "",
) -> ModelSpec:
    return ModelSpec(
        name=name,
        family=family,
        input_size=(3, 32, 32),
        dataset="cifar10",
        mean=CIFAR10_MEAN,
        std=CIFAR10_STD,
        description=description,
        builder=builder,
        weights=weights,
        description_ko=description_ko,
    )


IMAGENET_MODELS = [
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
]


@cache
def _registry() -> dict[str, ModelSpec]:
    specs = {name: _imagenet_spec(name) for name in IMAGENET_MODELS}
    notes = "course notes' CIFAR-10 model (32×32)"
    notes_ko = "강의 노트의 CIFAR-10 모델 (32×32)"
    for spec in [
        _cifar_spec(
            "alexnet_cifar",
            "alexnet",
            cifar.alexnet_cifar,
            f"AlexNet shrunk for CIFAR-10: 5 convs, 3 max-pools, 2304→1024→512→10 head; {notes}",
            description_ko="CIFAR-10용으로 줄인 AlexNet: 합성곱 5개, 최대 풀링 3개, 2304→1024→512→10 분류기; "
            + notes_ko,
        ),
        _cifar_spec(
            "resnet18_cifar",
            "resnet",
            cifar.resnet18_cifar,
            f"ResNet-18 for CIFAR-10: 3×3 stem, no max-pool, [2,2,2,2] basic blocks; {notes}",
            description_ko=f"CIFAR-10용 ResNet-18: 3×3 첫 합성곱, 최대 풀링 없음, 기본 블록 [2,2,2,2]; {notes_ko}",
        ),
        _cifar_spec(
            "resnet34_cifar",
            "resnet",
            cifar.resnet34_cifar,
            f"ResNet-34 for CIFAR-10: 3×3 stem, no max-pool, [3,4,6,3] basic blocks; {notes}",
            description_ko=f"CIFAR-10용 ResNet-34: 3×3 첫 합성곱, 최대 풀링 없음, 기본 블록 [3,4,6,3]; {notes_ko}",
        ),
        _cifar_spec(
            "vgg19_cifar",
            "vgg",
            cifar.vgg19_cifar,
            f"VGG-19 with BatchNorm for CIFAR-10, 512→512→128→10 head; {notes}",
            description_ko=f"CIFAR-10용 BatchNorm VGG-19, 512→512→128→10 분류기; {notes_ko}",
        ),
        _cifar_spec(
            "vgg19_finetune_cifar",
            "vgg",
            cifar.vgg19_finetune_cifar,
            "torchvision VGG-19 features (ImageNet weights when pretrained) with a 512→512→128→10 head "
            "for 32×32 CIFAR-10; the course notes' fine-tuning model",
            weights=tvm.VGG19_Weights.IMAGENET1K_V1,
            description_ko="torchvision VGG-19 특징 추출부 (사전 학습 시 ImageNet 가중치)와 32×32 CIFAR-10용 "
            "512→512→128→10 분류기; 강의 노트의 미세 조정 모델",
        ),
    ]:
        specs[spec.name] = spec
    return specs


# Models added while the program runs (``zoo.user``: a network of your own, from Python or a file), listed after
# the built-in ones; they never shadow a built-in name.
_added: dict[str, ModelSpec] = {}
USER_FAMILY = "user"


def add_spec(spec: ModelSpec) -> None:
    """Add (or replace) a run-time model; its ``builder(num_classes=...)`` builds it (``zoo.user`` calls this)."""
    if spec.name in _registry():
        raise ValueError(f"{spec.name!r} is a built-in model name; pick another name")
    _added[spec.name] = spec


def remove_spec(name: str) -> None:
    _added.pop(name, None)


def list_models() -> list[str]:
    """Every built-in model name, then the models registered at run time (custom ``vgg:...`` configs and ``tv:``
    names are accepted too, see ``create_model`` and ``list_torchvision_models``)."""
    return list(_registry()) + list(_added)


# ---------------------------------------------------------------------------------------------------------
# Any torchvision classifier: tv:<name>

TORCHVISION_PREFIX = "tv:"
_TV_FAMILIES = {  # torchvision module → (family, what a class should know about it)
    "alexnet": ("alexnet", _ORIGINS["alexnet"]),
    "vgg": ("vgg", _ORIGINS["vgg"]),
    "resnet": ("resnet", "ResNet / ResNeXt / Wide ResNet: residual blocks with identity shortcuts"),
    "mobilenetv2": (
        "mobilenet",
        "MobileNetV2 (Sandler et al., 2018): depthwise separable convs in inverted residual blocks",
    ),
    "mobilenetv3": (
        "mobilenet",
        "MobileNetV3 (Howard et al., 2019): depthwise separable convs, squeeze-and-excitation, hard-swish",
    ),
    "efficientnet": (
        "efficientnet",
        "EfficientNet (Tan & Le, 2019): compound-scaled MBConv blocks with squeeze-and-excitation",
    ),
    "densenet": ("densenet", "DenseNet (Huang et al., 2017): each layer concatenates the maps of all earlier ones"),
    "googlenet": (
        "inception",
        "GoogLeNet / Inception v1 (Szegedy et al., 2014): parallel 1×1, 3×3, 5×5 and pool branches",
    ),
    "inception": ("inception", "Inception v3 (Szegedy et al., 2015): factorized n×1 / 1×n convs"),
    "convnext": ("convnext", "ConvNeXt (Liu et al., 2022): a ResNet modernised, 7×7 depthwise convs, LayerNorm, GELU"),
    "regnet": ("regnet", "RegNet (Radosavovic et al., 2020): widths from a searched linear rule"),
    "shufflenetv2": ("shufflenet", "ShuffleNetV2 (Ma et al., 2018): channel split and channel shuffle"),
    "squeezenet": ("squeezenet", "SqueezeNet (Iandola et al., 2016): fire modules of 1×1 squeeze, 1×1/3×3 expand"),
    "mnasnet": ("mnasnet", "MnasNet (Tan et al., 2019): a searched mobile network of inverted residuals"),
    "vision_transformer": (
        "vit",
        "Vision Transformer (Dosovitskiy et al., 2020), not a CNN: one strided conv cuts "
        "patches, then attention mixes them; fields are unknown after the patch embedding",
    ),
    "swin_transformer": (
        "swin",
        "Swin Transformer (Liu et al., 2021), not a CNN: attention in shifted windows; "
        "fields are unknown after the patch embedding",
    ),
    "maxvit": (
        "maxvit",
        "MaxViT (Tu et al., 2022): MBConv blocks with window and grid attention; fields are "
        "unknown after the first attention",
    ),
}
# What a class should know about each torchvision family, in Korean (the page's other language).
_TV_ABOUT_KO = {
    "alexnet": _ORIGINS_KO["alexnet"],
    "vgg": _ORIGINS_KO["vgg"],
    "resnet": "ResNet / ResNeXt / Wide ResNet: 항등 지름길(shortcut)이 있는 잔차 블록",
    "mobilenetv2": "MobileNetV2 (Sandler et al., 2018): 역잔차(inverted residual) 블록 안의 깊이별 분리 합성곱",
    "mobilenetv3": "MobileNetV3 (Howard et al., 2019): 깊이별 분리 합성곱, squeeze-and-excitation, hard-swish",
    "efficientnet": "EfficientNet (Tan & Le, 2019): 복합 스케일링한 MBConv 블록과 squeeze-and-excitation",
    "densenet": "DenseNet (Huang et al., 2017): 각 층이 앞선 모든 층의 맵을 이어 붙임",
    "googlenet": "GoogLeNet / Inception v1 (Szegedy et al., 2014): 1×1, 3×3, 5×5, 풀링 가지를 나란히",
    "inception": "Inception v3 (Szegedy et al., 2015): n×1 / 1×n으로 나눈 합성곱",
    "convnext": "ConvNeXt (Liu et al., 2022): 현대화한 ResNet, 7×7 깊이별 합성곱, LayerNorm, GELU",
    "regnet": "RegNet (Radosavovic et al., 2020): 탐색으로 찾은 선형 규칙의 채널 수",
    "shufflenetv2": "ShuffleNetV2 (Ma et al., 2018): 채널 나누기와 채널 섞기",
    "squeezenet": "SqueezeNet (Iandola et al., 2016): 1×1 압축과 1×1/3×3 확장의 fire 모듈",
    "mnasnet": "MnasNet (Tan et al., 2019): 탐색으로 찾은 역잔차 모바일 네트워크",
    "vision_transformer": "Vision Transformer (Dosovitskiy et al., 2020), CNN이 아님: stride 합성곱 하나가 패치로 "
    "자르고 어텐션이 섞음; 패치 임베딩 뒤의 수용 영역은 알 수 없음",
    "swin_transformer": "Swin Transformer (Liu et al., 2021), CNN이 아님: 이동하는 창 안의 어텐션; 패치 임베딩 뒤의 "
    "수용 영역은 알 수 없음",
    "maxvit": "MaxViT (Tu et al., 2022): 창·격자 어텐션이 있는 MBConv 블록; 첫 어텐션 뒤의 수용 영역은 알 수 없음",
}


@lru_cache(maxsize=1)
def _torchvision_names() -> tuple[str, ...]:
    return tuple(tvm.list_models(module=tvm))  # classification builders only (not detection, video …)


def list_torchvision_models() -> list[str]:
    """Every torchvision classification builder as a ``tv:`` name, e.g. ``tv:mobilenet_v2``."""
    return [TORCHVISION_PREFIX + n for n in _torchvision_names()]


def _torchvision_arch(name: str, weights: Any) -> dict[str, Any]:
    """Builder arguments that give, with random weights, the architecture its default weights were trained on.

    GoogLeNet and Inception v3 ship without their auxiliary heads and normalize the input their own way
    (``transform_input``); a ViT's position embedding and MaxViT's attention grid are built for one image size.
    """
    module = tvm.get_model_builder(name).__module__.rsplit(".", 1)[-1]
    if module in ("googlenet", "inception"):
        return {"aux_logits": False, "transform_input": True, "init_weights": False}
    if module == "vision_transformer":
        return {"image_size": weights.meta["min_size"][0]}
    if module == "maxvit":
        return {"input_size": tuple(weights.meta["min_size"])}
    return {}


@cache
def _torchvision_spec(key: str) -> ModelSpec:
    name = key[len(TORCHVISION_PREFIX) :]
    builder = tvm.get_model_builder(name)
    weights = tvm.get_model_weights(name).DEFAULT
    module = builder.__module__.rsplit(".", 1)[-1]
    family, about = _TV_FAMILIES.get(module, (module, f"torchvision.models.{module}"))
    preset = weights.transforms.keywords  # ImageClassification(crop_size=…, mean=…, std=…)
    crop = preset.get("crop_size", 224)
    crop = crop[0] if isinstance(crop, (list, tuple)) else crop
    top1 = next(iter(weights.meta.get("_metrics", {}).values()), {}).get("acc@1")
    return ModelSpec(
        name=key,
        family=family,
        input_size=(3, int(crop), int(crop)),
        dataset="imagenet",
        mean=tuple(preset.get("mean", IMAGENET_MEAN)),
        std=tuple(preset.get("std", IMAGENET_STD)),
        description=f"{about}; torchvision's {name} builder, ImageNet, {len(weights.meta['categories'])} classes "
        f"(weights {weights.name}" + (f", {top1}% top-1)" if top1 is not None else ")"),
        description_ko=f"{_TV_ABOUT_KO.get(module, about)}; torchvision의 {name} 빌더, ImageNet, "
        f"{len(weights.meta['categories'])}개 클래스 "
        f"(가중치 {weights.name}" + (f", top-1 {top1}%)" if top1 is not None else ")"),
        builder=builder,
        weights=weights,
        min_size=tuple(weights.meta.get("min_size", (1, 1))),
    )


def _unknown(name: object) -> UnknownModelError:
    bare = name.strip().removeprefix(TORCHVISION_PREFIX) if isinstance(name, str) else None
    if bare in _torchvision_names() and not str(name).strip().startswith(TORCHVISION_PREFIX):
        return UnknownModelError(
            f"unknown model {quoted(name)}; torchvision's {bare} is reachable as '{TORCHVISION_PREFIX}{bare}'"
        )
    return UnknownModelError(
        f"unknown model {quoted(name)}; valid names: {', '.join(list_models())}, "
        f"or a custom VGG config such as 'vgg:64,64,M,128,128,M' (prefix 'vgg_bn:' for BatchNorm), "
        f"or any torchvision classifier as tv:<name> ({', '.join(list_torchvision_models())})"
    )


def get_spec(name: str) -> ModelSpec:
    """Metadata for a zoo model, a custom VGG config string, or a model registered at run time."""
    if not isinstance(name, str):
        raise _unknown(name)
    key = name.strip()
    if key in _registry():
        return _registry()[key]
    if key in _added:
        return _added[key]
    if key.startswith(TORCHVISION_PREFIX) and key[len(TORCHVISION_PREFIX) :] in _torchvision_names():
        return _torchvision_spec(key)
    if is_custom_name(key):
        cfg, bn = parse_config(key)  # raises ConfigError pointing at the bad token
        canon = canonical_name(key)
        pools = sum(1 for v in cfg if v == "M")
        return _cifar_spec(
            canon,
            "vgg",
            lambda num_classes=10: build_custom(canon, num_classes),
            f"custom VGG-style network ({sum(1 for v in cfg if v != 'M')} 3×3 convs, {pools} max-pools"
            + (", BatchNorm" if bn else "")
            + "), global average pooling and one linear layer",
            description_ko=f"직접 설계한 VGG 방식 네트워크 (3×3 합성곱 {sum(1 for v in cfg if v != 'M')}개, 최대 풀링 "
            f"{pools}개" + (", BatchNorm" if bn else "") + "), 전역 평균 풀링과 선형층 하나",
        )
    raise _unknown(name)


def weights_cache_path(weights: Any) -> str:
    """Where torch keeps a downloaded weights file: ``$TORCH_HOME/hub/checkpoints/<file>``."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(weights.url).path))


def check_reachable(url: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ``OSError`` unless ``url``'s server accepts a connection within ``timeout`` seconds.

    Downloads (weights here, CIFAR-10 in ``visualizer.datasets``) ask first: behind a firewall that drops
    packets urllib would wait forever. A thread bounds the DNS look-up too, which socket timeouts do not cover.
    """
    parsed = urlparse(url)
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        pool.submit(socket.create_connection, (parsed.hostname, parsed.port or 443), timeout).result(timeout).close()
    except FutureTimeout as exc:  # (an OSError since Python 3.11; said explicitly for the message)
        raise TimeoutError(f"no answer from {parsed.hostname} within {timeout:g} s") from exc
    finally:
        pool.shutdown(wait=False)


def _check_reachable(weights: Any) -> None:
    """Fail fast, with a useful message, when the weights are not cached and the server is out of reach."""
    path = weights_cache_path(weights)
    if os.path.exists(path):
        return
    try:
        check_reachable(weights.url)
    except OSError as exc:
        raise WeightsUnavailableError(
            f"could not download the pretrained weights {weights} from {weights.url} ({exc.__class__.__name__}: "
            f"{exc}); no cached copy at {path}. Connect to the internet once, or place the file there, "
            "or use random weights."
        ) from exc


def _download_error(weights: Any, exc: BaseException) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"downloading {weights.url} failed ({exc}); the file would be cached at {weights_cache_path(weights)}"
    )


def _fetch_state_dict(weights: Any) -> dict[str, torch.Tensor]:
    """torchvision's own loading path: download once into the torch cache (with progress), then load (tensors only:
    the cache may hold a file someone brought, ``visualizer.imagenet_files``)."""
    _check_reachable(weights)
    try:
        return weights.get_state_dict(progress=True, check_hash=True, weights_only=True)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise _download_error(weights, exc) from exc


def _replace_head(model: nn.Module, num_classes: int) -> None:
    """Swap only the last layer, as the course notes do: ``alexnet.classifier[6] = nn.Linear(4096, 10)``."""
    if hasattr(model, "fc"):  # torchvision ResNet
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    elif hasattr(model, "linear"):  # CIFAR ResNet
        model.linear = nn.Linear(model.linear.in_features, num_classes)
    elif isinstance(model.classifier, nn.Sequential):
        last = model.classifier[-1]
        model.classifier[len(model.classifier) - 1] = nn.Linear(last.in_features, num_classes)
    else:
        model.classifier = nn.Linear(model.classifier.in_features, num_classes)


def _replace_last_layer(model: nn.Module, old_classes: int, num_classes: int) -> None:
    """Swap the last linear (or 1×1 conv, SqueezeNet) layer that outputs ``old_classes`` for a fresh one."""
    name, last = next(
        (n, m)
        for n, m in reversed(list(model.named_modules()))
        if (isinstance(m, nn.Linear) and m.out_features == old_classes)
        or (isinstance(m, nn.Conv2d) and m.out_channels == old_classes)
    )
    new = (
        nn.Linear(last.in_features, num_classes)
        if isinstance(last, nn.Linear)
        else nn.Conv2d(last.in_channels, num_classes, last.kernel_size, last.stride, last.padding)
    )
    parent, _, attr = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, attr, new)


def _create_torchvision(spec: ModelSpec, pretrained: bool, num_classes: int | None) -> nn.Module:
    name = spec.name[len(TORCHVISION_PREFIX) :]
    if not pretrained:
        return spec.builder(
            weights=None, num_classes=num_classes or spec.num_classes, **_torchvision_arch(name, spec.weights)
        )
    _check_reachable(spec.weights)
    try:  # torchvision's own path: it also applies the quirks (aux heads dropped after loading, …)
        model = spec.builder(weights=spec.weights, progress=True)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise _download_error(spec.weights, exc) from exc
    if num_classes is not None and num_classes != spec.num_classes:
        _replace_last_layer(model, spec.num_classes, num_classes)
    return model


def create_model(name: str, pretrained: bool = False, num_classes: int | None = None) -> nn.Module:
    """Build a zoo model by name (random init unless ``pretrained``), optionally with a new ``num_classes`` head."""
    spec = get_spec(name)
    if num_classes is not None and (
        isinstance(num_classes, bool) or not isinstance(num_classes, int) or not 1 <= num_classes <= 100_000
    ):
        raise ValueError(f"num_classes must be an integer from 1 to 100000, got {num_classes!r}")
    if spec.family == USER_FAMILY and pretrained:
        raise WeightsUnavailableError(
            f"{spec.name} is a network of your own: it has no ImageNet weights; its own weights are the weight "
            "source 'own' (zoo.user.own_model), random init is create_model(name)"
        )
    if spec.family == USER_FAMILY:
        return spec.builder(num_classes=num_classes)
    if pretrained and not spec.has_pretrained:
        raise WeightsUnavailableError(
            f"{spec.name} has no pretrained weights (it is a {spec.dataset} model trained from scratch); "
            "use pretrained=False, train it in the Training tab, or pick an ImageNet model or vgg19_finetune_cifar"
        )
    if spec.name.startswith(TORCHVISION_PREFIX):
        return _create_torchvision(spec, pretrained, num_classes)
    if spec.name == "vgg19_finetune_cifar":
        model = spec.builder(num_classes or 10)
        if pretrained:
            # Only the ImageNet VGG-19's conv part is kept; its 4096-wide classifier is dropped.
            state = _fetch_state_dict(spec.weights)
            model.features.load_state_dict(
                {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
            )
        return model
    if spec.dataset == "imagenet":
        model = spec.builder(weights=None)
        if pretrained:
            model.load_state_dict(_fetch_state_dict(spec.weights))
        if num_classes is not None and num_classes != spec.num_classes:
            _replace_head(model, num_classes)
        return model
    return spec.builder(num_classes or 10)
