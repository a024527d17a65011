"""Inside one unit (issue 19): what a unit and an effective receptive field cost, against baselines measured
in the same run.

(a) One unit of VGG-16 at 224 with its layer's tensors already captured (warm: the ◀ ▶ step, and the whole
    ``explain_unit`` call reading the same tensors), its picture included. Baseline: one VGG-16 feature-maps
    request, ``explore(image, "vgg16", source="random")`` with the forward-pass cache cleared (the weights
    stay cached, as on the page). Target: ≤ 0.3×.
(b) ``effective_rf`` (batch of 8 at the model's size) against the bare forward + backward it needs, written
    in plain PyTorch: the same model, batch and layer (the submodules called by hand up to the layer, then
    ``autograd.grad`` of the centre unit summed over channels and batch). Target: ≤ 1.2×.

    python bench/bench_units.py [--threads 2] [--repeat 5] [--erf resnet18 resnet18_cifar vgg16]

Runs are interleaved (ours, baseline, ours, ...) and medians taken, so that load from other processes on a
shared machine hits both sides alike; CPU seconds are printed beside wall seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from visualizer import forward_pass
from visualizer.features import explore
from visualizer.images import example_images
from visualizer.units.compute import explain_unit, layer_units
from visualizer.units.erf import effective_rf
from visualizer.units.pictures import unit_picture
from visualizer.weight_sources import load_weights

UNIT_MODEL = "vgg16"
UNIT_LAYERS = ["features.2", "features.17", "features.28"]  # 64 channels at 224, 256 at 28, 512 at 14


# Plain PyTorch up to the layer: (zoo name, layer key effective_rf gets, the same layers called by hand).
ERF_CASES = {
    "resnet18": ("layer2.1.relu#1", lambda m, x: m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))),
    "resnet18_cifar": ("layer2.1.relu2", lambda m, x: m.layer2(m.layer1(m.relu(m.bn1(m.conv1(x)))))),
    "vgg16": ("features.9", lambda m, x: m.features[:10](x)),
}


def interleaved(fns: list, repeat: int) -> list[tuple[float, float]]:
    """(median wall s, median CPU s) per function, after one warm-up each, the runs taken in turn."""
    for fn in fns:
        fn()
    walls: list[list[float]] = [[] for _ in fns]
    cpus: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            walls[i].append(time.perf_counter() - start)
            cpus[i].append(time.process_time() - start_cpu)
    return [(statistics.median(w), statistics.median(c)) for w, c in zip(walls, cpus)]


def bench_unit(path: str, repeat: int) -> bool:
    print(f"(a) one unit of {UNIT_MODEL} at 224, tensors captured, against one feature-maps request")

    def request():
        forward_pass.clear()  # a new image: the request runs its forward
        explore(path, UNIT_MODEL, source="random")

    ok = True
    for layer in UNIT_LAYERS:
        start = time.perf_counter()
        units = layer_units(UNIT_MODEL, path, layer, weights="random")
        capture = time.perf_counter() - start
        c, h, w = units.shape
        positions = [(c // 3, h // 2, w // 2 + k) for k in range(3)]
        state = {"i": 0}

        def step():  # ◀ ▶: the next position's numbers and picture, from the same tensors
            ch, y, x = positions[state["i"] % len(positions)]
            state["i"] += 1
            ex = units.explain(ch, y, x)
            unit_picture(ex, seen=units.seen, input_map=units.input_map(ch))

        def call():  # the public call with the captured tensors handed in (what the page will do)
            ch, y, x = positions[0]
            ex = explain_unit(UNIT_MODEL, path, layer, ch, y, x, weights="random", tensors=units.tensors)
            unit_picture(ex, seen=units.seen, input_map=units.input_map(ch))

        (t_step, c_step), (t_call, c_call), (t_req, c_req) = interleaved([step, call, request], repeat)
        worst = max(t_step, t_call)
        ratio = worst / t_req
        ok = ok and ratio <= 0.3
        print(
            f"  {layer:12s} step {t_step:.3f} s (cpu {c_step:.3f})   explain_unit {t_call:.3f} s (cpu {c_call:.3f})   "
            f"feature-maps request {t_req:.3f} s (cpu {c_req:.3f})   ratio {ratio:.3f} (cpu "
            f"{max(c_step, c_call) / c_req:.3f})   [first capture {capture:.2f} s, {units.tensors.forwards} forward]"
        )
    print(f"  target ≤ 0.3× a feature-maps request: {'OK' if ok else 'OVER'}")
    return ok


def bench_erf(models: list[str], repeat: int, images: int) -> bool:
    print(f"(b) effective_rf (batch {images}, noise) against the bare forward + backward in plain PyTorch")
    ok = True
    for name in models:
        layer, by_hand = ERF_CASES[name]
        model = load_weights(name, "random").model
        shape = "3x224x224" if name in ("resnet18", "vgg16") else "3x32x32"
        result = effective_rf(name, shape, layer, images=images, weights="random")
        y, x = result["unit"]
        c, h, w = (int(s) for s in shape.split("x"))
        batch = torch.randn(images, c, h, w, generator=torch.Generator().manual_seed(0))

        def ours():
            effective_rf(name, shape, layer, images=images, weights="random")

        def bare():
            inp = batch.clone().requires_grad_(True)
            with torch.enable_grad():
                out = by_hand(model, inp)
                (grad,) = torch.autograd.grad(out[:, :, y, x].sum(), inp)
            return grad

        (t_ours, c_ours), (t_bare, c_bare) = interleaved([ours, bare], repeat)
        ratio = t_ours / t_bare
        ok = ok and ratio <= 1.2
        print(
            f"  {name:15s} {layer:16s} effective_rf {t_ours:.3f} s (cpu {c_ours:.3f})   bare forward+backward "
            f"{t_bare:.3f} s (cpu {c_bare:.3f})   ratio {ratio:.3f} (cpu {c_ours / c_bare:.3f})   "
            f"[mass50 {result['mass50']}, mass95 {result['mass95']}, theoretical {result['theoretical_display']}]"
        )
    print(f"  target ≤ 1.2× the bare passes: {'OK' if ok else 'OVER'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (2 = the target machine)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--erf", nargs="+", default=["resnet18_cifar", "resnet18"], choices=sorted(ERF_CASES))
    parser.add_argument("--skip-unit", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = example_images()[0]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores, median of {args.repeat} interleaved runs, image {Path(path).name}"
    )
    ok = True
    if not args.skip_unit:
        ok = bench_unit(path, args.repeat) and ok
    ok = bench_erf(args.erf, args.repeat, args.images) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
