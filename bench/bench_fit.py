"""Benchmark: the diagram fitted to the page (``max_width=FIT_WIDTH``: rows, balanced) against the one-row drawing.

    python bench/bench_fit.py [--repeats 5]

Per case (VGG-16, AlexNet, ResNet-18 in blocks; ResNet-152 in stages with its ×36 stage open, the page's
expand click): the median milliseconds of ``render_svg`` one-row (the baseline, timed the same way in the same
run) and fitted, their ratio, the drawing's width against ``FIT_WIDTH`` and its rows and height; then the page's
whole redraw after the ×36 click (``views.architecture.redraw_view``: diagram, bars, share line, downloads).
The analysis is made once outside the timing (the page keeps it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from visualizer import diagram
from visualizer.analysis import analyze_model
from visualizer.diagram.scene import FIT_WIDTH
from visualizer.views import architecture


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return statistics.median(out)


def main() -> None:
    p = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    r152 = analyze_model("resnet152")
    third = [n.stage for n in diagram.nodes(r152, "stages")[0] if n.kind == "stage"][2]
    cases = [
        ("vgg16", "blocks", ()),
        ("alexnet", "blocks", ()),
        ("resnet18", "blocks", ()),
        ("resnet152", "stages", (third,)),
    ]
    print(f"FIT_WIDTH {FIT_WIDTH:.0f} px; load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for name, fold, expanded in cases:
        a = analyze_model(name)
        wide = median_ms(lambda: diagram.render_svg(a, fold, expanded), args.repeats)
        fit = median_ms(lambda: diagram.render_svg(a, fold, expanded, max_width=FIT_WIDTH), args.repeats)
        one = diagram.build(a, fold, expanded)
        rows = diagram.build(a, fold, expanded, max_width=FIT_WIDTH)
        print(
            f"{name:10s} {fold:7s}{' ×' + str(len(expanded)) + ' open' if expanded else '':8s} one row {wide:7.1f} ms "
            f"{one.width:6.0f} px wide | fitted {fit:7.1f} ms {rows.width:4.0f} px wide, {rows.rows} rows, "
            f"{rows.height:4.0f} px tall | fitted / one row: time x{fit / wide:.2f}, "
            f"width x{rows.width / one.width:.2f}"
        )
    state = architecture.arch_state(r152, "stages")
    architecture._diagram_html.cache_clear()
    t = time.perf_counter()
    architecture.redraw_view(state, None, third)
    took = time.perf_counter() - t
    print(f"page redraw after the ×36 click (diagram, bars, share line; downloads reused once written): {took:.2f} s")


if __name__ == "__main__":
    main()
