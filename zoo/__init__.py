"""The model zoo: course-note CIFAR-10 models, torchvision's ImageNet families and custom VGG configs."""
from zoo.custom_vgg import ConfigError
from zoo.registry import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    ModelSpec,
    UnknownModelError,
    WeightsUnavailableError,
    check_reachable,
    create_model,
    get_spec,
    list_models,
    weights_cache_path,
)

__all__ = [
    "CIFAR10_CLASSES", "CIFAR10_MEAN", "CIFAR10_STD", "IMAGENET_MEAN", "IMAGENET_STD", "ConfigError",
    "ModelSpec", "UnknownModelError", "WeightsUnavailableError", "check_reachable", "create_model", "get_spec", "list_models",
    "weights_cache_path",
]
