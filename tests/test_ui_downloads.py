"""``visualizer.ui.downloads``: a checkpoint handed to Gradio N times leaves at most one file in Gradio's cache dir,
through Gradio's own reply path (``Blocks.process_api``), and none once its run is pruned."""

from __future__ import annotations

import asyncio
import os
import re
import time
import urllib.parse

import gradio as gr
import pytest
from gradio import processing_utils

import zoo
from visualizer import budgets
from visualizer.background import get_trainer
from visualizer.budgets import runs
from visualizer.checkpoint import make_checkpoint, save_checkpoint
from visualizer.training import TrainConfig
from visualizer.ui import training as training_ui
from visualizer.ui.architecture import analyze_ui
from visualizer.ui.downloads import CHECKPOINTS, EXPORTS, Shelf


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """Gradio's cache dir for this test (Blocks read GRADIO_TEMP_DIR when they are made)."""
    folder = tmp_path / "gradio-cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(folder))
    return folder


def files_in(folder) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def write_checkpoint(path, epoch: int) -> None:
    model = zoo.create_model("vgg:4,M")
    save_checkpoint(
        make_checkpoint(
            model_name="vgg:4,M",
            class_names=zoo.CIFAR10_CLASSES,
            model=model,
            optimizer=None,
            config={},
            epoch=epoch,
            step=epoch,
        ),
        path,
    )


def reply(demo: gr.Blocks) -> str:
    """One reply of ``demo``'s only event, as Gradio makes it for a browser: the file's path in the cache."""
    out = asyncio.run(demo.process_api(demo.fns[0], [], state=None))
    return out["data"][0]["path"]


def test_gradio_itself_keeps_a_copy_per_version_the_shelf_one_file(tmp_path, cache):
    ckpt = tmp_path / "runs" / "run-a" / "last.pt"
    shelf = Shelf()
    with gr.Blocks() as plain:  # what the page did: the checkpoint's own path in every status reply
        out = gr.File()
        gr.Button().click(lambda: str(ckpt), None, out)
    with gr.Blocks() as shelved:
        out = gr.File()
        gr.Button().click(lambda: shelf.shelve(ckpt), None, out)

    for epoch in (1, 2, 3):  # three epochs, each polled five times
        write_checkpoint(ckpt, epoch)
        time.sleep(0.01)  # a new mtime even on coarse clocks
        for _ in range(5):
            reply(plain)
    plain_copies = [f for f in files_in(cache) if f.endswith(".pt")]
    assert len(plain_copies) == 3  # Gradio's cache is by content: one copy per version, none ever removed

    for epoch in (4, 5, 6):
        write_checkpoint(ckpt, epoch)
        time.sleep(0.01)
        paths = {reply(shelved) for _ in range(5)}
        assert len(paths) == 1  # one file per version, and the same path for every poll of it
        (path,) = paths
        assert path.startswith(str(shelf.folder())) and path.endswith("run-a_last.pt")
        assert open(path, "rb").read() == ckpt.read_bytes()  # this version's bytes
        shelf_files = [f for f in files_in(cache) if f.startswith(str(shelf.folder()))]
        assert shelf_files == [path]  # the previous version's file is gone
    assert len([f for f in files_in(cache) if f.endswith(".pt")]) == 3 + 1  # Gradio made no copy of its own

    ckpt.unlink()  # as --keep-runs prunes a run
    assert shelf.shelve(None) is None
    assert [f for f in files_in(cache) if f.startswith(str(shelf.folder()))] == []


@pytest.mark.slow  # two short training runs
def test_status_polls_during_and_after_runs_leave_one_file_per_kept_checkpoint(tmp_path, cache, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS_DIR", str(tmp_path / "runs"))
    before = budgets.current()
    budgets.configure(keep_runs=1)
    trainer = get_trainer()
    with gr.Blocks() as page:  # the Training tab's status reply: its checkpoint output through Gradio
        out = gr.File()
        gr.Button().click(lambda: training_ui.status_ui()[5], None, out)

    def run_and_poll() -> set[str]:
        config = TrainConfig(
            model="vgg_bn:8,M,16,M", dataset="shapes", device="cpu", epochs=3, subset=160, test_subset=40, batch_size=32
        )
        trainer.start(config)
        seen = set()
        deadline = time.monotonic() + 120
        while trainer.status()["state"] in ("running", "paused") and time.monotonic() < deadline:
            out = asyncio.run(page.process_api(page.fns[0], [], state=None))["data"][0]
            if out:
                seen.add(out["path"])
            time.sleep(0.05)
        assert trainer.status()["state"] == "finished", trainer.status()
        for _ in range(10):
            seen.add(asyncio.run(page.process_api(page.fns[0], [], state=None))["data"][0]["path"])
        return seen

    try:
        first = run_and_poll()
        kept = [path for _, path in runs.checkpoints()]
        assert len(kept) == 1
        on_shelf = [f for f in files_in(cache) if f.endswith(".pt")]
        assert len(on_shelf) == 1 and open(on_shelf[0], "rb").read() == open(kept[0], "rb").read()
        assert len(first) <= 3  # one file per version it saw (three epochs), never one per poll

        time.sleep(1.1)  # the next run's folder gets a later name
        second = run_and_poll()
        assert len([f for f in files_in(cache) if f.endswith(".pt")]) == 2  # one per run, both still kept
        runs.prune(keep=1)  # as the next run's start does (--keep-runs 1): the first run's checkpoint goes
        asyncio.run(page.process_api(page.fns[0], [], state=None))  # one more status poll
        kept = [path for _, path in runs.checkpoints()]
        on_shelf = [f for f in files_in(cache) if f.endswith(".pt")]
        assert len(kept) == 1 and len(on_shelf) == 1
        assert open(on_shelf[0], "rb").read() == open(kept[0], "rb").read() and on_shelf[0] in second
        assert not any(os.path.exists(p) for p in first)  # the pruned run's file left the cache with it
    finally:
        budgets.configure(keep_runs=before.keep_runs)
        CHECKPOINTS.forget_missing()


def shelved_paths(links_html: str) -> list[str]:
    """The files an answer's download links name (``ui.downloads.links``)."""
    return [urllib.parse.unquote(href) for href in re.findall(r'href="gradio_api/file=([^"]+)"', links_html)]


def test_an_analysis_downloads_come_from_the_shelf_and_gradio_neither_hashes_nor_copies_them(cache, monkeypatch):
    calls = []
    real_hash = processing_utils.hash_file
    monkeypatch.setattr(processing_utils, "hash_file", lambda *a, **k: calls.append(a) or real_hash(*a, **k))
    with gr.Blocks() as page:
        files = gr.HTML()
        gr.Button().click(lambda: analyze_ui("alexnet_cifar", "3x32x32")[3], None, files, postprocess=False)
    answers = [asyncio.run(page.process_api(page.fns[0], [], state=None))["data"][0] for _ in range(5)]
    paths = [shelved_paths(answer) for answer in answers]
    assert all(p == paths[0] for p in paths) and len(paths[0]) == 4  # the same four files every time
    assert all(p.startswith(str(EXPORTS.folder())) for p in paths[0])
    assert sorted(os.path.basename(p).rsplit(".", 1)[1] for p in paths[0]) == ["csv", "md", "png", "svg"]
    assert calls == []  # Gradio hashed none of them (nor copied: nothing else is in its cache)
    assert sorted(files_in(cache)) == sorted(paths[0])
    for path in paths[0]:  # each saved under its own name, its size on the page
        name, size = os.path.basename(path), os.path.getsize(path)
        assert f'download="{name}"' in answers[0] and f"<code>{name}</code>" in answers[0]
        shown = f"{size} B" if size < 1024 else f"{size / 1024:.1f} KiB"  # the page's binary units
        assert f"<small>{shown}</small>" in answers[0]
    assert "the table, CSV" in answers[0] and "표, CSV" in answers[0] and "그림, PNG" in answers[0]


def test_a_replys_downloads_sweep_the_copies_of_deleted_sources_once_and_keep_the_rest(tmp_path, cache):
    shelf = Shelf(cache_dir=cache, name="exports", prefix_folder=False)
    sources = []
    for name in ("a.csv", "b.csv", "c.csv"):
        sources.append(tmp_path / name)
        sources[-1].write_text(name)
    first = shelf.shelve_all([str(p) for p in sources[:2]])
    assert [open(p).read() for p in first] == ["a.csv", "b.csv"] and all(p.startswith(str(cache)) for p in first)
    sources[0].unlink()  # its analysis folder pruned, say
    second = shelf.shelve_all([str(sources[1]), str(sources[2]), str(sources[0])])
    assert second[0] == first[1] and open(second[1]).read() == "c.csv"  # unchanged: the same copy; new: shelved
    assert len(second) == 2 and not os.path.exists(first[0])  # the deleted source's copy left the cache
    assert sorted(files_in(cache)) == sorted(second)
