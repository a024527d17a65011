"""Benchmark: full analysis vs ``torchinfo.summary`` and ``torchscan`` on the same instances, same process.

    python bench/bench_analysis.py [--repeats 5] [--zoo]

Prints the speed ratios for VGG-16 (target ≥ 50× torchinfo), ResNet-50 (target ≥ 10×) and ResNet-152 at 224×224
(torchscan only when it is installed: it is a test requirement, not a runtime one), the same analysis with the
engine's shape rules off (every meta kernel run: what the rules save), the time and peak-RSS growth of
VGG-19 at 2048×2048 (shape-only, so it should stay flat), and with ``--zoo`` the MAC/parameter agreement
with torchinfo on every zoo model.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch
import torchinfo

try:  # optional: a second reference
    import torchscan
except ImportError:
    torchscan = None

import zoo
from visualizer.analysis import analyze, analyze_model, meta_model


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def interleaved(fns, repeats: int) -> tuple[list[float], list[float]]:
    """Best wall time and best CPU time (all this process's threads) of each function, their runs interleaved
    so that load from other processes hits all alike. CPU time is the steadier figure on a shared machine."""
    wall, cpu = [float("inf")] * len(fns), [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall[i] = min(wall[i], time.perf_counter() - t)
            cpu[i] = min(cpu[i], time.process_time() - c)
    return wall, cpu


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser(allow_abbrev=False)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--zoo", action="store_true", help="also compare totals with torchinfo on every zoo model")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    # Peak RSS is a high-water mark: measure the 2048×2048 pass before anything big is allocated.
    rss0 = peak_rss_mib()
    analyze_model("vgg19")  # builds the (meta) model once
    # analyze itself, not analyze_model: that one answers a repeat from its cache
    t_big = best_of(lambda: analyze(meta_model("vgg19"), (3, 2048, 2048)), args.repeats)
    rss_growth = peak_rss_mib() - rss0
    big = analyze_model("vgg19", (3, 2048, 2048))
    print(
        f"VGG-19 at 3x2048x2048: {t_big * 1000:.1f} ms (best of {args.repeats}), "
        f"{big.total_macs / 1e9:.1f} GMACs, {big.total_activation_bytes / 2**30:.1f} GiB of activations "
        f"described; peak RSS growth {rss_growth:.1f} MiB"
    )

    shape = (3, 224, 224)
    print(
        f"Same instance, same process, best of {args.repeats}, {torch.get_num_threads()} threads; ours = analyze + "
        "to_dict (records, totals, breakdowns, receptive fields)"
        + ("" if torchscan else "; torchscan not installed (pip install torchscan) - skipped")
    )
    for name, target in (("vgg16", 50), ("resnet50", 10), ("resnet152", None)):
        model = zoo.create_model(name).eval()
        analyze(model, shape)  # warm-up every tool once
        analyze(model, shape, shape_rules=False)
        torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu")
        (t_ours, t_meta, t_ti), (c_ours, _, c_ti) = interleaved(
            [
                lambda: analyze(model, shape).to_dict(),
                lambda: analyze(model, shape, shape_rules=False).to_dict(),
                lambda: torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu"),
            ],
            args.repeats,
        )
        goal = f" (target >= {target}x: {'met' if t_ti / t_ours >= target else 'NOT met'})" if target else ""
        line = (
            f"{name:>9} at 3x224x224: ours {t_ours * 1000:7.1f} ms (rules off: {t_meta * 1000:6.1f} ms, "
            f"{t_meta / t_ours:4.1f}x slower) | torchinfo.summary {t_ti * 1000:7.1f} ms -> {t_ti / t_ours:5.1f}x{goal}"
            f" | CPU time: ours {c_ours * 1000:.1f} ms, torchinfo {c_ti * 1000:.1f} ms -> {c_ti / c_ours:.1f}x"
        )
        if torchscan:
            torchscan.crawl_module(model, shape)
            # crawl_module is torchscan's collection step alone (summary() adds its printing on top)
            t_ts = best_of(lambda: torchscan.crawl_module(model, shape), args.repeats)
            line += f" | torchscan.crawl_module {t_ts * 1000:7.1f} ms -> {t_ts / t_ours:5.1f}x"
        print(line)
        if name == "vgg16":  # the conventions side by side, once
            a, macs = analyze(model, shape), None
            if torchscan:
                macs = torchscan.crawl_module(model, shape)["totals"]["macs"]["value"]
            print(
                f"  (VGG-16 MACs: ours {a.total_macs:,} torchinfo's convention, {a.total_textbook_macs:,} weights "
                "only" + (f"; torchscan {macs:,}, its own convention)" if macs is not None else ")")
            )
        del model

    if args.zoo:
        for name in zoo.list_models():
            spec = zoo.get_spec(name)
            m = zoo.create_model(name).eval()
            s = torchinfo.summary(m, input_size=(1, *spec.input_size), verbose=0, device="cpu")
            a = analyze(m, spec.input_size)
            same = (s.total_mult_adds, s.total_params, s.trainable_params) == (
                a.total_macs,
                a.total_params,
                a.trainable_params,
            )
            print(
                f"  {name:22s} MACs {a.total_macs:>16,}  params {a.total_params:>12,}  "
                f"{'agrees with torchinfo' if same else 'DIFFERS: torchinfo ' + str(s.total_mult_adds)}"
            )
            del m


if __name__ == "__main__":
    main()
