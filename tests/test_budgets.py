"""``visualizer.budgets``: the limits one server keeps — model size, files it owns, reply images, logins."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from visualizer import budgets
from visualizer.budgets import outputs, runs
from visualizer.budgets.logins import FIRST_LOCK_S, FREE_TRIES, LoginGuard, LoginLocked
from visualizer.checkpoint import make_checkpoint, save_checkpoint


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def write_run(root, name, mtime):
    path = root / name / "last.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    model = zoo.create_model("vgg:4,M")
    save_checkpoint(
        make_checkpoint(
            model_name="vgg:4,M",
            class_names=zoo.CIFAR10_CLASSES,
            model=model,
            optimizer=None,
            config={},
            epoch=1,
            step=1,
        ),
        path,
    )
    os.utime(path, (mtime, mtime))
    return path


def test_checkpoints_are_the_servers_own_newest_first(runs_dir, tmp_path):
    old, new = write_run(runs_dir, "a-run", 1_000), write_run(runs_dir, "b-run", 2_000)
    (runs_dir / "notes.txt").write_text("not a run")
    assert [path for _, path in runs.checkpoints()] == [str(new), str(old)]
    assert runs.resolve(str(old)) == str(old)
    assert runs.resolve(str(runs_dir / "a-run" / ".." / "a-run" / "last.pt")) == str(old)
    # Outside the runs folder, or not a checkpoint of a run: one message, whether the file exists or not.
    outside = tmp_path / "elsewhere.pt"
    outside.write_bytes(b"x")
    link = runs_dir / "c-run"
    link.mkdir()
    (link / "last.pt").symlink_to(outside)  # a link inside pointing outside is outside
    messages = set()
    for path in (
        str(outside),
        str(tmp_path / "missing.pt"),
        "/etc/passwd",
        str(link / "last.pt"),
        str(runs_dir / "notes.txt"),
        "",
        "runs/../../etc/shadow",
    ):
        with pytest.raises(runs.PathRefused) as err:
            runs.resolve(path)
        messages.add(str(err.value))
    assert len(messages) == 1


def test_prune_keeps_the_newest_runs_and_spares_the_running_one(runs_dir):
    paths = [write_run(runs_dir, f"run{i}", 1_000 + i) for i in range(6)]
    removed = runs.prune(keep=2, protect=paths[0].parent)  # run0 is still training: never deleted
    assert sorted(removed) == sorted(str(p) for p in paths[1:4])
    assert [p.exists() for p in paths] == [True, False, False, False, True, True]
    assert runs.prune(keep=2, protect=paths[0].parent) == []


def test_an_upload_is_stored_once_by_content_and_size_is_bounded(runs_dir, tmp_path):
    source = write_run(tmp_path / "outside", "x", 1_000)
    stored = runs.store_upload(str(source))
    assert stored.startswith(str(runs_dir / "uploads")) and runs.store_upload(str(source)) == stored
    assert runs.resolve(stored) == stored
    before = budgets.current()
    budgets.configure(max_checkpoint_upload=2**20)
    try:
        big = tmp_path / "big.pt"
        big.write_bytes(b"\0" * (2**20 + 1))
        with pytest.raises(budgets.BudgetError, match=r"1\.0 MiB; this server takes checkpoints up to 1\.0 MiB"):
            runs.store_upload(str(big))
    finally:
        budgets.configure(max_checkpoint_upload=before.max_checkpoint_upload)


def test_reply_images_are_files_written_once_and_never_rewritten():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    path = outputs.image_file(image)
    inode = os.stat(path).st_ino
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(image))
    # The same picture again (another student's identical reply): the same file, untouched — not rewritten.
    results = []
    threads = [threading.Thread(target=lambda: results.append(outputs.image_file(image.copy()))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {path} and os.stat(path).st_ino == inode
    assert outputs.as_files((image, "text", None)) == (path, "text", None)


def test_login_guard_slows_down_repeated_failures_and_counts_tries_during_a_lock():
    now = [0.0]
    guard = LoginGuard("teacher", "s3cret:x", clock=lambda: now[0])
    assert guard("teacher", "s3cret:x")
    for _ in range(FREE_TRIES):
        assert not guard("teacher", "guess")
    assert guard.locked_for("teacher") == FIRST_LOCK_S
    # Locked: even the right password is refused, as a lock-out (not as a wrong password), and counted.
    with pytest.raises(LoginLocked, match=f"locked, retry in {2 * FIRST_LOCK_S:g} s") as locked:
        guard("teacher", "s3cret:x")
    assert locked.value.seconds == 2 * FIRST_LOCK_S and guard.failures("teacher") == FREE_TRIES + 1
    with pytest.raises(LoginLocked, match=f"retry in {4 * FIRST_LOCK_S:g} s"):  # a wrong one during it, too
        guard("teacher", "guess2")
    assert guard.failures("teacher") == FREE_TRIES + 2 and guard.locked_for("teacher") == 4 * FIRST_LOCK_S
    now[0] += 4 * FIRST_LOCK_S
    assert not guard("teacher", "guess3")  # after the lock: checked, wrong, and the next lock twice as long again
    assert guard.locked_for("teacher") == 8 * FIRST_LOCK_S
    now[0] += 8 * FIRST_LOCK_S
    assert guard("teacher", "s3cret:x") and guard.locked_for("teacher") == 0 and guard.failures("teacher") == 0
    assert not guard("student", "s3cret:x")  # the wrong name is a failure too


def test_model_too_large_for_a_checkpoint_is_refused_before_building(runs_dir):
    # A tiny crafted checkpoint that names a huge model: refused from its name, before any weight exists.
    from visualizer.checkpoint import CheckpointError, model_from_checkpoint

    path = runs_dir / "crafted" / "last.pt"
    path.parent.mkdir(parents=True)
    ckpt = make_checkpoint(
        model_name="vgg:4,M",
        class_names=zoo.CIFAR10_CLASSES,
        model=zoo.create_model("vgg:4,M"),
        optimizer=None,
        config={},
        epoch=1,
        step=1,
    )
    ckpt["model_name"] = "vgg:4096,4096,4096,4096,4096,4096,4096,4096,4096,4096,4096,4096"
    torch.save(ckpt, path)
    assert path.stat().st_size < 100_000
    with pytest.raises(CheckpointError, match="limit of 200 M"):
        model_from_checkpoint(path)
