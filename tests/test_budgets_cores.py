"""``visualizer/budgets/cores.py``: a run apart trains on the cores its server leaves. The rule by hand, the CPU
time read from ``/proc`` of real processes, and a real run in its own process giving a core back while this
process (its server) keeps one busy, and taking it again when it stops."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from visualizer.background import BackgroundTrainer
from visualizer.budgets import cores
from visualizer.training import TrainConfig

has_proc = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="CPU time from /proc: Linux")


@pytest.mark.parametrize(
    ("busy", "current", "full", "expected"),
    [
        (0.0, 2, 2, 2),  # an idle server: all the cores
        (0.45, 2, 2, 2),  # under half a core's worth of answers: keep them
        (0.6, 2, 2, 1),  # over it: one back to the server
        (3.0, 2, 2, 1),  # never fewer than one
        (0.45, 1, 2, 1),  # between 0.3 and 0.5 a run already down stays down ...
        (0.25, 1, 2, 2),  # ... and goes back up below 0.3
        (1.6, 4, 4, 2),  # two cores' worth over 0.5 (1.6 → ceil 1.1 = 2): two back
        (0.6, 4, 4, 3),
        (1.45, 2, 4, 2),  # down says 3 (ceil 0.95 = 1), up says 2 (ceil 1.15 = 2): stay at 2
        (1.2, 2, 4, 3),  # both say 3
        (5.0, 1, 1, 1),  # one core: nothing to give
    ],
)
def test_threads_for_gives_back_a_core_per_core_of_server_work(busy, current, full, expected):
    assert cores.threads_for(busy, current, full) == expected


@has_proc
def test_cpu_seconds_of_a_spinning_and_of_a_sleeping_process():
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    sleep = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.5)  # both started
        a_spin, a_sleep, t0 = cores.cpu_seconds(spin.pid), cores.cpu_seconds(sleep.pid), time.monotonic()
        time.sleep(1.5)
        b_spin, b_sleep, t1 = cores.cpu_seconds(spin.pid), cores.cpu_seconds(sleep.pid), time.monotonic()
    finally:
        spin.kill(), sleep.kill(), spin.wait(), sleep.wait()
    spin_cores = (b_spin - a_spin) / (t1 - t0)
    assert 0.4 < spin_cores <= 1.05  # one core, less what a loaded machine takes from it
    assert b_sleep - a_sleep < 0.05
    assert cores.cpu_seconds(spin.pid) is None  # gone


@has_proc
def test_cpu_seconds_reads_past_a_command_name_with_spaces_and_parentheses(tmp_path):
    odd = tmp_path / "a) b (c"  # /proc/<pid>/stat writes the name in parentheses: "(a) b (c)"
    shutil.copy(shutil.which("sleep"), odd)
    process = subprocess.Popen([str(odd), "30"])
    try:
        time.sleep(0.2)
        with open(f"/proc/{process.pid}/stat") as f:
            assert "(a) b (c)" in f.read()
        seconds = cores.cpu_seconds(process.pid)
    finally:
        process.kill(), process.wait()
    assert seconds is not None and 0 <= seconds < 1


def test_core_share_sets_the_threads_at_each_look_that_changes_them():
    now, used, set_to = [0.0], [0.0], []
    share = cores.CoreShare(
        pid=1, full=2, set_threads=set_to.append, every_s=0.5, clock=lambda: now[0], read=lambda pid: used[0]
    )
    steps = [  # (clock, server CPU seconds so far, threads expected)
        (0.2, 0.1, 2),  # too soon to look
        (0.5, 0.4, 1),  # 0.4 s in 0.5 s: 0.8 cores → one thread
        (1.0, 0.6, 1),  # 0.4 cores: between the thresholds, stays
        (1.5, 0.65, 2),  # 0.1 cores → back to two
        (2.0, 1.65, 1),  # 2 cores' worth (say, many threads): still one, never zero
    ]
    for t, cpu, expected in steps:
        now[0], used[0] = t, cpu
        assert share.look() == expected, (t, cpu)
    assert set_to == [1, 2, 1]  # once per change


def test_core_share_keeps_the_threads_when_the_server_cannot_be_read():
    set_to = []
    share = cores.CoreShare(pid=1, full=2, set_threads=set_to.append, every_s=0.0, read=lambda pid: None)
    assert share.look() == 2 and set_to == []


def test_the_setting_is_share_by_default_fixed_on_request_and_refused_otherwise(monkeypatch):
    monkeypatch.delenv(cores.ENV, raising=False)
    assert cores.wanted()
    monkeypatch.setenv(cores.ENV, "Fixed ")
    assert not cores.wanted()
    monkeypatch.setenv(cores.ENV, "half")
    with pytest.raises(ValueError, match=r"CNNVIZ_RUN_CORES must be 'share' \(the default\) or 'fixed' \(got 'half'\)"):
        cores.wanted()


def _spin(until: threading.Event) -> None:
    while not until.is_set():  # this process's CPU time, as a server answering would use it
        sum(range(1000))


def _threads_seen(trainer: BackgroundTrainer, want, timeout: float) -> list:
    seen, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        seen.append(trainer.status()["threads"])
        if want(seen[-1]):
            break
        time.sleep(0.1)
    return seen


@has_proc
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: nothing to give back")
@pytest.mark.parametrize("setting", ["share", "fixed"])
def test_a_run_apart_gives_a_core_back_while_its_server_is_busy(tmp_path, monkeypatch, setting):
    monkeypatch.setenv(cores.ENV, setting)  # the run's process inherits it
    config = TrainConfig(
        model="vgg_bn:16,M,32,M,64,M",
        dataset="shapes",
        device="cpu",
        epochs=50,
        subset=640,
        test_subset=100,
        batch_size=32,
        log_every=1,
        out_dir=str(tmp_path / "run"),
    )
    trainer = BackgroundTrainer(own_process=True)
    trainer.start(config)
    stop_spinning = threading.Event()
    try:
        started = _threads_seen(trainer, lambda n: n is not None and trainer.status()["step"] >= 2, 60)
        full = started[-1]
        assert full is not None and full >= 2  # torch's default: one thread per core
        time.sleep(1.5)  # the run's first looks see this process idle: it keeps them all
        assert trainer.status()["threads"] == full
        spinner = threading.Thread(target=_spin, args=(stop_spinning,), daemon=True)
        spinner.start()
        busy = _threads_seen(trainer, lambda n: n is not None and n < full, 8 if setting == "share" else 4)
        stop_spinning.set()
        spinner.join()
        if setting == "fixed":
            assert set(busy) == {full}  # all the cores whatever this process does
            return
        assert busy[-1] == full - 1  # one core's worth of work here: one thread less there
        idle = _threads_seen(trainer, lambda n: n == full, 8)
        assert idle[-1] == full  # and back once it stopped
    finally:
        stop_spinning.set()
        if trainer.status()["state"] in ("running", "paused"):
            trainer.stop()
