"""Stop means stop: seconds from ``stop()`` until the background run has ended, in every phase of a run.

    python bench/bench_stop.py [--threads 2]

Phases: generating a big ``shapes`` set (400,000 images, ~50 s of work), waiting for a CIFAR-10 download
(simulated: a 60 s stall), training (mid-epoch), evaluating (a 10,000-image test set). The baseline, measured
in the same run, is one training step of the same model and batch: before, a stop waited for the phase to end
(data generation: the whole ~50 s). Target: ~1 s in every phase.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import torch

from visualizer import training
from visualizer.background import BackgroundTrainer
from visualizer.training import TrainConfig

MODEL = "alexnet_cifar"


def run_and_stop(config: TrainConfig, ready, label: str) -> float:
    trainer = BackgroundTrainer()
    trainer.start(config)
    deadline = time.monotonic() + 120
    while not ready(trainer) and time.monotonic() < deadline:
        time.sleep(0.02)
    t0 = time.perf_counter()
    trainer.stop(timeout=120)
    took = time.perf_counter() - t0
    status = trainer.status()
    print(f"  {label:38s} {took:6.2f} s   ({status['state']}: {status['message'][:70]})")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = tempfile.mkdtemp(prefix="cnnviz-stop-")

    def config(**over) -> TrainConfig:
        kw = dict(
            model=MODEL,
            dataset="shapes",
            device="cpu",
            epochs=3,
            subset=4000,
            test_subset=1000,
            batch_size=16,
            out_dir=os.path.join(out, f"run{time.monotonic_ns()}"),
            log_every=5,
        )
        kw.update(over)
        return TrainConfig(**kw)

    # Baseline: one training step (what a stop waited for, at best, before it was checked between batches).
    model = training.build_model(config(), 10)
    opt = torch.optim.Adam(model.parameters())
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    t0 = time.perf_counter()
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    step = (time.perf_counter() - t0) / 5
    print(
        f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}; "
        f"one training step of {MODEL} at batch 16: {step:.3f} s"
    )
    times = [
        run_and_stop(config(subset=400_000), lambda t: time.sleep(1.0) or True, "generating 400,000 shapes"),
    ]
    real = training.load_dataset

    def stalled(*a, **k):
        time.sleep(60)
        return real(*a, **k)

    training.load_dataset = stalled
    try:
        times.append(
            run_and_stop(
                config(dataset="cifar10"),
                lambda t: time.sleep(1.0) or True,
                "waiting for a (stalled) CIFAR-10 download",
            )
        )
    finally:
        training.load_dataset = real
    times.append(run_and_stop(config(), lambda t: t.status()["step"] >= 20, "training, mid-epoch"))
    times.append(
        run_and_stop(
            config(subset=160, test_subset=10_000, epochs=2),
            lambda t: "evaluating" in t.status()["message"],
            "evaluating 10,000 test images",
        )
    )
    worst = max(times)
    print(f"worst {worst:.2f} s = {worst / step:.1f} training steps; target ~1 s: {'OK' if worst <= 1.5 else 'OVER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
