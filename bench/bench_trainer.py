"""Trainer throughput vs a bare PyTorch loop on in-memory tensors (same process, same model and batch).

    python bench/bench_trainer.py [--model alexnet_cifar] [--batch-size 128] [--steps 25] [--repeats 2]

Baseline: a bare loop over a pre-normalized float tensor already in memory (random batches, Adam,
forward/backward/step; no augmentation, no metrics). The trainer runs ``visualizer.training.train`` on
synthetic shapes of the same size, with its uint8 storage, batched crop+flip augmentation, metrics and
the schedule. Both skip their first ``--warmup`` steps. Target: trainer/bare >= 0.9.
On CUDA both use the trainer's recipe (bf16/fp16 autocast, channels_last); the bare loop too.

Snapshots (what the Training tab shows as the network learns): the same trainer run with a ``SnapshotLog`` at
the app's cadence (every ``SNAPSHOT_EVERY_S`` seconds), against the run without; target >= 0.95 (< 5 % cost).
Also the time of one snapshot (weights copy + one probe forward with hooks), from a run taking one every batch.

In its own process (what ``python app.py`` does, ``run_process``): the same run with snapshots, its records and
snapshots relayed back, against the run with snapshots in this process; target >= 0.95 (the relay costs < 5 %).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import zoo
from visualizer import run_process
from visualizer.snapshots import SNAPSHOT_EVERY_S, SnapshotLog
from visualizer.training import MetricsLog, TrainConfig, resolve_device, train


def bare_loop(model_name: str, batch_size: int, steps: int, warmup: int, device: torch.device) -> float:
    """Images/s of the simplest loop there is over float tensors already on the device."""
    torch.manual_seed(0)
    cuda = device.type == "cuda"
    fmt = torch.channels_last if cuda else torch.contiguous_format
    model = zoo.create_model(model_name, num_classes=10).to(device, memory_format=fmt).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)  # the trainer's own update (make_optimizer)
    n = batch_size * (steps + warmup)
    x_all = torch.randn(n, 3, 32, 32, device=device)
    y_all = torch.randint(0, 10, (n,), device=device)
    order = torch.randperm(n, device=device)
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    amp = (lambda: torch.autocast("cuda", dtype=dtype)) if cuda else contextlib.nullcontext
    t0 = None
    for i in range(steps + warmup):
        if i == warmup:
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
        idx = order[i * batch_size : (i + 1) * batch_size]
        x = x_all[idx].contiguous(memory_format=fmt)
        with amp():
            loss = F.cross_entropy(model(x), y_all[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    if cuda:
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - t0)


def trainer_loop(
    model_name: str,
    batch_size: int,
    steps: int,
    warmup: int,
    augment: bool,
    snapshots: SnapshotLog | None = None,
    own_process: bool = False,
) -> float:
    """Images/s the trainer reports over its steps after ``warmup`` (evaluation time excluded)."""
    records = []
    with tempfile.TemporaryDirectory() as out:
        cfg = TrainConfig(
            model=model_name,
            dataset="shapes",
            epochs=1,
            batch_size=batch_size,
            subset=batch_size * (steps + warmup),
            test_subset=100,
            log_every=warmup,
            augment=augment,
            out_dir=out,
            schedule="cosine",
        )

        def keep(event: dict) -> None:
            if event["event"] == "step":
                records.append(event)

        if own_process:
            run_process.run(cfg, MetricsLog(), run_process.control(), on_event=keep, snapshots=snapshots)
        else:
            train(cfg, on_event=keep, snapshots=snapshots)
    measured = [r for r in records if r["step"] > warmup]
    images = batch_size * warmup * len(measured)
    seconds = sum(batch_size * warmup / r["images_per_sec"] for r in measured)
    return images / seconds


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--model", default="alexnet_cifar")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=25, help="timed steps per trial (a multiple of --warmup)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3, help="trials per method, interleaved; the best counts")
    args = p.parse_args()
    args.steps -= args.steps % args.warmup
    device = resolve_device("auto")
    print(
        f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}, "
        f"batch {args.batch_size}, {args.steps} timed steps x {args.repeats} trials"
    )
    results: dict[str, list[float]] = {
        "bare loop (float tensors, no aug)": [],
        "trainer (uint8 + crop/flip)": [],
        "trainer (uint8, no aug)": [],
    }
    for _ in range(args.repeats):
        results["bare loop (float tensors, no aug)"].append(
            bare_loop(args.model, args.batch_size, args.steps, args.warmup, device)
        )
        results["trainer (uint8 + crop/flip)"].append(
            trainer_loop(args.model, args.batch_size, args.steps, args.warmup, augment=True)
        )
        results["trainer (uint8, no aug)"].append(
            trainer_loop(args.model, args.batch_size, args.steps, args.warmup, augment=False)
        )
    # Best of the trials, as timeit does: on a shared machine the slow trials measure the neighbours.
    base = max(results["bare loop (float tensors, no aug)"])
    for name, values in results.items():
        best = max(values)
        print(
            f"{name:36s} {best:9.1f} images/s  (trials: {', '.join(f'{v:.0f}' for v in values)})"
            f"  ratio {best / base:.3f}"
        )
    ratio = max(results["trainer (uint8 + crop/flip)"]) / base
    print(f"trainer / bare loop = {ratio:.3f} (target >= 0.9): {'OK' if ratio >= 0.9 else 'BELOW TARGET'}")
    snapshot_cost(args)
    own_process_cost(args)


def own_process_cost(args: argparse.Namespace) -> None:
    """The run in a process of its own, records and snapshots relayed, against the same run in this process."""
    here, apart = [], []
    for _ in range(args.repeats):
        here.append(trainer_loop(args.model, args.batch_size, args.steps, args.warmup, True, SnapshotLog()))
        apart.append(trainer_loop(args.model, args.batch_size, args.steps, args.warmup, True, SnapshotLog(), True))
    ratio = max(apart) / max(here)
    print(
        f"with snapshots, in this process {max(here):7.1f} images/s, in its own {max(apart):7.1f} images/s "
        f"(trials: {', '.join(f'{v:.0f}' for v in apart)}): ratio {ratio:.3f} (target >= 0.95): "
        + ("OK" if ratio >= 0.95 else "BELOW TARGET")
    )


class TimedSnapshots(SnapshotLog):
    """A SnapshotLog that times each snapshot it takes."""

    def __init__(self, every_s: float) -> None:
        super().__init__(every_s=every_s)
        self.seconds: list[float] = []

    def take(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return super().take(*args, **kwargs)
        finally:
            self.seconds.append(time.perf_counter() - t0)


def snapshot_cost(args: argparse.Namespace) -> None:
    """Trainer images/s with the app's snapshots against without, interleaved; and one snapshot's time."""
    without, with_snaps, taken = [], [], 0
    for _ in range(args.repeats):
        without.append(trainer_loop(args.model, args.batch_size, args.steps, args.warmup, augment=True))
        log = TimedSnapshots(SNAPSHOT_EVERY_S)
        with_snaps.append(
            trainer_loop(args.model, args.batch_size, args.steps, args.warmup, augment=True, snapshots=log)
        )
        taken = max(taken, len(log.seconds) - 2)  # not the start's and the epoch end's, outside the timed steps
    every = TimedSnapshots(0.0)  # one before every batch: the time of a snapshot on its own
    trainer_loop(args.model, args.batch_size, args.warmup * 2, args.warmup, augment=True, snapshots=every)
    one = sorted(every.seconds)[len(every.seconds) // 2]
    ratio = max(with_snaps) / max(without)
    print(
        f"{'trainer, no snapshots':36s} {max(without):9.1f} images/s  "
        f"(trials: {', '.join(f'{v:.0f}' for v in without)})"
    )
    print(
        f"{f'trainer, snapshot every {SNAPSHOT_EVERY_S:g} s':36s} {max(with_snaps):9.1f} images/s  (trials: "
        f"{', '.join(f'{v:.0f}' for v in with_snaps)}; up to {taken} snapshots in the timed steps)"
    )
    print(
        f"one snapshot (weights copy + probe forward with hooks): {1000 * one:.1f} ms, "
        f"median of {len(every.seconds)}; "
        f"{100 * one / SNAPSHOT_EVERY_S:.2f} % of every {SNAPSHOT_EVERY_S:g} s"
    )
    print(f"with / without snapshots = {ratio:.3f} (target >= 0.95): {'OK' if ratio >= 0.95 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
