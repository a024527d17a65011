"""The app's trainer: ``visualizer.training.train`` in a background thread, one run per process.

States: idle → running ⇄ paused → finished | stopped | failed. The UI polls ``status()``,
``metrics()`` (plain dicts) and ``snapshot()`` (pictures' data, taken by the training thread itself),
all cheap to read while training; the thread never touches the UI.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

from visualizer.budgets import runs
from visualizer.budgets.memory import check_model, check_training
from visualizer.datasets import DATASET_CLASSES
from visualizer.latest_weights import REGISTRY, LatestWeights, WeightsRegistry
from visualizer.snapshots import NetworkSnapshot, SnapshotLog
from visualizer.training import MetricsLog, RunControl, TrainConfig, default_out_dir, train

ACTIVE_STATES = ("running", "paused")  # a run is in progress: its thread is alive


class TrainerBusyError(RuntimeError):
    """``start`` while a run is active."""


class TrainerStateError(RuntimeError):
    """``pause``/``resume``/``stop`` when the trainer is not in a state where that makes sense."""


class BackgroundTrainer:
    """One training run at a time, in a daemon thread; ``get_trainer()`` gives the process's instance.

    Its runs publish their latest weights and checkpoint to ``publish_to`` (a registry of their own if none is
    given; the process's trainer publishes to ``latest_weights.REGISTRY``, which weight loading reads).
    """

    def __init__(self, publish_to: WeightsRegistry | None = None) -> None:
        self.published = publish_to if publish_to is not None else WeightsRegistry()
        self._lock = threading.Lock()
        self._state = "idle"
        self._message = "no training run yet"
        self._error: str | None = None
        self._config: TrainConfig | None = None
        self._log = MetricsLog()
        self._snapshots = SnapshotLog()
        self._control = RunControl()
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------------------------- commands

    def start(self, config: TrainConfig) -> None:
        """Start a run in the background. ``ValueError`` for a bad config or one over this server's budgets
        (``budgets.BudgetError``), ``TrainerBusyError`` if one runs."""
        with self._lock:
            if self._state in ACTIVE_STATES:
                raise TrainerBusyError(
                    f"a training run is already {self._state} ({self._describe()}); stop it before starting another"
                )
            config.validate()
            # The server's budgets, before a single image is generated: the model's size, then the whole run's
            # memory (data, batch activations and gradients, weights and optimizer state).
            check_model(config.model, num_classes=DATASET_CLASSES.get(config.dataset))  # with the head it gets
            check_training(
                config.model, config.dataset, config.batch_size, config.subset, config.test_subset, config.optimizer
            )
            if config.out_dir is None:
                config = dataclasses.replace(config, out_dir=str(default_out_dir(config)))
            runs.prune(protect=config.out_dir)  # only the newest runs keep their checkpoints
            self._config = config
            self._log = MetricsLog()
            self.published.clear()  # the last run's weights are not this one's
            self._snapshots = SnapshotLog(dataset=config.dataset, publish_to=self.published)
            self._control = RunControl()
            self._state, self._error = "running", None
            self._message = f"starting {config.model} on {config.dataset}"
            self._thread = threading.Thread(
                target=self._run,
                args=(config, self._log, self._control, self._snapshots),
                name="cnnviz-trainer",
                daemon=True,
            )
            self._thread.start()

    def pause(self) -> str:
        with self._lock:
            self._require("pause", ("running",))
            self._control.pause()
            self._state = "paused"
            self._message = f"paused at step {self._log.progress().get('step', 0)}"
            return self._message

    def resume(self) -> str:
        with self._lock:
            self._require("resume", ("paused",))
            self._control.resume()
            self._state = "running"
            self._message = "training"
            return "resumed"

    def stop(self, timeout: float = 10.0) -> str:
        """Ask the run to stop after the current batch (a checkpoint is written); wait up to ``timeout`` s."""
        with self._lock:
            self._require("stop", ACTIVE_STATES)
            self._control.stop()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            if self._state in ACTIVE_STATES:
                return "stopping after the current batch"
            return self._message

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (or ``timeout`` s); True if no run is active any more."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        return not self.is_active()

    # -------------------------------------------------------------------------------------- reads

    def is_active(self) -> bool:
        with self._lock:
            return self._state in ACTIVE_STATES

    def status(self) -> dict[str, Any]:
        """Plain-typed snapshot: state, message, error, model, dataset, progress and last checkpoint."""
        progress = self._log.progress()
        with self._lock:
            config, snapshot_error = self._config, self._snapshots.error
            return {
                "state": self._state,
                "message": self._message if self._state != "running" else progress.get("message", self._message),
                "error": self._error,
                "model": config.model if config else None,
                "dataset": config.dataset if config else None,
                "epoch": progress.get("epoch", 0),
                "epochs": config.epochs if config else 0,
                "step": progress.get("step", 0),
                "total_steps": progress.get("total_steps", 0),
                "images_per_sec": progress.get("images_per_sec"),
                "elapsed_s": progress.get("elapsed_s", 0.0),
                "eta_s": progress.get("eta_s"),
                "last_checkpoint": progress.get("last_checkpoint"),
                "synthetic": bool(progress.get("synthetic", config is not None and config.dataset == "shapes")),
                "snapshot_error": snapshot_error,  # why the run has no (more) pictures of the network, if it failed
            }

    def metrics(self) -> dict[str, Any]:
        """``{"steps": [...], "epochs": [...], "final": {...} | None}``, fresh lists the caller may keep."""
        snap = self._log.snapshot()
        return {
            "steps": [dict(r) for r in snap["steps"]],
            "epochs": [dict(r) for r in snap["epochs"]],
            "final": None if snap["final"] is None else dict(snap["final"]),
        }

    def snapshot(self, fresh: bool = False, timeout: float = 3.0) -> NetworkSnapshot | None:
        """The latest picture of the network (None before the run's first one, e.g. while its data loads).

        ``fresh``: while a run is active, ask its thread for one at the next batch and wait up to ``timeout``
        seconds for it (a paused run takes one as it pauses; stopped and finished runs end with one).
        """
        with self._lock:
            snapshots, active = self._snapshots, self._state in ACTIVE_STATES
        if fresh and active:
            snapshots.wait(snapshots.request(), timeout)
        return snapshots.latest()

    def snapshot_history(self) -> list[NetworkSnapshot]:
        """The run's start and epoch ends (spread over the run when there are many), oldest first."""
        with self._lock:
            snapshots = self._snapshots
        return snapshots.history()

    def latest_weights(self) -> LatestWeights | None:
        """The current (or last) run's weights as of its latest snapshot: model name, class names, dataset, a CPU
        ``state_dict`` (shared: load it, do not change it), epochs done and step; None before its first snapshot.

        Snapshots come every few seconds, at each epoch end, and on pause and stop, so a finished, stopped or
        paused run's weights are exactly its final ones (the same as its checkpoint)."""
        return self.published.latest()

    # ----------------------------------------------------------------------------------- internals

    def _run(self, config: TrainConfig, log: MetricsLog, control: RunControl, snapshots: SnapshotLog) -> None:
        try:
            done = train(config, log, control, snapshots=snapshots, publish_to=self.published)
            state = done["status"]
            acc = done["test_acc"]
            message = (
                f"{state} at step {done['step']}/{done['total_steps']}"
                + (f", test accuracy {acc:.1%}" if acc is not None else "")
                + (f" ({done['detail']})" if done.get("detail") else "")
            )
            error = None
        except Exception as exc:  # noqa: BLE001 - the thread must report, not die silently
            state, error = "failed", f"{type(exc).__name__}: {exc}"
            message = f"failed: {exc}"
        with self._lock:
            if self._log is log:  # not superseded (start() cannot run while active, but be safe)
                self._state, self._message, self._error = state, message, error

    def _require(self, action: str, allowed: tuple[str, ...]) -> None:
        if self._state not in allowed:
            hint = "start a run first" if self._state == "idle" else f"the last run is {self._state}"
            if self._state in ACTIVE_STATES:
                hint = f"it is already {self._state}" if action != "resume" else "it is running, not paused"
            raise TrainerStateError(f"cannot {action}: the trainer is {self._state} ({hint})")

    def _describe(self) -> str:
        c = self._config
        p = self._log.progress()
        return f"{c.model} on {c.dataset}, epoch {p.get('epoch', 0)}/{c.epochs}" if c else "unknown run"


_trainer: BackgroundTrainer | None = None
_trainer_lock = threading.Lock()


def get_trainer() -> BackgroundTrainer:
    """The process-wide trainer (created on first use), publishing to ``latest_weights.REGISTRY``."""
    global _trainer
    with _trainer_lock:
        if _trainer is None:
            _trainer = BackgroundTrainer(publish_to=REGISTRY)
        return _trainer


__all__ = ["ACTIVE_STATES", "BackgroundTrainer", "TrainerBusyError", "TrainerStateError", "get_trainer"]
