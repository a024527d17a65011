"""Benchmark: ``render_svg`` for every zoo model at its design size, against the analysis pass it draws.

    python bench/bench_diagram.py [--repeats 7] [--folds blocks,stages]

The analysis is computed once per model outside the timing (the page keeps it); what is timed is the diagram
alone: graph (shortcuts, folding), layout and SVG text. Prints, per model, the median of ``--repeats`` runs for
each fold, the analysis pass itself (``analyze_model``, the baseline, timed the same way in the same run) and
the ratio diagram / analysis; then the slowest model against the target (< 50 ms, ResNet-152 included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

import zoo
from visualizer.analysis import analyze_model
from visualizer.diagram import render_svg

TARGET_MS = 50.0


def times_ms(fn, repeats: int) -> list[float]:
    fn()  # warm-up: first-call caches (meta model, fonts, imports) are not what a click pays
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--folds", default="blocks,stages", help="comma-separated: none, blocks, stages")
    args = parser.parse_args()
    folds = [f.strip() for f in args.folds.split(",") if f.strip()]
    torch.set_grad_enabled(False)

    head = f"{'model':22s} {'input':>10s} {'layers':>6s} {'analysis':>9s}"
    head += "".join(f" {fold:>8s} {fold + '/an':>9s}" for fold in folds) + " " + f"{'svg KiB':>7s}"
    print(f"median of {args.repeats} runs, ms; {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs")
    print(head)
    print("-" * len(head))
    worst: dict[str, tuple[float, str, list[float]]] = {fold: (0.0, "", []) for fold in folds}
    ratios = []
    for name in zoo.list_models():
        spec = zoo.get_spec(name)
        t_an = statistics.median(times_ms(lambda: analyze_model(name), args.repeats))
        a = analyze_model(name)  # once, outside the diagram's timing
        line = f"{name:22s} {'x'.join(map(str, spec.input_size)):>10s} {len(a.layers):6d} {t_an:9.1f}"
        for fold in folds:
            runs = times_ms(lambda: render_svg(a, fold), args.repeats)
            med = statistics.median(runs)
            line += f" {med:8.1f} {med / t_an:8.2f}x"
            ratios.append(med / t_an)
            if med > worst[fold][0]:
                worst[fold] = (med, name, runs)
        line += f" {len(render_svg(a, folds[0]).encode()) / 1024:7.0f}"
        print(line)
    print("-" * len(head))
    for fold, (med, name, runs) in worst.items():
        verdict = "meets" if med < TARGET_MS else "MISSES"
        print(
            f"fold {fold:7s} slowest: {name} {med:.1f} ms median, {max(runs):.1f} ms worst of {len(runs)} "
            f"-> {verdict} the target < {TARGET_MS:.0f} ms ({med / TARGET_MS:.0%} of it)"
        )
    print(
        f"diagram / analysis pass: median ratio {statistics.median(ratios):.2f}x, max {max(ratios):.2f}x "
        "(the diagram is drawn from the records; it should cost less than the pass that makes them)"
    )


if __name__ == "__main__":
    main()
