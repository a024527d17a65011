"""The Training tab's kept runs: the runs table, their curves overlaid, the queue, and exports.

Plain functions over the run store (``runs_store``) and the background trainer; the live run's curves come from the
trainer's log (what it recorded this second), the others from the store.
"""

from __future__ import annotations

import functools
import html
import math
from typing import Any

import pandas as pd

from visualizer import runs_export
from visualizer.background import ACTIVE_STATES, get_trainer
from visualizer.runs_store import RunStore, default_store
from visualizer.views.layer_details import t

# The hyperparameters a recipe is made of, in the order the table writes them; those that differ between the runs
# shown are highlighted (the difference a comparison is about).
RECIPE_FIELDS = (
    "optimizer",
    "lr",
    "batch_size",
    "epochs",
    "schedule",
    "subset",
    "weight_decay",
    "augment",
    "pretrained",
    "freeze_features",
    "seed",
)
ALWAYS_SHOWN = ("optimizer", "lr", "batch_size", "epochs", "schedule", "subset")  # the rest only when they differ
FIELD_NAMES = {
    "optimizer": ("", ""),
    "lr": ("lr", "학습률"),
    "batch_size": ("batch", "배치"),
    "epochs": ("epochs", "에폭"),
    "schedule": ("", ""),
    "subset": ("images", "이미지"),
    "weight_decay": ("wd", "가중치 감쇠"),
    "augment": ("augment", "증강"),
    "pretrained": ("pretrained", "사전 학습"),
    "freeze_features": ("frozen features", "특징 고정"),
    "seed": ("seed", "시드"),
}
STATUS = {
    "running": ("running", "학습 중"),
    "paused": ("paused", "일시 정지"),
    "finished": ("finished", "완료"),
    "stopped": ("stopped", "중지됨"),
    "failed": ("failed", "실패"),
    "interrupted": ("interrupted (the server stopped)", "중단됨 (서버 종료)"),
}
X_AXES = ("images", "seconds")
SPLITS = ("test", "train")


def _store() -> RunStore:
    return default_store()


# ------------------------------------------------------------------------------------------- the table


def runs_rows(store: RunStore | None = None) -> list[dict[str, Any]]:
    """One plain row per kept run, newest first: ``id, model, dataset, status, images, final_acc, best_acc,
    seconds, images_per_sec, recipe`` (its ``RECIPE_FIELDS``) and ``checkpoint_kept``. The run training now shows
    its live progress."""
    store = store or _store()
    status = get_trainer().status()
    live = status["run_id"] if status["state"] in ACTIVE_STATES else None
    rows = []
    for run in reversed(store.runs()):
        row = {
            "id": run["id"],
            "model": run["model"],
            "dataset": run["dataset"],
            "status": run["status"],
            "images": run["images"],
            "final_acc": run["final_acc"],
            "best_acc": run["best_acc"],
            "seconds": run["seconds"],
            "recipe": {k: run["config"].get(k) for k in RECIPE_FIELDS},
            "checkpoint_kept": run["checkpoint"] is not None,
        }
        if run["id"] == live and run["status"] == "running":
            row["status"] = status["state"]
            row["seconds"] = status["elapsed_s"] or row["seconds"]
            row["images"] = max(row["images"], status["step"] * run["config"].get("batch_size", 0))
        row["images_per_sec"] = row["images"] / row["seconds"] if row["seconds"] else None
        rows.append(row)
    return rows


def differing(rows: list[dict]) -> set[str]:
    """The recipe fields whose values are not the same in every row."""
    return {k for k in RECIPE_FIELDS if len({repr(r["recipe"].get(k)) for r in rows}) > 1}


def _value(key: str, value: Any) -> str:
    if key == "subset" and value is None:
        return t("all", "전체")
    if isinstance(value, bool):
        return t("on", "켬") if value else t("off", "끔")
    if isinstance(value, float):
        return f"{value:g}"
    return html.escape(str(value))


def recipe_html(recipe: dict, highlight: set[str]) -> str:
    """``adam · lr 0.001 · batch 32 · …``, the fields in ``highlight`` in bold."""
    parts = []
    for key in RECIPE_FIELDS:
        if key not in ALWAYS_SHOWN and key not in highlight:
            continue
        en, ko = FIELD_NAMES[key]
        text = (t(en, ko) + " " if en else "") + _value(key, recipe.get(key))
        parts.append(f"<b class='differs'>{text}</b>" if key in highlight else text)
    return " · ".join(parts)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def _clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = round(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def runs_html(rows: list[dict], queue: list[dict] | None = None) -> str:
    """The runs table (and the queue under it) as bilingual HTML; the recipe fields that differ are in bold."""
    if not rows and not queue:
        empty = t(
            "No runs kept yet: start or queue one.", "저장된 실행이 아직 없습니다: 하나를 시작하거나 대기열에 넣으세요."
        )
        return f"<p class='runs-empty'>{empty}</p>"
    highlight = differing(rows + [{"recipe": q["config"]} for q in queue or []])
    head = [
        ("#", "#"),
        ("model", "모델"),
        ("dataset", "데이터셋"),
        ("status", "상태"),
        ("recipe (differences in bold)", "설정 (다른 값은 굵게)"),
        ("images seen", "본 이미지"),
        ("best test acc. (%)", "최고 테스트 정확도 (%)"),
        ("final test acc. (%)", "최종 테스트 정확도 (%)"),
        ("time", "시간"),
        ("images/s", "이미지/초"),
    ]
    out = ["<table class='runs-table'><thead><tr>", *(f"<th>{t(en, ko)}</th>" for en, ko in head)]
    out.append("</tr></thead><tbody>")
    for q in queue or []:
        place = t(f"queued: {q['place']} in line", f"대기 중: {q['place']}번째")
        out.append(
            f"<tr class='queued'><td>q{q['qid']}</td><td>{html.escape(q['model'])}</td><td>{q['dataset']}</td>"
            f"<td>{place}</td><td>{recipe_html(q['config'], highlight)}</td><td colspan='5'></td></tr>"
        )
    for r in rows:
        en, ko = STATUS.get(r["status"], (r["status"], r["status"]))
        speed = "–" if r["images_per_sec"] is None else f"{r['images_per_sec']:,.0f}"
        out.append(
            f"<tr class='run-{r['status']}'><td>{r['id']}</td><td>{html.escape(r['model'])}</td><td>{r['dataset']}</td>"
            f"<td>{t(en, ko)}</td><td>{recipe_html(r['recipe'], highlight)}</td><td class='num'>{r['images']:,}</td>"
            f"<td class='num'>{_pct(r['best_acc'])}</td><td class='num'>{_pct(r['final_acc'])}</td>"
            f"<td class='num'>{_clock(r['seconds'])}</td><td class='num'>{speed}</td></tr>"
        )
    out.append("</tbody></table>")
    return "".join(out)


def run_label(row: dict) -> str:
    """A run's name in the picker and the charts' legend: ``#3 alexnet_cifar`` (language-neutral)."""
    return f"#{row['id']} {row['model']}"


def run_choices(rows: list[dict]) -> list[tuple[str, str]]:
    return [(f"{run_label(r)} · {r['dataset']}", str(r["id"])) for r in rows]


def parse_ids(run_ids: Any) -> list[int]:
    """Run ids from the picker (strings), the API (ints, or ``"1, 3"``); a bad one says what would work."""
    if run_ids is None:
        return []
    if isinstance(run_ids, (str, int)):
        run_ids = str(run_ids).replace(",", " ").split()
    ids = []
    for v in run_ids:
        text = str(v).strip().lstrip("#")
        if not text.isdigit():
            raise ValueError(f"run id {v!r} is not a number; give the ids of the runs table, e.g. [1, 3]")
        ids.append(int(text))
    return ids


# ------------------------------------------------------------------------------------------ the curves


def compare_runs(run_ids: Any, store: RunStore | None = None) -> list[dict[str, Any]]:
    """The runs' curves with every point as recorded: ``[{id, label, model, dataset, status, steps, epochs}]``.

    ``steps``: ``{step, images, elapsed_s, loss, acc, lr, ...}`` every few batches; ``epochs``: ``{step, images,
    elapsed_s, test_loss, test_acc, ...}`` at each epoch end. The live run's come from the trainer's log.
    """
    store = store or _store()
    trainer = get_trainer()
    status = trainer.status()
    out = []
    for run_id in parse_ids(run_ids):
        run = store.run(run_id)
        if run is None:
            known = ", ".join(str(r["id"]) for r in store.runs()) or "none yet"
            raise ValueError(f"there is no run {run_id} in this server's runs (kept runs: {known})")
        if run_id == status["run_id"] and status["state"] in ACTIVE_STATES:
            metrics = trainer.metrics()
            points = {"steps": metrics["steps"], "epochs": metrics["epochs"]}
        else:
            points = _points(store, run_id, run["updated"])
        out.append(
            {
                "id": run_id,
                "label": run_label(run),
                "model": run["model"],
                "dataset": run["dataset"],
                "status": run["status"],
                **points,
            }
        )
    return out


@functools.lru_cache(maxsize=32)
def _points(store: RunStore, run_id: int, updated: float) -> dict[str, list[dict]]:
    """A run's points as of its row's ``updated`` time: a finished run's are read once for all the pages that
    overlay it every second (shared: read them, never change them)."""
    return store.points(run_id)


# No smoothing: runs recorded at different densities (a batch of 16 logs four times as many points per image as one
# of 64) would be smoothed over different spans by the same point-count window, and the lesson's curve is the run's
# own noise; every point drawn is one the trainer recorded.
def compare_frames(curves: list[dict], x: str = "images", split: str = "test") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accuracy %, loss) as long frames ``x, value, run`` for one line per run: the test split's epoch points, or
    the training batches'; ``x``: images seen or seconds of training."""
    if x not in X_AXES:
        raise ValueError(f"x axis must be one of {', '.join(X_AXES)}, got {x!r}")
    if split not in SPLITS:
        raise ValueError(f"curves must be one of {', '.join(SPLITS)}, got {split!r}")
    acc, loss = [], []
    for c in curves:
        records = c["epochs"] if split == "test" else c["steps"]
        a_key, l_key = ("test_acc", "test_loss") if split == "test" else ("acc", "loss")
        for r in records:
            where = r.get("images") if x == "images" else r.get("elapsed_s")
            if where is None:
                continue
            acc.append({"x": where, "value": 100 * r[a_key], "run": c["label"]})
            loss.append({"x": where, "value": r[l_key], "run": c["label"]})
    cols = ["x", "value", "run"]
    return pd.DataFrame(acc, columns=cols), pd.DataFrame(loss, columns=cols)


AXIS_TITLES = {
    ("images", "en"): "images seen",
    ("images", "ko"): "본 이미지 수",
    ("seconds", "en"): "seconds of training",
    ("seconds", "ko"): "학습 시간 (초)",
    ("acc", "en"): "accuracy (%)",
    ("acc", "ko"): "정확도 (%)",
    ("loss", "en"): "loss",
    ("loss", "ko"): "손실",
    ("run", "en"): "run",
    ("run", "ko"): "실행",
}


def axis_titles(x: str, lang: str) -> dict[str, str]:
    """The charts' axis titles in the page's language (``"en"`` | ``"ko"``)."""
    lang = "ko" if str(lang or "").lower().startswith("ko") else "en"
    return {"x": AXIS_TITLES[(x, lang)], **{k: AXIS_TITLES[(k, lang)] for k in ("acc", "loss", "run")}}


# ---------------------------------------------------------------------------------------------- exports


def export_csv(run_id: Any) -> str:
    """A kept run's points as a CSV file (its path, for the download)."""
    ids = parse_ids(run_id)
    if len(ids) != 1:
        raise ValueError("pick one run to export (its id in the runs table)")
    return str(runs_export.export_csv(_store(), ids[0]))


def export_tensorboard(run_id: Any) -> str:
    """A kept run as zipped TensorBoard event files (its path); ``RuntimeError`` naming ``pip install
    tensorboard`` when the package is missing."""
    ids = parse_ids(run_id)
    if len(ids) != 1:
        raise ValueError("pick one run to export (its id in the runs table)")
    return str(runs_export.export_tensorboard(_store(), ids[0]))


__all__ = [
    "RECIPE_FIELDS",
    "axis_titles",
    "compare_frames",
    "compare_runs",
    "differing",
    "export_csv",
    "export_tensorboard",
    "parse_ids",
    "recipe_html",
    "run_choices",
    "runs_html",
    "runs_rows",
]
