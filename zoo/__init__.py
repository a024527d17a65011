"""The model zoo: course-note CIFAR-10 models, torchvision's ImageNet families, custom VGG configs, and any
torchvision classifier as ``tv:<name>``."""

from zoo.custom_vgg import ConfigError
from zoo.registry import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TORCHVISION_PREFIX,
    ModelSpec,
    UnknownModelError,
    WeightsUnavailableError,
    check_reachable,
    create_model,
    get_spec,
    list_models,
    list_torchvision_models,
    weights_cache_path,
)

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "TORCHVISION_PREFIX",
    "ConfigError",
    "ModelSpec",
    "UnknownModelError",
    "WeightsUnavailableError",
    "check_reachable",
    "create_model",
    "get_spec",
    "list_models",
    "list_torchvision_models",
    "weights_cache_path",
]
