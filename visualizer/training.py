"""Train a zoo model on CIFAR-10 or the synthetic shapes set: a config, a log, and one loop.

``train(config, log)`` runs in the caller's thread; the app wraps it in a thread
(``visualizer.background``), the CLI calls it directly, and under ``torchrun`` every process calls it
and ``DistributedDataParallel`` keeps them in step. The loop never draws: it appends plain records to
a ``MetricsLog`` that the UI reads whenever it likes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

import zoo
from visualizer.budgets.runs import runs_dir
from visualizer.checkpoint import CheckpointError, load_checkpoint, load_model_state, make_checkpoint, save_checkpoint
from visualizer.datasets import (
    DATASETS,
    ImageData,
    LoadingStopped,
    Normalizer,
    interruptible,
    load_dataset,
    load_shapes,
    random_crop_flip,
)
from visualizer.latest_weights import WeightsRegistry
from visualizer.snapshots import Probe, SnapshotLog
from visualizer.user_models import check_trainable

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("constant", "cosine", "onecycle")
DEVICES = ("auto", "cpu", "cuda", "mps")
CHECKPOINT_NAME = "last.pt"


def takes_32px(spec: zoo.ModelSpec) -> bool:
    """Whether a zoo model accepts the 32×32 images of CIFAR-10 and shapes (torchvision's AlexNet needs 63)."""
    return max(spec.min_size or (1, 1)) <= 32


# What a run takes for the fields (CLI flags, Training-tab fields) left at their defaults: per dataset, the recipe
# that makes the lesson on a 2-core CPU. The notes' AlexNet (no BatchNorm) first sits at chance while Adam grows its
# small initial weights; on shapes a batch of 16 at 2.5e-4, constant, leaves that plateau soonest (in images, that
# is in seconds) on every seed tried and then learns fastest: 85-90 % after 3 epochs (README, "Training").
# Augmentation only slows a 3-epoch lesson down. CIFAR-10 keeps its earlier recipe: it cannot be downloaded where
# these were measured. The Training tab and the CLI read this table; nothing else repeats it.
DATASET_DEFAULTS: dict[str, dict[str, Any]] = {
    "shapes": {
        "epochs": 3,
        "subset": 4000,
        "test_subset": 1000,
        "batch_size": 16,
        "lr": 2.5e-4,
        "schedule": "constant",
        "augment": False,
    },
    "cifar10": {
        "epochs": 5,
        "subset": 5000,
        "test_subset": 2000,
        "batch_size": 64,
        "lr": 1e-3,
        "schedule": "cosine",
        "augment": True,
    },
}


def dataset_defaults(dataset: str) -> dict[str, Any]:
    """The recipe ``TrainConfig`` fills in for ``dataset`` (an unknown name gets cifar10's until ``validate``)."""
    return dict(DATASET_DEFAULTS.get(dataset, DATASET_DEFAULTS["cifar10"]))


# The course notes' recipe for each of their models (their optimizer, learning rate, batch and epochs, on the whole
# of CIFAR-10, no schedule, no augmentation), and the test accuracy they report: the lesson is this comparison.
_NOTES = {
    "optimizer": "adam",
    "lr": 1e-3,
    "batch_size": 32,
    "epochs": 50,
    "schedule": "constant",
    "weight_decay": 0.0,
    "augment": False,
    "subset": None,
    "test_subset": None,
}
NOTES_RECIPES: dict[str, dict[str, Any]] = {
    "alexnet_cifar": dict(_NOTES),
    "resnet18_cifar": dict(_NOTES),
    "vgg19_cifar": dict(_NOTES),
    "vgg19_finetune_cifar": {**_NOTES, "pretrained": True},
}
NOTES_ACCURACY = {"alexnet_cifar": 0.7508, "resnet18_cifar": 0.8298}  # CIFAR-10 test accuracy in the notes
NOTES_COMPARISON = ("alexnet_cifar", "resnet18_cifar", "vgg19_cifar")  # the preset queue: one recipe, three nets
RECIPES = ("dataset", "notes")  # the dataset's classroom defaults, or the notes' recipe


def recipe_values(recipe: str, model: str, dataset: str) -> dict[str, Any]:
    """The fields a named recipe sets: ``dataset`` (``DATASET_DEFAULTS``) or ``notes`` (``NOTES_RECIPES``; a
    model outside the notes gets their shared recipe)."""
    if recipe == "dataset":
        return dataset_defaults(dataset)
    if recipe == "notes":
        return dict(NOTES_RECIPES.get(zoo.get_spec(model).name if model else "", _NOTES))
    raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")


class _FromDataset:
    """The default of the recipe fields: ``TrainConfig.__post_init__`` puts in the dataset's value."""

    def __repr__(self) -> str:
        return "FROM_DATASET"


FROM_DATASET: Any = _FromDataset()


@dataclass
class TrainConfig:
    """Everything a run depends on. Fields marked FROM_DATASET, left out, take ``DATASET_DEFAULTS[dataset]``."""

    model: str = "alexnet_cifar"
    dataset: str = "cifar10"  # "cifar10" | "shapes" (synthetic)
    epochs: int = FROM_DATASET
    batch_size: int = FROM_DATASET
    lr: float = FROM_DATASET
    optimizer: str = "adam"  # "sgd" (with momentum) | "adam"
    momentum: float = 0.9  # SGD only
    weight_decay: float = 0.0
    schedule: str = FROM_DATASET  # "constant" | "cosine" | "onecycle", stepped every batch
    seed: int = 0
    device: str = "auto"  # cuda, then mps, then cpu
    subset: int | None = FROM_DATASET  # training images (None: all)
    test_subset: int | None = FROM_DATASET  # test images evaluated each epoch (None: all)
    augment: bool = FROM_DATASET  # random crop (padding 4) + horizontal flip
    pretrained: bool = False  # ImageNet weights (fine-tuning; the head is replaced for our 10 classes)
    freeze_features: bool = False  # train only the head (the course notes' "frozen features")
    data_dir: str = "./data"
    out_dir: str | None = None  # checkpoints go to out_dir/last.pt; None: runs/<time>-<model>-<dataset>
    resume: str | None = None  # checkpoint to continue from (step count and curves continue)
    log_every: int = 10  # steps between train-loss records
    amp: bool = True  # CUDA only: bfloat16 (or float16 + GradScaler) autocast
    channels_last: bool = True  # CUDA only

    def __post_init__(self) -> None:
        for name, value in dataset_defaults(self.dataset).items():
            if getattr(self, name) is FROM_DATASET:
                setattr(self, name, value)

    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the first absurd value and what would work; return self."""

        def check(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(msg)

        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        spec = zoo.get_spec(self.model)  # UnknownModelError (a ValueError) lists the valid names
        min_h, min_w = spec.min_size or (1, 1)
        check(
            takes_32px(spec),
            f"model {self.model!r} needs inputs of at least {min_h}×{min_w}, but "
            "CIFAR-10 images are 32×32; pick a *_cifar model, a VGG or a ResNet",
        )
        check(
            not self.pretrained or spec.has_pretrained,
            f"model {self.model!r} has no pretrained weights; untick 'pretrained', or fine-tune an ImageNet "
            "model (vgg*, resnet*) or vgg19_finetune_cifar",
        )
        check(
            self.resume is None or os.path.isfile(str(self.resume)),
            f"checkpoint to resume from not found: {self.resume} (a last.pt written by the trainer, e.g. "
            "runs/<run>/last.pt)",
        )
        check(self.dataset in DATASETS, f"dataset must be one of {', '.join(DATASETS)}, got {self.dataset!r}")
        check_trainable(self.model, self.dataset)  # a network of your own: its head must fit the dataset's classes
        check(is_int(self.epochs) and 1 <= self.epochs <= 1000, f"epochs must be 1..1000, got {self.epochs!r}")
        check(
            is_int(self.batch_size) and 1 <= self.batch_size <= 8192,
            f"batch_size must be 1..8192, got {self.batch_size!r}",
        )
        check(
            isinstance(self.lr, (int, float)) and 0 < self.lr <= 10 and math.isfinite(self.lr),
            f"lr must be in (0, 10], got {self.lr!r} (1e-3 for Adam, 0.01-0.1 for SGD are typical)",
        )
        check(self.optimizer in OPTIMIZERS, f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        check(
            isinstance(self.momentum, (int, float)) and 0 <= self.momentum < 1,
            f"momentum must be in [0, 1), got {self.momentum!r}",
        )
        check(
            isinstance(self.weight_decay, (int, float)) and 0 <= self.weight_decay <= 1,
            f"weight_decay must be in [0, 1], got {self.weight_decay!r} (5e-4 is typical)",
        )
        check(self.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        check(is_int(self.seed) and self.seed >= 0, f"seed must be a non-negative integer, got {self.seed!r}")
        check(self.device in DEVICES, f"device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        for name in ("subset", "test_subset"):
            v = getattr(self, name)
            check(v is None or (is_int(v) and v >= 1), f"{name} must be a positive integer or None (all), got {v!r}")
        check(is_int(self.log_every) and self.log_every >= 1, f"log_every must be >= 1, got {self.log_every!r}")
        return self

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Build from a dict (e.g. a checkpoint's config), ignoring keys this version does not know."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the run stops (no checkpoint of the broken weights)."""


class DivergedError(NonFiniteLossError):
    """The training loss rose far above where it started (``divergence_bound``): the run stops."""


# A healthy run's loss falls from its first batch's (about ln C at random init for C classes: what a chance predictor
# scores). Ten times that means the steps are throwing the weights away. The yardstick is the first *batch*: Adam at
# lr 10 reaches 1.6e24 within its first 10 steps, so the first record (their mean) is already far gone.
DIVERGENCE_FACTOR = 10.0


def divergence_bound(first_loss: float, num_classes: int) -> float:
    """The training loss above which a run whose first batch scored ``first_loss`` has diverged.

    ``DIVERGENCE_FACTOR`` × the first batch's loss, counted from chance's loss ln C at most (a run that starts worse
    than chance is judged against chance), and never below ln C itself: under it the network still beats guessing,
    and a 10× rise from a lucky first batch of a trained (resumed) network is noise.
    """
    chance = math.log(max(num_classes, 2))
    return max(chance, DIVERGENCE_FACTOR * min(first_loss, chance))


def check_loss(loss: float, acc: float, first_loss: float, num_classes: int, step: int, epoch: int, lr: float) -> None:
    """Raise ``NonFiniteLossError`` for a NaN/inf ``loss`` or ``DivergedError`` above ``divergence_bound``, saying
    where, and what to try: the same advice for both (a learning rate ten times lower)."""
    advice = f"Lower the learning rate (it was {lr:.3g}; try {lr / 10:.3g}) or use a schedule with warm-up (onecycle)"
    where = f"at step {step} (epoch {epoch})"
    if not math.isfinite(loss):
        raise NonFiniteLossError(f"training loss became {loss} {where}; the run is stopped. {advice}")
    bound = divergence_bound(first_loss, num_classes)
    if loss <= bound:
        return
    chance = math.log(max(num_classes, 2))
    if bound > chance:
        how = f"more than {DIVERGENCE_FACTOR:g}× where it started ({first_loss:.3g}, its first batch)"
    else:
        how = f"from {first_loss:.3g} at its first batch to worse than guessing (ln {num_classes} = {chance:.3g})"
    raise DivergedError(
        f"training loss rose to {loss:.3g} {where}, {how}, with accuracy {acc:.0%} (chance: {1 / num_classes:.0%}): "
        f"the run diverged and is stopped. {advice}"
    )


class MetricsLog:
    """Thread-safe, append-only training records; reads are a lock and a list copy, never a wait on training.

    ``steps``: ``{epoch, step, loss, acc, lr, images_per_sec}`` every ``log_every`` steps;
    ``epochs``: ``{epoch, step, test_loss, test_acc, train_loss, train_acc, ...}`` at each epoch end;
    ``final``: ``{class_names, confusion_matrix, per_class_acc}`` when the run ends.
    Records are never changed once appended, so readers may share them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: list[dict] = []
        self._epochs: list[dict] = []
        self._final: dict | None = None
        self._progress: dict = {}

    def add_step(self, record: dict) -> None:
        with self._lock:
            self._steps.append(record)

    def add_epoch(self, record: dict) -> None:
        with self._lock:
            self._epochs.append(record)

    def set_final(self, final: dict | None) -> None:
        with self._lock:
            self._final = final

    def update_progress(self, **fields: Any) -> None:
        with self._lock:
            self._progress = {**self._progress, **fields}

    def progress(self) -> dict:
        with self._lock:
            return dict(self._progress)

    def snapshot(self) -> dict:
        """``{"steps": [...], "epochs": [...], "final": {...} | None}`` (new lists; plain types)."""
        with self._lock:
            return {"steps": list(self._steps), "epochs": list(self._epochs), "final": self._final}

    def restore(self, metrics: dict) -> None:
        """Continue the curves of a checkpoint (its ``metrics`` dict)."""
        with self._lock:
            self._steps = list(metrics.get("steps", []))
            self._epochs = list(metrics.get("epochs", []))
            self._final = None


class RunControl:
    """Pause/resume/stop requests from another thread, honoured between batches. ``events``: a factory of
    ``threading.Event``-like flags (a multiprocessing context's ``Event`` for a run in a process of its own,
    ``run_process``); the control then travels to that process with the run."""

    def __init__(self, events: Callable[[], Any] = threading.Event) -> None:
        self._stop = events()
        self._go = events()
        self._go.set()

    def pause(self) -> None:
        self._go.clear()

    def resume(self) -> None:
        self._go.set()

    def stop(self) -> None:
        self._stop.set()
        self._go.set()  # wake a paused loop so it can stop

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def paused(self) -> bool:
        return not self._go.is_set()

    def wait_while_paused(self) -> float:
        """Block while paused; return the seconds spent waiting (excluded from elapsed time)."""
        if self._go.is_set():
            return 0.0
        t0 = time.perf_counter()
        self._go.wait()
        return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------- pieces


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: cuda, then mps, then cpu. Under torchrun each process takes GPU ``LOCAL_RANK``."""
    cuda_ok = torch.cuda.is_available()
    mps_ok = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda_ok else ("mps" if mps_ok else "cpu")
    if name == "cuda":
        if not cuda_ok:
            raise ValueError("device 'cuda' requested but no CUDA GPU is available; use device 'auto' or 'cpu'")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if name == "mps" and not mps_ok:
        raise ValueError("device 'mps' requested but Apple MPS is not available; use device 'auto' or 'cpu'")
    return torch.device(name)


def learning_rate(config: TrainConfig, step: int, total_steps: int) -> float:
    """The schedule as a pure function of the step, so a resumed run lands on the same curve."""
    t = min(step / max(total_steps, 1), 1.0)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1 + math.cos(math.pi * t))
    if config.schedule == "onecycle":  # torch's OneCycleLR defaults: 30 % warm-up from lr/25, down to lr/25e4
        warm, low, end = 0.3, config.lr / 25, config.lr / 25e4
        if t < warm:
            return low + (config.lr - low) * (1 - math.cos(math.pi * t / warm)) / 2
        return end + (config.lr - end) * (1 + math.cos(math.pi * (t - warm) / (1 - warm))) / 2
    return config.lr


def build_model(config: TrainConfig, num_classes: int) -> nn.Module:
    """The zoo model with a ``num_classes`` head; ImageNet weights and frozen features if asked."""
    model = zoo.create_model(config.model, pretrained=config.pretrained, num_classes=num_classes)
    if config.freeze_features:
        freeze_features(model)
    return model


def freeze_features(model: nn.Module) -> None:
    """Freeze the convolutional part: ``model.features`` (AlexNet/VGG) or everything but the last Linear."""
    if isinstance(getattr(model, "features", None), nn.Module):
        frozen = model.features.parameters()
    else:
        head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
        keep = {id(p) for p in head.parameters()}
        frozen = (p for p in model.parameters() if id(p) not in keep)
    for p in frozen:
        p.requires_grad_(False)


def make_optimizer(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    # fused (CPU and CUDA): every parameter updated by one kernel call per step; foreach elsewhere: a few multi-tensor
    # ops instead of a Python loop of small ones per tensor. The same update (Adam over 20 steps: 7e-9 apart); the
    # trainer shares its process's GIL with the server answering a class, and each op is one more wait for it —
    # foreach's Adam alone reads every step count back (``.item()``, 2 per parameter). alexnet_cifar's step (batch
    # 32) beside two busy Python threads: foreach 0.90, fused 0.99 steps/s; alone 5.2 and 5.7 (same run).
    params = [p for p in model.parameters() if p.requires_grad]
    fused = bool(params) and all(p.device.type in ("cpu", "cuda") for p in params)
    impl = {"fused": True} if fused else {"foreach": True}
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, **impl)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay, **impl)


def default_out_dir(config: TrainConfig) -> Path:
    safe_model = "".join(c if c.isalnum() or c in "_-" else "-" for c in config.model)
    return runs_dir() / f"{time.strftime('%Y%m%d-%H%M%S')}-{safe_model}-{config.dataset}"


def _dist_info() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _accumulator_dtype(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def _all_reduce(t: torch.Tensor, world: int) -> torch.Tensor:
    if world > 1:
        dist.all_reduce(t)
    return t


def _load_split(
    config: TrainConfig,
    train: bool,
    rank: int,
    world: int,
    progress: Callable[[str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ImageData:
    # Under torchrun, rank 0 downloads/extracts first; the others then read the finished files.
    if world > 1 and rank != 0:
        dist.barrier()
    n = config.subset if train else config.test_subset
    if config.dataset == "shapes":  # generated: make just the images asked for
        data = load_shapes(train=train, seed=config.seed, n=n, should_stop=should_stop)
    else:
        data = interruptible(
            lambda: load_dataset(
                config.dataset, train=train, data_dir=config.data_dir, seed=config.seed, progress=progress
            ),
            should_stop,
        )
    if world > 1 and rank == 0:
        dist.barrier()
    return data.subset(n, seed=config.seed + (0 if train else 1))


@torch.no_grad()
def evaluate(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    normalize: Normalizer,
    num_classes: int,
    batch_size: int = 500,
    autocast=contextlib.nullcontext,
    control: RunControl | None = None,
    memory_format=torch.contiguous_format,
) -> dict | None:
    """Test loss, accuracy and confusion matrix (rows: true class); this rank's shard, summed over ranks.

    Returns None if a stop was requested midway.
    """
    rank, world = _dist_info()
    was_training = model.training
    model.eval()
    idx_all = torch.arange(rank, len(labels), world, device=labels.device)  # every world-th image
    acc_dtype = _accumulator_dtype(labels.device)
    confusion = torch.zeros(num_classes * num_classes, dtype=acc_dtype, device=labels.device)
    loss_sum = torch.zeros((), dtype=acc_dtype, device=labels.device)
    for i in range(0, len(idx_all), batch_size):
        if control is not None:
            control.wait_while_paused()
            if control.stop_requested:
                model.train(was_training)
                return None
        idx = idx_all[i : i + batch_size]
        x = normalize(images[idx]).contiguous(memory_format=memory_format)
        y = labels[idx]
        with autocast():
            out = model(x)
        loss_sum += F.cross_entropy(out.float(), y, reduction="sum").to(acc_dtype)
        confusion += torch.bincount(y * num_classes + out.argmax(1), minlength=num_classes**2).to(acc_dtype)
    model.train(was_training)
    stats = _all_reduce(torch.cat([loss_sum.view(1), confusion]), world).cpu()
    cm = stats[1:].view(num_classes, num_classes).long()
    n = int(cm.sum())
    per_class = (cm.diag().double() / cm.sum(1).clamp(min=1)).tolist()
    return {
        "test_loss": float(stats[0]) / max(n, 1),
        "test_acc": float(cm.diag().sum()) / max(n, 1),
        "confusion_matrix": cm.tolist(),
        "per_class_acc": per_class,
    }


# ---------------------------------------------------------------------------------------------- the loop


def train(
    config: TrainConfig,
    log: MetricsLog | None = None,
    control: RunControl | None = None,
    on_event: Callable[[dict], None] | None = None,
    snapshots: SnapshotLog | None = None,
    publish_to: WeightsRegistry | None = None,
) -> dict:
    """Run (or resume) a training run; return the ``done`` record.

    Records go to ``log`` (and to ``on_event``, e.g. the CLI's JSON lines); only rank 0 records and
    writes checkpoints. ``control`` lets another thread pause, resume or stop between batches.
    ``snapshots`` (rank 0) gets pictures of the network and its weights between batches, at epoch ends,
    on pause and on stop. ``publish_to`` (rank 0) gets the path of each checkpoint written.
    Raises ``ValueError`` for a bad config, ``CheckpointError``, ``DatasetUnavailableError``, and
    ``NonFiniteLossError`` (or its ``DivergedError``) when the loss becomes NaN/inf or explodes.
    """
    config.validate()
    run = Run(config, log if log is not None else MetricsLog(), control, on_event, publish_to)
    try:  # a stop while the data are generated or downloaded, or the model built, ends the run before any step
        run.load_data()
        run.build_model()
    except LoadingStopped as exc:
        return run.stopped_before_training(str(exc))
    run.resume_from_checkpoint()
    run.begin(snapshots)

    status, evaluation, epoch = "finished", None, run.start_epoch
    for epoch in range(run.start_epoch, config.epochs):
        if not run.train_epoch(epoch):
            status = "stopped"
            break
        evaluation = run.evaluate_epoch(epoch)
        if evaluation is None:
            status = "stopped"
            break
        run.record_epoch(epoch, evaluation)
        run.save_checkpoint(epoch + 1)
        run.snapshot(epoch + 1, epoch_end=True)
    else:
        epoch = config.epochs
    if status == "stopped":
        run.save_checkpoint(epoch)  # epochs fully done; the step says where inside the next one it was
        run.snapshot(epoch)
    return run.done(status, epoch, evaluation)


class _Clock:
    """Training time without the pauses: elapsed seconds, and the interval since the last step record."""

    def __init__(self) -> None:
        self.start = self.interval_start = time.perf_counter()
        self.paused_s = 0.0

    def paused(self, seconds: float) -> None:
        self.paused_s += seconds
        self.interval_start += seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.start - self.paused_s

    def lap(self) -> float:
        """Seconds since the interval began (or the last lap); a new interval begins."""
        now = time.perf_counter()
        seconds, self.interval_start = now - self.interval_start, now
        return seconds


class Run:
    """One training run's state, and its phases as methods, in the order ``train`` calls them.

    Everything a phase needs from an earlier one is an attribute here: the data (whole splits on the device), the
    model (and its DDP wrapper, optimizer, AMP scaler), the step counter and the sums of the records in progress.
    """

    # Set by the phases, in order: load_data, build_model, begin, train_epoch / optimisation_step.
    train_set: ImageData
    test_set: ImageData
    class_names: list[str]
    num_classes: int
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    train_model: nn.Module  # the model, or its DistributedDataParallel wrapper under torchrun
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    sampler: torch.utils.data.DistributedSampler
    steps_per_epoch: int
    total_steps: int
    aug_gen: torch.Generator
    clock: _Clock
    steps_this_run: int
    lr: float  # the last step's
    interval: torch.Tensor  # [loss * n, correct, n] since the last step record, on the device
    epoch_sums: torch.Tensor  # the same over the epoch's records

    def __init__(
        self,
        config: TrainConfig,
        log: MetricsLog,
        control: RunControl | None,
        on_event: Callable[[dict], None] | None,
        publish_to: WeightsRegistry | None,
    ) -> None:
        self.config, self.log, self.control, self.on_event = config, log, control, on_event
        self.rank, self.world = _dist_info()
        self.is_main = self.rank == 0
        self.publish_to = publish_to if self.is_main else None
        self.device = resolve_device(config.device)
        self.on_cuda = self.device.type == "cuda"
        if self.on_cuda:
            torch.backends.cudnn.benchmark = True  # fixed 32×32 shapes: let cuDNN pick its fastest kernels
        self.spec = zoo.get_spec(config.model)
        self.normalize = Normalizer(self.spec.mean, self.spec.std, self.device)
        use_channels_last = self.on_cuda and config.channels_last
        self.memory_format = torch.channels_last if use_channels_last else torch.contiguous_format
        self.amp_dtype = torch.bfloat16 if (self.on_cuda and torch.cuda.is_bf16_supported()) else torch.float16
        self.use_amp = self.on_cuda and config.amp
        self.acc_dtype = _accumulator_dtype(self.device)
        self.checkpoint_path = Path(config.out_dir or default_out_dir(config)) / CHECKPOINT_NAME
        self.last_checkpoint: str | None = None
        self.start_epoch, self.step = 0, 0
        self.snapshots: SnapshotLog | None = None
        self.first_loss: float | None = None  # the run's first batch's, the same on every rank: see check_loss

    def emit(self, kind: str, record: dict) -> None:
        """A record for the log and ``on_event`` (rank 0 only)."""
        if not self.is_main:
            return
        if kind == "step":
            self.log.add_step(record)
        elif kind == "epoch":
            self.log.add_epoch(record)
        if self.on_event is not None:
            self.on_event({"event": kind, **record})

    def images_seen(self) -> int:
        """Training images through the network so far, over all ranks (every batch is full: the ragged one is
        dropped), the x axis on which runs of different batch sizes compare."""
        return self.step * self.config.batch_size * self.world

    def autocast(self):
        return torch.autocast("cuda", dtype=self.amp_dtype) if self.use_amp else contextlib.nullcontext()

    # ------------------------------------------------------------------------------- before the first step

    def load_data(self) -> None:
        """Both splits, as uint8 CPU tensors (``LoadingStopped`` on a stop while they are generated or read)."""
        config = self.config
        self.log.update_progress(message=f"loading {config.dataset} data")
        should_stop = (lambda: self.control.stop_requested) if self.control is not None else None

        def split(train: bool) -> ImageData:
            return _load_split(config, train, self.rank, self.world, self._data_progress, should_stop)

        self.train_set, self.test_set = split(True), split(False)
        self.class_names = self.train_set.class_names
        self.num_classes = len(self.class_names)

    def _data_progress(self, message: str) -> None:
        self.log.update_progress(message=message)

    def build_model(self) -> None:
        """The model (seeded: the same initial weights on every rank and every run), on the device, and its
        optimizer; ``LoadingStopped`` if a stop was asked for while it was built."""
        torch.manual_seed(self.config.seed)
        model = build_model(self.config, self.num_classes)
        if self.control is not None and self.control.stop_requested:
            raise LoadingStopped("stopped while the model was being built")
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.optimizer = make_optimizer(self.config, self.model)
        # float16 needs its gradients scaled (bfloat16 has float32's range); disabled, the scaler passes through.
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and self.amp_dtype == torch.float16)

    def resume_from_checkpoint(self) -> None:
        """With ``config.resume``: its weights, optimizer state, epoch and step, and (rank 0) its curves."""
        path = self.config.resume
        if not path:
            return
        ckpt = load_checkpoint(path)
        if ckpt["model_name"] != self.spec.name:
            raise CheckpointError(
                f"checkpoint {path} is for model {ckpt['model_name']!r}, not {self.spec.name!r}; "
                f"train {ckpt['model_name']} to resume it"
            )
        load_model_state(self.model, ckpt, source=f"checkpoint {path}")
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {path}: optimizer state does not fit ({exc})") from exc
        self.start_epoch, self.step = ckpt["epoch"], ckpt["step"]
        if self.is_main:
            self.log.restore(ckpt["metrics"])

    def begin(self, snapshots: SnapshotLog | None) -> None:
        """Data to the device, DDP, the schedule's length, the first snapshot; the clock starts."""
        config, device = self.config, self.device
        self.train_model = self.model
        if self.world > 1:
            device_ids = [device.index] if self.on_cuda else None
            self.train_model = nn.parallel.DistributedDataParallel(self.model, device_ids=device_ids)
        # Whole splits live on the training device as uint8: a batch is one gather, no DataLoader workers.
        self.train_x, self.train_y = self.train_set.images.to(device), self.train_set.labels.to(device)
        self.test_x, self.test_y = self.test_set.images.to(device), self.test_set.labels.to(device)
        self.sampler = torch.utils.data.DistributedSampler(
            range(len(self.train_set)), num_replicas=self.world, rank=self.rank, shuffle=True, seed=config.seed
        )
        # Drop the ragged last batch (BatchNorm dislikes a batch of 1).
        self.steps_per_epoch = max(1, self.sampler.num_samples // config.batch_size)
        self.total_steps = config.epochs * self.steps_per_epoch
        self.aug_gen = torch.Generator(device=device)
        if snapshots is not None and self.is_main:
            label = int(self.test_set.labels[0])
            probe = Probe(self.test_set.images[0], label, self.class_names[label], 0)
            probe_input = self.normalize(self.test_x[:1])
            snapshots.begin(
                self.model, self.spec.name, self.class_names, probe, probe_input, self.start_epoch, self.step
            )
            self.snapshots = snapshots
        self.clock, self.steps_this_run = _Clock(), 0
        self.log.update_progress(
            message="training",
            epoch=self.start_epoch + 1,
            epochs=config.epochs,
            step=self.step,
            total_steps=self.total_steps,
            synthetic=self.train_set.synthetic,
        )

    # ------------------------------------------------------------------------------------------- an epoch

    def train_epoch(self, epoch: int) -> bool:
        """One epoch's batches (a resumed run skips those it did); False when a stop was asked for."""
        bs = self.config.batch_size
        self.sampler.set_epoch(epoch)
        order = torch.tensor(list(self.sampler), dtype=torch.int64)[: self.steps_per_epoch * bs].to(self.device)
        # Resuming mid-epoch: the order is a function of (seed, epoch), so skip the batches already done.
        first = min(max(self.step - epoch * self.steps_per_epoch, 0), self.steps_per_epoch)
        self.train_model.train()
        zero = torch.zeros(3, dtype=self.acc_dtype, device=self.device)
        self.interval, self.epoch_sums = zero.clone(), zero.clone()  # [loss * n, correct, n], summed on the device
        self.clock.lap()
        for b in range(first, self.steps_per_epoch):
            if not self.between_batches(epoch):
                return False
            self.optimisation_step(order[b * bs : (b + 1) * bs])
            if self.step % self.config.log_every == 0 or b == self.steps_per_epoch - 1:
                self.record_step(epoch)
        return True

    def between_batches(self, epoch: int) -> bool:
        """Honour a pause (with a snapshot of the weights it waits with) and a stop; take a snapshot when due.
        False when a stop was asked for."""
        if self.control is not None:
            if self.control.paused and self.snapshots is not None:
                self.snapshots.take(self.model, epoch, self.step, paused=True)  # what the page shows while paused
            self.clock.paused(self.control.wait_while_paused())
            if self.control.stop_requested:
                return False
        if self.snapshots is not None and self.snapshots.due():
            self.snapshots.take(self.model, epoch, self.step)
        return True

    def optimisation_step(self, idx: torch.Tensor) -> None:
        """One batch: augment, normalize, forward, backward, step at the schedule's rate; add to the sums."""
        config = self.config
        x, y = self.train_x[idx], self.train_y[idx]
        if config.augment:
            # Crops and flips are a function of (seed, rank, step): a resumed run replays them exactly.
            self.aug_gen.manual_seed(hash((config.seed, self.rank, self.step)) & 0x7FFF_FFFF_FFFF_FFFF)
            x = random_crop_flip(x, padding=4, generator=self.aug_gen)
        x = self.normalize(x).contiguous(memory_format=self.memory_format)
        self.lr = learning_rate(config, self.step, self.total_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        with self.autocast():
            out = self.train_model(x)
            loss = F.cross_entropy(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.step += 1
        self.steps_this_run += 1
        loss_sum = loss.detach().to(self.acc_dtype) * len(y)
        if self.first_loss is None:  # the yardstick for divergence: one read-back (a sync) per run
            first = _all_reduce(torch.stack([loss_sum, loss_sum.new_tensor(len(y))]), self.world).tolist()
            self.first_loss = first[0] / first[1]
        # Accumulate on the device; read back (a sync) only when a record is due.
        self.interval[0] += loss_sum
        self.interval[1] += (out.argmax(1) == y).sum()
        self.interval[2] += len(y)

    def record_step(self, epoch: int) -> None:
        """The interval's mean loss and accuracy (summed over ranks): checked, recorded, and the progress."""
        sums = _all_reduce(self.interval.clone(), self.world).tolist()
        self.epoch_sums += self.interval
        self.interval.zero_()
        loss, acc = sums[0] / sums[2], sums[1] / sums[2]
        check_loss(loss, acc, self.first_loss, self.num_classes, self.step, epoch + 1, self.lr)
        images_per_sec = sums[2] / max(self.clock.lap(), 1e-9)
        elapsed = self.clock.elapsed()
        eta = elapsed / self.steps_this_run * (self.total_steps - self.step)
        self.emit(
            "step",
            {
                "epoch": epoch + 1,
                "step": self.step,
                "loss": loss,
                "acc": acc,
                "lr": self.lr,
                "images_per_sec": images_per_sec,
                "images": self.images_seen(),
                "elapsed_s": elapsed,
            },
        )
        self.log.update_progress(
            epoch=epoch + 1, step=self.step, images_per_sec=images_per_sec, elapsed_s=elapsed, eta_s=eta
        )

    # --------------------------------------------------------------------------------------- epoch ends

    def evaluate_epoch(self, epoch: int) -> dict | None:
        """``evaluate`` on the test split (rank 0's weights on every rank); None when a stop was asked for."""
        self.log.update_progress(message=f"evaluating epoch {epoch + 1}")
        if self.world > 1:
            # DDP hands rank 0's buffers (BatchNorm's running statistics) to the others at the start of each forward,
            # so after the last one every rank holds its own: evaluate rank 0's, the ones the checkpoint keeps.
            for buffer in self.model.buffers():
                dist.broadcast(buffer, 0)
        evaluation = evaluate(
            self.model,
            self.test_x,
            self.test_y,
            self.normalize,
            self.num_classes,
            autocast=self.autocast,
            control=self.control,
            memory_format=self.memory_format,
        )
        self.log.update_progress(message="training")
        return evaluation

    def record_epoch(self, epoch: int, evaluation: dict) -> None:
        sums = _all_reduce(self.epoch_sums.clone(), self.world).tolist()
        self.emit(
            "epoch",
            {
                "epoch": epoch + 1,
                "step": self.step,
                "test_loss": evaluation["test_loss"],
                "test_acc": evaluation["test_acc"],
                "train_loss": sums[0] / sums[2] if sums[2] else None,
                "train_acc": sums[1] / sums[2] if sums[2] else None,
                "lr": learning_rate(self.config, self.step, self.total_steps),
                "elapsed_s": self.clock.elapsed(),
                "images": self.images_seen(),
            },
        )

    def save_checkpoint(self, epochs_done: int) -> None:
        """Rank 0: ``out_dir/last.pt``, with the curves so far; published to ``publish_to``."""
        if not self.is_main:
            return
        ckpt = make_checkpoint(
            model_name=self.spec.name,
            class_names=self.class_names,
            model=self.model,
            optimizer=self.optimizer,
            config=self.config.to_dict(),
            epoch=epochs_done,
            step=self.step,
            metrics=self.log.snapshot(),
            built=zoo.build_record(self.spec.name, self.num_classes),  # how a network of your own was built
        )
        self.last_checkpoint = str(save_checkpoint(ckpt, self.checkpoint_path))
        self.log.update_progress(last_checkpoint=self.last_checkpoint)
        if self.publish_to is not None:
            self.publish_to.publish_checkpoint(self.last_checkpoint)

    def snapshot(self, epochs_done: int, epoch_end: bool = False) -> None:
        if self.snapshots is not None:
            self.snapshots.take(self.model, epochs_done, self.step, epoch_end=epoch_end)

    # ---------------------------------------------------------------------------------------------- the end

    def done(self, status: str, epochs_done: int, evaluation: dict | None) -> dict:
        """The ``done`` record (emitted), with the last evaluation's confusion matrix as the log's final."""
        final = None
        if evaluation is not None:
            final = {
                "class_names": self.class_names,
                "confusion_matrix": evaluation["confusion_matrix"],
                "per_class_acc": evaluation["per_class_acc"],
            }
            if self.is_main:
                self.log.set_final(final)
        epochs_log = self.log.snapshot()["epochs"]
        done = {
            "status": status,
            "model": self.spec.name,
            "dataset": self.config.dataset,
            "synthetic": self.train_set.synthetic,
            "epochs": self.config.epochs,
            "epochs_done": epochs_done,
            "step": self.step,
            "total_steps": self.total_steps,
            "images": self.images_seen(),
            "test_acc": epochs_log[-1]["test_acc"] if epochs_log else None,
            "best_test_acc": max((e["test_acc"] for e in epochs_log), default=None),
            "elapsed_s": self.clock.elapsed(),
            "checkpoint": self.last_checkpoint,
            "per_class_acc": dict(zip(self.class_names, final["per_class_acc"])) if final else None,
        }
        self.emit("done", done)
        self.log.update_progress(message=status, eta_s=0.0 if status == "finished" else None)
        return done

    def stopped_before_training(self, why: str) -> dict:
        """The ``done`` record of a run stopped before its first step (while loading data or building)."""
        config = self.config
        done = {
            "status": "stopped",
            "model": config.model,
            "dataset": config.dataset,
            "synthetic": None,
            "epochs": config.epochs,
            "epochs_done": 0,
            "step": 0,
            "total_steps": 0,
            "images": 0,
            "test_acc": None,
            "best_test_acc": None,
            "elapsed_s": 0.0,
            "checkpoint": None,
            "per_class_acc": None,
            "detail": why,
        }
        self.emit("done", done)
        self.log.update_progress(message=f"stopped ({why})", eta_s=None)
        return done


__all__ = [
    "CHECKPOINT_NAME",
    "DATASET_DEFAULTS",
    "FROM_DATASET",
    "NOTES_ACCURACY",
    "NOTES_COMPARISON",
    "NOTES_RECIPES",
    "RECIPES",
    "DivergedError",
    "MetricsLog",
    "NonFiniteLossError",
    "Run",
    "RunControl",
    "TrainConfig",
    "build_model",
    "check_loss",
    "dataset_defaults",
    "divergence_bound",
    "evaluate",
    "freeze_features",
    "learning_rate",
    "make_optimizer",
    "recipe_values",
    "resolve_device",
    "train",
]
