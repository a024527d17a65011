import multiprocessing
import os
import signal
import time

import pytest
import torch

import zoo
from visualizer import latest_weights
from visualizer.background import BackgroundTrainer, TrainerBusyError, TrainerStateError, get_trainer
from visualizer.checkpoint import load_checkpoint
from visualizer.latest_weights import REGISTRY, WeightsRegistry
from visualizer.runs_store import RunStore
from visualizer.training import TrainConfig

TINY_VGG = "vgg_bn:16,M,32,M,64,M"


def _config(tmp_path, **over) -> TrainConfig:
    kw = dict(
        model=TINY_VGG,
        dataset="shapes",
        device="cpu",
        epochs=50,
        subset=640,
        test_subset=100,
        batch_size=32,
        log_every=1,
        out_dir=str(tmp_path / "run"),
    )
    kw.update(over)
    return TrainConfig(**kw)


@pytest.fixture(params=[False, True], ids=["thread", "own-process"])
def own_process(request) -> bool:
    """The trainer's two ways of running: in the server's process (the library's) and in one of its own (the app's)."""
    return request.param


def _wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_lifecycle_pause_resume_stop(tmp_path, own_process):
    trainer = BackgroundTrainer(own_process=own_process)
    assert trainer.status()["state"] == "idle" and not trainer.is_active()
    with pytest.raises(TrainerStateError, match="cannot pause: the trainer is idle"):
        trainer.pause()

    trainer.start(_config(tmp_path))
    try:
        _wait_for(lambda: trainer.status()["step"] >= 3)
        with pytest.raises(TrainerBusyError, match="already running"):
            trainer.start(_config(tmp_path))
        with pytest.raises(TrainerStateError, match="not paused"):
            trainer.resume()

        assert "paused" in trainer.pause()
        assert trainer.status()["state"] == "paused" and trainer.is_active()
        time.sleep(1.0)  # the batch in flight finishes, then the loop waits
        step = trainer.status()["step"]
        n_records = len(trainer.metrics()["steps"])
        time.sleep(1.0)
        assert trainer.status()["step"] == step and len(trainer.metrics()["steps"]) == n_records

        assert trainer.resume() == "resumed"
        _wait_for(lambda: trainer.status()["step"] > step)
        assert trainer.status()["state"] == "running"
    finally:
        message = trainer.stop()
    assert "stopped" in message
    status = trainer.status()
    assert status["state"] == "stopped" and not trainer.is_active()
    assert status["model"] == TINY_VGG and status["synthetic"] is True and status["epochs"] == 50
    assert status["total_steps"] == 50 * (640 // 32)
    ckpt = load_checkpoint(status["last_checkpoint"])  # written on stop, complete and loadable
    assert ckpt["step"] == status["step"]
    steps = trainer.metrics()["steps"]
    assert [r["step"] for r in steps] == list(range(1, status["step"] + 1))
    with pytest.raises(TrainerStateError, match="the last run is stopped"):
        trainer.stop()


def test_a_failing_run_ends_failed_and_the_trainer_stays_usable(tmp_path, own_process):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    trainer = BackgroundTrainer(own_process=own_process)
    trainer.start(_config(tmp_path, resume=str(bad)))
    assert trainer.wait(timeout=60)
    status = trainer.status()
    assert status["state"] == "failed" and "CheckpointError" in status["error"] and "bad.pt" in status["error"]

    trainer.start(_config(tmp_path, epochs=1, subset=64, resume=None))
    assert trainer.wait(timeout=60)
    status = trainer.status()
    assert status["state"] == "finished" and status["error"] is None and status["step"] == 2
    final = trainer.metrics()["final"]
    assert len(final["confusion_matrix"]) == 10 and final["class_names"][0] == "circle"


def test_bad_config_is_refused_before_starting(tmp_path):
    trainer = BackgroundTrainer()
    with pytest.raises(ValueError, match="epochs must be"):
        trainer.start(_config(tmp_path, epochs=0))
    assert trainer.status()["state"] == "idle"


def test_one_trainer_per_process_publishing_where_weight_loading_reads():
    assert get_trainer() is get_trainer()
    assert get_trainer().published is latest_weights.REGISTRY and BackgroundTrainer().published is not REGISTRY
    assert get_trainer().own_process and not BackgroundTrainer().own_process  # the app's runs train apart


# ------------------------------------------------------------------------------------ a run in its own process


def test_a_run_in_its_own_process_trains_there_and_answers_a_fresh_snapshot_request(tmp_path):
    trainer = BackgroundTrainer(own_process=True)
    trainer.start(_config(tmp_path))
    try:
        _wait_for(lambda: trainer.status()["step"] >= 3)
        children = [c for c in multiprocessing.active_children() if c.name.startswith("cnnviz-run-")]
        assert len(children) == 1 and children[0].pid != os.getpid()  # the batches run in another process
        first = trainer.snapshot()
        fresh = trainer.snapshot(fresh=True, timeout=30)  # asked here, taken there at its next batch
        assert fresh is not None and fresh.step > first.step and fresh.run_id == first.run_id
        weights = trainer.latest_weights()
        assert weights.step == fresh.step
        assert weights.state_dict.keys() == zoo.create_model(TINY_VGG).state_dict().keys()
    finally:
        trainer.stop()
    status = trainer.status()
    assert status["state"] == "stopped" and load_checkpoint(status["last_checkpoint"])["step"] == status["step"]
    _wait_for(lambda: not [c for c in multiprocessing.active_children() if c.name.startswith("cnnviz-run-")], 20)


def test_a_network_registered_while_the_server_runs_trains_in_the_servers_process(tmp_path):
    from torch import nn

    from visualizer.user_models import register_instance

    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(3600, 10))
    name = register_instance(net, name="Here")
    try:
        trainer = BackgroundTrainer(own_process=True)
        trainer.start(_config(tmp_path, model=name, epochs=1, subset=64))  # its class lives in this process only
        assert not [c for c in multiprocessing.active_children() if c.name.startswith("cnnviz-run-")]
        assert trainer.wait(60) and trainer.status()["state"] == "finished" and trainer.status()["step"] == 2
    finally:
        zoo.unregister_model(name)


def test_a_run_whose_process_dies_ends_failed_with_its_exit_code(tmp_path):
    trainer = BackgroundTrainer(own_process=True)
    trainer.start(_config(tmp_path))
    _wait_for(lambda: trainer.status()["step"] >= 1)
    (child,) = [c for c in multiprocessing.active_children() if c.name.startswith("cnnviz-run-")]
    os.kill(child.pid, signal.SIGKILL)  # as the kernel's OOM killer would
    assert trainer.wait(30)
    status = trainer.status()
    assert status["state"] == "failed" and "exit code -9" in status["error"] and "smaller batch" in status["error"]
    trainer.start(_config(tmp_path, epochs=1, subset=64))  # the trainer goes on serving
    assert trainer.wait(60) and trainer.status()["state"] == "finished"


def test_a_run_publishes_its_weights_and_checkpoint_and_the_next_starts_clean(tmp_path, own_process):
    trainer = BackgroundTrainer(publish_to=WeightsRegistry(), own_process=own_process)
    trainer.start(_config(tmp_path, epochs=1, subset=64))
    assert trainer.wait(60) and trainer.status()["state"] == "finished"
    weights, path = trainer.published.latest(), trainer.published.latest_checkpoint()
    assert trainer.latest_weights() is weights and (weights.model_name, weights.step) == (TINY_VGG, 2)
    assert path == trainer.status()["last_checkpoint"]
    final = load_checkpoint(path)["model"]  # the finished run's weights are exactly its checkpoint's
    assert weights.state_dict.keys() == final.keys()
    assert all(torch.equal(weights.state_dict[k], final[k]) for k in final)

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")  # the next run fails before its first snapshot
    trainer.start(_config(tmp_path, epochs=1, subset=64, resume=str(bad)))
    assert trainer.published.latest() is None and trainer.published.latest_checkpoint() is None  # not the last run's
    assert trainer.wait(60) and trainer.status()["state"] == "failed"
    assert trainer.latest_weights() is None


def test_stop_while_paused_wakes_the_run_and_stops_it(tmp_path, own_process):
    trainer = BackgroundTrainer(own_process=own_process)
    trainer.start(_config(tmp_path))
    try:
        _wait_for(lambda: trainer.status()["step"] >= 1)
        trainer.pause()
    finally:
        message = trainer.stop()
    assert trainer.status()["state"] == "stopped" and "stopped" in message
    assert load_checkpoint(trainer.status()["last_checkpoint"])["step"] == trainer.status()["step"]


# ------------------------------------------------------------------------------------------ budgets and stop


@pytest.mark.slow
def test_a_run_over_the_memory_budget_is_refused_before_it_starts(tmp_path):
    from visualizer import budgets
    from visualizer.analysis import analyze_model

    trainer = BackgroundTrainer()
    # alexnet_cifar keeps 1.23 MiB of layer outputs per 32×32 image; a batch of 8192 needs ~2 × 10 GiB for them.
    per_image = analyze_model("alexnet_cifar", (3, 32, 32)).total_activation_bytes
    assert 1.2 * 2**20 < per_image < 1.3 * 2**20
    with pytest.raises(budgets.BudgetError) as err:
        trainer.start(_config(tmp_path, model="alexnet_cifar", batch_size=8192, subset=400_000))
    message = str(err.value)
    assert "a batch of 8,192" in message and "(--max-train-memory)" in message
    fits = int(message.rsplit("at most ", 1)[1].split()[0].replace(",", ""))
    assert 100 < fits < 8192  # the knob to turn, with a number that fits
    assert trainer.status()["state"] == "idle" and not (tmp_path / "run").exists()  # nothing generated or written
    trainer.start(_config(tmp_path, model="alexnet_cifar", batch_size=fits, subset=640, epochs=1))
    assert trainer.wait(120) and trainer.status()["state"] == "finished"  # the suggested batch is accepted


def test_stop_ends_data_generation_at_once(tmp_path, own_process):
    # 400,000 shapes take ~50 s to generate on 2 cores; a stop must not wait for them.
    trainer = BackgroundTrainer(own_process=own_process)
    trainer.start(_config(tmp_path, subset=400_000, batch_size=16))
    _wait_for(lambda: "shapes" in trainer.status()["message"] or trainer.status()["message"].startswith("loading"))
    time.sleep(0.5)
    t0 = time.monotonic()
    trainer.stop(timeout=30)
    assert time.monotonic() - t0 < 10  # generous for a loaded CI machine; bench_stop.py measures it
    status = trainer.status()
    assert status["state"] == "stopped" and "generating shapes" in status["message"]
    assert status["step"] == 0 and not (tmp_path / "run" / "last.pt").exists()


def test_stop_ends_a_download_wait_at_once(tmp_path, monkeypatch):
    from visualizer import training

    def slow_download(*args, **kwargs):  # a CIFAR-10 download on a slow classroom network
        time.sleep(60)

    monkeypatch.setattr(training, "load_dataset", slow_download)
    trainer = BackgroundTrainer()
    trainer.start(_config(tmp_path, dataset="cifar10", subset=640))
    time.sleep(1.0)
    t0 = time.monotonic()
    trainer.stop(timeout=30)
    assert time.monotonic() - t0 < 10
    assert trainer.status()["state"] == "stopped" and "downloaded" in trainer.status()["message"]


def test_starting_a_run_keeps_only_the_newest_runs_checkpoints(tmp_path, monkeypatch):
    import zoo
    from visualizer import budgets
    from visualizer.checkpoint import make_checkpoint, save_checkpoint

    monkeypatch.setenv("CNNVIZ_RUNS_DIR", str(tmp_path / "runs"))
    model = zoo.create_model("vgg:4,M")
    old = []
    for i in range(4):
        path = tmp_path / "runs" / f"old{i}" / "last.pt"
        path.parent.mkdir(parents=True)
        save_checkpoint(
            make_checkpoint(
                model_name="vgg:4,M",
                class_names=zoo.CIFAR10_CLASSES,
                model=model,
                optimizer=None,
                config={},
                epoch=1,
                step=1,
            ),
            path,
        )
        import os

        os.utime(path, (1000 + i, 1000 + i))
        old.append(path)
    before = budgets.current()
    budgets.configure(keep_runs=2)
    try:
        trainer = BackgroundTrainer()
        trainer.start(_config(tmp_path, out_dir=None, epochs=1, subset=64))
        assert trainer.wait(120)
    finally:
        budgets.configure(keep_runs=before.keep_runs)
    assert [p.exists() for p in old] == [False, False, True, True]  # the two newest old runs stay
    new = trainer.status()["last_checkpoint"]
    assert new.startswith(str(tmp_path / "runs")) and os.path.exists(new)


# ------------------------------------------------------------------------------------------------- the queue


def _recording_trainer(tmp_path, own_process: bool = False) -> tuple[BackgroundTrainer, RunStore]:
    store = RunStore(tmp_path / "runs")
    return BackgroundTrainer(store=lambda: store, own_process=own_process), store


def _short(tmp_path, seed: int, **over) -> TrainConfig:  # 2 steps of 32 images, evaluated on 100
    return _config(tmp_path, epochs=1, subset=64, seed=seed, out_dir=str(tmp_path / f"q{seed}"), **over)


def test_queued_runs_train_one_after_another_in_order(tmp_path, own_process):
    trainer, store = _recording_trainer(tmp_path, own_process)
    qids = trainer.enqueue([_short(tmp_path, seed) for seed in (3, 1, 2)])
    assert qids == [1, 2, 3]
    # the first started at once; the others wait with their place shown
    assert trainer.status()["qid"] == 1 and [(q["qid"], q["place"]) for q in trainer.queue()] == [(2, 1), (3, 2)]
    assert trainer.wait_queue(180) and trainer.queue() == []
    rows = store.runs()
    assert [r["config"]["seed"] for r in rows] == [3, 1, 2] and {r["status"] for r in rows} == {"finished"}
    for before, after in zip(rows, rows[1:]):
        assert before["updated"] <= after["created"]  # one at a time: each began after the last one ended
    assert all(r["step"] == 2 and r["images"] == 64 for r in rows)


def test_skip_and_stop_per_queued_run(tmp_path):
    trainer, store = _recording_trainer(tmp_path)
    long1, long2 = (
        _config(tmp_path, seed=1, out_dir=str(tmp_path / "l1")),
        _config(tmp_path, seed=2, out_dir=str(tmp_path / "l2")),
    )
    trainer.enqueue([long1, long2, _short(tmp_path, 3), _short(tmp_path, 4)])
    try:
        _wait_for(lambda: trainer.status()["step"] >= 1)
        assert "skipped" in trainer.skip(4)  # a waiting run: dropped
        assert [q["qid"] for q in trainer.queue()] == [2, 3]
        with pytest.raises(TrainerStateError, match="no queued run 4 is waiting \\(waiting: 2, 3\\)"):
            trainer.skip(4)
        trainer.skip(1)  # the run training now: stopped, and the next one starts
        _wait_for(lambda: trainer.status()["qid"] == 2 and trainer.status()["step"] >= 1)
        assert [q["qid"] for q in trainer.queue()] == [3]
        assert "1 queued run(s) wait" in trainer.stop()  # stop: this run ends and the queue holds
        status = trainer.status()
        assert status["state"] == "stopped" and status["queue_held"] and status["queued"] == 1
        time.sleep(1.0)
        assert trainer.status()["state"] == "stopped" and [q["qid"] for q in trainer.queue()] == [3]  # still waits
        assert "queued run 3" in trainer.queue_start()  # go on
        assert trainer.wait_queue(120)
    finally:
        if trainer.is_active():
            trainer.stop()
    assert [(r["config"]["seed"], r["status"]) for r in store.runs()] == [
        (1, "stopped"),
        (2, "stopped"),
        (3, "finished"),
    ]


def test_queue_start_picks_a_waiting_run_first(tmp_path):
    trainer, _ = _recording_trainer(tmp_path)
    trainer.enqueue([_config(tmp_path, seed=1, out_dir=str(tmp_path / "l1")), _short(tmp_path, 2), _short(tmp_path, 3)])
    try:
        _wait_for(lambda: trainer.status()["step"] >= 1)
        assert trainer.queue_start(3) == "queued run 3 (vgg_bn:16,M,32,M,64,M) starts when the running run ends"
        assert [q["qid"] for q in trainer.queue()] == [3, 2]
    finally:
        trainer.stop()
    assert trainer.status()["queue_held"] and trainer.queue_start().endswith("started")
    assert trainer.status()["qid"] == 3
    trainer.stop()


def test_a_full_queue_and_an_over_budget_run_are_refused_when_queued(tmp_path):
    from visualizer import budgets

    trainer, store = _recording_trainer(tmp_path)
    trainer.enqueue([_config(tmp_path, seed=1, out_dir=str(tmp_path / "l1"))])  # training: not counted as waiting
    before = budgets.current()
    try:
        budgets.configure(max_queue=2)
        trainer.enqueue([_short(tmp_path, 2), _short(tmp_path, 3)])
        with pytest.raises(budgets.BudgetError) as full:
            trainer.enqueue([_short(tmp_path, 4)])
        assert str(full.value) == (
            "the queue holds at most 2 waiting runs (--max-queue); 2 wait already, so 1 more do not fit: "
            "let one finish, or skip one"
        )
        trainer.skip(3)
        # 640 images of 32×32 at batch 640 would need far more than 64 MiB: refused now, not when its turn comes
        budgets.configure(max_train_memory=64 * 2**20)
        with pytest.raises(budgets.BudgetError, match=r"\(--max-train-memory\)"):
            trainer.enqueue([_config(tmp_path, seed=5, batch_size=640)])
        assert [q["qid"] for q in trainer.queue()] == [2]  # nothing of the refused request was queued
    finally:
        budgets.configure(max_queue=before.max_queue, max_train_memory=before.max_train_memory)
        trainer.skip(2)
        trainer.stop()
    assert [r["config"]["seed"] for r in store.runs()] == [1]
