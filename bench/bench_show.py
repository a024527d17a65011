"""Time to a page that answers: ``show(model)`` from a fresh Python against ``python app.py`` (the baseline), in
the same run, alternating; and what a meta copy of an instance costs against copying it.

    python bench/bench_show.py [--rounds 3]

Each start is a fresh process in a scratch folder, timed from its launch until ``GET /`` and ``GET /config``
answer 200 (the page and what it renders from):

- baseline ``python app.py --port P``;
- ``show``: ``python -c "from visualizer import show; import notes_vgg19; show(notes_vgg19.VGG19(), port=P)"``
  (the notes' VGG-19 built, checked on a meta copy and registered, then the page served);
- ``--model``: ``python app.py --model docs/examples/notes_vgg19.py:VGG19`` (the same through the flags).

Goal (issue 16): show ≤ 1.2× the baseline (medians). Then, in this process, the second ``show()`` of a running
notebook (imports warm; it closes the first page and serves the new one on the same port), and the copies:
``copy.deepcopy`` of the VGG-19 instance, ``copy.deepcopy(...).to("meta")``, and ``zoo.user.meta_copy`` (a
deepcopy whose memo maps every parameter and buffer to a meta stand-in).
"""

from __future__ import annotations

import argparse
import copy
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EXAMPLES = os.path.join(REPO, "docs", "examples")
sys.path.insert(0, REPO)
sys.path.insert(0, EXAMPLES)

SHOW = (
    "import sys; from visualizer import show; import notes_vgg19; "
    "show(notes_vgg19.VGG19(), port=int(sys.argv[1]), block=True, open_browser=False)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        for path in ("", "config"):
            with urllib.request.urlopen(url + path, timeout=5) as r:
                if r.status != 200:
                    return False
        return True
    except OSError:
        return False


def time_to_page(argv: list[str], port: int, work: str) -> float:
    env = dict(os.environ, PYTHONPATH=f"{REPO}{os.pathsep}{EXAMPLES}", GRADIO_ANALYTICS_ENABLED="False")
    env["MPLBACKEND"] = "Agg"
    url = f"http://127.0.0.1:{port}/"
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not answers(url):
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[1:3]} exited: {proc.stderr.read().decode()[-2000:]}")
            if time.perf_counter() - start > 300:
                raise RuntimeError(f"{argv[1:3]}: no page after 300 s")
            time.sleep(0.05)
        return time.perf_counter() - start
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def best_of(f, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--rounds", type=int, default=3, help="starts of each kind, alternating (default 3)")
    args = parser.parse_args()

    app = os.path.join(REPO, "app.py")
    kinds = {
        "python app.py (baseline)": lambda p: [sys.executable, app, "--port", str(p)],
        "show(VGG19())": lambda p: [sys.executable, "-c", SHOW, str(p)],
        "app.py --model notes_vgg19.py:VGG19": lambda p: [
            sys.executable,
            app,
            "--port",
            str(p),
            "--model",
            os.path.join(EXAMPLES, "notes_vgg19.py:VGG19"),
        ],
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory() as work:
        for _ in range(args.rounds):
            for kind, argv in kinds.items():
                port = free_port()
                times[kind].append(time_to_page(argv(port), port, work))
    base = statistics.median(times["python app.py (baseline)"])
    print(f"time to a page that answers (fresh process, median of {args.rounds}; load {os.getloadavg()[0]:.1f}):")
    for kind, ts in times.items():
        med = statistics.median(ts)
        print(f"  {kind:40s} {med:6.2f} s  ({' '.join(f'{t:.2f}' for t in ts)})  ratio {med / base:.2f}×")
    ratio = statistics.median(times["show(VGG19())"]) / base
    print(f"show / baseline = {ratio:.2f}× (goal ≤ 1.2×): {'met' if ratio <= 1.2 else 'NOT met'}")

    # In a notebook that already showed a page: imports warm, the page closed and served again on its port.
    import notes_vgg19
    import torch

    import zoo
    from visualizer import show

    net = notes_vgg19.VGG19()
    first = show(net, block=False, open_browser=False)
    t = time.perf_counter()
    again = show(net, block=False, open_browser=False)
    while not answers(again.url):
        time.sleep(0.02)
    print(f"a second show() in the same process, to its page answering: {time.perf_counter() - t:.2f} s "
          f"(port {first.port} → {again.port})")  # fmt: skip
    again.close()

    mb = sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()]) / 2**20
    deep = best_of(lambda: copy.deepcopy(net))
    deep_meta = best_of(lambda: copy.deepcopy(net).to("meta"))
    meta = best_of(lambda: zoo.user.meta_copy(net))
    with torch.device("meta"):
        built = best_of(lambda: notes_vgg19.VGG19())
    print(f"copies of the notes' VGG-19 ({mb:.0f} MiB of weights), best of 3:")
    print(f"  copy.deepcopy                      {deep * 1e3:8.1f} ms  copies {mb:.0f} MiB")
    print(f"  copy.deepcopy(...).to('meta')      {deep_meta * 1e3:8.1f} ms  copies {mb:.0f} MiB, then drops it")
    print(f"  zoo.user.meta_copy (memo of meta)  {meta * 1e3:8.1f} ms  copies 0 MiB  ({deep / meta:.0f}× faster)")
    print(f"  VGG19() built under torch.device('meta') {built * 1e3:4.1f} ms (needs the class's arguments)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
