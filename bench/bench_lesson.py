"""The classroom demo's accuracy-vs-time curve: ``train alexnet_cifar --dataset shapes --epochs 3 --subset 4000``.

    python bench/bench_lesson.py [--seeds 0 1 2] [--epochs 3] [--no-baseline]

Runs the CLI's own config for that command (flags left out take ``DATASET_DEFAULTS``) once per seed and prints
the test accuracy and the wall time (from the call, data generation included) at each epoch, with the load
average before and after: on a shared 2-core machine the neighbours' load shows in the times. Baseline, in the
same run and with the same seeds: the recipe before issue 11 (batch 64, Adam 1e-3 cosine, crop + flip, 2000
test images). Targets (issue 11): >= 75 % after 3 epochs within 90 s, the first test point within ~20 s;
with --epochs 2, >= 50 %.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from visualizer.cli import build_parser
from visualizer.train_cli import config_from_args
from visualizer.training import train

BEFORE_ISSUE_11 = {"batch_size": 64, "lr": 1e-3, "schedule": "cosine", "augment": True, "test_subset": 2000}


def curve(epochs: int, seed: int, **override) -> tuple[list[tuple[float, float]], float]:
    """[(seconds, test accuracy)] per epoch for the demo command, and the seconds of the whole run."""
    with tempfile.TemporaryDirectory() as out:
        args = build_parser().parse_args(
            [
                "train",
                "alexnet_cifar",
                "--dataset",
                "shapes",
                "--epochs",
                str(epochs),
                "--subset",
                "4000",
                "--seed",
                str(seed),
                "--out",
                out,
            ]
        )
        config = config_from_args(args)
        for name, value in override.items():
            setattr(config, name, value)
        points: list[tuple[float, float]] = []
        t0 = time.perf_counter()
        train(
            config,
            on_event=lambda e: (
                points.append((time.perf_counter() - t0, e["test_acc"])) if e["event"] == "epoch" else None
            ),
        )
        return points, time.perf_counter() - t0


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--no-baseline", action="store_true", help="skip the recipe before issue 11")
    args = p.parse_args()
    recipes = {"defaults": {}} if args.no_baseline else {"defaults": {}, "before issue 11": BEFORE_ISSUE_11}
    target = 0.75 if args.epochs >= 3 else 0.5
    finals: dict[str, list[tuple[float, float]]] = {name: [] for name in recipes}
    for seed in args.seeds:
        for name, override in recipes.items():
            before = load()
            points, total = curve(args.epochs, seed, **override)
            finals[name].append((points[-1][1], total))
            line = " → ".join(f"{100 * acc:.1f} % at {t:.0f} s" for t, acc in points)
            print(f"seed {seed} {name:16s} {line}  (load {before} → {load()})", flush=True)
    for name, values in finals.items():
        acc = sum(a for a, _ in values) / len(values)
        secs = sum(s for _, s in values) / len(values)
        print(f"{name:16s} mean final test accuracy {100 * acc:.1f} %, mean {secs:.0f} s")
    if not args.no_baseline:
        acc_ratio = sum(a for a, _ in finals["defaults"]) / max(sum(a for a, _ in finals["before issue 11"]), 1e-9)
        time_ratio = sum(s for _, s in finals["defaults"]) / sum(s for _, s in finals["before issue 11"])
        print(f"defaults / before issue 11: accuracy x{acc_ratio:.2f}, time x{time_ratio:.2f}")
    worst = min(a for a, _ in finals["defaults"])
    slowest = max(s for _, s in finals["defaults"])
    ok = worst >= target and (args.epochs < 3 or slowest <= 90)
    print(
        f"defaults: worst {100 * worst:.1f} % (target >= {100 * target:.0f} %), slowest {slowest:.0f} s"
        f"{' (target <= 90 s)' if args.epochs >= 3 else ''}: {'OK' if ok else 'BELOW TARGET'}"
    )


if __name__ == "__main__":
    main()
