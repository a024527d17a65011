"""Training tab: start/pause/resume/stop the one background run, read its curves, and see the network learn."""

from __future__ import annotations

import math
import re
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
from visualizer.numbers import checked_number
from visualizer.snapshots import NetworkSnapshot
from visualizer.training import (
    FROM_DATASET,
    NOTES_COMPARISON,
    RECIPES,
    TrainConfig,
    dataset_defaults,
    recipe_values,
    takes_32px,
)
from visualizer.views.layer_details import page_lang, t

UI_LOG_EVERY = 5  # steps between curve points: classroom runs are short, the curve should move every second


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
    recipe: str = "dataset",
) -> TrainConfig:
    """A checked config from the tab's fields; those left at FROM_DATASET take the dataset's recipe. ``recipe``
    ``notes`` also evaluates on the whole test split (as the notes do; the tab has no field for it)."""
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(RECIPES)}, got {recipe!r}")
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
        fields[name] = checked_number(value, *checks[name]) if name in checks else value
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
        weight_decay=checked_number(weight_decay, "Weight decay", float, 0, 1),
        seed=checked_number(seed, "Seed", int, 0, 2**31 - 1),
        pretrained=bool(pretrained),
        freeze_features=bool(freeze_features),
        resume=resume or None,
        log_every=UI_LOG_EVERY,
        **({"test_subset": None} if recipe == "notes" else {}),
        **fields,
    )
    return config.validate()


def resume_choices(lang: str | None = "en") -> dict[str, Any]:
    """The resume picker: nothing chosen (a new run), or one of this server's checkpoints, newest first; its first
    label in the page's language."""
    new_run = "— 새 학습 —" if page_lang(lang) == "ko" else "— new run —"
    return {"choices": [(new_run, "")] + runs.checkpoints(), "value": ""}


def recipe_fields(dataset: str, name: str = "dataset", model: str = "alexnet_cifar") -> dict[str, Any]:
    """The tab's fields for ``dataset`` under recipe ``name`` (the dataset's defaults, or the notes' for ``model``)
    before anyone types (``subset`` 0 meaning all)."""
    values = {**dataset_defaults(dataset), **recipe_values(name, model or "alexnet_cifar", dataset)}
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
    recipe: str = "dataset",
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
        recipe,
    )
    get_trainer().start(config)
    return progress_line(get_trainer().status())


def train_queue(models: Any, dataset: str, *fields: Any, recipe: str = "dataset") -> str:
    """Queue one run per model in ``models`` (a name or a list), each with the tab's other fields (``fields``:
    ``make_config``'s after ``dataset``, without resume), to train one after another; all are checked against
    the server's budgets now. The first starts if nothing trains."""
    names = [models] if isinstance(models, str) else list(models or [])
    names = [n.strip() for n in names if n and n.strip()]
    if not names:
        raise ValueError("no model to queue: pick one (or the notes' comparison)")
    configs = [make_config(name, dataset, *fields[:11], None, recipe) for name in names]
    qids = get_trainer().enqueue(configs)
    return f"queued {len(qids)} run(s): " + ", ".join(f"q{q} {c.model}" for q, c in zip(qids, configs))


def queue_notes_comparison(dataset: str, *fields: Any, recipe: str = "dataset") -> str:
    """The preset: the notes' three networks (``NOTES_COMPARISON``) with one shared recipe on ``dataset``."""
    return train_queue(list(NOTES_COMPARISON), dataset, *fields, recipe=recipe)


def queue_runs(
    models: list[str],
    dataset: str = "shapes",
    recipe: str = "dataset",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    subset: int | None = None,
) -> list[dict[str, Any]]:
    """The ``train_queue`` endpoint: one run per model, the recipe's values where a field is left out (None);
    returns the queue (qid, place, model, dataset, config) after queueing."""
    values = recipe_fields(dataset, recipe, models[0] if models else "alexnet_cifar")
    given = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "subset": subset}
    values.update({k: v for k, v in given.items() if v is not None})
    train_queue(
        models,
        dataset,
        values["epochs"],
        values["batch_size"],
        values["lr"],
        values.get("optimizer", "adam"),
        values["schedule"],
        values.get("weight_decay", 0.0),
        values["subset"],
        0,
        values["augment"],
        values.get("pretrained", False),
        False,
        recipe=recipe,
    )
    return get_trainer().queue()


def queue_start(qid: Any = None) -> str:
    """Go on with the queue (``qid``: that waiting run first)."""
    return get_trainer().queue_start(_qid(qid) if qid not in (None, "") else None)


def queue_skip(qid: Any) -> str:
    """Drop a waiting run, or stop the queued run training now and go on with the next."""
    return get_trainer().skip(_qid(qid))


def _qid(value: Any) -> int:
    text = str(value).strip().lstrip("q")
    if not text.isdigit():
        raise ValueError(f"queued run {value!r}: give its number in the queue, e.g. q2 or 2")
    return int(text)


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


STATES_KO = {
    "idle": "대기",
    "running": "실행 중",
    "paused": "일시 정지",
    "stopping": "중지하는 중",
    "finished": "완료",
    "stopped": "중지됨",
    "failed": "실패",
    "diverged": "발산",
}
# The trainer's status messages (background.py, training.py) in Korean, by their English form; others stay as
# they are (an exception's own text).
MESSAGES_KO = [
    (r"^no training run yet$", "아직 학습 실행이 없습니다"),
    (r"^starting (\S+) on (\S+)$", r"\2에서 \1 시작"),
    (r"^loading (\S+) data$", r"\1 데이터 불러오는 중"),
    (r"^training$", "학습 중"),
    (r"^evaluating epoch (\d+)$", r"에폭 \1 평가 중"),
    (r"^paused at step (\d+)$", r"단계 \1에서 일시 정지"),
    (r"^resumed$", "재개됨"),
    (r"^stopping after the current batch$", "현재 배치가 끝나면 중지합니다"),
    (r"^(\w+) at step (\d+)/(\d+), test accuracy ([\d.]+%)", r"단계 \2/\3에서 \1, 테스트 정확도 \4"),
    (r"^(\w+) at step (\d+)/(\d+)", r"단계 \2/\3에서 \1"),
    (r"^stopped \((.*)\)$", r"중지됨 (\1)"),
    (r"^(finished|stopped)$", r"\1"),  # the run's last word before its thread reports the end: the state alone
    (r"^failed: (.*)$", r"실패: \1"),
]


def message_ko(message: str) -> str:
    """A trainer's status message in Korean (its state names too); unknown text as it is."""
    for pattern, korean in MESSAGES_KO:
        if re.match(pattern, message):
            text = re.sub(pattern, korean, message, count=1)
            return re.sub(r"\b(" + "|".join(STATES_KO) + r")\b", lambda m: STATES_KO[m.group(1)], text)
    return message


def progress_line(status: dict, last_epoch: dict | None = None) -> str:
    """The status line above the curves, both languages (``t``: the page shows one)."""
    state = status.get("state", "idle")
    if state == "idle":
        return t(
            "No run yet. Pick a dataset and a model, then <b>Start</b>.",
            "아직 학습이 없습니다. 데이터셋과 모델을 고른 뒤 <b>시작</b>을 누르세요.",
        )
    synthetic = status.get("synthetic")
    parts = [
        (f"<b>{state}</b>", f"<b>{STATES_KO.get(state, state)}</b>"),
        (
            f"{status.get('model')} on {status.get('dataset')}" + (" (synthetic data)" if synthetic else ""),
            f"{status.get('dataset')}에서 {status.get('model')}" + (" (합성 데이터)" if synthetic else ""),
        ),
    ]
    if status.get("epochs"):
        epochs = f"{status.get('epoch', 0)}/{status['epochs']}"
        parts.append((f"epoch {epochs}", f"에폭 {epochs}"))
    if status.get("total_steps"):
        steps = f"{status.get('step', 0)}/{status['total_steps']}"
        parts.append((f"step {steps}", f"단계 {steps}"))
    if status.get("images_per_sec"):
        rate = f"{status['images_per_sec']:.0f}"
        parts.append((f"{rate} images/s", f"초당 이미지 {rate}장"))
    threads, cores = status.get("threads"), status.get("cores")
    if state == "running" and threads and cores and threads < cores:  # budgets.cores: the server is answering
        parts.append(
            (
                f"on {threads} of {cores} cores while the server answers the class",
                f"수업의 요청에 답하는 동안 코어 {cores}개 중 {threads}개로 학습",
            )
        )
    if last_epoch:  # the curve needs two epochs to draw a test line; the number is useful from the first
        acc, epoch = f"{100 * last_epoch['test_acc']:.1f}%", last_epoch["epoch"]
        parts.append((f"test accuracy {acc} after epoch {epoch}", f"에폭 {epoch} 후 테스트 정확도 {acc}"))
    elapsed = _duration(status.get("elapsed_s"))
    parts.append((f"elapsed {elapsed}", f"경과 {elapsed}"))
    if state in ACTIVE_STATES:
        eta = _duration(status.get("eta_s"))
        parts.append((f"ETA {eta}", f"남은 시간 {eta}"))
    line = t(" · ".join(en for en, _ in parts), " · ".join(ko for _, ko in parts))
    message = status.get("error") or status.get("message")
    return f"{line}\n\n{t(message, message_ko(message))}" if message else line


SERIES = {"en": ("train", "test"), "ko": ("학습", "테스트")}
CURVE_TITLES = {  # (x, loss's y, accuracy's y)
    "en": ("step", "loss", "accuracy (%)"),
    "ko": ("단계", "손실", "정확도 (%)"),
}


def curves(metrics: dict, lang: str | None = "en") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long-form frames for line plots: x = step, one series each for train and test (named in ``lang``)."""
    train, test = SERIES[page_lang(lang)]
    rows_loss, rows_acc = [], []
    for r in metrics.get("steps", []):
        rows_loss.append({"step": r["step"], "value": r["loss"], "series": train})
        rows_acc.append({"step": r["step"], "value": 100 * r["acc"], "series": train})
    for r in metrics.get("epochs", []):
        rows_loss.append({"step": r["step"], "value": r["test_loss"], "series": test})
        rows_acc.append({"step": r["step"], "value": 100 * r["test_acc"], "series": test})
    cols = ["step", "value", "series"]
    return pd.DataFrame(rows_loss, columns=cols), pd.DataFrame(rows_acc, columns=cols)


def confusion_image(final: dict | None, cell: int = 34) -> Image.Image | None:
    """The confusion matrix as a labelled heat map (rows: true class, columns: predicted), every class name whole:
    the rows' names on the left, the columns' turned upright above (the margins fit the longest name)."""
    if not final:
        return None
    cm = np.asarray(final["confusion_matrix"], dtype=np.float64)
    names = [str(name) for name in final["class_names"]]
    n = len(names)
    row_sum = cm.sum(axis=1, keepdims=True)
    frac = np.divide(cm, row_sum, out=np.zeros_like(cm), where=row_sum > 0)
    lut = colormap_lut("Blues")
    font = ImageFont.load_default(size=11)
    longest = max((math.ceil(font.getlength(name)) for name in names), default=0)
    margin = longest + 10
    img = Image.new("RGB", (margin + n * cell + 4, margin + n * cell + 4), "white")
    draw = ImageDraw.Draw(img)
    line = font.getbbox("Ag")[3] + 2  # one line of text, ascender to descender
    for i, name in enumerate(names):
        draw.text((margin - 6 - font.getlength(name), margin + i * cell + cell // 3), name, fill="black", font=font)
        label = Image.new("RGB", (math.ceil(font.getlength(name)) + 2, line), "white")
        ImageDraw.Draw(label).text((1, 0), name, fill="black", font=font)
        upright = label.rotate(90, expand=True)  # read bottom to top, ending just above its column
        img.paste(upright, (margin + i * cell + (cell - upright.width) // 2, margin - 6 - upright.height))
        for j in range(n):
            color = tuple(int(c) for c in lut[int(frac[i, j] * 255)])
            x0, y0 = margin + j * cell, margin + i * cell
            draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=color)
            text_color = "white" if frac[i, j] > 0.5 else "black"
            draw.text((x0 + 3, y0 + cell // 3), str(int(cm[i, j])), fill=text_color, font=font)
    return img


PER_CLASS_HEADERS = {"en": ("class", "accuracy (%)"), "ko": ("클래스", "정확도 (%)")}


def per_class_table(final: dict | None, lang: str | None = "en") -> pd.DataFrame:
    """Test accuracy per class; headers in the page's language."""
    name, accuracy = PER_CLASS_HEADERS[page_lang(lang)]
    if not final:
        return pd.DataFrame(columns=[name, accuracy])
    return pd.DataFrame({name: final["class_names"], accuracy: [round(100 * a, 2) for a in final["per_class_acc"]]})


def train_status(
    lang: str | None = "en",
) -> tuple[str, pd.DataFrame, pd.DataFrame, Image.Image | None, pd.DataFrame, str | None, bool]:
    """Everything the Training tab shows, and whether the page should keep polling (a run is active); what cannot
    carry both languages (the curves' series, the table's headers) in ``lang``'s."""
    trainer = get_trainer()
    status = trainer.status()
    metrics = trainer.metrics()
    loss, acc = curves(metrics, lang)
    final = metrics.get("final")
    last_epoch = metrics["epochs"][-1] if metrics.get("epochs") else None
    return (
        progress_line(status, last_epoch),
        loss,
        acc,
        confusion_image(final),
        per_class_table(final, lang),
        status.get("last_checkpoint"),
        status.get("state") in ACTIVE_STATES,
    )


# ------------------------------------------------------------------------------ the network, as it learns

LIVE = "live"  # the snapshot picker's value for "the latest weights"
NO_RUN_YET = (
    "No training run yet: start one (Start, or the train_start endpoint); the first-layer filters and "
    "the probe image's feature maps appear here from step 0 on, and change as the network learns."
)
NO_RUN_YET_KO = (
    "아직 학습 실행이 없습니다: 시작을 누르세요 (또는 train_start 엔드포인트). 첫 번째 층의 필터와 "
    "프로브 이미지의 특징 맵이 0 단계부터 여기에 나타나고, 네트워크가 배우는 동안 바뀝니다."
)
WAITING = ("Waiting for the run's first snapshot …", "학습의 첫 스냅숏을 기다리는 중 …")


_pictures: OrderedDict[tuple, tuple[Image.Image, Image.Image]] = OrderedDict()
_pictures_lock = threading.Lock()


def _pictures_of(snap: NetworkSnapshot, lang: str = "en") -> tuple[Image.Image, Image.Image]:
    """(filters, probe maps) labelled in ``lang``, drawn once per snapshot and language however many open pages
    show it."""
    key = (snap.key, lang)
    with _pictures_lock:
        if key in _pictures:
            return _pictures[key]
    pictures = snapshots.filters_image(snap, lang=lang), snapshots.probe_maps_image(snap, lang=lang)
    with _pictures_lock:
        _pictures[key] = pictures
        while len(_pictures) > 8:
            _pictures.popitem(last=False)
    return pictures


def _snapshot_outputs(
    snap: NetworkSnapshot, epochs: int | None, lang: str = "en"
) -> tuple[str, Image.Image, Image.Image, dict]:
    top = snap.top(3)
    guess, p = top[0]
    right = guess == snap.probe.class_name
    verdict = "right" if right else "wrong"
    probe = snap.probe.class_name
    lines = [
        t(
            f"**{snapshots.describe(snap, epochs)}** · probe: a test image of a **{probe}** · "
            f"the network says **{guess}** ({100 * p:.0f} %, {verdict})",
            f"**{snapshots.describe(snap, epochs, 'ko')}** · 프로브: **{probe}** 테스트 이미지 · 네트워크의 답: "
            f"**{guess}** ({100 * p:.0f} %, {'맞음' if right else '틀림'})",
        )
    ]
    if snap.step == 0:
        n = len(snap.class_names)
        lines.append(
            t(
                f"Random weights: the filters are noise and the predictions are chance ({n} classes: "
                f"~{100 / n:.0f} % each).",
                f"무작위 가중치: 필터는 잡음이고 예측은 우연 수준입니다 (클래스 {n}개: 각각 약 {100 / n:.0f} %).",
            )
        )
    return "\n\n".join(lines), *_pictures_of(snap, page_lang(lang)), dict(top)


def train_snapshot(lang: str | None = "en") -> tuple[str, Image.Image, Image.Image, dict]:
    """The network at its latest weights: (caption, first-layer filters, probe and its maps per stage, top-3); the
    pictures labelled in ``lang``.

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
    return _snapshot_outputs(snap, status["epochs"], lang)


def snapshot_choices(history: list[NetworkSnapshot]) -> list[tuple[str, str]]:
    """The picker's (label, value) pairs: live, then the start (0) and each epoch end kept, oldest first."""
    return [(LIVE, LIVE)] + [(str(s.epochs_done), str(s.step)) for s in history]


def _snapshot_of(choice: str | None, lang: str | None = "en") -> tuple:
    trainer = get_trainer()
    status = trainer.status()
    history = trainer.snapshot_history()
    choices = snapshot_choices(history)
    picked = next((s for s in history if str(s.step) == choice), None) if choice != LIVE else None
    snap = picked or trainer.snapshot()
    value = str(picked.step) if picked else LIVE
    lang = page_lang(lang)  # the pictures' labels: a switch of the page's language redraws them
    state = (snap.key if snap else status["state"], tuple(v for _, v in choices), value, status["snapshot_error"], lang)
    return status, choices, snap, value, state


def snapshot_shown(choice: str | None = LIVE, lang: str | None = "en") -> tuple:
    """What the snapshot panel for ``choice`` would show, as the state ``snapshot_panel`` returns; nothing drawn
    (a poll compares it with the last one and redraws only on a change)."""
    return _snapshot_of(choice, lang)[-1]


def snapshot_panel(choice: str | None = LIVE, shown: tuple | None = None, lang: str | None = "en") -> tuple | None:
    """The snapshot panel for the picker's ``choice`` (live, or a kept snapshot's step); never raises.

    Returns (caption, filters, probe maps, top-3, picker choices, picker value, state), or None when ``shown`` (the
    state returned last time) says the page already shows exactly that: a poll then costs no drawing.
    """
    status, choices, snap, value, state = _snapshot_of(choice, lang)
    lang = page_lang(lang)
    if state == shown:
        return None
    error = status["snapshot_error"]
    failed = "⚠️ " + t(
        f"No more pictures of the network: a snapshot failed ({error}); training goes on.",
        f"네트워크 그림을 더 찍지 못합니다: 스냅숏이 실패했습니다 ({error}); 학습은 계속됩니다.",
    )
    if snap is None:
        message = t(NO_RUN_YET, NO_RUN_YET_KO) if status["state"] == "idle" else t(*WAITING)
        return (failed if status["snapshot_error"] else message), None, None, None, choices, value, state
    caption, *pictures = _snapshot_outputs(snap, status["epochs"], lang)
    return (caption + ("\n\n" + failed if status["snapshot_error"] else ""), *pictures, choices, value, state)


def trainable_models() -> list[str]:
    """Zoo models that take a 32×32 input (CIFAR-10 and shapes images)."""
    return [n for n in zoo.list_models() if takes_32px(zoo.get_spec(n))]
