"""A classroom on one server: what an answer costs alone, then under 8 and 12 concurrent clients (issue 18).

    python bench/bench_load.py [--clients 8] [--train-clients 12] [--seconds 25] [--phases single,mix,train]

Starts the real server (``app.py`` in a scratch folder) and, for the baseline, an echo app (one Gradio endpoint that
returns its input, same queue settings): Gradio's own round trip. Then:

* **single** — one client, warm: the echo round trip; the record-only answers (``analyze`` of a model already
  analysed, ``layer_details`` = a diagram click's card, ``compare_stacks``, ``compare_models``; each through the
  page's own event where it has one, ``<name>_in_page``, as a student's browser asks) as ratios to it (goal ≤ 1.5×);
  one VGG-16 ``feature_maps`` request (every picture downloaded and decoded, as on a first look), the load baseline;
  the same request seen before (its pictures in the browser's cache, ``ui.cached_pictures``).
  Also one new photo through VGG-16 (its forward pass runs), the baseline for new photos under load.
* **mix** — ``--clients`` clients loop over analyze, stacks, clicks, feature maps of the example photos (every
  model × photo shown once before the clock starts, as after a class's first minutes) and, one request in 27, a new
  photo of their own. Each student is a process of its own with one session, as a class's browsers are, pictures
  downloaded and decoded as a browser would; all connected before the clock starts; by default at Linux's idle
  priority, SCHED_IDLE, below nice 19 (``--client-nice``: in a class they run on their own machines, so here they
  get only what the server and a run leave). Analyze and click p95 against one single-client
  VGG-16 feature-maps request (goal ≤ 1×), feature maps p95 against it (goal ≤ 4×), new photos' p95 against one
  new photo alone. The students' own CPU (over their loops) is printed beside the server's.
* **train** — a ``shapes`` run trains alone (its steps/s idle), then with ``--train-clients`` clients doing the
  mix: the run's steps/s under load against idle (goal ≥ 70 %).

The machine may be shared, so every figure comes with the load average; ratios are against baselines measured in
the same run. Prints errors (every failure a client sees) and the server's resident memory.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, REPO)

from gradio_client import Client  # noqa: E402
from PIL import Image  # noqa: E402

from visualizer.images import example_images  # noqa: E402

MODELS = ["vgg16", "resnet18", "alexnet", "resnet50", "alexnet_cifar", "resnet18_cifar", "vgg:64,M,128,M"]
FEATURE_MODELS = [
    ("alexnet_cifar", "features.3"),
    ("resnet18_cifar", "layer2.0.conv1"),
    ("vgg16", "features.10"),
    ("resnet18", "layer1.0.conv1"),
]
CLICKS = [("vgg16", "features.10"), ("resnet50", "layer3.2.conv2"), ("resnet18", "layer2.0.downsample.0")]
# What a student asks for, and how often: mostly views of what is already on their page (a model analysed, a layer
# clicked, the maps of a photo through a model), now and then a photo of their own, new to the server (its forward
# pass runs: VGG-16, the model a class starts on).
KINDS = ["analyze", "stacks", "click", "feature_maps", "new_photo"]
WEIGHTS = [4, 2, 3, 4, 0.5]
IDLE = 99  # ``--client-nice idle``: the students at SCHED_IDLE
ECHO_APP = """
import sys
import gradio as gr
with gr.Blocks() as demo:
    a, b = gr.Textbox(), gr.Textbox()
    a.submit(lambda x: x, a, b, api_name="echo", concurrency_limit=4)
demo.queue(default_concurrency_limit=2).launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
"""
# 60,000 images: an epoch of 1,875 steps outlasts both windows (idle, then loaded, and the students' start between
# them), so neither includes an epoch's evaluation on the test split, during which no step is counted. (24,000 did
# not on a machine training at 9.5 steps/s: the loaded window took in the first epoch's end.) ``main`` says so if
# an epoch ends inside a window all the same.
TRAIN_ARGS = ["alexnet_cifar", "shapes", 200, 32, 1e-3, "adam", "constant", 0.0, 60000, 0, False, False, False, ""]
EPOCH_STEPS = TRAIN_ARGS[8] // TRAIN_ARGS[3]


def english(html: str) -> str:
    """A bilingual status line (``.en`` / ``.ko`` spans) as its English half, without tags, for the terminal."""
    first = re.search(r'<span class="en">(.*?)</span><span class="ko">', html or "", re.S)
    return re.sub(r"<[^>]+>", "", first.group(1) if first else html or "")


def client_priority(nice: int) -> str:
    if nice == IDLE:
        return " (clients at SCHED_IDLE)"
    return f" (clients at nice +{nice})" if nice else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_photo(tag: str) -> str:
    """A photo no one has shown yet (the first example, cropped by a few pixels and marked with ``tag``), as a
    file of its own: its feature maps need a forward pass."""
    path = os.path.join(tempfile.gettempdir(), f"cnnviz-load-photo-{os.getpid()}-{tag}.jpg")
    with Image.open(example_images()[0]) as photo:
        picture = photo.convert("RGB")
    crop = sum(map(ord, tag)) % 17 + 1
    picture = picture.crop((crop, crop, picture.width - 1, picture.height - 1))
    picture.putpixel((0, 0), (hash(tag) % 256, 0, 0))
    picture.save(path, quality=90)
    return path


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def process_cpu(pid: int) -> float:
    """Seconds of CPU a running process has used (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else float("nan")


def nice_pair(text: str) -> tuple[str, str]:
    """``--nice ANSWERS,PASSES``: two whole numbers from 0 to 19 (the server checks them again)."""
    parts = text.split(",")
    if len(parts) != 2 or not all(p.strip().isdigit() and int(p) <= 19 for p in parts):
        raise argparse.ArgumentTypeError(f"expected two nice values from 0 to 19, e.g. 4,8 (got {text[:20]!r})")
    return parts[0].strip(), parts[1].strip()


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def start(cmd: list[str], work: str, name: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(
        os.environ, PYTHONPATH=REPO, GRADIO_ANALYTICS_ENABLED="False", MPLBACKEND="Agg", TORCH_HOME=f"{work}/torch"
    )
    log = open(os.path.join(work, f"{name}.log"), "w")
    proc = subprocess.Popen([*cmd, str(port)], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(480):
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.25)
    raise RuntimeError(f"{name} did not start; see {work}/{name}.log")


def analytics_cost(records: int, every: int, events: int = 2000) -> float:
    """Seconds per event that Gradio's queue spends on the summary of its last ``records`` events when it rebuilds
    it every ``every`` events (its defaults: 10,000 and 1; the app's, ``ui.app.QUEUE_ANALYTICS``: 1,000 and 1,000),
    timed on its own ``compute_analytics_summary`` over as many records as a class's server holds."""
    from gradio.queueing import Queue

    queue = Queue.__new__(Queue)  # the method reads these alone
    queue.cached_event_analytics_summary, queue.events_recorded_per_fn = {"functions": {}}, {}
    queue.events_recorded = queue.event_count_at_last_cache = 0
    queue.ANAYLTICS_CACHE_FREQUENCY = every
    rng = random.Random(0)
    kept = [
        {
            "time": i,
            "status": rng.choice(["success", "success", "failed"]),
            "process_time": rng.random(),
            "function": rng.choice(KINDS),
            "session_hash": str(i % 30),
        }
        for i in range(records)
    ]
    n = min(events, 50 * every)
    t0 = time.perf_counter()
    for _ in range(n):
        queue.events_recorded += 1
        queue.compute_analytics_summary(list(kept))
    return (time.perf_counter() - t0) / n


def paired_times(call, baseline, n: int) -> tuple[float, float]:
    """Medians of ``call`` and ``baseline`` timed alternately (so both see the same load on a shared machine)."""
    call(), baseline()
    ours, theirs = [], []
    for _ in range(n):
        for f, times in ((call, ours), (baseline, theirs)):
            t0 = time.perf_counter()
            f()
            times.append(time.perf_counter() - t0)
    return statistics.median(ours), statistics.median(theirs)


def median_time(call, n: int) -> float:
    call()  # warm
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


class Requests:
    """The page's requests as a browser makes them: one session (``session_hash``) for the whole visit, each request
    joining the queue (``POST /gradio_api/queue/join``, by the event's ``fn_index`` from ``/config``) and its answer
    read from the session's event stream (``GET /gradio_api/queue/data``), or, for an event that skips the queue,
    one ``POST /gradio_api/run/…`` answered in its response; each photo uploaded once, as the page's
    image box does, then named by its server path; every picture of an answer downloaded and decoded, as the page
    shows it, but for those the answer said never change, kept as a browser's cache keeps them (``--browser-cache``).
    A handful of HTTP calls per answer: gradio_client's machinery (threads, a stream per call) cost the
    students' side six times the server's CPU on these two cores, so the bench measured its own clients; and a
    sessionless call (``/gradio_api/call/…``) makes Gradio build a new session's config of every component each
    time, which a browser pays once per visit."""

    def __init__(self, url: str, browser_cache: bool = True) -> None:
        self.url = url.rstrip("/") + "/"
        self.browser_cache = browser_cache
        self.images = example_images()[:4]
        self._uploaded: dict[str, dict] = {}
        self.kept: set[str] = set()  # the browser's cache: pictures whose answer said they never change
        self.session = uuid.uuid4().hex
        with urllib.request.urlopen(f"{self.url}config", timeout=120) as answer:
            config = json.load(answer)
        self.fn = {d["api_name"]: d["id"] for d in config["dependencies"] if d.get("api_name")}
        # events answered in the request itself (``ui.wire.WIRE``: queue=False), which the page POSTs to /run
        self.direct = {d["api_name"] for d in config["dependencies"] if d.get("api_name") and d.get("queue") is False}

    def call(self, api: str, *data) -> list:
        body = {"data": list(data), "fn_index": self.fn[api], "session_hash": self.session, "event_data": None}
        if api in self.direct:  # as the page's client does for such an event: one POST, the answer in its response
            request = urllib.request.Request(
                f"{self.url}gradio_api/run/{api}", json.dumps(body).encode(), {"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=120) as answer:
                    return json.load(answer)["data"]
            except urllib.error.HTTPError as exc:
                raise RuntimeError(f"{api}: {exc.read()[:160]!r}") from None
        request = urllib.request.Request(
            f"{self.url}gradio_api/queue/join", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=120) as answer:
            event = json.load(answer)["event_id"]
        stream_url = f"{self.url}gradio_api/queue/data?session_hash={self.session}"
        with urllib.request.urlopen(stream_url, timeout=600) as stream:
            for raw in stream:
                line = raw.decode()
                if not line.startswith("data:"):
                    continue
                message = json.loads(line[5:])
                if message.get("msg") == "process_completed" and message.get("event_id") == event:
                    output = message.get("output") or {}
                    if not message.get("success"):
                        raise RuntimeError(f"{api}: {str(output.get('error'))[:160]}")
                    return output["data"]
        raise RuntimeError(f"{api}: the session's event stream ended without the answer")

    def upload(self, path: str) -> dict:
        """``path`` uploaded once (the page's image box keeps the server's copy); its ``FileData``."""
        if path not in self._uploaded:
            boundary = uuid.uuid4().hex
            with open(path, "rb") as f:
                content = f.read()
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="{os.path.basename(path)}"\r\nContent-Type: application/octet-stream\r\n\r\n'
            )
            body = head.encode() + content + f"\r\n--{boundary}--\r\n".encode()
            request = urllib.request.Request(
                f"{self.url}gradio_api/upload", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
            )
            with urllib.request.urlopen(request, timeout=120) as answer:
                server_path = json.load(answer)[0]
            self._uploaded[path] = {
                "path": server_path,
                "orig_name": os.path.basename(path),
                "meta": {"_type": "gradio.FileData"},
            }
        return self._uploaded[path]

    def page(self, api: str) -> str:
        """The page's own event for what scripts call ``api`` (``<api>_in_page``: answered in its request, a refusal
        said in the page, ``ui.handlers.DIRECT``), where the page has one; else ``api``."""
        return f"{api}_in_page" if f"{api}_in_page" in self.fn else api

    def analyze(self, model: str = "vgg16") -> None:
        self.call(self.page("analyze"), model, "", "en")

    def click(self, model: str = "vgg16", layer: str = "features.10") -> None:
        self.call("layer_details", model, "", layer)

    def stacks(self, kernel: int = 3, repeats: int = 2, channels: int = 64) -> None:
        self.call(self.page("compare_stacks"), kernel, repeats, channels, 64, "en")

    def compare(self) -> None:
        self.call(self.page("compare_models"), ["alexnet", "vgg16", "resnet18", "resnet50"], "3x224x224", "en")

    def feature_maps(
        self, model: str = "vgg16", layer: str = "features.10", image: str | None = None, cold: bool = False
    ) -> None:
        """The feature maps of ``image``, every picture downloaded and decoded whole as the page shows it, except
        those the browser keeps (``Cache-Control: immutable``, ``ui.cached_pictures``) from an earlier answer, as a
        browser shows them from its cache; ``cold``: all downloaded, as on a first look."""
        photo = self.upload(image or self.images[0])
        out = self.call(
            "feature_maps", photo, model, "random", "", layer, 8, "mean", "viridis", "channel", "", "", "en"
        )
        for value in out:
            if isinstance(value, dict) and str(value.get("path", "")).endswith((".png", ".webp")):
                if value["url"] in self.kept and not cold and self.browser_cache:
                    continue
                with urllib.request.urlopen(value["url"], timeout=120) as picture:
                    Image.open(io.BytesIO(picture.read())).load()
                    if "immutable" in (picture.headers.get("Cache-Control") or ""):
                        self.kept.add(value["url"])


def student(
    url: str,
    seed: int,
    seconds: float,
    nice: int,
    think: float,
    weights: list[float],
    browser_cache: bool,
    ready,
    go,
    results,
) -> None:
    """One simulated student, in a process of their own (a class's browsers do not share one Python's GIL): connects,
    waits for ``go``, then loops over the mix for ``seconds``, pausing a random 0..2×``think`` seconds between
    requests (a student reading the answer; 0: back to back); puts ``(times by kind, errors)`` on ``results``."""
    if nice == IDLE and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif nice:
        os.nice(min(nice, 19))
    rng = random.Random(seed)
    r = Requests(url, browser_cache)
    times: dict[str, list[float]] = {}
    errors: list[str] = []
    ready.release()
    go.wait()
    cpu0 = time.process_time()
    deadline = time.monotonic() + seconds
    photos = 0
    while time.monotonic() < deadline:
        kind = rng.choices(KINDS, weights)[0]
        t0 = time.perf_counter()
        try:
            if kind == "analyze":
                r.analyze(rng.choice(MODELS))
            elif kind == "stacks":
                r.stacks(rng.choice([3, 5]), rng.randint(1, 4), rng.choice([16, 64, 256]))
            elif kind == "click":
                r.click(*rng.choice(CLICKS))
            elif kind == "new_photo":
                photos += 1
                r.feature_maps(*FEATURE_MODELS[2], image=new_photo(f"{seed}-{photos}"))
            else:
                r.feature_maps(*rng.choice(FEATURE_MODELS), image=rng.choice(r.images))
        except Exception as exc:  # noqa: BLE001 - every failure a client sees is counted
            errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:160]}")
            continue
        times.setdefault(kind, []).append(time.perf_counter() - t0)
        if think:
            time.sleep(min(rng.uniform(0, 2 * think), max(0.0, deadline - time.monotonic())))
    results.put((times, errors, time.process_time() - cpu0))


def mix(
    url: str,
    clients: int,
    seconds: float,
    nice: int = 0,
    think: float = 0.0,
    at_go=None,
    at_end=None,
    weights: list[float] = WEIGHTS,
    browser_cache: bool = True,
) -> tuple[dict[str, list[float]], list[str], float, float]:
    """``clients`` students for ``seconds``, each a process of its own, all connected before the clock starts: their
    answer times by kind, the errors, the elapsed time, and the CPU seconds the students used over their loops.
    ``nice``: the students' processes run at this lower priority; ``at_go()`` / ``at_end()``: called as the clock
    starts and once every answer is in."""
    context = multiprocessing.get_context("spawn")
    ready, go, results = context.Semaphore(0), context.Event(), context.Queue()
    procs = [
        context.Process(
            target=student, args=(url, seed, seconds, nice, think, weights, browser_cache, ready, go, results)
        )
        for seed in range(clients)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire(timeout=300)
    if at_go:
        at_go()
    t0 = time.perf_counter()
    go.set()
    times: dict[str, list[float]] = {}
    errors: list[str] = []
    students_cpu = 0.0
    for _ in procs:
        student_times, student_errors, student_cpu = results.get(timeout=seconds + 300)
        for kind, values in student_times.items():
            times.setdefault(kind, []).extend(values)
        errors.extend(student_errors)
        students_cpu += student_cpu
    elapsed = time.perf_counter() - t0

    if at_end:
        at_end()
    for p in procs:
        p.join(30)
    return times, errors, elapsed, students_cpu


def report(times: dict[str, list[float]], errors: list[str], elapsed: float) -> None:
    total = sum(len(v) for v in times.values())
    print(f"  {total} answers in {elapsed:.1f} s = {total / elapsed:.1f}/s; errors: {len(errors)}; {load()}")
    for kind in KINDS:
        v = times.get(kind, [])
        if v:
            print(
                f"    {kind:13s} n={len(v):4d}  p50 {statistics.median(v):6.2f} s  p95 {pct(v, 0.95):6.2f} s  "
                f"max {max(v):6.2f} s"
            )
    for e in errors[:5]:
        print("    error:", e)


def steps(client: Client) -> tuple[int, str]:
    progress = client.predict(api_name="/train_status")[0]
    found = re.search(r"step (\d+)/", progress)
    return (int(found.group(1)) if found else 0), progress.split("\n")[0]


class StepWatcher:
    """The run's step count polled every quarter second on a thread of its own, kept at each change: the status moves
    every ``log_every`` (10) steps, so a rate read from two polls a window apart is off by up to 10 steps at each end;
    between the first and the last change inside a window it is exact to a poll."""

    def __init__(self, url: str) -> None:
        self.client = Client(url, verbose=False, download_files=False)
        self.changes: list[tuple[int, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(0.25):
            step = steps(self.client)[0]
            if not self.changes or step != self.changes[-1][0]:
                self.changes.append((step, time.perf_counter()))

    def rate(self, t0: float, t1: float) -> float:
        """Steps/s between the first and the last change in ``[t0, t1]``."""
        inside = [(s, t) for s, t in self.changes if t0 <= t <= t1]
        if len(inside) < 2:
            return float("nan")
        (s0, a), (s1, b) = inside[0], inside[-1]
        return (s1 - s0) / (b - a)

    def last_step(self, t1: float) -> int:
        """The last step count seen by ``t1``."""
        return max((s for s, t in self.changes if t <= t1), default=0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--train-clients", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=25, help="length of each loaded phase")
    parser.add_argument("--phases", default="single,mix,train")
    parser.add_argument(
        "--client-nice",
        type=lambda v: IDLE if v == "idle" else int(v),
        default=IDLE,
        help="run the clients at this lower priority (default idle: SCHED_IDLE, weight 3 where nice 19 has 15 and "
        "nice 0 1024. In a class the students' browsers run on their own machines; here they share the server's two "
        "cores: at an equal priority they took more CPU than the server, and twelve at nice 19 weigh as much as one "
        "thread at nice 8); 0 makes them compete",
    )
    parser.add_argument(
        "--nice",
        type=nice_pair,
        default=None,
        help="ANSWERS,PASSES: the server's answers and forward passes at these nice values instead of its own "
        "(budgets/cpu.py; passed as CNNVIZ_ANSWERS_NICE and CNNVIZ_NETWORK_NICE), to compare settings",
    )
    parser.add_argument(
        "--run-cores",
        choices=("share", "fixed"),
        default="share",
        help="share (the server's own): a run trains on the cores its server leaves (budgets/cores.py); fixed: on "
        "all of them whatever the server does, to compare",
    )
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="each student pauses a random 0..2×THINK seconds after an answer (reading it); 0 (default): requests "
        "back to back, the goals' load; 2 is closer to a class at work",
    )
    parser.add_argument(
        "--new-photos",
        type=float,
        default=WEIGHTS[-1],
        help=f"how often a student shows a new photo, as a weight beside the other requests' {WEIGHTS[:-1]} "
        f"(default {WEIGHTS[-1]}: one request in {sum(WEIGHTS) / WEIGHTS[-1]:.0f}; 0: none)",
    )
    parser.add_argument(
        "--browser-cache",
        choices=("on", "off"),
        default="on",
        help="on (a browser's way): a picture whose answer said it never changes (ui.cached_pictures) is not "
        "downloaded again by the student who has it; off: every picture of every answer downloaded, to compare",
    )
    args = parser.parse_args()
    cache = args.browser_cache == "on"
    phases = set(args.phases.split(","))
    weights = [*WEIGHTS[:-1], args.new_photos]

    work = tempfile.mkdtemp(prefix="cnnviz-load-")
    with open(os.path.join(work, "echo_app.py"), "w") as f:
        f.write(ECHO_APP)
    echo, echo_url = start([sys.executable, os.path.join(work, "echo_app.py")], work, "echo")
    if args.nice:
        answers, passes = args.nice
        os.environ.update(CNNVIZ_ANSWERS_NICE=answers, CNNVIZ_NETWORK_NICE=passes)
        print(f"server's answers at nice {answers}, forward passes at {passes}")
    os.environ["CNNVIZ_RUN_CORES"] = args.run_cores
    print(f"a run apart trains on {'the cores its server leaves' if args.run_cores == 'share' else 'all the cores'}")
    server, url = start([sys.executable, os.path.join(REPO, "app.py"), "--port"], work, "server")
    ok = True
    try:
        r = Requests(url)
        for model in MODELS:  # every analysis cached, as after a class's first minutes
            r.analyze(model)
        for model, layer in FEATURE_MODELS:  # every model's weights built, every example photo through it once
            for image in r.images:
                r.feature_maps(model, layer, image)
        r.stacks(), r.compare()
        before = rss_mb(server.pid)
        echo_client = Requests(echo_url)  # the same client as the students': Gradio's round trip alone

        print(f"baselines, one client, warm ({load()} at the start)")
        echo_s = median_time(lambda: echo_client.call("echo", "hi"), 30)
        fm_s = median_time(lambda: r.feature_maps(cold=True), 7)
        seen_s = median_time(r.feature_maps, 7)
        fresh = iter(range(1000))
        new_s = median_time(lambda: r.feature_maps(*FEATURE_MODELS[2], image=new_photo(f"single-{next(fresh)}")), 5)
        print(f"  echo app round trip          {echo_s * 1000:6.0f} ms")
        print(f"  VGG-16 feature maps          {fm_s * 1000:6.0f} ms (= {fm_s / echo_s:.1f}× echo; all downloaded)")
        print(f"    seen before                {seen_s * 1000:6.0f} ms (its pictures in the browser's cache)")
        print(f"  a new photo through VGG-16   {new_s * 1000:6.0f} ms (its forward pass and Grad-CAM)")
        if "single" in phases:
            print("record-only answers, one client, each timed alternately with the echo (goal ≤ 1.5× echo)")
            for name, call in (
                ("analyze vgg16 (cached)", r.analyze),
                ("analyze resnet50 (cached)", lambda: r.analyze("resnet50")),
                ("click card (layer_details)", r.click),
                ("click card resnet50", lambda: r.click("resnet50", "layer3.2.conv2")),
                ("compare_stacks", r.stacks),
                ("compare_models", r.compare),
            ):
                t, echo_t = paired_times(call, lambda: echo_client.call("echo", "hi"), 15)
                ok &= t / echo_t <= 1.5
                print(f"  {name:28s} {t * 1000:6.0f} ms = {t / echo_t:4.2f}× echo ({echo_t * 1000:.0f} ms meanwhile)")
            print(f"  ({load()})")
            print("what each event costs besides its answer: Gradio's summary of its last events (its monitoring page)")
            for records, every, who in ((1000, 1, "Gradio's"), (10_000, 1, "Gradio's default"), (1000, 1000, "ours")):
                cost = analytics_cost(records, every)
                print(
                    f"  {records:6d} events kept, summarised every {every:4d}: {cost * 1000:6.2f} ms per event "
                    f"= {cost / echo_s:4.2f}× an echo round trip ({who})"
                )

        if "mix" in phases:
            print(
                f"{args.clients} clients × {args.seconds:.0f} s: analyze, stacks, clicks, feature maps"
                + (f", thinking 0..{2 * args.think:g} s between answers" if args.think else ", back to back")
                + client_priority(args.client_nice)
                + ("" if cache else ", no browser cache")
            )
            before_cpu = process_cpu(server.pid)
            times, errors, elapsed, students_cpu = mix(
                url, args.clients, args.seconds, args.client_nice, args.think, weights=weights, browser_cache=cache
            )
            server_cpu = process_cpu(server.pid) - before_cpu
            report(times, errors, elapsed)
            an, cl, fm, new = (pct(times.get(k, []), 0.95) for k in ("analyze", "click", "feature_maps", "new_photo"))
            print(
                f"  analyze p95 = {an / fm_s:.2f}×, click p95 = {cl / fm_s:.2f}× one feature-maps request (goal ≤ 1×); "
                f"feature maps p95 = {fm / fm_s:.2f}× (goal ≤ 4×); a new photo p95 = {new / new_s:.2f}× one alone"
            )
            print(
                f"  CPU over the phase: the server {100 * server_cpu / elapsed:.0f} %, the students' processes "
                f"{100 * students_cpu / elapsed:.0f} % (of one core; 2 cores = 200 %): where the waiting is"
            )
            ok &= not errors and an <= fm_s and cl <= fm_s and fm <= 4 * fm_s

        if "train" in phases:
            control = Client(url, verbose=False, download_files=False)
            control.predict(*TRAIN_ARGS, api_name="/train_start")
            for _ in range(600):  # past the data set's making and the first batches
                if steps(control)[0] >= 10:
                    break
                time.sleep(0.5)
            watcher = StepWatcher(url)
            t_idle = time.perf_counter()
            time.sleep(args.seconds)
            idle = watcher.rate(t_idle, time.perf_counter())
            print(f"training alone: {idle:.2f} steps/s ({load()})")
            print(
                f"{args.train_clients} clients × {args.seconds:.0f} s with the run training"
                + (f", thinking 0..{2 * args.think:g} s between answers" if args.think else ", back to back")
                + client_priority(args.client_nice)
            )
            marks: list[float] = []  # when the students start and when they are done

            def mark() -> None:
                marks.append(time.perf_counter())

            # Counted from "go" to the last answer: the students' own start-up (12 interpreters importing their
            # libraries) is not the server's doing.
            result = mix(
                url,
                args.train_clients,
                args.seconds,
                args.client_nice,
                args.think,
                mark,
                mark,
                weights=weights,
                browser_cache=cache,
            )
            loaded = watcher.rate(*marks)
            if watcher.last_step(marks[-1]) >= EPOCH_STEPS:
                print(f"  (an epoch of {EPOCH_STEPS} steps ended inside a window: its evaluation counts no steps)")
            watcher.close()
            report(*result[:3])
            line = steps(control)[1]
            control.predict(api_name="/train_stop")
            print(
                f"  training under load: {loaded:.2f} steps/s = {100 * loaded / idle:.0f} % of idle (goal ≥ 70 %); "
                f"{english(line)}"
            )
            ok &= loaded >= 0.7 * idle and not result[1]

        time.sleep(3)
        after = rss_mb(server.pid)
        print(f"server RSS: {before:.0f} MB before the load, {after:.0f} MB after ({after - before:+.0f} MB)")
        print("OK" if ok else "OVER", "(the goals above)")
        return 0
    finally:
        for proc in (server, echo):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
