"""A classroom on one server: N concurrent clients for a while, mixing the page's endpoints.

    python bench/bench_load.py [--clients 8] [--seconds 45] [--train] [--threads 2]

Starts the real server (``app.py`` in a scratch folder), then each client (its own gradio_client session)
loops: ``analyze`` a zoo model, ``compare_stacks``, ``feature_maps`` of an example image through one of
several models, the occasional ``layer_details``. Every reply is fully downloaded (images included), so a
truncated file is an error. With ``--train`` a ``shapes`` run trains meanwhile, and its progress is checked.

Prints requests/s, p50 / p95 / max per endpoint and errors, and the server's resident memory before the load
(after one warm-up request per endpoint), at its peak, and after (caches settled). Goals (issue 10, 2 cores,
8 clients, no training): 0 errors, feature maps p95 ≤ 3 s, analyze p95 ≤ 0.5 s, after ≤ before + 300 MB.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, REPO)

MODELS = ["vgg16", "resnet18", "alexnet", "resnet50", "alexnet_cifar", "resnet18_cifar", "vgg:64,M,128,M"]
FEATURE_MODELS = [
    ("alexnet_cifar", "features.3"),
    ("resnet18_cifar", "layer2.0.conv1"),
    ("vgg16", "features.10"),
    ("resnet18", "layer1.0.conv1"),
]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=45)
    parser.add_argument("--train", action="store_true", help="a shapes run trains during the load")
    args = parser.parse_args()

    from gradio_client import Client, handle_file

    from visualizer.images import example_images

    images = example_images()[:4]
    work = tempfile.mkdtemp(prefix="cnnviz-load-")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(
        os.environ,
        PYTHONPATH=REPO,
        GRADIO_ANALYTICS_ENABLED="False",
        MPLBACKEND="Agg",
        TORCH_HOME=os.path.join(work, "torch"),
    )
    log = open(os.path.join(work, "server.log"), "w")
    server = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "app.py"), "--port", str(port)],
        cwd=work,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        warm = Client(url, verbose=False)
        warm.predict("vgg16", "", api_name="/analyze")
        warm.predict(3, 2, 64, 64, api_name="/compare_stacks")
        for model, layer in FEATURE_MODELS:  # every model's weights built once, as after a class's first minutes
            warm.predict(
                handle_file(images[0]),
                model,
                "random",
                "",
                layer,
                8,
                "mean",
                "viridis",
                "channel",
                "",
                "",
                api_name="/feature_maps",
            )
        if args.train:
            warm.predict(
                "alexnet_cifar",
                "shapes",
                20,
                32,
                1e-3,
                "adam",
                "cosine",
                0.0,
                4000,
                0,
                False,
                False,
                False,
                "",
                api_name="/train_start",
            )
            time.sleep(3)
        time.sleep(2)
        before = rss_mb(server.pid)
        peak = [before]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], rss_mb(server.pid))
                time.sleep(0.25)

        times: dict[str, list[float]] = {}
        errors: list[str] = []
        lock = threading.Lock()

        def client(seed: int) -> None:
            rng = random.Random(seed)
            # As a browser does: images are fetched (feature maps' every picture is downloaded and decoded, so a
            # truncated file is an error), the table and diagram downloads are not until someone clicks them.
            c = Client(url, verbose=False)
            light = Client(url, verbose=False, download_files=False)
            deadline = time.monotonic() + args.seconds
            while time.monotonic() < deadline:
                kind = rng.choices(["analyze", "compare_stacks", "feature_maps", "layer_details"], [4, 2, 4, 1])[0]
                t0 = time.perf_counter()
                try:
                    if kind == "analyze":
                        light.predict(rng.choice(MODELS), "", api_name="/analyze")
                    elif kind == "compare_stacks":
                        light.predict(
                            rng.choice([3, 5]),
                            rng.randint(1, 4),
                            rng.choice([16, 64, 256]),
                            64,
                            api_name="/compare_stacks",
                        )
                    elif kind == "layer_details":
                        light.predict("resnet50", "", "layer3.2.conv2", api_name="/layer_details")
                    else:
                        model, layer = rng.choice(FEATURE_MODELS)
                        out = c.predict(
                            handle_file(rng.choice(images)),
                            model,
                            "random",
                            "",
                            layer,
                            rng.choice([8, 16]),
                            "mean",
                            rng.choice(["viridis", "magma"]),
                            "channel",
                            "",
                            "",
                            api_name="/feature_maps",
                        )
                        for value in out:  # every image came back whole
                            if isinstance(value, str) and value.endswith((".png", ".webp")):
                                from PIL import Image

                                Image.open(value).load()
                except Exception as exc:  # noqa: BLE001 - every failure a client sees is counted
                    with lock:
                        errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:160]}")
                    continue
                with lock:
                    times.setdefault(kind, []).append(time.perf_counter() - t0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t_start = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t_start
        training = warm.predict(api_name="/train_status")[0] if args.train else ""
        time.sleep(5)
        stop.set()
        after = rss_mb(server.pid)
        total = sum(len(v) for v in times.values())
        print(
            f"{args.clients} clients × {args.seconds:.0f} s{' while a shapes run trains' if args.train else ''}; "
            f"load average {os.getloadavg()[0]:.1f} at the end"
        )
        print(f"{total} requests in {elapsed:.1f} s = {total / elapsed:.1f} req/s; errors: {len(errors)}")
        for kind in ("analyze", "compare_stacks", "layer_details", "feature_maps"):
            v = times.get(kind, [])
            if v:
                print(
                    f"  {kind:15s} n={len(v):4d}  p50 {statistics.median(v):6.2f} s  p95 {pct(v, 0.95):6.2f} s  "
                    f"max {max(v):6.2f} s"
                )
        for e in errors[:10]:
            print("  error:", e)
        print(
            f"server RSS: before {before:.0f} MB, peak {peak[0]:.0f} MB, after {after:.0f} MB "
            f"(after − before = {after - before:+.0f} MB; goal ≤ +300 MB)"
        )
        if args.train:
            print("training during the load:", training.splitlines()[0] if training else "?")
        fm, an = times.get("feature_maps", []), times.get("analyze", [])
        ok = (
            not errors
            and (not fm or pct(fm, 0.95) <= 3.0)
            and (not an or pct(an, 0.95) <= 0.5)
            and after - before <= 300
        )
        print("OK" if ok else "OVER", "(goals: 0 errors, feature maps p95 ≤ 3 s, analyze p95 ≤ 0.5 s, +300 MB)")
        return 0
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


if __name__ == "__main__":
    sys.exit(main())
