"""The app's trainer: ``visualizer.training.train`` in a background thread, one run at a time, and a queue of runs
waiting their turn ("train these one after another").

States: idle → running ⇄ paused → finished | stopped | failed. The UI polls ``status()``,
``metrics()`` (plain dicts) and ``snapshot()`` (pictures' data, taken by the training thread itself),
all cheap to read while training; the thread never touches the UI. Each run is recorded in a ``RunStore``
(``runs_store``) as it trains. A queued run is checked against the server's budgets when it is queued, so a run
that cannot fit is refused while its teacher is still there, not an hour later; when a run ends the next waiting one
starts, unless a stop asked the queue to hold.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zoo
from visualizer import run_process
from visualizer.budgets import cpu, current, runs
from visualizer.budgets.limits import BudgetError
from visualizer.budgets.memory import check_model, check_training
from visualizer.datasets import DATASET_CLASSES
from visualizer.latest_weights import REGISTRY, LatestWeights, WeightsRegistry
from visualizer.runs_store import RunRecorder, RunStore, default_store
from visualizer.snapshots import NetworkSnapshot, SnapshotLog
from visualizer.training import MetricsLog, RunControl, TrainConfig, default_out_dir, train

ACTIVE_STATES = ("running", "paused")  # a run is in progress: its thread is alive


class TrainerBusyError(RuntimeError):
    """``start`` while a run is active."""


class TrainerStateError(RuntimeError):
    """``pause``/``resume``/``stop`` when the trainer is not in a state where that makes sense."""


@dataclass(frozen=True)
class QueuedRun:
    """A run waiting its turn: ``qid`` names it in the queue (start, skip); its config passed the budgets."""

    qid: int
    config: TrainConfig


class BackgroundTrainer:
    """One training run at a time, in a daemon thread, and the runs queued behind it; ``get_trainer()`` gives the
    process's instance.

    Its runs publish their latest weights and checkpoint to ``publish_to`` (a registry of their own if none is
    given; the process's trainer publishes to ``latest_weights.REGISTRY``, which weight loading reads), and are
    recorded in ``store()`` (none: not recorded; the process's trainer records in the runs directory's store).
    ``own_process``: each run trains in a process of its own (``run_process``: its own GIL, the server's answers
    cannot slow its batches), relayed back by the run's thread; the app's trainer does, the library's need not.
    """

    def __init__(
        self,
        publish_to: WeightsRegistry | None = None,
        store: Callable[[], RunStore] | None = None,
        own_process: bool = False,
    ) -> None:
        self.own_process = own_process  # each run in a process of its own (run_process), not in the server's
        self.published = publish_to if publish_to is not None else WeightsRegistry()
        self._store = store
        self._queue: list[QueuedRun] = []
        self._next_qid = 1
        self._hold = False  # a stop holds the queue: the waiting runs wait until the queue is started again
        self._skip_current = False
        self._current_qid: int | None = None
        self._run_id: int | None = None  # the current run's id in the store
        self._store_error: str | None = None
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
                    f"a training run is already {self._state} ({self._describe()}); stop it before starting "
                    "another, or queue it"
                )
            self._check(config)
            self._current_qid = None
            self._start_locked(config)

    def _check(self, config: TrainConfig) -> None:
        """A bad config or one over the server's budgets raises, before a single image is generated: the model's
        size, then the whole run's memory (data, batch activations and gradients, weights and optimizer state, and
        the interpreter of a run that trains apart)."""
        config.validate()
        check_model(config.model, num_classes=DATASET_CLASSES.get(config.dataset))  # with the head it gets
        check_training(
            config.model,
            config.dataset,
            config.batch_size,
            config.subset,
            config.test_subset,
            config.optimizer,
            own_process=self._apart(config),
        )

    def _start_locked(self, config: TrainConfig) -> None:
        """Start ``config`` (already checked) in a new thread; the lock is held."""
        if config.out_dir is None:
            config = dataclasses.replace(config, out_dir=str(default_out_dir(config)))
        runs.prune(protect=config.out_dir)  # only the newest runs keep their checkpoints
        self._config = config
        self._log = MetricsLog()
        self.published.clear()  # the last run's weights are not this one's
        self._snapshots = SnapshotLog(dataset=config.dataset, publish_to=self.published)
        apart = self._apart(config)
        self._control = run_process.control() if apart else RunControl()
        self._state, self._error = "running", None
        self._message = f"starting {config.model} on {config.dataset}"
        recorder = self._begin_record(config)
        self._thread = threading.Thread(
            target=self._run,
            args=(config, self._log, self._control, self._snapshots, recorder, apart),
            name="cnnviz-trainer",
            daemon=True,
        )
        cpu.start(self._thread)  # at the process's priority, above the server's answers (budgets.cpu)

    def _apart(self, config: TrainConfig) -> bool:
        """Whether ``config`` trains in a process of its own: with ``own_process``, unless its network was registered
        while the server runs (``--model``, ``show()``): its class lives in this process alone, so it trains here."""
        return self.own_process and not zoo.is_user_model(config.model)

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
        """Ask the run to stop after the current batch (a checkpoint is written); wait up to ``timeout`` s. The
        queue holds: its runs wait until ``queue_start``."""
        with self._lock:
            self._require("stop", ACTIVE_STATES)
            self._hold = True
            self._control.stop()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with self._lock:
            held = f"; {len(self._queue)} queued run(s) wait until the queue is started" if self._queue else ""
            if self._state in ACTIVE_STATES:
                return "stopping after the current batch" + held
            return self._message + held

    # -------------------------------------------------------------------------------------- the queue

    def enqueue(self, configs: list[TrainConfig]) -> list[int]:
        """Queue runs to train one after another; each is checked against the budgets now. The first starts at
        once if nothing trains. Returns their queue ids. ``BudgetError`` when they would not fit in the queue
        (``--max-queue``) or one is over a budget (then none is queued)."""
        with self._lock:
            self._check_room(len(configs))
        for config in configs:  # outside the lock: the memory estimate builds the model on meta (a second or two)
            self._check(config)
        with self._lock:
            self._check_room(len(configs))  # again: another page may have queued meanwhile
            qids = []
            for config in configs:
                self._queue.append(QueuedRun(self._next_qid, config))
                qids.append(self._next_qid)
                self._next_qid += 1
            self._hold = False  # queueing is asking for them to train
            self._advance_locked()
            return qids

    def _check_room(self, n: int) -> None:
        limit = current().max_queue
        if len(self._queue) + n > limit:
            raise BudgetError(
                f"the queue holds at most {limit} waiting runs (--max-queue); {len(self._queue)} wait already, "
                f"so {n} more do not fit: let one finish, or skip one"
            )

    def queue(self) -> list[dict[str, Any]]:
        """The waiting runs in order: ``{qid, place, model, dataset, config}`` (place 1 starts next)."""
        with self._lock:
            return [
                {
                    "qid": q.qid,
                    "place": i + 1,
                    "model": q.config.model,
                    "dataset": q.config.dataset,
                    "config": q.config.to_dict(),
                }
                for i, q in enumerate(self._queue)
            ]

    def queue_start(self, qid: int | None = None) -> str:
        """Go on with the queue (after a stop held it); ``qid``: that waiting run first. It starts now if
        nothing trains, else next."""
        with self._lock:
            if qid is not None:
                run = self._find(qid)
                self._queue.remove(run)
                self._queue.insert(0, run)
            if not self._queue:
                raise TrainerStateError("the queue is empty: queue some runs first")
            self._hold = False
            first = self._queue[0]
            started = self._advance_locked()
            what = f"queued run {first.qid} ({first.config.model})"
            return f"{what} started" if started else f"{what} starts when the {self._state} run ends"

    def skip(self, qid: int) -> str:
        """Drop waiting run ``qid`` from the queue; the run training now (if it came from the queue as ``qid``)
        is stopped and the next one starts."""
        with self._lock:
            if qid == self._current_qid and self._state in ACTIVE_STATES:
                self._skip_current, self._hold = True, False
                self._control.stop()
                return f"queued run {qid} is stopping; the next one starts after it"
            run = self._find(qid)
            self._queue.remove(run)
            return f"queued run {qid} ({run.config.model}) skipped; {len(self._queue)} wait"

    def wait_queue(self, timeout: float | None = None) -> bool:
        """Block until nothing trains and nothing waits (or the queue is held), or ``timeout`` s. True if done."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                thread = self._thread
                settled = self._state not in ACTIVE_STATES and (not self._queue or self._hold)
            if settled:
                return True
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            if thread is not None:
                thread.join(min(left, 0.5) if left is not None else 0.5)

    def _find(self, qid: int) -> QueuedRun:
        for run in self._queue:
            if run.qid == qid:
                return run
        waiting = ", ".join(str(q.qid) for q in self._queue) or "none"
        raise TrainerStateError(f"no queued run {qid} is waiting (waiting: {waiting})")

    def _advance_locked(self) -> bool:
        """Start the first waiting run if nothing trains and the queue is not held; True if one started."""
        if self._hold or not self._queue or self._state in ACTIVE_STATES:
            return False
        run = self._queue.pop(0)
        self._current_qid = run.qid
        self._skip_current = False
        self._start_locked(run.config)  # checked when it was queued
        return True

    # ------------------------------------------------------------------------------- the run store

    def _begin_record(self, config: TrainConfig) -> RunRecorder | None:
        """The run's row in the store, and the recorder of its events; None without a store (or if it fails:
        training never waits on, or fails for, its record)."""
        self._run_id, self._store_error = None, None
        if self._store is None:
            return None
        try:
            store = self._store()
            self._run_id = store.begin(config.to_dict(), folder=Path(config.out_dir).name if config.out_dir else None)
            return RunRecorder(store, self._run_id)
        except (sqlite3.Error, OSError) as exc:
            self._store_error = f"the run is not recorded: {exc}"
            return None

    def _recording(self, recorder: RunRecorder | None) -> Callable[[dict], None] | None:
        if recorder is None:
            return None

        def record(event: dict) -> None:
            try:
                recorder(event)
            except (sqlite3.Error, OSError) as exc:  # a full disk must not end the run
                with self._lock:
                    self._store_error = f"the run's record stopped: {exc}"

        return record

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
                "threads": progress.get("threads"),  # a run apart on the CPU: its torch threads now ...
                "cores": progress.get("cores"),  # ... of these (budgets.cores); None for a run in this process
                "synthetic": bool(progress.get("synthetic", config is not None and config.dataset == "shapes")),
                "snapshot_error": snapshot_error,  # why the run has no (more) pictures of the network, if it failed
                "run_id": self._run_id,  # the run's id in the store (None: not recorded)
                "qid": self._current_qid,  # its queue id, if it came from the queue
                "queued": len(self._queue),
                "queue_held": self._hold and bool(self._queue),
                "store_error": self._store_error,
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

    def _run(
        self,
        config: TrainConfig,
        log: MetricsLog,
        control: RunControl,
        snapshots: SnapshotLog,
        recorder: RunRecorder | None = None,
        apart: bool = False,
    ) -> None:
        try:
            done = (run_process.run if apart else train)(
                config,
                log,
                control,
                on_event=self._recording(recorder),
                snapshots=snapshots,
                publish_to=self.published,
            )
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
            if recorder is not None:
                try:
                    recorder.fail(error)
                except (sqlite3.Error, OSError):
                    pass
        with self._lock:
            if self._log is log:  # not superseded (start() cannot run while active, but be safe)
                self._state, self._message, self._error = state, message, error
                if self._skip_current:
                    self._message = f"skipped ({message})"
                self._advance_locked()

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
    """The process-wide trainer (created on first use), publishing to ``latest_weights.REGISTRY``, recording in
    the runs directory's store, each run in a process of its own."""
    global _trainer
    with _trainer_lock:
        if _trainer is None:
            _trainer = BackgroundTrainer(publish_to=REGISTRY, store=default_store, own_process=True)
        return _trainer


__all__ = [
    "ACTIVE_STATES",
    "BackgroundTrainer",
    "QueuedRun",
    "TrainerBusyError",
    "TrainerStateError",
    "get_trainer",
]
