"""Every training run kept: its config, curves, timings and results, in ``<runs dir>/runs.sqlite``.

Why SQLite (the standard library's ``sqlite3``, in WAL mode) rather than the JSON lines plus an index: the page
polls the table every second while the training thread appends to it, and WAL lets readers read while one writer
writes, without a lock file or an index to rewrite; a transaction is all or nothing, so a process killed (even with
SIGKILL) mid-write leaves the last committed state, never a half-written line to repair. Nothing to start: the file
is the store. The trainer commits its buffered curve points every ``FLUSH_SECONDS`` (and at each epoch end and at
the end), so a crash loses at most the last few seconds of one run's curve. A run left ``running`` by a process
that no longer exists (on this machine) is marked ``interrupted`` when the next store opens the file.

The store holds plain values (JSON text for config and per-class accuracy); checkpoints stay in the run folders
(``budgets.runs`` prunes them, ``--keep-runs``), and a row says whether its checkpoint is still there.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from visualizer.budgets.runs import runs_dir

STORE_NAME = "runs.sqlite"
FLUSH_SECONDS = 2.0  # curve points are committed at least this often while a run trains
FINAL_STATES = ("finished", "stopped", "failed", "interrupted")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    folder TEXT, model TEXT NOT NULL, dataset TEXT NOT NULL, status TEXT NOT NULL,
    config TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL, pid INTEGER, host TEXT,
    step INTEGER DEFAULT 0, images INTEGER DEFAULT 0, seconds REAL DEFAULT 0,
    final_acc REAL, best_acc REAL, per_class TEXT, checkpoint TEXT, detail TEXT
);
CREATE TABLE IF NOT EXISTS points (
    run_id INTEGER NOT NULL REFERENCES runs(id), kind TEXT NOT NULL, step INTEGER NOT NULL,
    images INTEGER NOT NULL, seconds REAL, record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS points_by_run ON points(run_id, kind, step);
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process, but it exists
    return True


class RunStore:
    """The runs of one runs directory. Safe to share between threads (each call opens its own connection)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / STORE_NAME
        with self._db() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
        self.interrupted = self.mark_interrupted()

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10.0)
        db.row_factory = sqlite3.Row
        try:
            with db:  # one transaction: committed on success, rolled back on an exception
                yield db
        finally:
            db.close()

    # ---------------------------------------------------------------------------------------- writes

    def begin(self, config: dict, folder: str | None = None, status: str = "running") -> int:
        """A new run (its config as plain values); returns its id."""
        now = time.time()
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO runs (folder, model, dataset, status, config, created, updated, pid, host) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    folder,
                    str(config.get("model")),
                    str(config.get("dataset")),
                    status,
                    json.dumps(config),
                    now,
                    now,
                    os.getpid(),
                    socket.gethostname(),
                ),
            )
            return int(cur.lastrowid)

    def add_points(self, run_id: int, points: list[tuple[str, dict]], progress: dict | None = None) -> None:
        """Append curve points (``("step" | "epoch", record)``, records carrying ``step``, ``images`` and
        ``elapsed_s``) and the run's progress, in one transaction."""
        with self._db() as db:
            db.executemany(
                "INSERT INTO points (run_id, kind, step, images, seconds, record) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (run_id, kind, int(r["step"]), int(r.get("images", 0)), r.get("elapsed_s"), json.dumps(r))
                    for kind, r in points
                ],
            )
            if progress:
                self._set(db, run_id, progress)

    def finish(self, run_id: int, status: str, **fields: Any) -> None:
        """The run's end: its status and results (``final_acc``, ``best_acc``, ``per_class``, ``checkpoint``,
        ``detail``, ``step``, ``images``, ``seconds``)."""
        if "per_class" in fields and fields["per_class"] is not None:
            fields["per_class"] = json.dumps(fields["per_class"])
        with self._db() as db:
            self._set(db, run_id, {"status": status, **fields})

    @staticmethod
    def _set(db: sqlite3.Connection, run_id: int, fields: dict) -> None:
        allowed = {"status", "step", "images", "seconds", "final_acc", "best_acc", "per_class", "checkpoint"}
        allowed |= {"detail", "folder"}
        fields = {k: v for k, v in fields.items() if k in allowed}
        fields["updated"] = time.time()
        assignments = ", ".join(f"{k} = ?" for k in fields)
        db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*fields.values(), run_id))

    def mark_interrupted(self) -> list[int]:
        """Runs left ``running`` by a process of this machine that no longer exists: ``interrupted``. Their ids."""
        host = socket.gethostname()
        with self._db() as db:
            rows = db.execute("SELECT id, pid, host FROM runs WHERE status = 'running'").fetchall()
            dead = [r["id"] for r in rows if r["host"] == host and r["pid"] is not None and not _alive(r["pid"])]
            for run_id in dead:
                self._set(db, run_id, {"status": "interrupted", "detail": "the server stopped while it trained"})
        return dead

    # ----------------------------------------------------------------------------------------- reads

    def runs(self) -> list[dict]:
        """Every run, oldest first, as plain dicts (``config`` and ``per_class`` decoded, ``checkpoint`` None
        once pruned)."""
        with self._db() as db:
            rows = db.execute("SELECT * FROM runs ORDER BY id").fetchall()
        return [self._row(r) for r in rows]

    def run(self, run_id: int) -> dict | None:
        with self._db() as db:
            row = db.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),)).fetchone()
        return self._row(row) if row is not None else None

    def points(self, run_id: int) -> dict[str, list[dict]]:
        """``{"steps": [...], "epochs": [...]}``: the run's curve records as the trainer emitted them, in order."""
        with self._db() as db:
            rows = db.execute(
                "SELECT kind, record FROM points WHERE run_id = ? ORDER BY rowid", (int(run_id),)
            ).fetchall()
        out: dict[str, list[dict]] = {"steps": [], "epochs": []}
        for r in rows:
            out["steps" if r["kind"] == "step" else "epochs"].append(json.loads(r["record"]))
        return out

    @staticmethod
    def _row(row: sqlite3.Row) -> dict:
        d = dict(row)
        d["config"] = json.loads(d["config"])
        d["per_class"] = json.loads(d["per_class"]) if d["per_class"] else None
        if d["checkpoint"] and not os.path.isfile(d["checkpoint"]):
            d["checkpoint"] = None  # pruned (--keep-runs)
        return d


class RunRecorder:
    """The trainer's events (``train(on_event=...)``) into one run of a store: points buffered and committed
    every ``FLUSH_SECONDS``, at each epoch end and at the end."""

    def __init__(self, store: RunStore, run_id: int, flush_seconds: float = FLUSH_SECONDS) -> None:
        self.store, self.run_id, self.flush_seconds = store, run_id, flush_seconds
        self._buffer: list[tuple[str, dict]] = []
        self._progress: dict = {}
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self.finished = False

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        record = {k: v for k, v in event.items() if k != "event"}
        if kind in ("step", "epoch"):
            with self._lock:
                self._buffer.append((kind, record))
                self._progress = {
                    "step": record["step"],
                    "images": record.get("images", 0),
                    "seconds": record.get("elapsed_s", 0.0),
                }
                due = kind == "epoch" or time.monotonic() - self._last_flush >= self.flush_seconds
            if due:
                self.flush()
        elif kind == "done":
            self.flush()
            self.done(record)

    def flush(self) -> None:
        with self._lock:
            points, progress, self._buffer = self._buffer, self._progress, []
            self._last_flush = time.monotonic()
        if points or progress:
            self.store.add_points(self.run_id, points, progress)

    def done(self, done: dict) -> None:
        """The ``done`` record of ``train``: the run's status and results."""
        self.store.finish(
            self.run_id,
            done["status"],
            final_acc=done.get("test_acc"),
            best_acc=done.get("best_test_acc"),
            per_class=done.get("per_class_acc"),
            checkpoint=done.get("checkpoint"),
            step=done.get("step", 0),
            images=done.get("images", self._progress.get("images", 0)),
            seconds=done.get("elapsed_s", 0.0),
            detail=done.get("detail"),
        )
        self.finished = True

    def fail(self, message: str) -> None:
        """The run raised: what was recorded stays, marked ``failed`` with the reason."""
        self.flush()
        self.store.finish(self.run_id, "failed", detail=message)
        self.finished = True


_stores: dict[str, RunStore] = {}
_stores_lock = threading.Lock()


def default_store() -> RunStore:
    """The store of this server's runs directory (``--runs-dir``), opened once per process and directory."""
    root = runs_dir()
    key = os.path.realpath(root)
    with _stores_lock:
        if key not in _stores:
            _stores[key] = RunStore(root)
        return _stores[key]


__all__ = ["FINAL_STATES", "FLUSH_SECONDS", "STORE_NAME", "RunRecorder", "RunStore", "default_store"]
