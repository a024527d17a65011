"""VGG-16 at 224×224: image file in → feature grid out. Target: under 1.5 s on a 2-core CPU.

Baseline, measured in the same run: hooking every layer of the network (what a naive "capture all
activations" does) and drawing the 16 channels as one matplotlib subplot each.

    python bench/bench_features.py [--threads 2] [--repeat 5] [--layers features.3 features.29]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from visualizer import forward_pass
from visualizer.features import FeatureCapture, feature_grid
from visualizer.images import example_images, load_image, preprocess
from visualizer.views.features import explore
from visualizer.weight_sources import load_weights

MODEL = "vgg16"


def ours(model, path: str, layer: str, top_n: int):
    """The real path: load + preprocess, a forward hooking one layer (stopped there), numpy/PIL grid."""
    tensor, _ = preprocess(load_image(path), MODEL)
    with torch.no_grad(), FeatureCapture(model, [layer], stop_early=True) as cap:
        model(tensor)
    return feature_grid(cap.get(layer)[0], top_n=top_n)[0]


def naive(model, path: str, layer: str, top_n: int):
    """Hooks on every module, then a matplotlib figure with one subplot per channel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    tensor, _ = preprocess(load_image(path), MODEL)
    names = [name for name, _ in model.named_modules() if name]
    with torch.no_grad(), FeatureCapture(model, names) as cap:
        model(tensor)
    act = cap.get(layer)[0]
    order = act.mean(dim=(1, 2)).argsort(descending=True)[:top_n]
    cols = int(top_n**0.5 + 0.999)
    fig, axes = plt.subplots((top_n + cols - 1) // cols, cols, figsize=(8, 8))
    for ax, c in zip(axes.flat, order.tolist()):
        ax.imshow(act[c].numpy(), cmap="viridis")
        ax.set_title(f"ch {c} [{act[c].min():.3g}, {act[c].max():.3g}]", fontsize=7)
        ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def timed(fn, repeat: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process), medians of ``repeat`` runs after a warm-up (allocator,
    matplotlib import, font cache).

    CPU time is printed too because on a shared 2-core machine the wall time also measures whoever else
    is running; CPU time / 2 is what the wall time would be with both cores to ourselves.
    """
    fn()
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (2 = the target machine)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--top-n", type=int, default=16)
    parser.add_argument("--layers", nargs="+", default=["features.3", "features.16", "features.29"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = example_images()[0]

    start = time.perf_counter()
    model = load_weights(MODEL, "random").model
    print(
        f"{MODEL}: model built once in {time.perf_counter() - start:.2f} s (cached by the app afterwards); "
        f"torch threads {torch.get_num_threads()}; image {Path(path).name}; median of {args.repeat} runs"
    )
    x = preprocess(load_image(path), MODEL)[0]

    def forward():
        with torch.no_grad():
            model(x)

    wall, cpu = timed(forward, args.repeat)
    print(f"  reference: one full VGG-16 forward pass alone {wall:.3f} s (cpu {cpu:.3f} s)")
    print(
        f"  load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (above the core count: wall times "
        "include waiting for other processes)"
    )
    worst = 0.0
    for layer in args.layers:
        t_ours, c_ours = timed(lambda: ours(model, path, layer, args.top_n), args.repeat)
        t_naive, c_naive = timed(lambda: naive(model, path, layer, args.top_n), args.repeat)
        worst = max(worst, t_ours)
        print(
            f"  {layer:12s} image → grid {t_ours:6.3f} s (cpu {c_ours:5.3f})   baseline (hook all + matplotlib "
            f"subplots) {t_naive:6.3f} s (cpu {c_naive:5.3f})   speed-up ×{t_naive / t_ours:4.1f} "
            f"(cpu ×{c_naive / c_ours:4.1f})"
        )

    def full():
        forward_pass.clear()  # no reuse of the previous forward pass
        explore(path, MODEL, "random", layer="features.16")

    t_full, c_full = timed(full, args.repeat)
    print(
        f"  explore(): grid + overview strip + first-layer filters + top-5, one forward: {t_full:.3f} s "
        f"(cpu {c_full:.3f})"
    )
    verdict = "OK" if max(worst, t_full) < 1.5 else "OVER"
    print(f"worst image → grid {worst:.3f} s, full explore {t_full:.3f} s; target < 1.5 s: {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
