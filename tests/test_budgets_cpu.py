"""``visualizer/budgets/cpu.py``: a training run's threads keep the process's priority while the server's threads
(and every thread they start) run below it, and forward passes below those. Checked in a child process: a thread's
nice value can be raised but never lowered back, so the test process itself is left as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest

from visualizer.budgets import cpu

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
linux_threads = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities: Linux")

CHILD = """
import json, os, threading
from visualizer.budgets import cpu

def nice():
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

seen = {}
def record(name):
    seen[name] = nice()

cpu.start_launcher()                      # python app.py: before the server starts
ready, go = threading.Event(), threading.Event()
def server_loop():                        # stands for the server's event loop, started before it is moved
    ready.set(); go.wait()
    record("server")
    later = threading.Thread(target=record, args=("worker started by the server",)); later.start(); later.join()
    trainer = threading.Thread(target=record, args=("trainer started for the server",), name="cnnviz-trainer")
    cpu.start(trainer); trainer.join()
    def network():
        cpu.set_thread_nice(cpu.NETWORK_NICE); record("network")
    net = threading.Thread(target=network); net.start(); net.join()
loop = threading.Thread(target=server_loop); loop.start(); ready.wait()
seen["moved"] = cpu.lower_server_threads()
go.set(); loop.join()
record("main")
print(json.dumps(seen))
"""


@linux_threads
def test_training_keeps_the_process_priority_and_the_server_runs_below_it():
    env = {**os.environ, "PYTHONPATH": REPO}
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=60, check=True)
    seen = json.loads(out.stdout)
    base = os.getpriority(os.PRIO_PROCESS, 0)  # the child starts at ours
    assert seen["main"] == base
    assert seen["server"] == seen["worker started by the server"] == max(base, cpu.ANSWERS_NICE)
    assert seen["trainer started for the server"] == base  # started by the launcher, not by the server's thread
    assert seen["network"] == max(base, cpu.NETWORK_NICE)
    assert seen["moved"] >= 1
    assert cpu.TRAINING_NICE < cpu.ANSWERS_NICE < cpu.NETWORK_NICE


def test_without_a_launcher_nothing_is_moved_and_a_thread_starts_at_once():
    # The library and the tests: no priorities changed (the launcher is started by app.py only).
    assert cpu._launcher is None
    assert cpu.lower_server_threads() == 0
    ran = threading.Event()
    thread = threading.Thread(target=ran.set)
    cpu.start(thread)
    thread.join(5)
    assert ran.is_set()


def test_the_trainer_starts_its_run_through_the_launcher(monkeypatch, tmp_path):
    from visualizer.background import BackgroundTrainer
    from visualizer.training import TrainConfig

    started = []
    monkeypatch.setattr(cpu, "start", lambda thread: started.append(thread.name))
    trainer = BackgroundTrainer(store=None)
    trainer.start(TrainConfig(model="alexnet_cifar", dataset="shapes", epochs=1, subset=64, out_dir=str(tmp_path)))
    assert started == ["cnnviz-trainer"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "4 8"),
        ({"CNNVIZ_ANSWERS_NICE": "6", "CNNVIZ_NETWORK_NICE": "10"}, "6 10"),  # bench_load.py --nice 6,10
        ({"CNNVIZ_ANSWERS_NICE": " "}, "4 8"),  # empty: the default
        ({"CNNVIZ_NETWORK_NICE": "20"}, "CNNVIZ_NETWORK_NICE must be a nice value from 0 to 19 (got '20')"),
        ({"CNNVIZ_ANSWERS_NICE": "high"}, "CNNVIZ_ANSWERS_NICE must be a nice value from 0 to 19 (got 'high')"),
    ],
)
def test_the_nice_values_can_be_set_from_the_environment_to_compare(env, expected):
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_NICE")}
    out = subprocess.run(
        [sys.executable, "-c", "from visualizer.budgets import cpu; print(cpu.ANSWERS_NICE, cpu.NETWORK_NICE)"],
        capture_output=True,
        text=True,
        env={**clean, **env, "PYTHONPATH": REPO},
        timeout=60,
    )
    assert expected in (out.stdout if out.returncode == 0 else out.stderr)
