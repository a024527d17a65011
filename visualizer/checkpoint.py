"""Training checkpoints: one dict, written atomically, read with ``weights_only=True``.

Format ``cnnviz-checkpoint/1`` (shared by the trainer, the feature views and the app)::

    {"format": "cnnviz-checkpoint/1", "model_name": str, "num_classes": int,
     "class_names": list[str], "model": state_dict, "optimizer": state_dict,
     "config": dict, "epoch": int, "step": int, "metrics": dict,
     "built": dict}                       # optional: how a network of your own was built (see below)

``built`` (``zoo.build_record``) records how a model that is not the zoo's was built, so that it can be served
again with its weights: ``{"name", "input_size", "file", "factory", "args"}`` for a model from a file
(``--model file.py:Factory --model-args '…' --weights last.pt``), ``{"name", "input_size", "module", "class"}``
for a module registered from Python (``show(Class(), weights="last.pt")``).

``config`` and ``metrics`` hold plain types only (str, int, float, bool, None, lists, dicts), so the
file loads with ``torch.load(path, weights_only=True)``: no pickled classes, no code runs on load.
"""

from __future__ import annotations

import json
import os
import shlex
import tempfile
from pathlib import Path

import torch
from torch import nn

import zoo
from visualizer.budgets.limits import BudgetError
from visualizer.budgets.memory import check_model

FORMAT = "cnnviz-checkpoint/1"

# key -> type it must have once loaded
_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "format": str,
    "model_name": str,
    "num_classes": int,
    "class_names": list,
    "model": dict,
    "optimizer": dict,
    "config": dict,
    "epoch": int,
    "step": int,
    "metrics": dict,
}


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable, corrupt or does not fit the model."""


def make_checkpoint(
    *,
    model_name: str,
    class_names: list[str],
    model: nn.Module | dict,
    optimizer: torch.optim.Optimizer | dict | None,
    config: dict,
    epoch: int,
    step: int,
    metrics: dict | None = None,
    built: dict | None = None,
) -> dict:
    """Assemble a checkpoint dict in the shared format (state dicts are taken from modules); ``built``: how a
    network of your own was built (``zoo.build_record(name, num_classes)``), plain types."""
    model_state = model.state_dict() if isinstance(model, nn.Module) else model
    if optimizer is None:
        optim_state: dict = {}
    else:
        optim_state = optimizer.state_dict() if isinstance(optimizer, torch.optim.Optimizer) else optimizer
    return {
        "format": FORMAT,
        "model_name": str(model_name),
        "num_classes": len(class_names),
        "class_names": [str(c) for c in class_names],
        # Detach to CPU so a checkpoint written on CUDA loads anywhere without map_location games.
        "model": {k: v.detach().cpu() if torch.is_tensor(v) else v for k, v in model_state.items()},
        "optimizer": optim_state,
        "config": dict(config),
        "epoch": int(epoch),
        "step": int(step),
        "metrics": dict(metrics or {}),
        **({"built": dict(built)} if built else {}),
    }


def save_checkpoint(checkpoint: dict, path: str | os.PathLike) -> Path:
    """Write ``checkpoint`` to ``path`` atomically: temp file in the same dir, fsync, ``os.replace``.

    A reader (or a crash) never sees a half-written file: either the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    # fsync the directory so the rename itself survives a power cut (best effort: not on Windows).
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def read_model_name(path: str | os.PathLike) -> str:
    """The model a checkpoint holds, without reading its tensors (memory-mapped load)."""
    return load_checkpoint(path, mmap=True)["model_name"]


def load_checkpoint(path: str | os.PathLike, mmap: bool = False) -> dict:
    """Load and validate a checkpoint (``weights_only=True``, tensors on CPU; ``mmap``: tensors stay on disk
    until touched, for reading the metadata of a big file cheaply).

    Raises ``CheckpointError`` with one line saying what is wrong with the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path} (expected a .pt file written by the trainer)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:  # torch raises many types for truncated/garbage files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(
            f"checkpoint {path} is corrupt or not a cnnviz checkpoint ({type(exc).__name__}: {first[:200]})"
        ) from exc
    return validate_checkpoint(ckpt, path)


def validate_checkpoint(ckpt: object, path: str | os.PathLike) -> dict:
    """``ckpt`` (already loaded from ``path``) if it is a checkpoint in the shared format; else ``CheckpointError``."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(ckpt).__name__}, expected a dict in format {FORMAT}")
    if ckpt.get("format") != FORMAT:
        raise CheckpointError(
            f"checkpoint {path} has format {ckpt.get('format')!r}, expected {FORMAT!r} (written by `visualizer train`)"
        )
    for key, typ in _REQUIRED.items():
        if key not in ckpt:
            raise CheckpointError(f"checkpoint {path} is missing the key {key!r}")
        if not isinstance(ckpt[key], typ) or (typ is int and isinstance(ckpt[key], bool)):
            raise CheckpointError(
                f"checkpoint {path}: {key!r} is a {type(ckpt[key]).__name__}, expected {typ.__name__}"
            )
    if len(ckpt["class_names"]) != ckpt["num_classes"]:
        raise CheckpointError(
            f"checkpoint {path}: {len(ckpt['class_names'])} class names but num_classes={ckpt['num_classes']}"
        )
    if not isinstance(ckpt.get("built", {}), dict):
        raise CheckpointError(f"checkpoint {path}: 'built' is a {type(ckpt['built']).__name__}, expected a dict")
    return ckpt


def reload_hint(ckpt: dict, path: str | os.PathLike) -> str:
    """How to serve a checkpoint's network of your own again (from its ``built`` record); "" for zoo models."""
    built = ckpt.get("built") or {}
    name = ckpt.get("model_name")
    size = "x".join(map(str, built.get("input_size") or ()))
    if built.get("file"):
        args = f" --model-args '{json.dumps(built['args'])}'" if built.get("args") else ""
        named = f" --name {shlex.quote(name)}" if name and name != built.get("factory") else ""
        sized = f" --input-size {size}" if size else ""
        ref = shlex.quote(f"{built['file']}:{built['factory']}")
        return f"python app.py --model {ref}{args}{named}{sized} --weights {shlex.quote(str(path))}"
    if built.get("class"):
        sized = f', input_size="{size}"' if size else ""
        return f"show({built['class']}(){sized}, name={name!r}, weights={str(path)!r}) (from {built.get('module')})"
    return ""


def load_model_state(model: nn.Module, ckpt: dict, source: str | os.PathLike = "checkpoint") -> None:
    """Load ``ckpt["model"]`` into ``model``; a mismatch becomes a ``CheckpointError`` naming the keys."""
    try:
        model.load_state_dict(ckpt["model"], strict=True)
    except RuntimeError as exc:
        own = model.state_dict()
        theirs = ckpt["model"]
        missing = [k for k in own if k not in theirs]
        unexpected = [k for k in theirs if k not in own]
        shapes = [
            f"{k}: {tuple(theirs[k].shape)} vs model {tuple(own[k].shape)}"
            for k in own
            if k in theirs and torch.is_tensor(theirs[k]) and theirs[k].shape != own[k].shape
        ]
        detail = "; ".join(
            part
            for part in (
                f"missing {missing[:3]}" if missing else "",
                f"unexpected {unexpected[:3]}" if unexpected else "",
                f"shape mismatch {shapes[:2]}" if shapes else "",
            )
            if part
        )
        raise CheckpointError(
            f"{source} does not fit model {ckpt.get('model_name')!r}: {detail or str(exc).splitlines()[0]}"
        ) from exc


def model_from_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, dict]:
    """Build the zoo model named in the checkpoint, load its weights, return ``(model.eval(), ckpt)``."""
    # Memory-mapped: the tensors are read once, into the model, and a crafted file naming a huge model is
    # refused (check_model) before anything of its size is allocated.
    ckpt = load_checkpoint(path, mmap=True)
    try:
        # Counted with the checkpoint's own head: 100,000 class names make a VGG-16 of 544 M parameters.
        check_model(ckpt["model_name"], num_classes=ckpt["num_classes"])
        model = zoo.create_model(ckpt["model_name"], pretrained=False, num_classes=ckpt["num_classes"])
    except BudgetError as exc:
        raise CheckpointError(f"this checkpoint's model is too large: {exc}") from None  # the limit, no path
    except ValueError as exc:  # UnknownModelError / ConfigError
        hint = reload_hint(ckpt, path)
        if hint and isinstance(exc, zoo.UnknownModelError):  # a network of your own, not loaded in this server
            raise CheckpointError(
                f"checkpoint {path} holds {ckpt['model_name']!r}, a network of your own that this server has not "
                f"loaded; serve it with: {hint}"
            ) from exc
        raise CheckpointError(f"checkpoint {path}: cannot build model {ckpt['model_name']!r}: {exc}") from exc
    load_model_state(model, ckpt, source=f"checkpoint {path}")
    return model.eval(), ckpt


__all__ = [
    "FORMAT",
    "CheckpointError",
    "load_checkpoint",
    "load_model_state",
    "make_checkpoint",
    "model_from_checkpoint",
    "reload_hint",
    "save_checkpoint",
    "validate_checkpoint",
]
