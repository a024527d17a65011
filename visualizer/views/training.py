"""Training tab: start/pause/resume/stop the one background run, read its curves, and see the network learn."""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

import zoo
from visualizer import snapshots
from visualizer.background import ACTIVE_STATES, get_trainer
from visualizer.budgets import runs
from visualizer.features import colormap_lut
from visualizer.snapshots import NetworkSnapshot
from visualizer.training import FROM_DATASET, TrainConfig, dataset_defaults, takes_32px

UI_LOG_EVERY = 5  # steps between curve points: classroom runs are short, the curve should move every second


def _number(value: Any, name: str, kind: type, lo: float, hi: float) -> Any:
    """Gradio Number fields arrive as float or None; turn them into checked ints/floats with a clear message."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        raise ValueError(f"{name} is empty or not a number; enter a value from {lo:g} to {hi:g}")
    if kind is int:
        if float(value) != int(value):
            raise ValueError(f"{name} must be a whole number, got {value}")
        value = int(value)
    else:
        value = float(value)
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be from {lo:g} to {hi:g}, got {value:g}")
    return value


def make_config(
    model: str,
    dataset: str,
    epochs: Any = FROM_DATASET,
    batch_size: Any = FROM_DATASET,
    lr: Any = FROM_DATASET,
    optimizer: str = "adam",
    schedule: str = FROM_DATASET,
    weight_decay: Any = 0.0,
    subset: Any = FROM_DATASET,
    seed: Any = 0,
    augment: bool = FROM_DATASET,
    pretrained: bool = False,
    freeze_features: bool = False,
    resume: str | None = None,
) -> TrainConfig:
    """A checked config from the tab's fields; those left at FROM_DATASET take the dataset's recipe."""
    given = {
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "schedule": schedule,
        "subset": subset,
        "augment": augment,
    }
    checks = {
        "epochs": ("Epochs", int, 1, 1000),
        "batch_size": ("Batch size", int, 1, 8192),
        "lr": ("Learning rate", float, 1e-8, 10),
        "subset": ("Training images", int, 0, 10_000_000),
    }
    fields: dict[str, Any] = {}
    for name, value in given.items():
        if value is FROM_DATASET:
            continue
        fields[name] = _number(value, *checks[name]) if name in checks else value
    if "subset" in fields:
        fields["subset"] = fields["subset"] or None  # 0: all
    if "augment" in fields:
        fields["augment"] = bool(fields["augment"])
    if (resume or "").strip():
        resume = runs.resolve(resume)  # only this server's own runs and uploads
    config = TrainConfig(
        model=(model or "").strip(),
        dataset=dataset,
        optimizer=optimizer,
        weight_decay=_number(weight_decay, "Weight decay", float, 0, 1),
        seed=_number(seed, "Seed", int, 0, 2**31 - 1),
        pretrained=bool(pretrained),
        freeze_features=bool(freeze_features),
        resume=resume or None,
        log_every=UI_LOG_EVERY,
        **fields,
    )
    return config.validate()


def resume_choices() -> dict[str, Any]:
    """The resume picker: nothing chosen (a new run), or one of this server's checkpoints, newest first."""
    return {"choices": [("— new run —", "")] + runs.checkpoints(), "value": ""}


def recipe(dataset: str) -> dict[str, Any]:
    """The tab's fields for ``dataset`` before anyone types: its defaults (``subset`` 0 meaning all)."""
    values = dataset_defaults(dataset)
    return {**values, "subset": values["subset"] or 0}


def train_start(
    model: str,
    dataset: str,
    epochs: Any = FROM_DATASET,
    batch_size: Any = FROM_DATASET,
    lr: Any = FROM_DATASET,
    optimizer: str = "adam",
    schedule: str = FROM_DATASET,
    weight_decay: Any = 0.0,
    subset: Any = FROM_DATASET,
    seed: Any = 0,
    augment: bool = FROM_DATASET,
    pretrained: bool = False,
    freeze_features: bool = False,
    resume: str | None = None,
) -> str:
    """Start a background run; raises ValueError (bad value) or RuntimeError (a run is already active)."""
    config = make_config(
        model,
        dataset,
        epochs,
        batch_size,
        lr,
        optimizer,
        schedule,
        weight_decay,
        subset,
        seed,
        augment,
        pretrained,
        freeze_features,
        resume,
    )
    get_trainer().start(config)
    return progress_line(get_trainer().status())


def train_pause() -> str:
    return get_trainer().pause()


def train_resume() -> str:
    return get_trainer().resume()


def train_stop() -> str:
    return get_trainer().stop()


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    seconds = round(seconds)
    return (
        f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


def progress_line(status: dict, last_epoch: dict | None = None) -> str:
    state = status.get("state", "idle")
    if state == "idle":
        return "No run yet. Pick a dataset and a model, then **Start**."
    parts = [
        f"**{state}**",
        f"{status.get('model')} on {status.get('dataset')}" + (" (synthetic data)" if status.get("synthetic") else ""),
    ]
    if status.get("epochs"):
        parts.append(f"epoch {status.get('epoch', 0)}/{status['epochs']}")
    if status.get("total_steps"):
        parts.append(f"step {status.get('step', 0)}/{status['total_steps']}")
    if status.get("images_per_sec"):
        parts.append(f"{status['images_per_sec']:.0f} images/s")
    if last_epoch:  # the curve needs two epochs to draw a test line; the number is useful from the first
        parts.append(f"test accuracy {100 * last_epoch['test_acc']:.1f}% after epoch {last_epoch['epoch']}")
    parts.append(f"elapsed {_duration(status.get('elapsed_s'))}")
    if state in ACTIVE_STATES:
        parts.append(f"ETA {_duration(status.get('eta_s'))}")
    line = " · ".join(parts)
    message = status.get("error") or status.get("message")
    return f"{line}\n\n{message}" if message else line


def curves(metrics: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long-form frames for line plots: x = step, one series each for train and test."""
    rows_loss, rows_acc = [], []
    for r in metrics.get("steps", []):
        rows_loss.append({"step": r["step"], "value": r["loss"], "series": "train"})
        rows_acc.append({"step": r["step"], "value": 100 * r["acc"], "series": "train"})
    for r in metrics.get("epochs", []):
        rows_loss.append({"step": r["step"], "value": r["test_loss"], "series": "test"})
        rows_acc.append({"step": r["step"], "value": 100 * r["test_acc"], "series": "test"})
    cols = ["step", "value", "series"]
    return pd.DataFrame(rows_loss, columns=cols), pd.DataFrame(rows_acc, columns=cols)


def confusion_image(final: dict | None, cell: int = 34) -> Image.Image | None:
    """The confusion matrix as a labelled heat map (rows: true class, columns: predicted)."""
    if not final:
        return None
    cm = np.asarray(final["confusion_matrix"], dtype=np.float64)
    names = final["class_names"]
    n = len(names)
    row_sum = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, row_sum, out=np.zeros_like(cm), where=row_sum > 0)
    lut = colormap_lut("Blues")
    font = ImageFont.load_default(size=11)
    margin = 90
    img = Image.new("RGB", (margin + n * cell + 4, margin + n * cell + 4), "white")
    draw = ImageDraw.Draw(img)
    for i in range(n):
        draw.text((4, margin + i * cell + cell // 3), names[i][:12], fill="black", font=font)
        draw.text((margin + i * cell + 2, margin - 14 - (i % 2) * 14), names[i][:6], fill="black", font=font)
        for j in range(n):
            color = tuple(int(c) for c in lut[int(frac[i, j] * 255)])
            x0, y0 = margin + j * cell, margin + i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=color)
            text_color = "white" if frac[i, j] > 0.5 else "black"
            draw.text((x0 + 3, y0 + cell // 3), str(int(cm[i, j])), fill=text_color, font=font)
    return img


def per_class_table(final: dict | None) -> pd.DataFrame:
    if not final:
        return pd.DataFrame(columns=["class", "accuracy (%)"])
    return pd.DataFrame(
        {"class": final["class_names"], "accuracy (%)": [round(100 * a, 2) for a in final["per_class_acc"]]}
    )


def train_status() -> tuple[str, pd.DataFrame, pd.DataFrame, Image.Image | None, pd.DataFrame, str | None, bool]:
    """Everything the Training tab shows, and whether the page should keep polling (a run is active)."""
    trainer = get_trainer()
    status = trainer.status()
    metrics = trainer.metrics()
    loss, acc = curves(metrics)
    final = metrics.get("final")
    last_epoch = metrics["epochs"][-1] if metrics.get("epochs") else None
    return (
        progress_line(status, last_epoch),
        loss,
        acc,
        confusion_image(final),
        per_class_table(final),
        status.get("last_checkpoint"),
        status.get("state") in ACTIVE_STATES,
    )


# ------------------------------------------------------------------------------ the network, as it learns

LIVE = "live"  # the snapshot picker's value for "the latest weights"
NO_RUN_YET = (
    "No training run yet: start one (Start, or the train_start endpoint); the first-layer filters and "
    "the probe image's feature maps appear here from step 0 on, and change as the network learns."
)


_pictures: OrderedDict[tuple, tuple[Image.Image, Image.Image]] = OrderedDict()
_pictures_lock = threading.Lock()


def _pictures_of(snap: NetworkSnapshot) -> tuple[Image.Image, Image.Image]:
    """(filters, probe maps), drawn once per snapshot however many open pages show it."""
    with _pictures_lock:
        if snap.key in _pictures:
            return _pictures[snap.key]
    pictures = snapshots.filters_image(snap), snapshots.probe_maps_image(snap)
    with _pictures_lock:
        _pictures[snap.key] = pictures
        while len(_pictures) > 8:
            _pictures.popitem(last=False)
    return pictures


def _snapshot_outputs(snap: NetworkSnapshot, epochs: int | None) -> tuple[str, Image.Image, Image.Image, dict]:
    top = snap.top(3)
    guess, p = top[0]
    verdict = "right" if guess == snap.probe.class_name else "wrong"
    lines = [
        f"**{snapshots.describe(snap, epochs)}** · probe: a test image of a **{snap.probe.class_name}** · "
        f"the network says **{guess}** ({100 * p:.0f} %, {verdict})"
    ]
    if snap.step == 0:
        n = len(snap.class_names)
        lines.append(
            f"Random weights: the filters are noise and the predictions are chance ({n} classes: "
            f"~{100 / n:.0f} % each)."
        )
    return "\n\n".join(lines), *_pictures_of(snap), dict(top)


def train_snapshot() -> tuple[str, Image.Image, Image.Image, dict]:
    """The network at its latest weights: (caption, first-layer filters, probe and its maps per stage, top-3).

    A running run is asked for a snapshot at its next batch. Raises ValueError, saying why, when there is none.
    """
    trainer = get_trainer()
    snap = trainer.snapshot(fresh=True)
    status = trainer.status()
    if snap is None:
        if status["state"] == "idle":
            raise ValueError(NO_RUN_YET)
        if status["snapshot_error"]:
            raise ValueError(
                f"this run has no pictures of the network: taking one failed "
                f"({status['snapshot_error']}); its training and curves go on"
            )
        if status["state"] == "failed":
            raise ValueError(f"the last run failed before its first snapshot: {status['error']}")
        raise ValueError(
            f"the run has no snapshot yet ({status['message']}); the first comes when training begins, in a few seconds"
        )
    return _snapshot_outputs(snap, status["epochs"])


def snapshot_choices(history: list[NetworkSnapshot]) -> list[tuple[str, str]]:
    """The picker's (label, value) pairs: live, then the start (0) and each epoch end kept, oldest first."""
    return [(LIVE, LIVE)] + [(str(s.epochs_done), str(s.step)) for s in history]


def _snapshot_of(choice: str | None) -> tuple:
    trainer = get_trainer()
    status = trainer.status()
    history = trainer.snapshot_history()
    choices = snapshot_choices(history)
    picked = next((s for s in history if str(s.step) == choice), None) if choice != LIVE else None
    snap = picked or trainer.snapshot()
    value = str(picked.step) if picked else LIVE
    state = (snap.key if snap else status["state"], tuple(v for _, v in choices), value, status["snapshot_error"])
    return status, choices, snap, value, state


def snapshot_shown(choice: str | None = LIVE) -> tuple:
    """What the snapshot panel for ``choice`` would show, as the state ``snapshot_panel`` returns; nothing drawn
    (a poll compares it with the last one and redraws only on a change)."""
    return _snapshot_of(choice)[-1]


def snapshot_panel(choice: str | None = LIVE, shown: tuple | None = None) -> tuple | None:
    """The snapshot panel for the picker's ``choice`` (live, or a kept snapshot's step); never raises.

    Returns (caption, filters, probe maps, top-3, picker choices, picker value, state), or None when ``shown`` (the
    state returned last time) says the page already shows exactly that: a poll then costs no drawing.
    """
    status, choices, snap, value, state = _snapshot_of(choice)
    if state == shown:
        return None
    failed = f"⚠️ No more pictures of the network: a snapshot failed ({status['snapshot_error']}); training goes on."
    if snap is None:
        message = NO_RUN_YET if status["state"] == "idle" else "Waiting for the run's first snapshot …"
        return (failed if status["snapshot_error"] else message), None, None, None, choices, value, state
    caption, *pictures = _snapshot_outputs(snap, status["epochs"])
    return (caption + ("\n\n" + failed if status["snapshot_error"] else ""), *pictures, choices, value, state)


def trainable_models() -> list[str]:
    """Zoo models that take a 32×32 input (CIFAR-10 and shapes images)."""
    return [n for n in zoo.list_models() if takes_32px(zoo.get_spec(n))]
