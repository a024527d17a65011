"""Where a model's weights come from: random init, ImageNet pretrained, a checkpoint, or the training run's latest.

The training run's weights and checkpoint are read from ``latest_weights.REGISTRY`` (the trainer publishes there),
never from the trainer itself.

Loaded models are kept in an LRU cache bounded by their bytes (``budgets.Limits.model_cache_bytes``), so the
app does not rebuild VGG-16 (1.5 s, 528 MB) on every click; a checkpoint is reloaded when its file changes.
A model too large for this server is refused before it is built (``budgets.memory.check_model``).
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

import zoo
from visualizer import budgets, latest_weights
from visualizer.budgets.memory import check_forward, check_model
from visualizer.checkpoint import CheckpointError, model_from_checkpoint, read_model_name
from visualizer.latest_weights import LatestWeights

SOURCES = ("auto", "random", "imagenet", "checkpoint", "training", "own")  # training: the app's run, latest weights
# own: a network of your own with the weights it was registered with (zoo.user: an instance's current weights)
REACHABILITY_TTL_S = 300.0  # how long "the weights server is (un)reachable" is believed
RANDOM_SEED = 0  # random init is seeded, so "random" shows the same maps on every call


class WeightsError(ValueError):
    """Weights that cannot be loaded as asked (bad source, offline, missing or unfitting checkpoint)."""


class ImageNetWeightsMissing(WeightsError):
    """ImageNet weights that exist but are not here (not cached, their server out of reach): the file to bring."""

    def __init__(self, message: str, model_name: str, file_name: str) -> None:
        super().__init__(message)
        self.model_name = model_name
        self.file_name = file_name  # torchvision's name for it, e.g. vgg16-397923af.pth


@dataclass(frozen=True)
class LoadedModel:
    model: nn.Module  # in eval mode; shared through the cache, so callers must not train or modify it
    model_name: str  # for a checkpoint, the name stored in it
    source: str
    class_names: list[str]
    info: str
    key: tuple  # identifies these weights (for caches of results computed from them)
    info_ko: str = ""  # ``info`` in Korean (the page's other language); "": as ``info``
    # Hold while hooks are on the shared model: overlapping requests would capture each other's activations.
    lock: threading.RLock = field(default_factory=threading.RLock, compare=False, repr=False)


_cache: OrderedDict[tuple, LoadedModel] = OrderedDict()
_cache_lock = threading.Lock()


_reachable: dict[str, tuple[float, bool]] = {}


def imagenet_weights_available(model_name: str) -> bool:
    """Whether ImageNet weights for this model are cached, or their server answers (checked at most every
    ``REACHABILITY_TTL_S`` seconds, within zoo's bounded timeout: never a hang)."""
    spec = zoo.get_spec(model_name)
    if spec.weights is None or spec.dataset != "imagenet":
        return False
    if os.path.exists(zoo.weights_cache_path(spec.weights)):
        return True
    url = spec.weights.url
    now = time.monotonic()
    known = _reachable.get(url)
    if known is None or now - known[0] > REACHABILITY_TTL_S:
        try:
            zoo.check_reachable(url)
            known = (now, True)
        except OSError:
            known = (now, False)
        _reachable[url] = known
    return known[1]


def latest_checkpoint() -> str | None:
    """The checkpoint the app's training run wrote last (None before it wrote one)."""
    return latest_weights.REGISTRY.latest_checkpoint()


# ``resolve_auto``'s reasons in Korean (the page's other language), by their English text.
AUTO_WHY_KO = {
    "the weights your network was given (an instance's current weights)": "네트워크에 주어진 가중치 "
    "(인스턴스의 현재 가중치)",
    "ImageNet weights (downloaded once, then cached)": "ImageNet 가중치 (한 번 내려받아 캐시)",
    "the latest weights of this model's training run": "이 모델의 학습 실행의 최신 가중치",
    "the latest training run's checkpoint": "최근 학습 실행의 체크포인트",
    "no ImageNet weights here (not cached, and their server cannot be reached) and no trained checkpoint "
    "of this model": "ImageNet 가중치가 없고 (캐시에 없고 서버에도 연결할 수 없음) "
    "이 모델의 학습된 체크포인트도 없습니다",
    "no trained checkpoint of this model yet (train it in the Training tab)": "이 모델의 학습된 체크포인트가 아직 "
    "없습니다 (학습 탭에서 학습하세요)",
}


def resolve_auto(model_name: str) -> tuple[str, str | None, str]:
    """Weights worth looking at for ``model_name``: ``(source, checkpoint, why)``.

    ImageNet weights when they are cached or can be downloaded, else the trainer's latest checkpoint when it
    is of this model, else random initialisation (whose predictions are flagged as meaningless).
    """
    spec = zoo.get_spec(model_name)
    if zoo.has_own_weights(spec.name):
        return "own", None, "the weights your network was given (an instance's current weights)"
    if imagenet_weights_available(spec.name):
        return "imagenet", None, "ImageNet weights (downloaded once, then cached)"
    running = latest_weights.REGISTRY.latest()
    if running is not None and running.model_name == spec.name:
        return "training", None, "the latest weights of this model's training run"
    checkpoint = latest_checkpoint()
    if checkpoint and os.path.exists(checkpoint):
        try:
            if read_model_name(checkpoint) == spec.name:
                return "checkpoint", checkpoint, "the latest training run's checkpoint"
        except CheckpointError:
            pass
    why = (
        "no ImageNet weights here (not cached, and their server cannot be reached) and no trained checkpoint "
        "of this model"
        if spec.has_pretrained and spec.dataset == "imagenet"
        else "no trained checkpoint of this model yet (train it in the Training tab)"
    )
    return "random", None, why


def load_weights(
    model_name: str, source: str = "random", checkpoint_path: str | os.PathLike | None = None
) -> LoadedModel:
    """Build ``model_name`` with weights from ``source``; cached (LRU bounded by bytes).

    ``source="auto"`` picks the weights worth looking at (``resolve_auto``); the result's ``source`` is the
    one used and its ``info`` says why.
    """
    if source not in SOURCES:
        raise WeightsError(f"unknown weight source {source!r}; use one of {', '.join(SOURCES)}")
    if source == "auto":
        resolved, checkpoint, why = resolve_auto(model_name)
        loaded = load_weights(model_name, resolved, checkpoint)
        return dataclasses.replace(
            loaded,
            info=f"{loaded.info} — chosen automatically: {why}",
            info_ko=f"{loaded.info_ko or loaded.info} — 자동 선택: {AUTO_WHY_KO.get(why, why)}",
        )
    if source == "checkpoint":
        if not checkpoint_path:
            raise WeightsError("source 'checkpoint' needs a checkpoint path (train a model first in the Training tab)")
        path = os.path.abspath(checkpoint_path)
        try:
            stamp = os.stat(path).st_mtime_ns
        except OSError:
            raise WeightsError(
                f"checkpoint not found: {checkpoint_path} (train a model first, or pick another file)"
            ) from None
        key = ("checkpoint", path, stamp)
    elif source == "training":
        weights = _training_weights()
        key = ("training", weights.key)
    elif source == "own":
        key = ("own", *_own_weights_key(model_name))
    elif source == "imagenet":  # the file's stamp: a file brought later (imagenet_files) is other weights
        key = (source, model_name, _imagenet_stamp(model_name))
    else:
        key = (source, model_name)
    with _cache_lock:  # one build per key even when two requests ask at once
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        loaded = _load(model_name, source, checkpoint_path, key)
        if source == "imagenet" and key[2] is None:  # downloaded just now: the file it came from has a stamp
            key = (source, model_name, _imagenet_stamp(model_name))
            loaded = dataclasses.replace(loaded, key=key)
        _cache[key] = loaded
        # Bounded by bytes, not count: three small CIFAR nets cost less than one VGG-19. The newest stays.
        budget = budgets.current().model_cache_bytes
        while len(_cache) > 1 and sum(model_bytes(m.model) for m in _cache.values()) > budget:
            _cache.popitem(last=False)
        return loaded


def reload(key: tuple, model_name: str) -> LoadedModel:
    """The weights a result was computed from, by their ``key`` (a page keeps only keys in its state): from the
    cache, or loaded again the same way; a ``WeightsError`` when they are gone (a training run moved on, a
    checkpoint was rewritten)."""
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    source = key[0]
    if source == "checkpoint":
        loaded = load_weights(model_name, "checkpoint", key[1])
    elif source in ("training", "own"):
        loaded = load_weights(model_name, source)
    else:
        loaded = load_weights(key[1], source)  # random, imagenet: the name as it was asked for
    if loaded.key != key:
        raise WeightsError(
            "the weights changed since this was shown (a training run moved on, or the checkpoint was "
            "rewritten); show the feature maps again"
        )
    return loaded


def model_bytes(model: nn.Module) -> int:
    """Bytes held by a model's parameters and buffers."""
    return sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))


def load_model(
    model_name: str, source: str = "random", checkpoint_path: str | os.PathLike | None = None
) -> tuple[nn.Module, str]:
    """``(model in eval mode, one-line description of its weights)``; see ``load_weights``."""
    loaded = load_weights(model_name, source, checkpoint_path)
    return loaded.model, loaded.info


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def forget_imagenet() -> None:
    """Drop loaded ImageNet models and what was believed about their files (a weights file was just stored)."""
    with _cache_lock:
        for key in [k for k in _cache if k[0] == "imagenet"]:
            del _cache[key]
    _reachable.clear()


def _imagenet_stamp(model_name: str) -> int | None:
    """When the torch cache's file of ``model_name``'s ImageNet weights was written (None: not there, or none)."""
    try:
        weights = zoo.get_spec(model_name).weights
    except ValueError:  # an unknown name: loading says so, with the names that exist
        return None
    try:
        return os.stat(zoo.weights_cache_path(weights)).st_mtime_ns if weights is not None else None
    except OSError:
        return None


def _training_weights() -> LatestWeights:
    weights = latest_weights.REGISTRY.latest()
    if weights is None:
        raise WeightsError("no training run has weights yet: start one in the Training tab, or pick a checkpoint")
    return weights


def _load(model_name: str, source: str, checkpoint_path: Any, key: tuple) -> LoadedModel:
    if source == "own":
        return _load_own(model_name, key)
    if source == "training":  # the running model as of its latest snapshot (at most a few seconds old)
        weights = _training_weights()
        check_model(weights.model_name, num_classes=len(weights.class_names))
        model = zoo.create_model(weights.model_name, num_classes=len(weights.class_names))
        model.load_state_dict(weights.state_dict)
        info = (
            f"{weights.model_name}: the training run's latest weights (epoch {weights.epochs_done} done, "
            f"step {weights.step}, {weights.dataset})"
        )
        info_ko = (
            f"{weights.model_name}: 학습 중인 실행의 최신 가중치 (에폭 {weights.epochs_done} 완료, "
            f"단계 {weights.step}, {weights.dataset})"
        )
        return LoadedModel(model.eval(), weights.model_name, source, list(weights.class_names), info, key, info_ko)

    if source == "checkpoint":
        try:
            model, ckpt = model_from_checkpoint(checkpoint_path)
        except CheckpointError as exc:
            raise WeightsError(str(exc)) from exc
        metrics = ckpt.get("metrics") or {}
        accuracy = next((metrics[k] for k in ("val_acc", "val_accuracy", "test_acc", "accuracy") if k in metrics), None)
        info = (
            f"{ckpt['model_name']} from checkpoint {os.path.basename(str(checkpoint_path))}: epoch {ckpt['epoch']}, "
            f"step {ckpt['step']}" + (f", accuracy {accuracy:.3g}" if isinstance(accuracy, (int, float)) else "")
        )
        info_ko = (
            f"체크포인트 {os.path.basename(str(checkpoint_path))}의 {ckpt['model_name']}: 에폭 {ckpt['epoch']}, "
            f"단계 {ckpt['step']}" + (f", 정확도 {accuracy:.3g}" if isinstance(accuracy, (int, float)) else "")
        )
        if ckpt["model_name"] != model_name:
            info += f" (the checkpoint's model, not {model_name})"
            info_ko += f" ({model_name}이 아니라 체크포인트의 모델)"
        return LoadedModel(model.eval(), ckpt["model_name"], source, list(ckpt["class_names"]), info, key, info_ko)

    spec = zoo.get_spec(model_name)  # UnknownModelError / ConfigError: the zoo's messages list what exists
    check_model(spec.name)  # before a single weight is allocated
    check_forward(spec.name, spec.input_size)  # weights are loaded to run images through: would one fit?
    if source == "imagenet":
        try:
            model = zoo.create_model(model_name, pretrained=True)
        except zoo.WeightsUnavailableError as exc:
            if spec.has_pretrained:  # offline: say which file would do (upload it, or --weights-dir)
                raise ImageNetWeightsMissing(
                    f"ImageNet weights for {model_name} are not available: {exc}",
                    spec.name,
                    os.path.basename(zoo.weights_cache_path(spec.weights)),
                ) from exc
            raise WeightsError(f"ImageNet weights for {model_name} are not available: {exc}") from exc
        info = f"{spec.name}: pretrained weights {spec.weights}"
        info_ko = f"{spec.name}: 사전 학습된 가중치 {spec.weights}"
    else:
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the caller's RNG
            torch.manual_seed(RANDOM_SEED)
            model = zoo.create_model(model_name)
        info = f"{spec.name}: random initialization (seed {RANDOM_SEED}), untrained"
        info_ko = f"{spec.name}: 무작위 초기화 (시드 {RANDOM_SEED}), 학습되지 않음"
    return LoadedModel(model.eval(), spec.name, source, spec.class_names, info, key, info_ko)


# ---------------------------------------------------------------------------------------------------------
# "own": a network of your own with its own weights (issue 16; zoo.user)


def _own_weights_key(model_name: str) -> tuple:
    try:
        return zoo.own_weights_key(zoo.get_spec(model_name).name)
    except ValueError as exc:  # UnknownModelError, UserModelError
        raise WeightsError(f"weight source 'own' is for a network of your own: {exc}") from None


def _load_own(model_name: str, key: tuple) -> LoadedModel:
    """A copy of the registered weights (the instance is never put in eval mode, hooked or moved)."""
    spec = zoo.get_spec(model_name)
    check_model(spec.name)
    try:
        model = zoo.own_model(spec.name)
    except zoo.UserModelError as exc:
        raise WeightsError(str(exc)) from None
    info = f"{spec.name}: its own weights (as registered: {spec.description})"
    info_ko = f"{spec.name}: 자기 가중치 (등록된 대로: {spec.description_ko or spec.description})"
    return LoadedModel(model.eval(), spec.name, "own", spec.class_names, info, key, info_ko)
