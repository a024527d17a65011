"""The Training tab's kept runs (``visualizer/views/runs.py``, the queue in ``views/training.py``): the table, the
overlaid curves with each run's exact points, the queue's preset, and the exports."""

from __future__ import annotations

import csv
import zipfile

import pytest

from visualizer import background, runs_export
from visualizer.background import BackgroundTrainer
from visualizer.runs_store import RunStore, default_store
from visualizer.training import NOTES_COMPARISON, TrainConfig
from visualizer.views import runs as runs_view
from visualizer.views import training as tab


@pytest.fixture
def store(tmp_path, monkeypatch):
    """This test's runs directory (``--runs-dir``) and its store, with no run training."""
    monkeypatch.setenv("CNNVIZ_RUNS_DIR", str(tmp_path / "runs"))
    trainer = BackgroundTrainer(store=default_store)
    monkeypatch.setattr(background, "_trainer", trainer)  # get_trainer() is this test's own
    yield default_store()
    if trainer.is_active():
        trainer.stop()


def _kept(store: RunStore, model: str, batch: int, accs: list[float], seconds: list[float]) -> int:
    """A finished run with one epoch point per accuracy (as if trained: 100 images an epoch)."""
    config = TrainConfig(model=model, dataset="shapes", batch_size=batch, epochs=len(accs)).to_dict()
    run_id = store.begin(config, folder=f"r-{model}")
    points = [
        (
            "epoch",
            {
                "epoch": i + 1,
                "step": (i + 1) * 100 // batch,
                "images": (i + 1) * 100,
                "elapsed_s": s,
                "test_acc": a,
                "test_loss": 1 - a,
            },
        )
        for i, (a, s) in enumerate(zip(accs, seconds))
    ]
    points.insert(
        1, ("step", {"epoch": 1, "step": 3, "images": 3 * batch, "elapsed_s": 0.5, "loss": 2.0, "acc": 0.2, "lr": 1e-3})
    )
    store.add_points(run_id, points, {"step": points[-1][1]["step"], "images": 100 * len(accs), "seconds": seconds[-1]})
    store.finish(run_id, "finished", final_acc=accs[-1], best_acc=max(accs), seconds=seconds[-1])
    return run_id


def test_the_table_highlights_what_differs_and_shows_images_per_second(store):
    a = _kept(store, "alexnet_cifar", 16, [0.3, 0.5], [2.0, 4.0])
    b = _kept(store, "resnet18_cifar", 32, [0.4, 0.6, 0.55], [5.0, 10.0, 15.0])
    rows = runs_view.runs_rows()
    assert [r["id"] for r in rows] == [b, a]  # newest first
    assert (rows[0]["best_acc"], rows[0]["final_acc"], rows[0]["images"]) == (0.6, 0.55, 300)
    assert rows[0]["images_per_sec"] == pytest.approx(300 / 15) and rows[1]["images_per_sec"] == pytest.approx(50)
    assert runs_view.differing(rows) == {"batch_size", "epochs"}
    page = runs_view.runs_html(rows)
    assert '<b class=\'differs\'><span class="en">batch</span><span class="ko">배치</span> 32</b>' in page
    assert (
        '<span class="en">lr</span><span class="ko">학습률</span> 0.00025' in page
    )  # the same in both (shapes): plain
    assert "60.0" in page and "55.0" in page and "0:15" in page and ">20<" in page
    assert runs_view.run_choices(rows) == [
        (f"#{b} resnet18_cifar · shapes", str(b)),
        (f"#{a} alexnet_cifar · shapes", str(a)),
    ]


def test_overlaid_curves_carry_each_runs_exact_points(store):
    a = _kept(store, "alexnet_cifar", 16, [0.3, 0.5], [2.0, 4.0])
    b = _kept(store, "resnet18_cifar", 32, [0.4, 0.6, 0.55], [5.0, 10.0, 15.0])
    curves = runs_view.compare_runs(f"{a}, {b}")
    assert [c["label"] for c in curves] == [f"#{a} alexnet_cifar", f"#{b} resnet18_cifar"]
    acc, loss = runs_view.compare_frames(curves, x="images", split="test")
    assert acc["x"].tolist() == [100, 200, 100, 200, 300]
    assert acc["value"].tolist() == pytest.approx([30.0, 50.0, 40.0, 60.0, 55.0])  # percent
    assert acc["run"].tolist() == [f"#{a} alexnet_cifar"] * 2 + [f"#{b} resnet18_cifar"] * 3
    assert loss["value"].tolist() == pytest.approx([0.7, 0.5, 0.6, 0.4, 0.45])
    acc, _ = runs_view.compare_frames(curves, x="seconds", split="test")
    assert acc["x"].tolist() == [2.0, 4.0, 5.0, 10.0, 15.0]
    acc, loss = runs_view.compare_frames(curves, x="images", split="train")
    assert acc["x"].tolist() == [48, 96] and loss["value"].tolist() == [2.0, 2.0]  # 3 batches of 16, of 32
    with pytest.raises(ValueError, match=r"there is no run 99 in this server's runs \(kept runs: 1, 2\)"):
        runs_view.compare_runs([99])
    with pytest.raises(ValueError, match="run id 'x' is not a number"):
        runs_view.compare_runs(["x"])
    assert runs_view.axis_titles("seconds", "ko-KR") == {
        "x": "학습 시간 (초)",
        "acc": "정확도 (%)",
        "loss": "손실",
        "run": "실행",
    }


def test_a_run_exports_as_csv(store):
    a = _kept(store, "alexnet_cifar", 16, [0.3, 0.5], [2.0, 4.0])
    path = runs_view.export_csv(a)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["kind"], r["step"], r["images"]) for r in rows] == [
        ("step", "3", "48"),
        ("epoch", "6", "100"),
        ("epoch", "12", "200"),
    ]
    assert float(rows[2]["test_acc"]) == 0.5 and float(rows[2]["seconds"]) == 4.0 and rows[0]["loss"] == "2.0"
    with pytest.raises(ValueError, match="pick one run"):
        runs_view.export_csv("1, 2")


@pytest.mark.skipif(runs_export.tensorboard_available(), reason="tensorboard is installed")
def test_without_tensorboard_the_export_says_how_to_get_it(store):
    a = _kept(store, "alexnet_cifar", 16, [0.3], [2.0])
    with pytest.raises(RuntimeError, match="pip install tensorboard"):
        runs_view.export_tensorboard(a)


def test_tensorboard_files_are_readable_by_tensorboard(store, tmp_path):
    reader = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")  # pip install tensorboard
    a = _kept(store, "alexnet_cifar", 16, [0.3, 0.5], [2.0, 4.0])
    with zipfile.ZipFile(runs_view.export_tensorboard(a)) as z:
        z.extractall(tmp_path / "tb")
    [folder] = (tmp_path / "tb").iterdir()
    events = reader.EventAccumulator(str(folder))
    events.Reload()
    test_acc = events.Scalars("test/accuracy")
    assert [(e.step, round(e.value, 6)) for e in test_acc] == [(100, 0.3), (200, 0.5)]
    assert [e.step for e in events.Scalars("train/loss")] == [48]


def test_the_notes_comparison_queues_three_networks_with_one_recipe(store):
    # the tab's fields after picking the notes' recipe on shapes (a stop then holds the queue: nothing trains long)
    fields = tab.recipe_fields("shapes", "notes", "alexnet_cifar")
    assert (fields["optimizer"], fields["lr"], fields["batch_size"], fields["epochs"]) == ("adam", 1e-3, 32, 50)
    values = [fields[k] for k in ("epochs", "batch_size", "lr")] + ["adam", fields["schedule"], 0.0, fields["subset"]]
    message = tab.queue_notes_comparison("shapes", *values, 0, fields["augment"], False, False, recipe="notes")
    trainer = background.get_trainer()
    trainer.stop()
    assert message.startswith("queued 3 run(s): q1 alexnet_cifar, q2 resnet18_cifar, q3 vgg19_cifar")
    waiting = trainer.queue()
    assert [q["model"] for q in waiting] == list(NOTES_COMPARISON[1:]) and [q["place"] for q in waiting] == [1, 2]
    [first] = store.runs()
    recipes = [first["config"]] + [q["config"] for q in waiting]
    for key in ("optimizer", "lr", "batch_size", "epochs", "schedule", "subset", "test_subset", "augment"):
        assert len({repr(c[key]) for c in recipes}) == 1, key  # one shared recipe
    assert first["config"]["subset"] is None and first["config"]["test_subset"] is None  # all images, as the notes
    html = runs_view.runs_html(runs_view.runs_rows(), waiting)
    assert "queued: 1 in line" in html and "대기 중: 2번째" in html

    # the endpoint: a field given wins over the recipe; the queue comes back (queueing goes on with it: q2 starts)
    queue = tab.queue_runs(["alexnet_cifar"], "shapes", "notes", epochs=2, subset=64)
    assert trainer.status()["qid"] == 2 and [q["qid"] for q in queue] == [3, 4]
    assert queue[-1]["model"] == "alexnet_cifar" and queue[-1]["config"]["epochs"] == 2
    assert queue[-1]["config"]["batch_size"] == 32 and queue[-1]["config"]["subset"] == 64
    assert "skipped" in tab.queue_skip("q4") and [q["qid"] for q in trainer.queue()] == [3]
    with pytest.raises(ValueError, match="queued run 'two': give its number"):
        tab.queue_skip("two")
