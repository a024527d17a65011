"""The files the server owns: its runs' checkpoints and the checkpoints people upload — nothing else.

A checkpoint is chosen from this list (``checkpoints``), never typed as a path: ``resolve`` accepts a choice
only if it is one of them, and refuses anything else with one message that does not depend on whether the
file exists (so nobody can probe the server's disk). Only the newest ``Limits.keep_runs`` runs keep their
checkpoints (``prune``); an uploaded ``.pt`` is stored once under ``runs/uploads/`` by its content.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from visualizer.budgets.limits import BudgetError, current
from visualizer.numbers import bytes_text

RUNS_DIR = Path("runs")  # relative to the server's working directory, as the trainer writes it
CHECKPOINT_NAME = "last.pt"
UPLOADS = "uploads"


class PathRefused(ValueError):
    """A checkpoint that is not one of this server's own files."""


_configured: Path | None = None  # --runs-dir (app and train CLI); else $CNNVIZ_RUNS_DIR, else runs/


def use_runs_dir(path: str | os.PathLike | None) -> None:
    """This process's runs directory (``--runs-dir``): the run folders, their checkpoints, uploads and the run store."""
    global _configured
    _configured = Path(path) if path else None


def runs_dir() -> Path:
    """Where this server's runs live: ``--runs-dir``, else ``$CNNVIZ_RUNS_DIR``, else ``runs/``."""
    return _configured or Path(os.environ.get("CNNVIZ_RUNS_DIR") or RUNS_DIR)


def _inside(path: Path, folder: Path) -> bool:
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(folder)]) == os.path.realpath(folder)
    except ValueError:  # different drives
        return False


_RUN_NAME = re.compile(r"^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-(.+)-([^-]+)$")  # training.run_dir's names


def run_label(folder: str) -> str:
    """A run's folder as a picker shows it: the model and the data first, then when it started
    (``20261202-051234-alexnet_cifar-shapes`` → ``alexnet_cifar · shapes · 2026-12-02 05:12:34``)."""
    m = _RUN_NAME.match(folder)
    if not m:
        return folder
    y, mo, d, h, mi, sec, model, dataset = m.groups()
    return f"{model} · {dataset} · {y}-{mo}-{d} {h}:{mi}:{sec}"


def checkpoints() -> list[tuple[str, str]]:
    """``(label, path)`` of every checkpoint this server owns, newest first: each run's ``last.pt``, then
    uploaded files."""
    root = runs_dir()
    found: list[tuple[float, str, str]] = []
    if root.is_dir():
        for run in root.iterdir():
            ckpt = run / CHECKPOINT_NAME
            if run.name != UPLOADS and ckpt.is_file() and _inside(ckpt, root):
                found.append((ckpt.stat().st_mtime, run_label(run.name), str(ckpt)))
        uploads = root / UPLOADS
        if uploads.is_dir():
            for f in uploads.glob("*.pt"):
                if f.is_file() and _inside(f, root):
                    found.append((f.stat().st_mtime, f"{f.name} (uploaded)", str(f)))
    found.sort(reverse=True)
    return [(label, path) for _, label, path in found]


def resolve(choice: str | None) -> str:
    """The path of a checkpoint chosen from ``checkpoints()``; anything else is refused with one message."""
    choice = (choice or "").strip()
    owned = {os.path.realpath(path): path for _, path in checkpoints()}
    real = os.path.realpath(choice) if choice else ""
    if real in owned and _inside(Path(real), runs_dir()):
        return owned[real]
    raise PathRefused(
        "that checkpoint is not one of this server's runs or uploads; pick one from the list "
        "(a training run's last.pt) or upload a .pt file"
    )


def store_upload(path: str) -> str:
    """Keep an uploaded checkpoint under ``runs/uploads/`` (named by its content, so re-uploads are free)."""
    size = os.path.getsize(path)
    limit = current().max_checkpoint_upload
    if size > limit:
        raise BudgetError(
            f"the uploaded file is {bytes_text(size)}; this server takes checkpoints up to "
            f"{bytes_text(limit)} (--max-checkpoint-upload)"
        )
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    target = runs_dir() / UPLOADS / f"{digest.hexdigest()[:16]}.pt"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        staging = target.with_name(f".{target.name}.{os.getpid()}.part")
        shutil.copyfile(path, staging)
        os.replace(staging, target)
    os.utime(target)
    return str(target)


def prune(keep: int | None = None, protect: str | os.PathLike | None = None) -> list[str]:
    """Delete the checkpoints of all but the newest ``keep`` runs (default ``Limits.keep_runs``) and of uploads
    beyond as many; ``protect`` (the running run's folder) is never touched. Returns the files removed."""
    keep = current().keep_runs if keep is None else keep
    root = runs_dir()
    if not root.is_dir():
        return []
    protected = os.path.realpath(protect) if protect else None

    def newest_first(files):
        return sorted((f for f in files if f.is_file()), key=lambda f: f.stat().st_mtime, reverse=True)

    runs = newest_first(f for f in root.glob(f"*/{CHECKPOINT_NAME}") if f.parent.name != UPLOADS)
    uploads = newest_first((root / UPLOADS).glob("*.pt")) if (root / UPLOADS).is_dir() else []
    removed = []
    for f in runs[keep:] + uploads[keep:]:
        if (protected and os.path.realpath(f.parent) == protected) or not _inside(f, root):
            continue
        try:
            f.unlink()
            removed.append(str(f))
        except OSError:
            pass
    return removed
