"""``python -m visualizer train MODEL ...``: headless training with a progress bar and JSON-lines metrics.

The same command under ``torchrun --nproc_per_node N`` trains with DistributedDataParallel
(gloo on CPU, nccl on GPUs); only rank 0 prints, writes metrics and writes checkpoints.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from typing import Any

import torch
import torch.distributed as dist
from tqdm import tqdm

from visualizer.budgets import runs
from visualizer.checkpoint import CheckpointError, load_checkpoint
from visualizer.datasets import DATASETS, DatasetUnavailableError
from visualizer.runs_store import RunRecorder, RunStore
from visualizer.training import (
    DATASET_DEFAULTS,
    DEVICES,
    OPTIMIZERS,
    SCHEDULES,
    MetricsLog,
    NonFiniteLossError,
    RunControl,
    TrainConfig,
    default_out_dir,
    recipe_values,
    train,
)
from visualizer.training import RECIPES as RECIPE_NAMES

# CLI flag → TrainConfig field, for the options whose names differ only by dashes.
_FIELDS = {
    "dataset": "dataset",
    "epochs": "epochs",
    "batch_size": "batch_size",
    "lr": "lr",
    "optimizer": "optimizer",
    "momentum": "momentum",
    "weight_decay": "weight_decay",
    "schedule": "schedule",
    "seed": "seed",
    "device": "device",
    "subset": "subset",
    "test_subset": "test_subset",
    "augment": "augment",
    "pretrained": "pretrained",
    "freeze_features": "freeze_features",
    "data_dir": "data_dir",
    "out": "out_dir",
    "log_every": "log_every",
    "amp": "amp",
}


RECIPES = """recipes:
  the classroom demo (no network: synthetic shapes, generated locally; 85-90 % test accuracy in about a minute):
    python -m visualizer train alexnet_cifar --dataset shapes
  first minutes of CIFAR-10 on a laptop CPU:
    python -m visualizer train alexnet_cifar --subset 5000 --epochs 5
  the course notes' recipe (Adam 1e-3, batch 32, 50 epochs, all of CIFAR-10; they report alexnet_cifar 75.08 %,
  ResNet-18 82.98 %):
    python -m visualizer train resnet18_cifar --recipe notes
  beating it on a GPU (full data, augmentation, SGD + one-cycle):
    python -m visualizer train resnet18_cifar --subset 0 --test-subset 0 --optimizer sgd --lr 0.1 \\
        --momentum 0.9 --weight-decay 5e-4 --batch-size 128 --epochs 30 --schedule onecycle
  fine-tuning ImageNet weights with a new 10-way head and frozen features:
    python -m visualizer train vgg19_finetune_cifar --pretrained --freeze-features --epochs 5
  several processes (gloo on CPU, nccl on GPUs; rank 0 writes):
    torchrun --nproc_per_node 2 -m visualizer train resnet18_cifar --subset 0 --epochs 30
"""


def _per_dataset(field: str, show=str) -> str:
    """ "shapes 32, cifar10 64": a field's default for each dataset, from the one table (``DATASET_DEFAULTS``)."""
    return ", ".join(f"{name} {show(recipe[field])}" for name, recipe in DATASET_DEFAULTS.items())


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``train`` on the CLI's subparsers."""
    on_off = {True: "on", False: "off"}.get

    p = sub.add_parser(
        "train",
        help="train a zoo model on CIFAR-10 or the synthetic shapes set",
        description="Train a zoo model on 32×32 images. Flags left out take the dataset's defaults (the recipe "
        "that makes the lesson; they differ between shapes and cifar10), or the checkpoint's values with --resume. "
        "Runs under torchrun for DistributedDataParallel.",
        epilog=RECIPES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", help="zoo model name, e.g. alexnet_cifar, resnet18_cifar, vgg16, 'vgg_bn:32,M,64,M'")
    # default=None everywhere: "not given", so --resume can keep the checkpoint's setting.
    p.add_argument("--dataset", choices=DATASETS, default=None, help="cifar10 (default) or shapes (synthetic)")
    p.add_argument(
        "--recipe",
        choices=RECIPE_NAMES,
        default="dataset",
        help="the defaults of the flags left out: the dataset's classroom recipe (default), or the course notes' "
        "(Adam 1e-3, batch 32, 50 epochs, all images, constant, no augmentation)",
    )
    p.add_argument("--epochs", type=int, default=None, help=f"total epochs (default: {_per_dataset('epochs')})")
    p.add_argument("--batch-size", type=int, default=None, help=f"default: {_per_dataset('batch_size')}")
    p.add_argument(
        "--lr", type=float, default=None, help=f"peak learning rate (default: {_per_dataset('lr', '{:g}'.format)})"
    )
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help="adam (default) or sgd with momentum")
    p.add_argument("--momentum", type=float, default=None, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=None, help="default 0")
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=None,
        help=f"learning-rate schedule (default: {_per_dataset('schedule')})",
    )
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", choices=DEVICES, default=None, help="auto (default): cuda, then mps, then cpu")
    p.add_argument(
        "--subset", type=int, default=None, help=f"training images, 0 for all (default: {_per_dataset('subset')})"
    )
    p.add_argument(
        "--test-subset",
        type=int,
        default=None,
        help=f"test images per evaluation, 0 for all (default: {_per_dataset('test_subset')})",
    )
    p.add_argument(
        "--augment",
        dest="augment",
        action="store_const",
        const=True,
        default=None,
        help=f"random crop (padding 4) + horizontal flip (default: {_per_dataset('augment', on_off)})",
    )
    p.add_argument(
        "--no-augment", dest="augment", action="store_const", const=False, default=None, help="no random crop / flip"
    )
    p.add_argument(
        "--pretrained",
        action="store_const",
        const=True,
        default=None,
        help="start from ImageNet weights (fine-tuning; a new 10-way head)",
    )
    p.add_argument(
        "--freeze-features", action="store_const", const=True, default=None, help="train only the classifier head"
    )
    p.add_argument("--data-dir", default=None, help="where CIFAR-10 is (or is downloaded to); default ./data")
    p.add_argument("--out", default=None, metavar="DIR", help="checkpoint directory (DIR/last.pt)")
    p.add_argument(
        "--runs-dir",
        default=None,
        metavar="DIR",
        help="the runs directory (default runs/, or $CNNVIZ_RUNS_DIR): the run's folder and its record in the "
        "run store (DIR/runs.sqlite, what the app's Training tab lists); a run with --out elsewhere is recorded "
        "only when --runs-dir is given",
    )
    p.add_argument("--metrics", default=None, metavar="PATH.jsonl", help="write step/epoch/done records as JSON lines")
    p.add_argument(
        "--resume", default=None, metavar="CKPT", help="continue from a checkpoint (steps and curves continue)"
    )
    p.add_argument("--log-every", type=int, default=None, help="steps between step records (default 10)")
    p.add_argument(
        "--no-amp",
        dest="amp",
        action="store_const",
        const=False,
        default=None,
        help="CUDA: train in float32 instead of mixed precision",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_train)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults ← the checkpoint's config (with --resume) ← the flags actually given."""
    values: dict[str, Any] = {}
    if args.resume:
        values.update(load_checkpoint(args.resume)["config"])
    elif getattr(args, "recipe", "dataset") != "dataset":
        values.update(recipe_values(args.recipe, args.model, args.dataset or "cifar10"))
    values["model"] = args.model
    for flag, field in _FIELDS.items():
        v = getattr(args, flag, None)
        if v is not None:
            values[field] = v
    for field in ("subset", "test_subset"):
        if values.get(field) == 0:
            values[field] = None  # 0 on the command line means "all"
    values["resume"] = args.resume
    return TrainConfig.from_dict(values)


def _init_distributed(config: TrainConfig) -> tuple[int, int]:
    """Under torchrun (WORLD_SIZE > 1): join the process group; nccl on GPUs, gloo on CPU."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    # One GPU per process: with fewer GPUs than local processes, fall back to gloo on CPU.
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    use_cuda = config.device in ("auto", "cuda") and torch.cuda.device_count() >= local_world
    if config.device == "cuda" and not use_cuda:
        raise ValueError(
            f"{local_world} processes per node need {local_world} GPUs, found "
            f"{torch.cuda.device_count()}; lower --nproc_per_node or use --device cpu"
        )
    if use_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    if not use_cuda and config.device == "auto":
        config.device = "cpu"
    dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


class _Reporter:
    """Rank 0's view of the events: a tqdm bar and a JSON-lines file."""

    def __init__(self, metrics_path: str | None, append: bool, progress: bool, log) -> None:
        self.file = None
        if metrics_path:
            os.makedirs(os.path.dirname(os.path.abspath(metrics_path)), exist_ok=True)
            self.file = open(metrics_path, "a" if append else "w", encoding="utf-8")
        self.progress, self.log, self.bar, self.last_step = progress, log, None, None
        self.others: list = []

    def also(self, listener) -> None:
        """Hand every event to ``listener`` too (the run store's recorder)."""
        self.others.append(listener)

    def __call__(self, event: dict) -> None:
        for listener in self.others:
            listener(event)
        if self.file is not None:
            self.file.write(json.dumps(event) + "\n")
            self.file.flush()
        kind = event["event"]
        if kind == "step" and self.progress:
            if self.bar is None:
                self.bar = tqdm(
                    total=self.log.progress().get("total_steps"),
                    initial=event["step"],
                    unit="step",
                    dynamic_ncols=True,
                    file=sys.stderr,
                )
                self.last_step = event["step"]
            self.bar.update(event["step"] - self.last_step)
            self.last_step = event["step"]
            self.bar.set_postfix(
                epoch=event["epoch"],
                loss=f"{event['loss']:.3f}",
                acc=f"{event['acc']:.1%}",
                img_s=f"{event['images_per_sec']:.0f}",
            )
        elif kind == "epoch":
            self.write(
                f"epoch {event['epoch']}: test acc {event['test_acc']:.2%}, test loss {event['test_loss']:.4f}, "
                f"train acc {event['train_acc']:.2%}"
                if event.get("train_acc") is not None
                else f"epoch {event['epoch']}: test acc {event['test_acc']:.2%}"
            )

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.file is not None:
            self.file.close()


def _recorder(args: argparse.Namespace, config: TrainConfig) -> RunRecorder | None:
    """The run's record in the runs directory's store, when the run lands there (or ``--runs-dir`` is given)."""
    if config.out_dir is not None and not getattr(args, "runs_dir", None):
        return None  # your own folder: not one of the runs directory's runs
    if config.out_dir is None:
        config.out_dir = str(default_out_dir(config))
    store = RunStore(runs.runs_dir())
    return RunRecorder(store, store.begin(config.to_dict(), folder=os.path.basename(config.out_dir)))


def run_train(args: argparse.Namespace) -> int:
    try:
        runs.use_runs_dir(getattr(args, "runs_dir", None))
        config = config_from_args(args)
        config.validate()
        rank, world = _init_distributed(config)
    except (ValueError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    log = MetricsLog()
    reporter = _Reporter(
        args.metrics if rank == 0 else None,
        append=bool(args.resume),
        progress=rank == 0 and not args.no_progress,
        log=log,
    )
    recorder = _recorder(args, config) if rank == 0 else None
    if recorder is not None:
        reporter.also(recorder)
    if rank == 0:
        what = "synthetic shapes (generated locally)" if config.dataset == "shapes" else config.dataset
        reporter.write(
            f"training {config.model} on {what}, {config.epochs} epochs"
            + (f" on {world} processes" if world > 1 else "")
            + (f", resuming {config.resume}" if config.resume else "")
        )
    control = RunControl()
    # Ctrl-C: finish the batch, write a checkpoint, exit "stopped". Single process only: under torchrun
    # the ranks would stop at different batches and wait on each other forever.
    previous = signal.signal(signal.SIGINT, lambda *_: control.stop()) if world == 1 else None
    code = 0
    try:
        done = train(config, log, control, on_event=reporter)
        if rank == 0:
            acc = done["test_acc"]
            reporter.write(
                f"{done['status']}: {done['model']} on {done['dataset']}"
                + (" (synthetic)" if done["synthetic"] else "")
                + f", {done['epochs_done']}/{done['epochs']} epochs, step {done['step']}"
                + (f", test accuracy {acc:.2%}" if acc is not None else "")
                + (f"; checkpoint {done['checkpoint']}" if done["checkpoint"] else "")
            )
        code = 0 if done["status"] == "finished" else 130
    except (ValueError, CheckpointError, DatasetUnavailableError, NonFiniteLossError, RuntimeError) as exc:
        if rank == 0 and reporter.file is not None:
            reporter.file.write(json.dumps({"event": "done", "status": "failed", "error": str(exc)}) + "\n")
        if recorder is not None:
            recorder.fail(f"{type(exc).__name__}: {exc}")
        reporter.write(f"error: {exc}")
        code = 2 if isinstance(exc, ValueError) else 1
    finally:
        reporter.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()
    return code


__all__ = ["add_commands", "config_from_args", "run_train"]
