"""A click on a box in the diagram: how long until the page has its answer (issue 9's targets, 2 cores).

    python bench/bench_click.py [--threads 2] [--models vgg16 resnet50]
    python bench/bench_click.py --models vgg19_cifar docs/examples/notes_vgg19.py:VGG19   # your own vs the zoo's

For every layer of each model (warm: the analysis is cached after the first click, as on the page):
* details — ``architecture.select_view`` and Gradio's postprocessing of its card (the page marks the box and
  the table row itself, so the table is not sent again; target p95 < 300 ms);
* maps — ``features.layer_maps`` with an image already loaded: the layer's top maps and the receptive field
  of its strongest unit, read from the image's ``ForwardPass`` (target p95 < 1 s);
* baseline, measured in the same run — what a click cost before the forward pass was kept: load the weights
  (from the cache) and run ``explore`` afresh for that layer (one full forward with its hooks).
Server round trips add ~20-40 ms on localhost (the browser test measures the whole path).

A model may be a file of your own (``file.py:Class``, as ``--model`` takes it); each is then compared with the
first zoo model of the list (issue 16's goal: a click on your own network costs what one on the zoo's does;
the notes' VGG-19 against the zoo's ``vgg19_cifar`` is the same architecture).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import gradio as gr
import torch

import zoo
from visualizer import forward_pass
from visualizer.features import spatial_layers
from visualizer.images import example_images
from visualizer.user_models import resolve_model_argument
from visualizer.views import architecture, features
from visualizer.views.features import explore
from visualizer.weight_sources import load_weights


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["vgg16", "resnet50"])
    parser.add_argument("--baseline-layers", type=int, default=6, help="layers timed for the baseline (slow)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = example_images()[0]
    print(f"torch {torch.__version__}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    verdict = True
    medians: dict[str, tuple[float, float]] = {}
    for name in [resolve_model_argument(m) for m in args.models]:
        *_, state, _ = architecture.analyze_view(name, "")
        a = architecture.run(name, "")
        details = []
        card_component = gr.HTML()
        for r in a.layers:
            t0 = time.perf_counter()
            card, _ = architecture.select_view(state, r.key)
            card_component.postprocess(card)  # what Gradio does with the card before sending it
            details.append(time.perf_counter() - t0)
        forward_pass.clear()
        load_weights(name, "random")  # the weights are in their cache, as when the page has shown this model
        keys = [s.key for s in spatial_layers(name)]
        t0 = time.perf_counter()
        features.layer_maps(image, name, "random", keys[0])  # the image arrives: weights + the first pass
        first = time.perf_counter() - t0
        maps = []
        for key in keys[1:]:
            t0 = time.perf_counter()
            features.layer_maps(image, name, "random", key)
            maps.append(time.perf_counter() - t0)
        baseline = []
        step = max(1, len(keys) // args.baseline_layers)
        for key in keys[::step][: args.baseline_layers]:
            forward_pass.clear()
            t0 = time.perf_counter()
            explore(image, name, "random", layer=key, top_n=8, overview=False, filters=False)
            baseline.append(time.perf_counter() - t0)
        d95, m95 = pct(details, 0.95), pct(maps, 0.95)
        medians[name] = statistics.median(details), statistics.median(maps)
        ok = d95 < 0.3 and m95 < 1.0
        verdict &= ok
        print(f"\n{name}: {len(a.layers)} layers, {len(keys)} with maps")
        print(
            f"  details card                    p50 {1000 * statistics.median(details):6.1f} ms   "
            f"p95 {1000 * d95:6.1f} ms   max {1000 * max(details):6.1f} ms   (target p95 < 300 ms)"
        )
        print(
            f"  maps + receptive field (loaded)  p50 {1000 * statistics.median(maps):6.1f} ms   "
            f"p95 {1000 * m95:6.1f} ms   max {1000 * max(maps):6.1f} ms   (target p95 < 1 s)"
        )
        print(f"  first click after the image arrives (weights cached, one full pass): {1000 * first:.0f} ms")
        print(
            f"  baseline: fresh forward per click      p50 {1000 * statistics.median(baseline):6.1f} ms   "
            f"→ kept pass is {statistics.median(baseline) / statistics.median(maps):.1f}× faster (median)"
        )
    zoo_names = [n for n in medians if not zoo.is_user_model(n)]
    for own in (n for n in medians if zoo.is_user_model(n) and zoo_names):
        (d_own, m_own), (d_zoo, m_zoo) = medians[own], medians[zoo_names[0]]
        print(
            f"\nyour own {own} vs the zoo's {zoo_names[0]} (medians): details {d_own / d_zoo:.2f}×, "
            f"maps {m_own / m_zoo:.2f}× (goal: about 1×)"
        )
    print(f"\n{'OK' if verdict else 'OVER'}: every model within the click targets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
