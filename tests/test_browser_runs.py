"""Runs side by side in a real browser: two runs queued through the API train one after another, then both are
overlaid on one chart of the Training tab (one line per run) and the table highlights what differs between them.

The server is shared by the session (one run at a time); the test waits for its two runs to end. With
``CNNVIZ_SCREENSHOTS=docs`` it refreshes ``docs/training_runs.png``; else the picture goes to /tmp/runs/ (or the
test's temp dir).
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
from conftest import CHROMIUM
from gradio_client import Client

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (apt-get install -y chromium)"
)

TINY_VGG = "vgg_bn:16,M,32,M,64,M"
DOCS = os.environ.get("CNNVIZ_SCREENSHOTS") == "docs"
# (model, batch): two tiny runs on shapes, 2 epochs of 96 images; for the docs picture one network at two batch sizes,
# 3 epochs of 960 images at lr 1e-3, long enough to learn something (about 35 % after 3 epochs, a few minutes)
RUNS = [(TINY_VGG, 16), (TINY_VGG, 64)] if DOCS else [(TINY_VGG, 16), ("alexnet_cifar", 32)]
EPOCHS, IMAGES, LR = (3, 960, 1e-3) if DOCS else (2, 96, None)


def _queue_two_runs(server_url: str) -> list[int]:
    """The two runs of ``RUNS`` on shapes, trained one after another; their ids."""
    client = Client(server_url, verbose=False)
    before = {r["id"] for r in client.predict(api_name="/train_runs")}
    for model, batch in RUNS:
        queue = client.predict([model], "shapes", "dataset", EPOCHS, batch, LR, IMAGES, api_name="/train_queue")
        assert queue == [] or queue[-1]["model"] == model  # the first starts at once
    deadline = time.monotonic() + (900 if DOCS else 240)
    while True:
        rows = [r for r in client.predict(api_name="/train_runs") if r["id"] not in before]
        if len(rows) == 2 and all(r["status"] == "finished" for r in rows):
            break
        assert time.monotonic() < deadline, rows
        time.sleep(1)
    ids = sorted(r["id"] for r in rows)
    curves = client.predict(ids, "images", api_name="/train_compare")
    # each run's own points: 2 epochs of 96 images, in 6 batches of 16 or 3 of 32
    assert [[(e["step"], e["images"]) for e in c["epochs"]] for c in curves] == [
        [(6, 96), (12, 192)],
        [(3, 96), (6, 192)],
    ]
    return ids


@pytest.mark.slow
def test_two_finished_runs_overlaid_on_one_chart(page, server_url, shots):
    ids = _queue_two_runs(server_url)
    page.reload()
    page.get_by_role("tab", name="Training").click()
    table = page.locator("#runs-table")
    table.get_by_text(RUNS[-1][0]).first.wait_for()
    # the recipes differ in the batch size: highlighted, in the page's language
    assert table.locator("b.differs").get_by_text(re.compile("batch")).count() >= 1

    pick = page.locator("#runs-pick")
    for run_id in ids:
        label = pick.get_by_text(re.compile(rf"^#{run_id} "))
        if not label.locator("..").locator("input").is_checked():
            label.click()
            # at a person's pace: Gradio 6.31 draws a chart asynchronously, and of two redraws begun within one
            # drawing, the first can finish last and stay on screen
            page.wait_for_timeout(1500)
    # one line per run, named in the legend (Vega draws it as SVG text)
    labels = [f"#{run_id} {model}" for run_id, (model, _) in zip(ids, RUNS)]
    page.wait_for_function(
        "(labels) => { const l = document.querySelector('#runs-acc-plot .role-legend');"
        " return l && labels.every((t) => l.textContent.includes(t)); }",
        arg=labels,
        timeout=30_000,
    )
    assert page.locator("#runs-acc-plot g.mark-line path").count() == 2  # two lines drawn
    folder = shots if DOCS else Path(os.environ.get("CNNVIZ_SHOTS", shots))
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1024, "height": 768})  # a classroom projector
    page.locator("#runs-table").evaluate("e => e.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1000)  # let the charts draw at the new width
    page.screenshot(path=str(folder / "training_runs.png"))
