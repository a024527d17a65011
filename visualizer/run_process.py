"""A training run in a process of its own: ``train`` with the same arguments, the same records and the same
result, but its Python apart from the server's.

Why: a run in a thread shares the server's GIL, and a class's answers take it between the run's batches; no
thread priority gives it back (``budgets.cpu``). In a process of its own the run has its own interpreter and the
kernel alone shares the cores, as it does between any two programs.

How: the calling thread (``BackgroundTrainer``'s) spawns the process, then relays what the run reports back into
the caller's own objects, which the page reads as before:

* its ``MetricsLog`` calls (steps, epochs, progress, the final confusion matrix) are replayed on ``log``;
* its snapshots and their weights go to ``snapshots.receive`` (tensors through shared memory, not copied through a
  pipe), a failed snapshot to ``receive_error``; a reader's ``snapshots.request()`` reaches the run through the
  log's ``asked`` event;
* its events go to ``on_event`` (the run store is written here, by one process), its checkpoints to ``publish_to``;
* ``control`` (pause, resume, stop) is made of the context's events, so the run sees them between batches.

The result comes back as ``train``'s ``done`` record, or its exception is raised here. A process that dies
without a word (killed for memory, say) ends the run as failed, with its exit code; a server that dies takes its
run with it (the run watches its parent).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.multiprocessing as mp

from visualizer.budgets import configure, cores, current
from visualizer.latest_weights import LatestWeights, WeightsRegistry
from visualizer.snapshots import SnapshotLog
from visualizer.training import MetricsLog, RunControl, TrainConfig, resolve_device, train

CONTEXT = mp.get_context("spawn")  # a fresh interpreter: no copy of the server's threads, locks or CUDA state
LOG_CALLS = ("add_step", "add_epoch", "set_final", "update_progress", "restore")  # what the run may replay
POLL_S = 0.5  # how often a quiet relay checks that the run's process still lives
RELEASE_S = 60.0  # the run's process waits this long for its last tensors to be fetched before it exits


class RunProcessError(RuntimeError):
    """The run's process failed in a way its own exception cannot tell (it died, or its error would not pickle)."""


def control() -> RunControl:
    """A ``RunControl`` that works across processes: give it to ``run`` (the trainer makes its runs' with this)."""
    return RunControl(CONTEXT.Event)


def run(
    config: TrainConfig,
    log: MetricsLog,
    control: RunControl,
    on_event: Callable[[dict], None] | None = None,
    snapshots: SnapshotLog | None = None,
    publish_to: WeightsRegistry | None = None,
) -> dict:
    """``train(config, log, control, on_event, snapshots, publish_to)`` in a process of its own; blocks until it
    ends, relaying as it goes. ``control`` must come from ``control()``; ``snapshots`` gets an ``asked`` event."""
    messages = CONTEXT.Queue()
    release = CONTEXT.Event()
    if snapshots is not None and snapshots.asked is None:
        snapshots.asked = CONTEXT.Event()
    wants_snapshots = snapshots is not None
    every_s = snapshots.every_s if snapshots is not None else 0.0
    run_id = snapshots.run_id if snapshots is not None else None
    asked = snapshots.asked if snapshots is not None else None
    process = CONTEXT.Process(
        target=_child,
        args=(config, control, messages, release, current(), os.getpid(), wants_snapshots, every_s, run_id, asked),
        name=f"cnnviz-run-{config.model}",
        daemon=True,
    )
    with _main_left_out():
        process.start()
    try:
        return _relay(process, messages, log, on_event, snapshots, publish_to)
    finally:
        release.set()
        process.join(10)
        if process.is_alive():
            process.kill()
            process.join(5)


def _relay(
    process,
    messages,
    log: MetricsLog,
    on_event: Callable[[dict], None] | None,
    snapshots: SnapshotLog | None,
    publish_to: WeightsRegistry | None,
) -> dict:
    while True:
        try:
            kind, *payload = messages.get(timeout=POLL_S)
        except queue.Empty:
            if not process.is_alive():
                raise RunProcessError(
                    f"the training process ended without finishing (exit code {process.exitcode}: "
                    + ("killed, perhaps for memory" if (process.exitcode or 0) < 0 else "it crashed")
                    + "); try a smaller batch or model"
                ) from None
            continue
        if kind == "log" and payload[0] in LOG_CALLS:
            name, args, kwargs = payload
            getattr(log, name)(*args, **kwargs)
        elif kind == "snapshot" and snapshots is not None:
            snapshots.receive(*payload)
        elif kind == "snapshot_error" and snapshots is not None:
            snapshots.receive_error(*payload)
        elif kind == "event" and on_event is not None:
            on_event(*payload)
        elif kind == "checkpoint" and publish_to is not None:
            publish_to.publish_checkpoint(*payload)
        elif kind == "done":
            return payload[0]
        elif kind == "failed":
            raise payload[0]


_starting = threading.Lock()


@contextlib.contextmanager
def _main_left_out():
    """Start the run's process without running the server's ``__main__`` in it again: ``spawn`` re-runs the
    parent's main script (or ``-m`` module) as ``__mp_main__`` unless the main module names neither, and the run
    needs nothing from it (``_child`` lives here). So a server started from any script, a notebook or ``python -``
    starts its runs alike, and none of them imports Gradio a second time."""
    main = sys.modules["__main__"]
    with _starting:
        saved = {name: main.__dict__[name] for name in ("__file__", "__spec__") if name in main.__dict__}
        main.__dict__.pop("__file__", None)
        main.__dict__["__spec__"] = None
        try:
            yield
        finally:
            main.__dict__.pop("__spec__", None)
            main.__dict__.update(saved)


# ------------------------------------------------------------------------------------------ the run's side


class _RelayedLog(MetricsLog):
    """The run's own ``MetricsLog``, each change also sent to the server's."""

    def __init__(self, send: Callable[[tuple], None]) -> None:
        super().__init__()
        self._send = send

    def add_step(self, record: dict) -> None:
        super().add_step(record)
        self._send(("log", "add_step", (record,), {}))

    def add_epoch(self, record: dict) -> None:
        super().add_epoch(record)
        self._send(("log", "add_epoch", (record,), {}))

    def set_final(self, final: dict | None) -> None:
        super().set_final(final)
        self._send(("log", "set_final", (final,), {}))

    def update_progress(self, **fields: Any) -> None:
        super().update_progress(**fields)
        self._send(("log", "update_progress", (), fields))

    def restore(self, metrics: dict) -> None:
        super().restore(metrics)
        self._send(("log", "restore", (metrics,), {}))


class _RelayedCheckpoints(WeightsRegistry):
    """Where the run publishes its checkpoints: sent to the server's registry (weights come with snapshots)."""

    def __init__(self, send: Callable[[tuple], None]) -> None:
        super().__init__()
        self._send = send

    def publish_checkpoint(self, path: str) -> None:
        self._send(("checkpoint", path))

    def publish(self, weights: LatestWeights) -> None:  # pragma: no cover - train publishes checkpoints only
        raise AssertionError("a run publishes its weights through its snapshots")


def _child(
    config: TrainConfig,
    control: RunControl,
    messages,
    release,
    limits,
    parent: int,
    wants_snapshots: bool,
    every_s: float,
    run_id: str | None,
    asked,
) -> None:
    configure(**dataclasses.asdict(limits))  # the server's budgets, as set by its flags
    send = messages.put
    _watch_parent(parent, control)
    snapshots = (
        SnapshotLog(every_s=every_s, dataset=config.dataset, run_id=run_id, relay=send, asked=asked)
        if wants_snapshots
        else None
    )
    log = _RelayedLog(send)
    try:
        if resolve_device(config.device).type == "cpu":
            full = torch.get_num_threads()
            log.update_progress(threads=full, cores=full)
            if cores.wanted():
                control = _SharingControl(control, cores.CoreShare(parent, full, _threads_to(log)))
        done = train(
            config,
            log,
            control,
            on_event=lambda event: send(("event", event)),
            snapshots=snapshots,
            publish_to=_RelayedCheckpoints(send),
        )
        send(("done", done))
    except BaseException as exc:  # noqa: BLE001 - the server's thread raises it as train would have
        send(("failed", _picklable(exc)))
    release.wait(RELEASE_S)  # the server fetches the last snapshot's tensors from this process's shared memory


def _threads_to(log: MetricsLog) -> Callable[[int], None]:
    def set_threads(n: int) -> None:
        torch.set_num_threads(n)
        log.update_progress(threads=n)  # the server's status says how many the run trains on now

    return set_threads


class _SharingControl(RunControl):
    """The run's control, and between its batches (where the loop asks whether it is paused) a look at how busy
    the server is: the run trains on the cores the server leaves (``budgets.cores``), set on the training thread,
    the one that asks."""

    def __init__(self, control: RunControl, share: cores.CoreShare) -> None:
        self._control, self._share = control, share

    def pause(self) -> None:
        self._control.pause()

    def resume(self) -> None:
        self._control.resume()

    def stop(self) -> None:
        self._control.stop()

    @property
    def stop_requested(self) -> bool:
        return self._control.stop_requested

    @property
    def paused(self) -> bool:
        return self._control.paused

    def wait_while_paused(self) -> float:
        self._share.look()
        return self._control.wait_while_paused()


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001 - an exception type that does not survive pickling: its name and words
        return RunProcessError(f"{type(exc).__name__}: {exc}")


def _watch_parent(parent: int, control: RunControl) -> None:
    """A server that dies (even by kill -9) stops its run: checked every second, the run stops after its batch and
    the process exits shortly after, checkpoint written."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        control.stop()
        time.sleep(30)
        os._exit(1)

    threading.Thread(target=watch, name="cnnviz-run-parent-watch", daemon=True).start()


__all__ = ["CONTEXT", "RunProcessError", "control", "run"]
