"""The Training tab in a real browser: the network's filters and a probe image's feature maps appear from step 0 and
refresh by themselves while a run learns; a kept epoch can be looked back at; the refresh button goes live again.

The server is shared by the session (one run at a time), so the test leaves no run active. With
``CNNVIZ_SCREENSHOTS=docs`` it runs the tab's defaults (the classroom demo) and refreshes ``docs/training_live.png``.
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import CHROMIUM

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (apt-get install -y chromium)"
)

DOCS = os.environ.get("CNNVIZ_SCREENSHOTS") == "docs"


def _wait_for_text(page, selector: str, pattern: str, timeout: int = 120_000) -> None:
    page.wait_for_function(
        "([sel, pat]) => new RegExp(pat).test(document.querySelector(sel).innerText)",
        arg=[selector, pattern],
        timeout=timeout,
    )


@pytest.mark.slow
def test_the_network_is_seen_learning(page, shots):
    page.get_by_role("tab", name="Training").click()
    progress, info = page.locator("#train-progress"), page.locator("#snapshot-info")
    if re.search(r"\*?\*?(running|paused)", progress.inner_text()):  # an earlier test's run: one at a time
        page.get_by_role("button", name="Stop").click()
        progress.get_by_text("stopped", exact=True).wait_for()
    if not DOCS:  # a short run (stopped once seen learning); the docs picture shows the tab's defaults
        page.get_by_label("Epochs").fill("2")
        # (long enough that the page sees a snapshot from before the first epoch's end: with the fused optimizer
        # 960 images could train both epochs before its first poll, and the first snapshot seen was the last)
        page.get_by_label(re.compile("Training images")).fill("6400")
    page.get_by_role("button", name="Start").click()
    try:
        # A snapshot of this run appears without any click, then is replaced by later ones as it learns.
        _wait_for_text(page, "#snapshot-info", r"step \d+")
        first_src = page.locator("#snapshot-filters img").first.get_attribute("src")
        # A later snapshot replaces it: other filters (whichever the page saw first: while a run trains in its own
        # process the page's answers come after its batches, and a loaded machine may show it an epoch late).
        page.wait_for_function(
            "first => { const i = document.querySelector('#snapshot-filters img'); return i && i.src !== first; }",
            arg=page.locator("#snapshot-filters img").first.evaluate("i => i.src"),
            timeout=120_000,
        )
        assert page.locator("#snapshot-filters img").first.get_attribute("src") != first_src
        _wait_for_text(page, "#snapshot-info", r"(during|after) epoch \d+/")
        # (lazy images: below the fold, as when the runs table above has grown, they load only once scrolled to)
        page.locator("#snapshot-maps").scroll_into_view_if_needed()
        page.locator("#snapshot-maps img").first.wait_for()
        page.locator("#snapshot-top3").get_by_text(re.compile(r"\d+%")).first.wait_for()
        assert re.search(r"probe: a test image of a \*?\*?\w+", info.inner_text().replace("\n", " "))

        # Look back at the start: the picker keeps epoch 0 (random weights) …
        page.locator("#snapshot-pick").get_by_text("0", exact=True).click()
        _wait_for_text(page, "#snapshot-info", r"before training \(random weights\), step 0")
        # … and the button asks the run for its latest weights, back to live.
        page.get_by_role("button", name="Refresh snapshot").click()
        _wait_for_text(page, "#snapshot-info", r"(after|during) epoch \d")
        if DOCS:
            _wait_for_text(page, "#snapshot-info", r"after epoch 2/", timeout=180_000)
            page.wait_for_timeout(1500)  # let the curves draw
        page.locator("#snapshot-info").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "training_live.png"), full_page=True)
    finally:
        if re.search(r"running|paused", progress.inner_text()):
            page.get_by_role("button", name="Stop").click()
            _wait_for_text(page, "#train-progress", r"stopped|finished", timeout=60_000)


def test_the_panel_speaks_korean(page, server_url):
    context = page.context.browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ko-KR")
    korean = context.new_page()
    try:
        korean.goto(server_url)
        korean.get_by_role("tab", name="학습").click()
        korean.get_by_text("학습하는 동안의 네트워크").wait_for()
        korean.get_by_role("button", name="스냅숏 새로 고침").wait_for()
        korean.locator("#snapshot-pick").get_by_text(
            "실시간", exact=True
        ).wait_for()  # the picker's "live", from the i18n keys
    finally:
        context.close()
