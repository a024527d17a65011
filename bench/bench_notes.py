"""The course notes' comparison: AlexNet-CIFAR, ResNet-18 and VGG-19 (BatchNorm) with their one recipe (Adam 1e-3,
batch 32, constant), one after another, each recorded in a run store as the app records it.

    python bench/bench_notes.py [--data-dir ./data] [--shapes] [--subset 320] [--test-subset 200] [--epochs 1]

With CIFAR-10 in ``--data-dir`` and a CUDA GPU, it runs the notes' recipe as they did (all 50,000 images, 50
epochs, the 10,000 test images) and prints each network's test accuracy against the notes' 75.08 % (AlexNet) and
82.98 % (ResNet-18). Elsewhere (or with ``--shapes``) it runs the same comparison on the synthetic ``shapes`` set,
tiny (a few hundred images, one epoch: the timings, not the accuracies, are the point), and prints the same table.
Baseline of the ratios: the first network's seconds and images/s, measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from visualizer.runs_store import RunRecorder, RunStore
from visualizer.training import NOTES_ACCURACY, NOTES_COMPARISON, MetricsLog, TrainConfig, recipe_values, train


def cifar10_present(data_dir: str) -> bool:
    root = Path(data_dir)
    return (root / "cifar-10-batches-py").is_dir() or (root / "cifar-10-python.tar.gz").is_file()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default="./data")
    p.add_argument("--shapes", action="store_true", help="the tiny comparison on shapes even where CIFAR-10 is")
    p.add_argument("--subset", type=int, default=192, help="shapes: training images (default 192)")
    p.add_argument("--test-subset", type=int, default=100, help="shapes: test images (default 100)")
    p.add_argument("--epochs", type=int, default=1, help="shapes: epochs (default 1)")
    args = p.parse_args()

    full = not args.shapes and torch.cuda.is_available() and cifar10_present(args.data_dir)
    dataset = "cifar10" if full else "shapes"
    threads = torch.get_num_threads()
    print(
        f"the notes' comparison on {dataset}"
        + (" (their recipe: all images, 50 epochs)" if full else f" (tiny: {args.subset} images, {args.epochs} epoch)")
        + f"; device {'cuda' if torch.cuda.is_available() else 'cpu'}, {threads} threads"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        store = RunStore(Path(tmp) / "runs")
        for model in NOTES_COMPARISON:
            values = recipe_values("notes", model, dataset)
            if not full:
                values.update(subset=args.subset, test_subset=args.test_subset, epochs=args.epochs)
            config = TrainConfig(
                model=model, dataset=dataset, data_dir=args.data_dir, out_dir=f"{tmp}/{model}", log_every=2, **values
            )
            run_id = store.begin(config.to_dict(), folder=model)
            log = MetricsLog()
            t0 = time.perf_counter()
            done = train(config, log, on_event=RunRecorder(store, run_id))
            wall = time.perf_counter() - t0
            run = store.run(run_id)
            points = store.points(run_id)["epochs"]
            rows.append((model, run, wall, points))
            print(f"  {model}: {done['status']}, {wall:.1f} s", flush=True)

    base_s, base_ips = rows[0][1]["seconds"], rows[0][1]["images"] / rows[0][1]["seconds"]
    print()
    header = (
        f"{'model':<16} {'images':>8} {'test acc':>9} {'notes':>7} {'train s':>8} {'wall s':>7} {'img/s':>7}"
        f" {'s ratio':>8} {'img/s ratio':>11}"
    )
    print(header)
    print("-" * len(header))
    for model, run, wall, _ in rows:
        notes = NOTES_ACCURACY.get(model)
        ips = run["images"] / run["seconds"]
        print(
            f"{model:<16} {run['images']:>8,} {100 * run['final_acc']:>8.2f}% "
            f"{(f'{100 * notes:.2f}%' if notes else '–'):>7} {run['seconds']:>8.1f} {wall:>7.1f} {ips:>7.1f}"
            f" {run['seconds'] / base_s:>8.2f} {ips / base_ips:>11.2f}"
        )
    print(f"\nratios against {rows[0][0]} in this run; train s excludes loading data and building the model")
    print("\ntest accuracy against images seen (each epoch's end):")
    for model, _, _, points in rows:
        curve = ", ".join(f"{p['images']:,} → {100 * p['test_acc']:.1f}%" for p in points)
        print(f"  {model:<16} {curve}")
    if not full:
        print("\n(shapes, tiny: the notes' 75.08 % / 82.98 % are CIFAR-10 after 50 epochs; run with CIFAR-10 in")
        print(" --data-dir on a GPU to reproduce them)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
