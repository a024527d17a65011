"""Networks of your own in the zoo: an ``nn.Module`` instance, or a factory (a class or function and its arguments).

``register_model(Net())`` (or ``register_model(Net, args={"width": 32})``) puts a model in the zoo under its class
name, with a ``ModelSpec`` like the built-in ones (family ``"user"``; input size from the caller; class names and
normalization from the head and the input size unless given), so ``list_models``, ``get_spec``, ``create_model``
and ``with torch.device("meta"): create_model(name)`` work on it, and every model picker lists it.

What ``create_model(name)`` builds:

- a factory: ``factory(**args)`` (its own random init; ``num_classes`` passed on when it takes that argument);
- an instance: a copy with fresh random weights (``reset_parameters`` of every layer that has one; a tensor that
  no layer re-initialises keeps the instance's value). On the meta device: a copy whose tensors are meta stand-ins,
  made without copying a byte of the instance's weights (``copy.deepcopy`` with a memo of meta tensors).

``own_model(name)`` gives the model with *its own* weights: the instance's current ones (a student who trained in a
notebook sees what their network learned), or those loaded for a factory from a weights file. The instance itself
is never modified, moved or put in eval mode: the page works on a copy, refreshed when the weights change
(``own_weights_key``).

Checks a person needs (forward takes one tensor, returns one, shapes do not depend on data) live one level up, in
``visualizer.user_models``, which uses the analysis engine; this module only keeps the models.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import torch
import torchvision.models as tvm
from torch import nn

from zoo.custom_vgg import is_custom_name
from zoo.registry import (
    CIFAR10_CLASSES,
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    TORCHVISION_PREFIX,
    USER_FAMILY,
    ModelSpec,
    add_spec,
    list_models,
    remove_spec,
)

MAX_NAME = 64
SMALL_INPUT = 64  # up to this side, an image is resized like CIFAR-10's (no crop margin) and normalized like it


class UserModelError(ValueError):
    """A model of your own that cannot be registered or built as asked; one line saying what would work."""


class HeadMismatchError(UserModelError):
    """The model's last layer outputs another number of classes than asked, and it cannot be built with that many."""

    def __init__(self, message: str, outputs: int, wanted: int) -> None:
        super().__init__(message)
        self.outputs, self.wanted = outputs, wanted


@dataclass
class UserModel:
    """A registered model of your own: how to build it, and where its own weights are."""

    name: str
    input_size: tuple[int, int, int]
    num_outputs: int  # what the last layer outputs (the head's size)
    factory: Callable[..., nn.Module] | None = None  # None: copies of ``instance``
    args: dict[str, Any] = field(default_factory=dict)
    instance: nn.Module | None = None  # holds the model's own weights (the caller's object, never modified)
    origin: dict[str, Any] = field(default_factory=dict)  # how it was built, plain types (for checkpoints)

    @property
    def takes_num_classes(self) -> bool:
        return self.factory is not None and accepts_argument(self.factory, "num_classes")

    @property
    def has_own_weights(self) -> bool:
        return self.instance is not None


_models: dict[str, UserModel] = {}
_lock = threading.Lock()


def accepts_argument(factory: Callable[..., Any], argument: str) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == argument or p.kind is p.VAR_KEYWORD for p in params)


# ------------------------------------------------------------------------------------------------ copies


def _tensors(module: nn.Module) -> list[torch.Tensor]:
    return [t for _, t in chain(module.named_parameters(), module.named_buffers())]


def meta_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose parameters and buffers are meta stand-ins: its tensors are never copied.

    ``copy.deepcopy`` consults its memo before copying anything, so a memo that maps every parameter and buffer
    to a meta tensor of the same shape makes the copy share the structure but none of the storage (measured in
    ``bench/bench_show.py``: a deepcopy of the notes' VGG-19 copies 80 MB, this copies none).
    """
    memo: dict[int, Any] = {}
    for t in _tensors(module):
        stand_in = torch.empty_like(t, device="meta")
        memo[id(t)] = nn.Parameter(stand_in, requires_grad=t.requires_grad) if isinstance(t, nn.Parameter) else stand_in
    return copy.deepcopy(module, memo)


def real_copy(module: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """A copy on ``device`` with the same values (non-persistent buffers included), allocated once."""
    clone = meta_copy(module).to_empty(device=device)
    with torch.no_grad():
        for new, old in zip(_tensors(clone), _tensors(module)):
            new.copy_(old)
    return clone


def _reinitialized_copy(module: nn.Module) -> nn.Module:
    """A CPU copy with fresh random weights: every layer with ``reset_parameters`` is reset (BatchNorm's running
    statistics too); tensors of modules without one keep the instance's values (nothing says how to draw them)."""
    clone = real_copy(module)
    for m in clone.modules():
        reset = getattr(m, "reset_parameters", None)
        if callable(reset):
            reset()
    return clone


# -------------------------------------------------------------------------------------------- registering


def check_name(name: str, replace: bool = False) -> str:
    """A usable name for a model of your own (raises ``UserModelError`` saying why not)."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise UserModelError(f"model name {name!r} must be a non-empty name without surrounding spaces, e.g. 'MyNet'")
    if len(name) > MAX_NAME or not name.isprintable():
        raise UserModelError(f"model name {name[:80]!r} must be printable and at most {MAX_NAME} characters")
    if name.startswith(TORCHVISION_PREFIX) or is_custom_name(name):
        raise UserModelError(f"model name {name!r} looks like a zoo name (tv:… / vgg:…); pick another, e.g. 'MyNet'")
    if name in list_models() and name not in _models:
        raise UserModelError(f"{name!r} is a built-in model of the zoo; give yours another name, e.g. 'my_{name}'")
    if name in _models and not replace:
        raise UserModelError(
            f"a model named {name!r} is already registered; give this one another name, or replace it (replace=True)"
        )
    return name


def default_class_names(num_outputs: int) -> list[str]:
    """CIFAR-10's classes for a 10-way head, ImageNet's for 1000, else ``class 0`` … ``class n-1``."""
    if num_outputs == len(CIFAR10_CLASSES):
        return list(CIFAR10_CLASSES)
    if num_outputs == 1000:
        return list(tvm.ResNet18_Weights.DEFAULT.meta["categories"])
    return [f"class {i}" for i in range(num_outputs)]


def _dataset(classes: Sequence[str]) -> str:
    if list(classes) == CIFAR10_CLASSES:
        return "cifar10"
    return "imagenet" if len(classes) == 1000 else "custom"


def count_outputs(model: nn.Module, input_size: Sequence[int]) -> int:
    """The head's size: one pass of a meta copy at ``input_size`` (nothing allocated). A forward that fails here
    raises its own error: ``visualizer.user_models`` turns such errors into sentences first."""
    probe = meta_copy(model).eval()
    with torch.no_grad():
        out = probe(torch.empty(1, *input_size, device="meta"))
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        what = f"a {'×'.join(map(str, out.shape))} tensor" if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserModelError(
            f"{type(model).__name__} returns {what}; the visualizer expects class scores of shape (1, classes)"
        )
    return int(out.shape[1])


def register_model(
    model: nn.Module | Callable[..., nn.Module],
    *,
    name: str | None = None,
    input_size: Sequence[int] = (3, 32, 32),
    args: dict[str, Any] | None = None,
    class_names: Sequence[str] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    weights: nn.Module | None = None,
    num_outputs: int | None = None,
    min_size: tuple[int, int] | None = None,
    origin: dict[str, Any] | None = None,
    description: str | None = None,
    replace: bool = False,
) -> ModelSpec:
    """Put a model of your own in the zoo; returns its spec (its name is the class name unless ``name`` is given).

    ``model``: an ``nn.Module`` (its current weights are its own) or a factory called as ``model(**args)``.
    ``weights``: for a factory, a module holding the weights to call its own (e.g. built and loaded from a file).
    ``num_outputs``: the head's size when the caller already knows it (else one meta pass finds it).
    """
    c, h, w = (int(d) for d in input_size)
    if isinstance(model, nn.Module):
        if args:
            raise UserModelError("args are for a factory (a class or function); an nn.Module instance is built already")
        instance, factory, default_name = model, None, type(model).__name__
    elif callable(model):
        instance, factory = weights, model
        default_name = getattr(model, "__name__", type(model).__name__)
    else:
        raise UserModelError(
            f"register_model takes an nn.Module or a class/function that builds one, got {type(model).__name__}"
        )
    name = check_name(name if name is not None else default_name, replace)
    if num_outputs is None:
        shape_source = instance if instance is not None else _build_on_meta(factory, dict(args or {}))
        num_outputs = count_outputs(shape_source, (c, h, w))
    classes = list(class_names) if class_names is not None else default_class_names(num_outputs)
    if len(classes) != num_outputs:
        raise UserModelError(
            f"{name}'s last layer outputs {num_outputs} classes but {len(classes)} class names were given; "
            f"give {num_outputs} names, or a last layer with {len(classes)} outputs"
        )
    small = max(h, w) <= SMALL_INPUT
    entry = UserModel(name, (c, h, w), num_outputs, factory, dict(args or {}), instance, dict(origin or {}))
    spec = ModelSpec(
        name=name,
        family=USER_FAMILY,
        input_size=(c, h, w),
        dataset=_dataset(classes),
        mean=tuple(mean) if mean is not None else (CIFAR10_MEAN if small else IMAGENET_MEAN),
        std=tuple(std) if std is not None else (CIFAR10_STD if small else IMAGENET_STD),
        description=description or f"your own network ({_origin_text(entry)}), {num_outputs}-way head",
        description_ko="" if description else f"직접 만든 네트워크 ({_origin_text(entry)}), 출력 {num_outputs}개",
        builder=lambda num_classes=None: _build(name, num_classes),
        min_size=min_size,
        classes=tuple(str(x) for x in classes),
    )
    with _lock:
        add_spec(spec)
        _models[name] = entry
    return spec


def unregister_model(name: str) -> None:
    """Take a model of your own out of the zoo (no-op for names that are not registered)."""
    with _lock:
        if _models.pop(name, None) is not None:
            remove_spec(name)


def user_model(name: str) -> UserModel:
    """The registration of ``name``; ``UserModelError`` when it is not a model of your own."""
    try:
        return _models[name]
    except KeyError:
        raise UserModelError(f"{name!r} is not a registered model of your own") from None


def is_user_model(name: str) -> bool:
    return isinstance(name, str) and name.strip() in _models


def user_models() -> list[str]:
    return list(_models)


def has_own_weights(name: str) -> bool:
    """Whether ``name`` is a model of your own registered with weights (an instance, or a factory and a file)."""
    return is_user_model(name) and _models[name.strip()].has_own_weights


def _origin_text(entry: UserModel) -> str:
    o = entry.origin
    if o.get("file"):
        return f"{o['file']}:{o.get('factory', '?')}"
    builder = entry.factory if entry.factory is not None else type(entry.instance)
    return f"{getattr(builder, '__module__', '?')}.{getattr(builder, '__qualname__', type(builder).__name__)}"


# --------------------------------------------------------------------------------------------- building


def _build_on_meta(factory: Callable[..., nn.Module], args: dict[str, Any]) -> nn.Module:
    with torch.device("meta"):
        return factory(**args)


def _on_meta() -> bool:
    return torch.get_default_device().type == "meta"


def _build(name: str, num_classes: int | None) -> nn.Module:
    """``create_model(name, num_classes=...)`` for a model of your own (see the module docstring)."""
    entry = user_model(name)
    args = dict(entry.args)
    if num_classes is not None and num_classes != entry.num_outputs:
        if not entry.takes_num_classes:
            raise HeadMismatchError(
                f"{name}'s last layer outputs {entry.num_outputs} classes, not {num_classes}; give it a "
                f"{num_classes}-way last layer (e.g. nn.Linear(…, {num_classes})), or a num_classes argument",
                entry.num_outputs,
                num_classes,
            )
        args["num_classes"] = num_classes
    if entry.factory is not None:
        return entry.factory(**args)
    return meta_copy(entry.instance) if _on_meta() else _reinitialized_copy(entry.instance)


def own_model(name: str) -> nn.Module:
    """A CPU copy of the model with its own weights (the instance's current ones); ``UserModelError`` if it has
    none (a factory registered without weights)."""
    entry = user_model(name)
    if entry.instance is None:
        raise UserModelError(
            f"{name} was registered without weights of its own (a class or function, no weights file): its weights "
            "are a random init; give a weights file (--weights file.pt) or register a trained instance"
        )
    return real_copy(entry.instance)


def own_weights_key(name: str) -> tuple:
    """Changes whenever the own weights do: which object holds them, and every tensor's in-place version counter
    (an optimizer step, ``load_state_dict`` or ``p.data.mul_`` bumps it), so a cached copy is refreshed."""
    entry = user_model(name)
    if entry.instance is None:
        return (name, None)
    return (name, id(entry.instance), tuple((id(t), t._version) for t in _tensors(entry.instance)))


def build_record(name: str, num_classes: int | None = None) -> dict[str, Any] | None:
    """How a model of your own was built, in plain types, for a checkpoint (None for the zoo's models).

    ``{"name", "input_size", "file", "factory", "args"}`` for a model from a file (``args`` with the
    ``num_classes`` it was built with, when its factory takes one), ``{"name", "input_size", "module", "class"}``
    for an instance from Python.
    """
    if not is_user_model(name):
        return None
    entry = user_model(name)
    record: dict[str, Any] = {"name": entry.name, "input_size": list(entry.input_size), **entry.origin}
    if entry.factory is not None:
        args = dict(entry.args)
        if num_classes is not None and entry.takes_num_classes:
            args["num_classes"] = int(num_classes)
        record["args"] = args
    if "file" not in record:
        builder = entry.factory if entry.factory is not None else type(entry.instance)
        record.setdefault("module", getattr(builder, "__module__", None))
        record.setdefault("class", getattr(builder, "__qualname__", None))
    return record


__all__ = [
    "HeadMismatchError",
    "UserModel",
    "UserModelError",
    "accepts_argument",
    "build_record",
    "check_name",
    "count_outputs",
    "default_class_names",
    "has_own_weights",
    "is_user_model",
    "meta_copy",
    "own_model",
    "own_weights_key",
    "real_copy",
    "register_model",
    "unregister_model",
    "user_model",
    "user_models",
]
