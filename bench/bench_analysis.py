"""Benchmark: full analysis vs ``torchinfo.summary`` on the same VGG-16 instance, same process.

    python bench/bench_analysis.py [--repeats 5] [--zoo]

Prints the speed ratio (target ≥ 10×), the time and peak-RSS growth of VGG-19 at 2048×2048 (shape-only,
so it should stay flat), and with ``--zoo`` the MAC/parameter agreement with torchinfo on every zoo model.
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402
import torchinfo  # noqa: E402

import zoo  # noqa: E402
from visualizer.analysis import analyze, analyze_model  # noqa: E402


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--zoo", action="store_true", help="also compare totals with torchinfo on every zoo model")
    args = parser.parse_args()
    torch.set_grad_enabled(False)

    # Peak RSS is a high-water mark: measure the 2048×2048 pass before anything big is allocated.
    rss0 = peak_rss_mib()
    analyze_model("vgg19")  # builds the (meta) model once
    t_big = best_of(lambda: analyze_model("vgg19", (3, 2048, 2048)), args.repeats)
    rss_growth = peak_rss_mib() - rss0
    big = analyze_model("vgg19", (3, 2048, 2048))
    print(f"VGG-19 at 3x2048x2048: {t_big * 1000:.1f} ms (best of {args.repeats}), "
          f"{big.total_macs / 1e9:.1f} GMACs, {big.total_activation_bytes / 2**30:.1f} GiB of activations "
          f"described; peak RSS growth {rss_growth:.1f} MiB")

    model = zoo.create_model("vgg16").eval()
    shape = (3, 224, 224)
    analyze(model, shape)  # warm-up both
    torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu")
    t_ours = best_of(lambda: analyze(model, shape).to_dict(), args.repeats)  # records, totals, breakdowns
    t_ti = best_of(lambda: torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu"), args.repeats)
    print(f"VGG-16 at 3x224x224: analyze + to_dict {t_ours * 1000:.1f} ms, torchinfo.summary {t_ti * 1000:.1f} ms "
          f"(best of {args.repeats}, {torch.get_num_threads()} threads) -> {t_ti / t_ours:.1f}x faster "
          f"(target >= 10x)")

    resnet = zoo.create_model("resnet50").eval()
    analyze(resnet, shape)
    t_r = best_of(lambda: analyze(resnet, shape).to_dict(), args.repeats)
    t_rti = best_of(lambda: torchinfo.summary(resnet, input_size=(1, *shape), verbose=0, device="cpu"), args.repeats)
    print(f"(for reference) ResNet-50 at 3x224x224: {t_r * 1000:.1f} ms vs torchinfo {t_rti * 1000:.1f} ms "
          f"-> {t_rti / t_r:.1f}x")

    if args.zoo:
        for name in zoo.list_models():
            spec = zoo.get_spec(name)
            m = zoo.create_model(name).eval()
            s = torchinfo.summary(m, input_size=(1, *spec.input_size), verbose=0, device="cpu")
            a = analyze(m, spec.input_size)
            same = (s.total_mult_adds, s.total_params, s.trainable_params) == (a.total_macs, a.total_params,
                                                                                a.trainable_params)
            print(f"  {name:22s} MACs {a.total_macs:>16,}  params {a.total_params:>12,}  "
                  f"{'agrees with torchinfo' if same else 'DIFFERS: torchinfo ' + str(s.total_mult_adds)}")
            del m


if __name__ == "__main__":
    main()
