"""The run store (``visualizer/runs_store.py``): every run kept in the runs directory, across restarts and crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from visualizer.runs_store import STORE_NAME, RunRecorder, RunStore
from visualizer.training import MetricsLog, TrainConfig, train

REPO = Path(__file__).resolve().parents[1]
TINY_VGG = "vgg_bn:16,M,32,M,64,M"


def _tiny(tmp_path, **over) -> TrainConfig:
    kw = dict(
        model=TINY_VGG,
        dataset="shapes",
        device="cpu",
        epochs=2,
        subset=128,
        test_subset=100,
        batch_size=32,
        log_every=1,
        out_dir=str(tmp_path / "runs" / "tiny"),
    )
    kw.update(over)
    return TrainConfig(**kw)


def _finished_run(tmp_path) -> tuple[int, dict, dict]:
    """A tiny run trained here and recorded in ``tmp_path/runs``'s store: (its id, its done record, its log)."""
    store = RunStore(tmp_path / "runs")
    config = _tiny(tmp_path)
    run_id = store.begin(config.to_dict(), folder="tiny")
    log = MetricsLog()
    done = train(config, log, on_event=RunRecorder(store, run_id))
    return run_id, done, log.snapshot()


def test_a_run_is_kept_whole_and_read_back_by_a_new_store(tmp_path):
    run_id, done, log = _finished_run(tmp_path)
    store = RunStore(tmp_path / "runs")  # as after a restart: a new instance reads the file
    assert store.interrupted == [] and (tmp_path / "runs" / STORE_NAME).is_file()
    [row] = store.runs()
    assert row["id"] == run_id and (row["model"], row["dataset"], row["status"]) == (TINY_VGG, "shapes", "finished")
    assert row["config"]["batch_size"] == 32 and row["config"]["epochs"] == 2 and row["folder"] == "tiny"
    assert row["final_acc"] == done["test_acc"] == log["epochs"][-1]["test_acc"]
    assert row["best_acc"] == max(e["test_acc"] for e in log["epochs"])
    # 128 images in batches of 32: 4 steps an epoch, 8 in all, 256 images seen
    assert (row["step"], row["images"]) == (8, 256) and row["seconds"] == pytest.approx(done["elapsed_s"])
    assert row["per_class"] == done["per_class_acc"] and len(row["per_class"]) == 10
    assert row["checkpoint"] == done["checkpoint"] and os.path.isfile(row["checkpoint"])
    points = store.points(run_id)
    assert points["steps"] == log["steps"] and points["epochs"] == log["epochs"]  # every point, exactly
    assert [p["step"] for p in points["steps"]] == list(range(1, 9))

    os.unlink(row["checkpoint"])  # pruned (--keep-runs): the row stays, without its checkpoint
    assert store.run(run_id)["checkpoint"] is None and store.run(run_id)["final_acc"] == done["test_acc"]


@pytest.mark.slow
def test_a_run_killed_mid_way_is_marked_interrupted_and_the_finished_one_stays_intact(tmp_path):
    finished_id, done, _ = _finished_run(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "visualizer", "train", TINY_VGG, "--dataset", "shapes", "--device", "cpu"]
    cmd += ["--epochs", "50", "--subset", "640", "--test-subset", "100", "--batch-size", "32", "--log-every", "1"]
    cmd += ["--runs-dir", str(tmp_path / "runs"), "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = RunStore(tmp_path / "runs")
    try:
        deadline = time.monotonic() + 120
        while True:  # until the child has committed some of its curve (every 2 s while it trains)
            rows = [r for r in store.runs() if r["id"] != finished_id]
            if rows and rows[0]["step"] >= 5:
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the child never recorded 5 steps"
            time.sleep(0.2)
        assert rows[0]["status"] == "running" and store.mark_interrupted() == []  # alive: not interrupted
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stderr.close()

    after = RunStore(tmp_path / "runs")  # the next server start
    killed = next(r for r in after.runs() if r["id"] != finished_id)
    assert after.interrupted == [killed["id"]] and killed["status"] == "interrupted"
    assert killed["model"] == TINY_VGG and killed["final_acc"] is None
    steps = [p["step"] for p in after.points(killed["id"])["steps"]]
    assert steps == list(range(1, len(steps) + 1)) and len(steps) >= 5  # what was committed: whole, in order
    assert killed["step"] == steps[-1] and killed["images"] == 32 * steps[-1]
    intact = after.run(finished_id)
    assert intact["status"] == "finished" and intact["final_acc"] == done["test_acc"] and intact["step"] == 8
    assert RunStore(tmp_path / "runs").interrupted == []  # marked once
