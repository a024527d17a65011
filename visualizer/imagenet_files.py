"""ImageNet weights people bring: a torchvision ``.pth`` file, checked and put where torchvision looks for it.

Many classrooms are offline, so the *imagenet* weight source cannot download. A teacher who has torchvision's file
(``vgg16-397923af.pth``) uploads it in the Feature-maps tab, or starts the app with ``--weights-dir DIR``. The file is
read with ``torch.load(weights_only=True)`` (no code runs), must be a state_dict whose keys and shapes are those of
the architecture the weights belong to, and is stored once in the torch cache (``torch.hub.get_dir()/checkpoints``)
under the name torchvision's URL ends with. From then on torchvision's own weights API finds it there: nothing else
in the app changes.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
import torchvision.models as tvm

import zoo
from visualizer import weight_sources
from visualizer.budgets.limits import current
from visualizer.numbers import bytes_text

SUFFIXES = (".pth", ".pt")
# torchvision's DenseNet files keep the old key names ("denselayer1.norm.1.weight"); its loader renames them to
# "norm1.weight" before loading, so the check renames the same way (the file itself is stored as it came).
_DENSENET_OLD_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


class WeightsFileError(ValueError):
    """A weights file that cannot serve as ImageNet weights: what is wrong with it, and what would work.

    ``str(error)`` is English (the console, ``--weights-dir``); ``ko`` says the same in Korean for the page.
    """

    def __init__(self, message: str, ko: str | None = None) -> None:
        super().__init__(message)
        self.ko = ko or message


UPLOADED = ("the uploaded file", "올린 파일")  # how a file is named in messages: never by its path on the server


@dataclass(frozen=True)
class StoredFile:
    file_name: str  # torchvision's canonical name, e.g. vgg16-397923af.pth
    weights: str  # the weights enum member, e.g. VGG16_Weights.IMAGENET1K_V1
    tensors: int
    already: bool  # the same file was in the cache already


def canonical_name(weights: Any) -> str:
    """The file name torchvision downloads ``weights`` to (the end of its URL)."""
    return os.path.basename(urlparse(weights.url).path)


def imagenet_weights_of(model_name: str) -> Any:
    """The torchvision weights the *imagenet* source of ``model_name`` loads; ``WeightsFileError`` if none."""
    try:
        spec = zoo.get_spec((model_name or "").strip())
    except ValueError as exc:  # UnknownModelError, ConfigError: their messages list what exists
        raise WeightsFileError(
            str(exc), f"모델 {model_name!r}을(를) 찾을 수 없습니다. 모델 목록에서 고르세요"
        ) from None
    if spec.weights is None:
        raise WeightsFileError(
            f"{spec.name} has no ImageNet weights to bring (a {spec.dataset} model trained here from scratch); "
            "pick an ImageNet model first (alexnet, vgg16, resnet18 … or a tv: model), then upload its file",
            f"{spec.name}에는 가져올 ImageNet 가중치가 없습니다 (여기서 처음부터 학습하는 {spec.dataset} 모델). "
            "먼저 ImageNet 모델(alexnet, vgg16, resnet18 … 또는 tv: 모델)을 고른 뒤 그 파일을 올리세요",
        )
    return spec.weights


@cache
def _builder_name(weights_class: type) -> str:
    """The torchvision builder whose weights enum is ``weights_class`` (VGG19_Weights → ``vgg19``)."""
    return next(name for name in tvm.list_models(module=tvm) if tvm.get_model_weights(name) is weights_class)


def _loading_arguments(builder: str, weights: Any) -> dict[str, Any]:
    """The builder arguments torchvision itself uses before it loads ``weights`` (aux heads kept, sizes fixed)."""
    module = tvm.get_model_builder(builder).__module__.rsplit(".", 1)[-1]
    arguments: dict[str, Any] = {"num_classes": len(weights.meta["categories"])}
    if module in ("googlenet", "inception"):  # the files hold the auxiliary heads; torchvision drops them after
        arguments.update(aux_logits=True, init_weights=False)
    elif module == "vision_transformer":
        arguments["image_size"] = weights.meta["min_size"][0]
    elif module == "maxvit":
        arguments["input_size"] = tuple(weights.meta["min_size"])
    return arguments


@cache
def expected_shapes(weights: Any) -> dict[str, tuple[int, ...]]:
    """Every key of ``weights``' state_dict and its shape, from the architecture built on the meta device."""
    builder = _builder_name(type(weights))
    with torch.device("meta"):  # shapes only: not a byte of VGG's 528 MB is allocated
        model = tvm.get_model_builder(builder)(weights=None, **_loading_arguments(builder, weights))
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _read(path: str | os.PathLike, shown: tuple[str, str]) -> dict[str, torch.Tensor]:
    """The file's state_dict, loaded with ``weights_only=True`` (memory-mapped when the format allows)."""
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # torchvision's older files are in the legacy format, which cannot be mapped
            if "mmap" not in str(exc):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - torch raises many types for garbage, truncated or pickled files
        # (torch's own text is about its loader's defaults, not about the file: not shown)
        raise WeightsFileError(
            f"{shown[0]} is not a PyTorch weights file that loads safely with torch.load(weights_only=True) "
            "(not PyTorch's format, cut short, or it holds pickled code); upload torchvision's .pth file as downloaded",
            f"{shown[1]}: torch.load(weights_only=True)로 안전하게 읽을 수 있는 PyTorch 가중치 파일이 아닙니다 "
            "(PyTorch 형식이 아니거나, 잘렸거나, 코드가 담긴 pickle). "
            "내려받은 그대로의 torchvision .pth 파일을 올리세요",
        ) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict) and "format" in state:
        raise WeightsFileError(
            f"{shown[0]} is a training checkpoint of this app, not ImageNet weights; choose it with weights = "
            "checkpoint (Upload .pt)",
            f"{shown[1]}: 이 앱의 학습 체크포인트이지 ImageNet 가중치가 아닙니다. 가중치 = checkpoint로 "
            "고르세요 (.pt 올리기)",
        )
    if not isinstance(state, dict) or not state or not all(torch.is_tensor(v) for v in state.values()):
        kind = type(state).__name__ if not isinstance(state, dict) else "dict that is not only tensors"
        raise WeightsFileError(
            f"{shown[0]} holds a {kind}, not a state_dict (a dict of parameter names to tensors, as "
            "torch.save(model.state_dict(), …) writes)",
            f"{shown[1]}: state_dict가 아니라 {kind}이(가) 들어 있습니다 (state_dict: 파라미터 이름에서 텐서로 가는 "
            "사전, torch.save(model.state_dict(), …)가 쓰는 것)",
        )
    return state


def check_state_dict(state: dict[str, torch.Tensor], weights: Any, shown: tuple[str, str] = UPLOADED) -> None:
    """``WeightsFileError`` unless ``state`` has exactly the keys and shapes of ``weights``' architecture."""
    expected = expected_shapes(weights)
    names = {_DENSENET_OLD_KEY.sub(r"\1\2", key): key for key in state}
    # Files saved before PyTorch 0.4.1 lack BatchNorm's step counter; BatchNorm fills it in when loading them.
    missing = [k for k in expected if k not in names and not k.endswith("num_batches_tracked")]
    unexpected = [names[k] for k in names if k not in expected]
    builder = _builder_name(type(weights))
    if missing or unexpected:

        def listed(words: tuple[str, str]) -> str:
            return "; ".join(
                f"{word} {', '.join(keys[:3])}{' …' if len(keys) > 3 else ''}"
                for word, keys in zip(words, (missing, unexpected))
                if keys
            )

        raise WeightsFileError(
            f"{shown[0]} does not have the keys of torchvision's {builder} ({len(missing)} missing, "
            f"{len(unexpected)} unexpected: {listed(('missing', 'unexpected'))}); upload {canonical_name(weights)}",
            f"{shown[1]}: 키가 torchvision {builder}의 키와 다릅니다 (빠진 키 {len(missing)}개, 남는 키 "
            f"{len(unexpected)}개: {listed(('빠짐', '남음'))}). {canonical_name(weights)} 파일을 올리세요",
        )
    wrong = [
        (names[k], list(state[names[k]].shape), list(shape))
        for k, shape in expected.items()
        if k in names and tuple(state[names[k]].shape) != shape
    ]
    if wrong:
        en = "; ".join(f"{key} is {theirs}, {builder} has {ours}" for key, theirs, ours in wrong[:2])
        ko = "; ".join(f"{key}: {theirs}, {builder}: {ours}" for key, theirs, ours in wrong[:2])
        raise WeightsFileError(
            f"{shown[0]} does not fit torchvision's {builder}: {len(wrong)} tensor{'s' if len(wrong) > 1 else ''} of "
            f"the wrong shape ({en}); upload {canonical_name(weights)}",
            f"{shown[1]}: torchvision {builder}에 맞지 않습니다: 모양이 다른 텐서 {len(wrong)}개 ({ko}). "
            f"{canonical_name(weights)} 파일을 올리세요",
        )


def cache_path(weights: Any) -> Path:
    """Where torchvision looks for ``weights``' file: ``torch.hub.get_dir()/checkpoints/<canonical name>``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / canonical_name(weights)


def _same_file(a: Path, b: Path) -> bool:
    if not b.is_file() or a.stat().st_size != b.stat().st_size:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        for block in iter(lambda: fa.read(1 << 20), b""):
            if block != fb.read(len(block)):
                return False
    return True


def store(path: str | os.PathLike, weights: Any, shown: tuple[str, str] = UPLOADED) -> StoredFile:
    """Check ``path`` as ``weights``' file and put it in the torch cache under its canonical name (once).

    Bounded before it is read: a file over ``Limits.max_checkpoint_upload`` is refused from its size.
    """
    source = Path(path)
    size = source.stat().st_size
    limit = current().max_checkpoint_upload
    if size > limit:
        raise WeightsFileError(
            f"{shown[0]} is {bytes_text(size)}; this server takes weights files up to {bytes_text(limit)} "
            "(--max-checkpoint-upload)",
            f"{shown[1]}: 크기가 {bytes_text(size)}입니다. 이 서버는 {bytes_text(limit)}까지의 가중치 파일만 받습니다 "
            "(--max-checkpoint-upload)",
        )
    state = _read(source, shown)
    check_state_dict(state, weights, shown)
    target = cache_path(weights)
    already = _same_file(source, target)
    if not already:  # written beside the target, then renamed: a reader never sees half a file
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, staging = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    out.write(block)
            os.replace(staging, target)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
        weight_sources.forget_imagenet()  # a model loaded from an older file must not be served again
    return StoredFile(target.name, str(weights), len(state), already)


def store_for_model(path: str | os.PathLike, model_name: str, shown: tuple[str, str] = UPLOADED) -> StoredFile:
    """``store`` for the ImageNet weights of ``model_name`` (the model picked in the page)."""
    return store(path, imagenet_weights_of(model_name), shown)


@cache
def _known_files() -> dict[str, Any]:
    """Canonical file name → weights, for every ImageNet weights the app's models load (the zoo and tv: names)."""
    found: dict[str, Any] = {}
    for name in zoo.list_models() + zoo.list_torchvision_models():
        weights = zoo.get_spec(name).weights
        if weights is not None:
            found.setdefault(canonical_name(weights), weights)
    return found


def import_folder(folder: str | os.PathLike) -> tuple[list[str], list[str]]:
    """Every ``.pth`` / ``.pt`` in ``folder`` (``--weights-dir``), checked and stored: ``(stored, problems)``, one
    line per file. A file is recognised by its canonical name (``vgg16-397923af.pth``)."""
    root = Path(folder)
    if not root.is_dir():
        return [], [f"--weights-dir {folder}: not a folder; give a folder of torchvision .pth files"]
    stored, problems = [], []
    known = _known_files()
    for file in sorted(root.iterdir()):
        if file.suffix not in SUFFIXES or not file.is_file():
            continue
        weights = known.get(file.name)
        if weights is None:
            examples = " or ".join(canonical_name(zoo.get_spec(n).weights) for n in ("vgg16", "resnet18"))
            problems.append(
                f"{file.name}: not the name of ImageNet weights this app loads; keep torchvision's file name, "
                f"e.g. {examples}"
            )
            continue
        try:
            done = store(file, weights, shown=(file.name, file.name))
        except (WeightsFileError, OSError) as exc:
            problems.append(str(exc) if str(exc).startswith(file.name) else f"{file.name}: {exc}")
            continue
        stored.append(f"{done.file_name} ({done.weights}{', already in the cache' if done.already else ''})")
    return stored, problems
