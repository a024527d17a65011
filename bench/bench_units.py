"""Inside one unit (issue 19): what a unit and an effective receptive field cost, against baselines measured
in the same run.

(a) One unit of VGG-16 at 224 through the page's path, its layer already captured by the image's ``ForwardPass``
    (warm): a click on a map of the Feature-maps grid (``views.units.unit_from_click``) and a ◀ ▶ step
    (``views.units.move_unit``): the pass found by the key in the page's state, the weights by theirs, the
    unit's numbers, its picture and its HTML. Baseline: one VGG-16 feature-maps request
    (``views.features.feature_maps``, random weights) of a new image (a copy of the example with one pixel
    changed, so that its pass is new and runs its forward; the weights stay cached, as on the page). The
    forward passes are counted (PyTorch's global module hooks): a warm unit runs none. Target: ≤ 0.3×.
(b) ``effective_rf`` (batch of 8 at the model's size) against the bare forward + backward it needs, written
    in plain PyTorch: the same model, batch and layer (the submodules called by hand up to the layer, then
    ``autograd.grad`` of the centre unit summed over channels and batch). Target: ≤ 1.2×.

    python bench/bench_units.py [--threads 2] [--repeat 5] [--erf resnet18 resnet18_cifar vgg16]

Runs are interleaved (ours, baseline, ours, ...) and medians taken, so that load from other processes on a
shared machine hits both sides alike; CPU seconds are printed beside wall seconds.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch
from PIL import Image
from torch.nn.modules.module import register_module_forward_pre_hook
from torchvision.models import VGG

from visualizer.images import example_images, load_image
from visualizer.units.erf import effective_rf
from visualizer.views.features import feature_maps
from visualizer.views.units import move_unit, unit_from_click
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


def fresh_images(path: str, folder: Path):
    """Copies of the image, one pixel different each: every feature-maps request sees a new image."""
    base = np.asarray(load_image(path)).copy()
    h, w = base.shape[0] // 2, base.shape[1] // 2  # the middle: it survives the crop to what the network sees
    for i in itertools.count():
        base[h - 2 : h + 2, w - 2 : w + 2] = (i % 251, (i // 251) % 251, 7)
        out = folder / f"fresh-{i}.png"
        Image.fromarray(base).save(out)
        yield str(out)


def bench_unit(path: str, repeat: int) -> bool:
    print(f"(a) one unit of {UNIT_MODEL} at 224 through the page's path, warm, against one feature-maps request")
    forwards = {"n": 0}

    def count(module, args):
        if isinstance(module, VGG) and not args[0].is_meta:
            forwards["n"] += 1

    hook = register_module_forward_pre_hook(count)
    ok = True
    with tempfile.TemporaryDirectory() as folder:
        fresh = fresh_images(path, Path(folder))
        for layer in UNIT_LAYERS:

            def request(layer=layer):  # a new image: the request runs its forward
                return feature_maps(next(fresh), UNIT_MODEL, "random", None, layer, 16, "mean", "viridis", "channel")

            grid_state = feature_maps(path, UNIT_MODEL, "random", None, layer, 16, "mean", "viridis", "channel")[-1]
            layout = grid_state["layout"]
            x0, y0 = layout.tile_origin(0)
            px, py = x0 + layout.tile_w / 2, y0 + layout.tile_h / 2  # the middle of the strongest map
            unit_state = unit_from_click(grid_state, px, py, "en")[2]
            state = {"i": 0}

            def click():
                unit_from_click(grid_state, px, py, "en")

            def step():  # ▶: the next position's numbers, picture and HTML
                state["i"] += 1
                move_unit(unit_state, unit_state["y"] * unit_state["shape"][2] + unit_state["x"] + state["i"] % 3, "en")

            before = forwards["n"]
            click(), step()
            warm_forwards = forwards["n"] - before
            request()
            cold_forwards = forwards["n"] - before - warm_forwards
            (t_click, c_click), (t_step, c_step), (t_req, c_req) = interleaved([click, step, request], repeat)
            worst = max(t_click, t_step)
            ratio = worst / t_req
            ok = ok and ratio <= 0.3 and warm_forwards == 0 and cold_forwards == 1
            print(
                f"  {layer:12s} click {t_click:.3f} s (cpu {c_click:.3f})   step {t_step:.3f} s (cpu {c_step:.3f})   "
                f"feature-maps request {t_req:.3f} s (cpu {c_req:.3f})   ratio {ratio:.3f} (cpu "
                f"{max(c_click, c_step) / c_req:.3f})   [forwards: warm unit {warm_forwards}, request {cold_forwards}]"
            )
    hook.remove()
    print(f"  target ≤ 0.3× a feature-maps request, no forward: {'OK' if ok else 'OVER'}")
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
