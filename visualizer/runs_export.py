"""A kept run's curves as files people open elsewhere: CSV (a spreadsheet), and TensorBoard event files.

TensorBoard is optional: ``torch.utils.tensorboard`` needs the ``tensorboard`` package (``pip install
tensorboard``), which this project does not require; without it ``tensorboard_available()`` is False and the
export says so in one line. Files go under ``<runs dir>/exports/`` (the server's own folder), one name per run,
rewritten by each export.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

from visualizer.runs_store import RunStore

try:  # optional: the event-file writer ships with torch but needs the tensorboard package
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # tensorboard not installed
    SummaryWriter = None

EXPORTS = "exports"
CSV_COLUMNS = (
    "kind",
    "epoch",
    "step",
    "images",
    "seconds",
    "loss",
    "acc",
    "test_loss",
    "test_acc",
    "train_loss",
    "train_acc",
    "lr",
    "images_per_sec",
)
TENSORBOARD_MISSING = "TensorBoard export needs the tensorboard package on the server: pip install tensorboard"


def tensorboard_available() -> bool:
    return SummaryWriter is not None


def _run(store: RunStore, run_id: int) -> dict:
    run = store.run(run_id)
    if run is None:
        known = ", ".join(str(r["id"]) for r in store.runs()) or "none yet"
        raise ValueError(f"there is no run {run_id} in this server's runs (kept runs: {known})")
    return run


def _name(run: dict) -> str:
    model = re.sub(r"[^A-Za-z0-9_-]+", "-", run["model"]).strip("-")
    return f"run{run['id']}-{model}-{run['dataset']}"


def _folder(store: RunStore) -> Path:
    folder = store.root / EXPORTS
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def csv_rows(store: RunStore, run_id: int) -> list[dict]:
    """The run's points as CSV rows: ``kind`` (step | epoch), then ``CSV_COLUMNS`` (a point's missing fields
    empty); ``seconds`` is training time, pauses excluded."""
    _run(store, run_id)
    points = store.points(run_id)
    rows = []
    for kind, records in (("step", points["steps"]), ("epoch", points["epochs"])):
        for r in records:
            rows.append({"kind": kind, **{c: r.get("elapsed_s" if c == "seconds" else c) for c in CSV_COLUMNS[1:]}})
    return sorted(rows, key=lambda row: (row["step"], row["kind"] == "epoch"))


def export_csv(store: RunStore, run_id: int) -> Path:
    """``exports/run<id>-<model>-<dataset>.csv``, written atomically; its path."""
    run = _run(store, run_id)
    path = _folder(store) / f"{_name(run)}.csv"
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".part")
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(csv_rows(store, run_id))
    os.replace(tmp, path)
    return path


def export_tensorboard(store: RunStore, run_id: int) -> Path:
    """The run as TensorBoard event files, zipped: ``exports/run<id>-….tensorboard.zip`` (unzip, then
    ``tensorboard --logdir .``). Scalars ``train/loss``, ``train/accuracy``, ``test/loss``, ``test/accuracy``,
    ``lr`` at step = images seen (runs of different batch sizes line up), wall time = the run's start + its
    training seconds; the config as text. ``RuntimeError`` (``TENSORBOARD_MISSING``) without the package."""
    if SummaryWriter is None:
        raise RuntimeError(TENSORBOARD_MISSING)
    run = _run(store, run_id)
    points = store.points(run_id)
    name = _name(run)
    logdir = _folder(store) / f"{name}.tensorboard"
    shutil.rmtree(logdir, ignore_errors=True)
    writer = SummaryWriter(log_dir=str(logdir / name))
    try:
        start = run["created"]
        for r in points["steps"]:
            at = dict(global_step=int(r.get("images", r["step"])), walltime=start + float(r.get("elapsed_s") or 0))
            writer.add_scalar("train/loss", r["loss"], **at)
            writer.add_scalar("train/accuracy", r["acc"], **at)
            writer.add_scalar("lr", r["lr"], **at)
        for r in points["epochs"]:
            at = dict(global_step=int(r.get("images", r["step"])), walltime=start + float(r.get("elapsed_s") or 0))
            writer.add_scalar("test/loss", r["test_loss"], **at)
            writer.add_scalar("test/accuracy", r["test_acc"], **at)
        writer.add_text("config", f"```\n{json.dumps(run['config'], indent=1)}\n```", global_step=0)
    finally:
        writer.close()
    archive = logdir.with_suffix(".zip")
    tmp = archive.with_suffix(".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(logdir.rglob("*")):
            if f.is_file():
                z.write(f, f.relative_to(logdir))
    os.replace(tmp, archive)
    return archive


__all__ = [
    "CSV_COLUMNS",
    "TENSORBOARD_MISSING",
    "csv_rows",
    "export_csv",
    "export_tensorboard",
    "tensorboard_available",
]
