import time

import pytest

from visualizer.background import BackgroundTrainer, TrainerBusyError, TrainerStateError, get_trainer
from visualizer.checkpoint import load_checkpoint
from visualizer.training import TrainConfig

TINY_VGG = "vgg_bn:16,M,32,M,64,M"


def _config(tmp_path, **over) -> TrainConfig:
    kw = dict(model=TINY_VGG, dataset="shapes", device="cpu", epochs=50, subset=640, test_subset=100, batch_size=32,
              log_every=1, out_dir=str(tmp_path / "run"))
    kw.update(over)
    return TrainConfig(**kw)


def _wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_lifecycle_pause_resume_stop(tmp_path):
    trainer = BackgroundTrainer()
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


def test_a_failing_run_ends_failed_and_the_trainer_stays_usable(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    trainer = BackgroundTrainer()
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


def test_one_trainer_per_process():
    assert get_trainer() is get_trainer()


def test_stop_while_paused_wakes_the_run_and_stops_it(tmp_path):
    trainer = BackgroundTrainer()
    trainer.start(_config(tmp_path))
    try:
        _wait_for(lambda: trainer.status()["step"] >= 1)
        trainer.pause()
    finally:
        message = trainer.stop()
    assert trainer.status()["state"] == "stopped" and "stopped" in message
    assert load_checkpoint(trainer.status()["last_checkpoint"])["step"] == trainer.status()["step"]
