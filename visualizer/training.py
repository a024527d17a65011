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
from visualizer.snapshots import Probe, SnapshotLog

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
    """The training loss rose far above where it started (``DIVERGENCE_FACTOR``×): the run stops."""


# A healthy run's loss falls from its start (ln 10 ≈ 2.3 for 10 classes); ten times the first value means the
# steps are throwing the weights away (Adam at lr 10 reached 6.7e13 and "finished" at chance).
DIVERGENCE_FACTOR = 10.0


def _stopped_before_training(config: TrainConfig, log: MetricsLog, why: str, emit) -> dict:
    """The ``done`` record of a run stopped before its first step (while loading data or building)."""
    done = {
        "status": "stopped",
        "model": config.model,
        "dataset": config.dataset,
        "synthetic": None,
        "epochs": config.epochs,
        "epochs_done": 0,
        "step": 0,
        "total_steps": 0,
        "test_acc": None,
        "best_test_acc": None,
        "elapsed_s": 0.0,
        "checkpoint": None,
        "per_class_acc": None,
        "detail": why,
    }
    emit("done", done)
    log.update_progress(message=f"stopped ({why})", eta_s=None)
    return done


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
    """Pause/resume/stop requests from another thread, honoured between batches."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._go = threading.Event()
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
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def default_out_dir(config: TrainConfig) -> Path:
    from visualizer.budgets.runs import runs_dir

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
) -> dict:
    """Run (or resume) a training run; return the ``done`` record.

    Records go to ``log`` (and to ``on_event``, e.g. the CLI's JSON lines); only rank 0 records and
    writes checkpoints. ``control`` lets another thread pause, resume or stop between batches.
    ``snapshots`` (rank 0) gets pictures of the network and its weights between batches, at epoch ends,
    on pause and on stop.
    Raises ``ValueError`` for a bad config, ``CheckpointError``, ``DatasetUnavailableError``, and
    ``NonFiniteLossError`` when the loss becomes NaN/inf.
    """
    config.validate()
    log = log if log is not None else MetricsLog()
    rank, world = _dist_info()
    is_main = rank == 0

    def emit(kind: str, record: dict) -> None:
        if not is_main:
            return
        if kind == "step":
            log.add_step(record)
        elif kind == "epoch":
            log.add_epoch(record)
        if on_event is not None:
            on_event({"event": kind, **record})

    device = resolve_device(config.device)
    on_cuda = device.type == "cuda"
    if on_cuda:
        torch.backends.cudnn.benchmark = True  # fixed 32×32 shapes: let cuDNN pick its fastest kernels
    log.update_progress(message=f"loading {config.dataset} data")

    def data_progress(message: str) -> None:
        log.update_progress(message=message)

    should_stop = (lambda: control.stop_requested) if control is not None else None
    try:  # a stop while the data are generated or downloaded ends the run at once, before any training
        train_set = _load_split(
            config, train=True, rank=rank, world=world, progress=data_progress, should_stop=should_stop
        )
        test_set = _load_split(
            config, train=False, rank=rank, world=world, progress=data_progress, should_stop=should_stop
        )
    except LoadingStopped as exc:
        return _stopped_before_training(config, log, str(exc), emit)
    class_names = train_set.class_names
    num_classes = len(class_names)

    torch.manual_seed(config.seed)  # same initial weights on every rank and every run
    model = build_model(config, num_classes)
    if should_stop is not None and should_stop():
        return _stopped_before_training(config, log, "stopped while the model was being built", emit)
    spec = zoo.get_spec(config.model)
    normalize = Normalizer(spec.mean, spec.std, device)
    memory_format = torch.channels_last if (on_cuda and config.channels_last) else torch.contiguous_format
    model = model.to(device, memory_format=memory_format)
    optimizer = make_optimizer(config, model)

    start_epoch, step = 0, 0
    if config.resume:
        ckpt = load_checkpoint(config.resume)
        if ckpt["model_name"] != spec.name:
            raise CheckpointError(
                f"checkpoint {config.resume} is for model {ckpt['model_name']!r}, not {spec.name!r}; "
                f"train {ckpt['model_name']} to resume it"
            )
        load_model_state(model, ckpt, source=f"checkpoint {config.resume}")
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
        except (ValueError, KeyError) as exc:
            raise CheckpointError(f"checkpoint {config.resume}: optimizer state does not fit ({exc})") from exc
        start_epoch, step = ckpt["epoch"], ckpt["step"]
        if is_main:
            log.restore(ckpt["metrics"])

    train_model = model
    if world > 1:
        train_model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if on_cuda else None)

    # Whole splits live on the training device as uint8: a batch is one gather, no DataLoader workers.
    train_x, train_y = train_set.images.to(device), train_set.labels.to(device)
    test_x, test_y = test_set.images.to(device), test_set.labels.to(device)
    sampler = torch.utils.data.DistributedSampler(
        range(len(train_set)), num_replicas=world, rank=rank, shuffle=True, seed=config.seed
    )
    bs = config.batch_size
    steps_per_epoch = max(1, sampler.num_samples // bs)  # drop the ragged last batch (BatchNorm dislikes size 1)
    total_steps = config.epochs * steps_per_epoch

    amp_dtype = torch.bfloat16 if (on_cuda and torch.cuda.is_bf16_supported()) else torch.float16
    use_amp = on_cuda and config.amp
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)

    def autocast():
        return torch.autocast("cuda", dtype=amp_dtype) if use_amp else contextlib.nullcontext()

    ckpt_path = Path(config.out_dir or default_out_dir(config)) / CHECKPOINT_NAME
    last_checkpoint: str | None = None

    def save(epochs_done: int) -> None:
        nonlocal last_checkpoint
        if is_main:
            ckpt = make_checkpoint(
                model_name=spec.name,
                class_names=class_names,
                model=model,
                optimizer=optimizer,
                config=config.to_dict(),
                epoch=epochs_done,
                step=step,
                metrics=log.snapshot(),
            )
            last_checkpoint = str(save_checkpoint(ckpt, ckpt_path))
            log.update_progress(last_checkpoint=last_checkpoint)

    if snapshots is not None and is_main:
        probe = Probe(test_set.images[0], int(test_set.labels[0]), class_names[int(test_set.labels[0])], 0)
        snapshots.begin(model, spec.name, class_names, probe, normalize(test_x[:1]), start_epoch, step)
    else:
        snapshots = None

    aug_gen = torch.Generator(device=device)
    run_start, paused_s, steps_this_run = time.perf_counter(), 0.0, 0
    # Where the loss started in this run (the same all-reduced number on every rank): the yardstick for divergence.
    first_loss: float | None = None
    status, evaluation, epoch = "finished", None, start_epoch
    log.update_progress(
        message="training",
        epoch=start_epoch + 1,
        epochs=config.epochs,
        step=step,
        total_steps=total_steps,
        synthetic=train_set.synthetic,
    )

    for epoch in range(start_epoch, config.epochs):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), dtype=torch.int64)[: steps_per_epoch * bs].to(device)
        # Resuming mid-epoch: the order is a function of (seed, epoch), so skip the batches already done.
        first = min(max(step - epoch * steps_per_epoch, 0), steps_per_epoch)
        train_model.train()
        acc_dtype = _accumulator_dtype(device)
        zero = torch.zeros(3, dtype=acc_dtype, device=device)
        interval, epoch_sums = zero.clone(), zero.clone()  # [loss * n, correct, n]
        t_interval = time.perf_counter()
        for b in range(first, steps_per_epoch):
            if control is not None:
                if control.paused and snapshots is not None:
                    snapshots.take(model, epoch, step, paused=True)  # the page shows the weights it waits with
                waited = control.wait_while_paused()
                paused_s, t_interval = paused_s + waited, t_interval + waited
                if control.stop_requested:
                    status = "stopped"
                    break
            if snapshots is not None and snapshots.due():
                snapshots.take(model, epoch, step)
            idx = order[b * bs : (b + 1) * bs]
            x, y = train_x[idx], train_y[idx]
            if config.augment:
                # Crops and flips are a function of (seed, rank, step): a resumed run replays them exactly.
                aug_gen.manual_seed(hash((config.seed, rank, step)) & 0x7FFF_FFFF_FFFF_FFFF)
                x = random_crop_flip(x, padding=4, generator=aug_gen)
            x = normalize(x).contiguous(memory_format=memory_format)
            lr = learning_rate(config, step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            with autocast():
                out = train_model(x)
                loss = F.cross_entropy(out, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            step += 1
            steps_this_run += 1
            # Accumulate on the device; read back (a sync) only when a record is due.
            interval[0] += loss.detach().to(acc_dtype) * len(y)
            interval[1] += (out.argmax(1) == y).sum()
            interval[2] += len(y)
            if step % config.log_every == 0 or b == steps_per_epoch - 1:
                sums = _all_reduce(interval.clone(), world).tolist()
                epoch_sums += interval
                interval.zero_()
                mean_loss = sums[0] / sums[2]
                if not math.isfinite(mean_loss):
                    raise NonFiniteLossError(
                        f"training loss became {mean_loss} at step {step} (epoch {epoch + 1}); the run is stopped. "
                        f"Lower the learning rate (it was {lr:.3g}) or use a schedule with warm-up (onecycle)"
                    )
                first_loss = mean_loss if first_loss is None else first_loss
                if mean_loss > DIVERGENCE_FACTOR * max(first_loss, 1.0):
                    raise DivergedError(
                        f"training loss rose to {mean_loss:.3g} at step {step} (epoch {epoch + 1}), more than "
                        f"{DIVERGENCE_FACTOR:g}× where it started ({first_loss:.3g}): the run diverged and is stopped. "
                        f"Lower the learning rate (it was {lr:.3g}; try {lr / 10:.3g}) or use a schedule with "
                        "warm-up (onecycle)"
                    )
                now = time.perf_counter()
                elapsed = now - run_start - paused_s
                ips = sums[2] / max(now - t_interval, 1e-9)
                t_interval = now
                eta = elapsed / steps_this_run * (total_steps - step)
                emit(
                    "step",
                    {
                        "epoch": epoch + 1,
                        "step": step,
                        "loss": mean_loss,
                        "acc": sums[1] / sums[2],
                        "lr": lr,
                        "images_per_sec": ips,
                    },
                )
                log.update_progress(epoch=epoch + 1, step=step, images_per_sec=ips, elapsed_s=elapsed, eta_s=eta)
        if status == "stopped":
            break

        log.update_progress(message=f"evaluating epoch {epoch + 1}")
        if world > 1:
            # DDP hands rank 0's buffers (BatchNorm's running statistics) to the others at the start of each forward,
            # so after the last one every rank holds its own: evaluate rank 0's, the ones the checkpoint keeps.
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)
        evaluation = evaluate(
            model,
            test_x,
            test_y,
            normalize,
            num_classes,
            autocast=autocast,
            control=control,
            memory_format=memory_format,
        )
        if evaluation is None:
            status = "stopped"
            break
        sums = _all_reduce(epoch_sums.clone(), world).tolist()
        emit(
            "epoch",
            {
                "epoch": epoch + 1,
                "step": step,
                "test_loss": evaluation["test_loss"],
                "test_acc": evaluation["test_acc"],
                "train_loss": sums[0] / sums[2] if sums[2] else None,
                "train_acc": sums[1] / sums[2] if sums[2] else None,
                "lr": learning_rate(config, step, total_steps),
                "elapsed_s": time.perf_counter() - run_start - paused_s,
            },
        )
        save(epoch + 1)
        if snapshots is not None:
            snapshots.take(model, epoch + 1, step, epoch_end=True)
        log.update_progress(message="training")
    else:
        epoch = config.epochs

    if status == "stopped":
        save(epoch)  # epochs fully done; `step` says where inside the next one we were
        if snapshots is not None:
            snapshots.take(model, epoch, step)
    final = None
    if evaluation is not None:
        final = {
            "class_names": class_names,
            "confusion_matrix": evaluation["confusion_matrix"],
            "per_class_acc": evaluation["per_class_acc"],
        }
        if is_main:
            log.set_final(final)
    epochs_log = log.snapshot()["epochs"]
    done = {
        "status": status,
        "model": spec.name,
        "dataset": config.dataset,
        "synthetic": train_set.synthetic,
        "epochs": config.epochs,
        "epochs_done": epoch,
        "step": step,
        "total_steps": total_steps,
        "test_acc": epochs_log[-1]["test_acc"] if epochs_log else None,
        "best_test_acc": max((e["test_acc"] for e in epochs_log), default=None),
        "elapsed_s": time.perf_counter() - run_start - paused_s,
        "checkpoint": last_checkpoint,
        "per_class_acc": dict(zip(class_names, final["per_class_acc"])) if final else None,
    }
    emit("done", done)
    log.update_progress(message=status, eta_s=0.0 if status == "finished" else None)
    return done


__all__ = [
    "CHECKPOINT_NAME",
    "DATASET_DEFAULTS",
    "FROM_DATASET",
    "DivergedError",
    "MetricsLog",
    "NonFiniteLossError",
    "RunControl",
    "TrainConfig",
    "build_model",
    "dataset_defaults",
    "evaluate",
    "freeze_features",
    "learning_rate",
    "make_optimizer",
    "resolve_device",
    "train",
]
