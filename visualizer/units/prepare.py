"""What a unit or ERF request is about, made ready once: the model with its weights, the input tensor, the
picture the network sees, and the analysis engine's records for that input size.

``model`` is a zoo name (``"vgg16"``, ``"tv:mobilenet_v2"``, ``"vgg:64,M,128"``; weights from
``weight_sources.load_weights``) or an ``nn.Module`` used as it is. Images are paths, bytes, PIL images or
arrays (the model's own preprocessing; a bare module gets ImageNet's at 224×224, ``analyze``'s default
size), or already prepared ``(N, C, H, W)`` tensors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torch import nn
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

import zoo
from visualizer.analysis import AnalysisError, analyze, analyze_model
from visualizer.budgets.memory import ForwardSlot
from visualizer.images import load_image, preprocess, to_rgb
from visualizer.records import Analysis
from visualizer.weight_sources import LoadedModel, load_weights

MODULE_INPUT = (3, 224, 224)  # what an image becomes for a bare nn.Module (analyze's default size)


class UnitRequestError(ValueError):
    """A request that cannot be answered as asked; the message says what was wrong and what would work."""


@dataclass(frozen=True)
class Network:
    """A model ready to run: in eval mode, with a lock to hold while hooks are on it (it may be shared)."""

    model: nn.Module
    name: str  # zoo name, or the module's class name
    zoo_name: str | None  # None for a bare module
    info: str  # where the weights come from
    lock: Any  # a context manager: the process's forward slot, then the model's own lock (``ForwardSlot``)
    loaded: LoadedModel | None = None  # a zoo model's cached weights (its images' ForwardPass needs them)

    def analysis(self, shape: Sequence[int]) -> Analysis:
        """The analysis engine's records at input ``(C, H, W)`` (zoo models: cached, built on meta)."""
        shape = tuple(int(s) for s in shape)
        if self.zoo_name is not None:
            return analyze_model(self.zoo_name, shape)  # the engine's one cache of analyses
        return analyze(self.model, shape, model_name=self.name)


def network(model: nn.Module | str, weights: str = "auto") -> Network:
    """The model of a request: a zoo name with weights from ``weights``, or a module as given."""
    if isinstance(model, nn.Module):
        if weights not in ("auto", None):
            raise UnitRequestError(
                f"weights={weights!r} applies to zoo model names; an nn.Module brings its own weights "
                "(leave weights='auto')"
            )
        return Network(model, type(model).__name__, None, "the module's own weights", ForwardSlot())
    if not isinstance(model, str):
        raise UnitRequestError(
            f"model must be an nn.Module or a zoo name such as 'vgg16', got {type(model).__name__} {model!r:.60}"
        )
    return loaded_network(load_weights(model, weights))  # unknown names and sources: the zoo's messages say


def loaded_network(loaded: LoadedModel) -> Network:
    """A request's model from weights already loaded (``weight_sources.load_weights``)."""
    return Network(loaded.model, loaded.model_name, loaded.model_name, loaded.info, ForwardSlot(loaded.lock), loaded)


def image_tensor(image: Any, net: Network) -> tuple[torch.Tensor, Image.Image | None]:
    """``(1×C×H×W input, the picture the network sees or None for a tensor)`` for one image."""
    if isinstance(image, torch.Tensor):
        return checked_tensor(image, batch=1), None
    if net.zoo_name is not None:
        tensor, seen = preprocess(load_image(image), net.zoo_name)
        return tensor, seen
    return imagenet_input(load_image(image))


def imagenet_input(image: Image.Image) -> tuple[torch.Tensor, Image.Image]:
    """torchvision's classic ImageNet recipe: shorter side to 256, centre crop 224, ImageNet mean/std."""
    side = MODULE_INPUT[1]
    seen = TF.center_crop(
        TF.resize(to_rgb(image), [round(side / 0.875)], interpolation=InterpolationMode.BILINEAR, antialias=True),
        [side, side],
    )
    tensor = TF.normalize(TF.to_tensor(seen), mean=list(zoo.IMAGENET_MEAN), std=list(zoo.IMAGENET_STD))
    return tensor.unsqueeze(0), seen


def checked_tensor(x: torch.Tensor, batch: int | None = None) -> torch.Tensor:
    """A float ``(N, C, H, W)`` tensor on the CPU (``batch``: exactly that many), else a one-line refusal."""
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise UnitRequestError(f"an input tensor must be (N, C, H, W) or (C, H, W), got shape {tuple(x.shape)}")
    if batch is not None and x.shape[0] != batch:
        raise UnitRequestError(
            f"explain_unit looks at one image: the tensor has a batch of {x.shape[0]}; pass x[:1] (shape 1×C×H×W)"
        )
    if not x.is_floating_point():
        raise UnitRequestError(f"an input tensor must hold floats (preprocessed pixels), got {x.dtype}")
    if not torch.isfinite(x).all():
        raise UnitRequestError("the input tensor holds NaN or infinite values; preprocess the image again")
    return x.detach().float().cpu()


def record_of(analysis: Analysis, key: str):
    """The record of ``key``; ``UnitRequestError`` naming real keys when there is none."""
    try:
        return analysis.by_key(key)
    except KeyError as exc:
        raise UnitRequestError(exc.args[0]) from None


def checked_analysis(net: Network, x: torch.Tensor) -> Analysis:
    """The records at ``x``'s size; the analysis engine's one-line message when the size does not fit."""
    try:
        return net.analysis(x.shape[1:])
    except AnalysisError as exc:
        raise UnitRequestError(str(exc)) from None
