"""What the page shows when it opens: the model each tab's picker starts on.

``python app.py`` opens on the zoo's VGG-16 (Architecture, Feature maps), the notes' AlexNet (Training) and four
classics (Compare). Opened on a network of your own (``visualizer.show(model)``, ``python app.py --model …``),
every tab that has a model picker starts on it instead: Architecture at its design input size, Feature maps with
its own weights ("auto" picks them; "own" is offered beside the other sources), Training when it takes the
32×32 images of the training sets, Compare beside zoo models of the same input size.
"""

from __future__ import annotations

from dataclasses import dataclass

import zoo
from visualizer.numbers import shape_text
from visualizer.training import takes_32px
from visualizer.views.compare import MAX_MODELS

BASE_SOURCES = ("auto", "random", "imagenet", "checkpoint")
# Zoo models a network of your own is compared with, by preference; those of its input size are taken.
COMPARE_WITH = ("alexnet_cifar", "resnet18_cifar", "vgg19_cifar", "alexnet", "vgg16", "resnet18", "resnet50")
COMPARE_ZOO = 3


@dataclass(frozen=True)
class PageOpening:
    """Each tab's starting model (and what goes with it)."""

    model: str = "vgg16"  # Architecture and Feature maps
    input_size: str = "3x224x224"  # Architecture
    training_model: str = "alexnet_cifar"
    compare_models: tuple[str, ...] = ("alexnet", "vgg16", "resnet18", "resnet50")
    compare_size: str = "3x224x224"
    weight_sources: tuple[str, ...] = BASE_SOURCES  # the Feature-maps and Architecture weight radios


def page_opening(model: str | None = None) -> PageOpening:
    """The page's starting point: the zoo's (``model`` None) or one on ``model``, a registered model name."""
    sources = BASE_SOURCES + (("own",) if any(zoo.has_own_weights(n) for n in zoo.user_models()) else ())
    if model is None:
        return PageOpening(weight_sources=sources)
    spec = zoo.get_spec(model)  # UnknownModelError lists what exists
    size = shape_text(spec.input_size, "x")
    same_size = [n for n in zoo.user_models() if zoo.get_spec(n).input_size == spec.input_size]
    zoo_peers = [n for n in COMPARE_WITH if zoo.get_spec(n).input_size == spec.input_size][:COMPARE_ZOO]
    return PageOpening(
        model=spec.name,
        input_size=size,
        training_model=spec.name if takes_32px(spec) else PageOpening.training_model,
        compare_models=tuple(dict.fromkeys([spec.name, *same_size, *zoo_peers]))[:MAX_MODELS],
        compare_size=size,
        weight_sources=sources,
    )


__all__ = ["PageOpening", "page_opening"]
