"""Training data held in memory as uint8 tensors, and batched augmentation on tensors.

Two datasets:

- ``cifar10``: the real thing, through ``torchvision.datasets.CIFAR10`` (downloaded into a data dir,
  default ``./data``). Offline without a copy, the error names the file to place and where.
- ``shapes``: a procedurally generated, *synthetic* 10-class 32×32 RGB dataset for classrooms without
  network: shapes of random colour, size, position and tilt on a noisy background. Deterministic by seed.

Images stay uint8 (N, 3, 32, 32) until a batch is drawn: 50 000 CIFAR images are 150 MB, a float copy
would be 600 MB, and cropping/flipping uint8 is as cheap as it gets. ``prepare_batch`` augments on the
batch's device and normalizes in one fused multiply-add.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torchvision.datasets import CIFAR10

import zoo

CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR10_ARCHIVE_BYTES = 170_498_071
SHAPES_CLASSES = [
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "ring",
    "stripes",
    "diamond",
    "checker",
    "crescent",
]
DATASETS = ("cifar10", "shapes")
DATASET_CLASSES = {"cifar10": 10, "shapes": len(SHAPES_CLASSES)}  # the head a training run builds
SHAPES_TRAIN_SIZE = 10_000
SHAPES_TEST_SIZE = 2_000
CONNECT_TIMEOUT_S = 10.0  # before saying "offline"


class DatasetUnavailableError(RuntimeError):
    """A dataset that cannot be had here (offline with no local copy); says which file to place where."""


class LoadingStopped(RuntimeError):
    """A stop was asked for while the data were being generated or downloaded."""


@dataclass
class ImageData:
    """A labelled image set in memory: ``images`` uint8 (N, 3, H, W), ``labels`` int64 (N,)."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    synthetic: bool

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def display_name(self) -> str:
        return f"{self.name} (synthetic)" if self.synthetic else self.name

    def subset(self, n: int | None, seed: int) -> ImageData:
        """A random ``n``-image subset (all of it when ``n`` is None or too large), fixed by ``seed``."""
        if n is None or n >= len(self):
            return self
        idx = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed))[:n]
        idx, _ = idx.sort()  # keep storage order: cheaper gathers, same set
        return ImageData(self.name, self.images[idx], self.labels[idx], self.class_names, self.synthetic)


# --------------------------------------------------------------------------------------------- CIFAR-10


def load_cifar10(
    data_dir: str | os.PathLike = "./data",
    train: bool = True,
    download: bool = True,
    progress: Callable[[str], None] | None = None,
) -> ImageData:
    """CIFAR-10 via torchvision, downloading into ``data_dir`` if needed.

    torchvision draws a progress bar on stderr; ``progress`` also gets a line every half second
    ("downloading cifar-10-python.tar.gz: 41.2 / 170.5 MB") for a UI to show.
    """
    root = Path(data_dir).expanduser()
    try:
        ds = CIFAR10(str(root), train=train, download=False)
    except RuntimeError:  # "Dataset not found or corrupted": torchvision checked the batches' md5
        if not download:
            raise DatasetUnavailableError(_offline_message(root, "download disabled")) from None
        try:
            if not (root / CIFAR10_ARCHIVE).exists():
                zoo.check_reachable(CIFAR10.url, CONNECT_TIMEOUT_S)
            # Extracts a placed cifar-10-python.tar.gz without the network if its md5 is right.
            with _watch_download(root / CIFAR10_ARCHIVE, CIFAR10_ARCHIVE_BYTES, progress):
                ds = CIFAR10(str(root), train=train, download=True)
        except Exception as exc:  # URLError, socket errors, HTTP errors, a bad archive
            raise DatasetUnavailableError(_offline_message(root, f"{type(exc).__name__}: {exc}")) from exc
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()  # NHWC → NCHW, still uint8
    labels = torch.tensor(ds.targets, dtype=torch.int64)
    return ImageData("cifar10", images, labels, list(ds.classes), synthetic=False)


@contextlib.contextmanager
def _watch_download(path: Path, total_bytes: int, progress: Callable[[str], None] | None) -> Iterator[None]:
    """Report the size of a file being downloaded, from a side thread, while the body runs."""
    if progress is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.wait(0.5):
            if path.exists():
                size = path.stat().st_size
                verb = "downloading" if size < total_bytes else "checking and extracting"
                progress(f"{verb} {path.name}: {size / 1e6:.1f} / {total_bytes / 1e6:.1f} MB")

    thread = threading.Thread(target=watch, name="cnnviz-download-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _offline_message(root: Path, reason: str) -> str:
    return (
        f"CIFAR-10 is not in {root.resolve()} and could not be downloaded ({reason}). "
        f"Place {CIFAR10_ARCHIVE} (from https://www.cs.toronto.edu/~kriz/{CIFAR10_ARCHIVE}) in "
        f"{root.resolve()}, or train on the synthetic 'shapes' dataset (no download)."
    )


# ------------------------------------------------------------------------------------------------ shapes


def _shape_masks(label: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Boolean masks for a batch: ``x, y`` are (N, H, W) coordinates in the shape's own frame (radius 1)."""
    r = torch.sqrt(x * x + y * y)
    theta = torch.atan2(y, x)
    inside_sq = (x.abs() < 0.8) & (y.abs() < 0.8)
    masks = [
        r < 0.9,  # circle
        inside_sq,  # square
        (y < 0.55) & (y > 1.8 * x.abs() - 0.95),  # triangle, apex up
        r < 0.45 + 0.5 * torch.cos(5 * theta).clamp(min=0) ** 2,  # five-pointed star
        ((x.abs() < 0.28) & (y.abs() < 0.95)) | ((y.abs() < 0.28) & (x.abs() < 0.95)),  # cross
        (r > 0.55) & (r < 0.95),  # ring
        (r < 0.95) & (torch.sin(x * 3.5 * math.pi) > 0),  # stripes (three bars)
        x.abs() + y.abs() < 0.95,  # diamond
        inside_sq & ((torch.floor(x * 2.5) + torch.floor(y * 2.5)) % 2 == 0),  # checker
        (r < 0.9) & ((x - 0.45) ** 2 + y**2 > 0.7**2),  # crescent
    ]
    stacked = torch.stack(masks, dim=1)  # (N, 10, H, W)
    return stacked[torch.arange(len(label)), label]


def make_shapes(n: int, seed: int = 0, size: int = 32, should_stop: Callable[[], bool] | None = None) -> ImageData:
    """``n`` synthetic 32×32 images, 10 balanced classes, the same for the same ``seed``.

    Each image: one shape with a random centre, radius (7–14 px), tilt (±20°, so square and diamond
    never look alike), foreground colour and a contrasting background, plus pixel noise.
    """
    g = torch.Generator().manual_seed(int(seed))
    labels = torch.arange(n) % len(SHAPES_CLASSES)
    labels = labels[torch.randperm(n, generator=g)]
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    coords = torch.arange(size, dtype=torch.float32)
    for start in range(0, n, 2048):  # chunks keep the float temporaries small (and a stop is seen within one)
        if should_stop is not None and should_stop():
            raise LoadingStopped(f"stopped while generating shapes ({start:,} of {n:,} images made)")
        lab = labels[start : start + 2048]
        m = len(lab)
        u = torch.rand(m, 8, generator=g)
        radius = 7 + 7 * u[:, 0]
        cy = radius + (size - 1 - 2 * radius) * u[:, 1]
        cx = radius + (size - 1 - 2 * radius) * u[:, 2]
        angle = (u[:, 3] - 0.5) * math.radians(40)
        dy = (coords.view(1, size, 1) - cy.view(m, 1, 1)) / radius.view(m, 1, 1)
        dx = (coords.view(1, 1, size) - cx.view(m, 1, 1)) / radius.view(m, 1, 1)
        cos, sin = torch.cos(angle).view(m, 1, 1), torch.sin(angle).view(m, 1, 1)
        # y grows downwards in images; flip it so "up" in the masks is up on screen.
        x, y = cos * dx + sin * dy, sin * dx - cos * dy
        mask = _shape_masks(lab, x, y).unsqueeze(1).float()  # (m, 1, H, W)
        fg = torch.rand(m, 3, 1, 1, generator=g)
        # Background at least 0.3 away from the foreground in every channel (wraps around [0, 1)).
        bg = (fg + 0.3 + 0.4 * torch.rand(m, 3, 1, 1, generator=g)) % 1.0
        img = mask * fg + (1 - mask) * bg
        img = img + 0.06 * torch.randn(m, 3, size, size, generator=g)
        images[start : start + m] = (img.clamp(0, 1) * 255).round().to(torch.uint8)
    return ImageData("shapes", images, labels, list(SHAPES_CLASSES), synthetic=True)


def load_shapes(
    train: bool = True, seed: int = 0, n: int | None = None, should_stop: Callable[[], bool] | None = None
) -> ImageData:
    """The shapes train or test split; the two splits come from different seeds, so they never overlap."""
    n = n or (SHAPES_TRAIN_SIZE if train else SHAPES_TEST_SIZE)
    return make_shapes(n, seed=2 * int(seed) + (0 if train else 1), should_stop=should_stop)


def interruptible(
    load: Callable[[], ImageData], should_stop: Callable[[], bool] | None, poll_s: float = 0.2
) -> ImageData:
    """Run ``load`` (a download, an extraction) in a helper thread and give up waiting as soon as a stop is
    asked for: the caller is free within ``poll_s``; the abandoned download finishes or fails on its own."""
    if should_stop is None:
        return load()
    result: dict[str, object] = {}

    def work() -> None:
        try:
            result["data"] = load()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            result["error"] = exc

    thread = threading.Thread(target=work, name="cnnviz-data", daemon=True)
    thread.start()
    while thread.is_alive():
        if should_stop():
            raise LoadingStopped("stopped while the data were being downloaded or read")
        thread.join(poll_s)
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["data"]  # type: ignore[return-value]


def load_dataset(
    name: str,
    train: bool,
    data_dir: str | os.PathLike = "./data",
    seed: int = 0,
    download: bool = True,
    progress: Callable[[str], None] | None = None,
) -> ImageData:
    """``cifar10`` or ``shapes``, train or test split, whole (subset it with ``ImageData.subset``)."""
    if name == "cifar10":
        return load_cifar10(data_dir, train=train, download=download, progress=progress)
    if name == "shapes":
        return load_shapes(train=train, seed=seed)
    raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


# ------------------------------------------------------------------------------------ batch transforms


def random_crop_flip(
    images: torch.Tensor, padding: int = 4, generator: torch.Generator | None = None, flip: bool = True
) -> torch.Tensor:
    """Per-image random crop after zero padding, and horizontal flip with p=0.5, for a whole batch at once.

    Works on any dtype and device. The random numbers come from ``generator`` (on its device; give one
    on the images' device so a GPU never waits for a host-to-device copy).
    """
    n, _, h, w = images.shape
    rng_device = generator.device if generator is not None else images.device
    offsets = torch.randint(0, 2 * padding + 1, (n, 2), generator=generator, device=rng_device).to(images.device)
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    rows = offsets[:, 0:1] + torch.arange(h, device=images.device)  # (n, h)
    cols = offsets[:, 1:2] + torch.arange(w, device=images.device)  # (n, w)
    if flip:
        flips = (torch.rand(n, generator=generator, device=rng_device) < 0.5).to(images.device)
        # Flipping = reading the crop's columns right to left.
        cols = torch.where(flips[:, None], cols.flip(1), cols)
    batch = torch.arange(n, device=images.device)[:, None, None]
    # Advanced indexing with a slice in between puts the channel axis last: (n, h, w, c).
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).contiguous()


class Normalizer:
    """uint8 → float, (x/255 - mean) / std, as one multiply-add per pixel."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], device: torch.device | str = "cpu"):
        std_t = torch.tensor(std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        mean_t = torch.tensor(mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        self.scale = 1.0 / (255.0 * std_t)
        self.shift = -mean_t / std_t

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.shift, images.float(), self.scale)


__all__ = [
    "CIFAR10_ARCHIVE",
    "DATASETS",
    "SHAPES_CLASSES",
    "DatasetUnavailableError",
    "ImageData",
    "Normalizer",
    "load_cifar10",
    "load_dataset",
    "load_shapes",
    "make_shapes",
    "random_crop_flip",
]
