"""A real browser (Debian's Chromium driven by Playwright) on the real server: the architecture diagram and its
linked views, compare stacks, start and stop a short `shapes` run and watch the curve update, feature maps.

Screenshots go to the test's temp dir; with ``CNNVIZ_SCREENSHOTS=docs`` they refresh the README's
images in ``docs/``.
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import CHROMIUM

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (apt-get install -y chromium)"
)


def test_page_opens_with_vgg16_analysed(page, shots):
    # The page is useful before any click: VGG-16 at 224×224 is analysed and drawn on load.
    page.get_by_text("138,357,544").first.wait_for()
    page.get_by_text("features.0", exact=True).first.wait_for()
    page.locator('#arch-diagram [data-layer="features.28"]').wait_for()
    page.locator("#arch-diagram svg.cnn-bars").wait_for()
    page.wait_for_timeout(500)
    page.locator("#arch-diagram").screenshot(path=str(shots / "diagram-vgg16.png"))


def test_the_downloads_are_links_that_save_the_files(page, shots):
    # The table and the diagram of the analysis on the page, each saved under its own name (ui.downloads.links).
    links = page.locator("#arch-downloads a[download]")
    links.first.wait_for()
    assert links.count() == 4
    page.locator("#arch-downloads").scroll_into_view_if_needed()
    page.locator("#arch-downloads").screenshot(path=str(shots / "downloads.png"))
    with page.expect_download() as saved:
        page.locator("#arch-downloads a[download$='.csv']").click()
    download = saved.value
    assert download.suggested_filename == "vgg16_3x224x224.csv"
    with open(download.path(), encoding="utf-8") as f:
        lines = f.read().splitlines()
    # a row per VGG-16 layer call: 13 convs, 15 ReLUs, 5 pools, avgpool, 3 linears, 2 dropouts
    assert lines[0].startswith("#,Layer,Type,Output shape") and len(lines) == 1 + 39
    page.locator("#arch-diagram").scroll_into_view_if_needed()


def test_click_a_box_selects_its_layer_everywhere(page, shots):
    page.locator('#arch-diagram [data-layer="features.10"]').click()
    card = page.locator("#layer-details")
    card.get_by_text("features.10").first.wait_for()
    # Its own numbers in the formulas: 128·256·3·3 + 256 parameters; receptive field 16 + 2·4 = 24.
    card.get_by_text("128 · 256 · 3 · 3 + 256 = 295,168").wait_for()
    card.get_by_text("16 + (3 − 1)·1·4 = 24").wait_for()
    assert page.locator("#arch-diagram .selected[data-layer]").get_attribute("data-layer") == "features.10"
    # The table row of that layer is highlighted (the styled row's cells carry the highlight colour).
    row_cell = page.locator('#arch-table [data-testid="cell-10-1"]')  # row 10, column "Layer"
    row_cell.get_by_text("features.10", exact=True).wait_for()
    colour = row_cell.evaluate("c => getComputedStyle(c).backgroundColor || ''")
    assert colour.replace(" ", "") in ("rgb(255,232,204)", "rgba(255,232,204,1)"), colour
    page.screenshot(path=str(shots / "architecture.png"), full_page=True)


def test_resnet18_diagram_shows_its_shortcuts_and_maps_through_an_image(page, shots):
    page.get_by_label("Model").first.click()
    page.get_by_role("option", name="resnet18", exact=True).click()
    page.locator('#arch-diagram [data-layer="layer4.1.conv2"]').wait_for()
    assert page.locator("#arch-diagram g.skip").count() == 8
    assert page.locator("#arch-diagram g.skip.projection").count() == 3
    page.wait_for_timeout(300)
    page.locator("#arch-diagram").screenshot(path=str(shots / "diagram-resnet18.png"))
    # An example image, then a click on a box: that layer's maps and a receptive field on the image.
    page.locator("button.gallery-item:visible").first.click()
    page.locator('#arch-diagram [data-layer="layer2.0.conv1"]').click()
    page.locator("#arch-maps-info").get_by_text(re.compile(r"maps of layer2\.0\.conv1")).wait_for()
    # The drawing wraps to rows, so the maps sit further down: bring them on screen (their images load lazily).
    page.locator("#arch-maps").scroll_into_view_if_needed()
    page.locator("#arch-maps img").first.wait_for()
    page.locator("#arch-rf").scroll_into_view_if_needed()
    page.locator("#arch-rf img").first.wait_for()


def test_analyse_another_model(page):
    # Picking a model from the list switches to its design size (32×32 here) and analyses it.
    page.get_by_label("Model").first.click()
    page.get_by_role("option", name="resnet18_cifar", exact=True).click()
    page.get_by_text("11,173,962").first.wait_for()  # CIFAR ResNet-18's parameter count
    assert page.get_by_label(re.compile("^Input size")).first.input_value() == "3x32x32"
    page.get_by_text("layer1.0.conv1", exact=True).first.wait_for()


def test_stacks_tab(page, shots):
    page.get_by_role("tab", name="3×3 vs 5×5").click()
    page.get_by_text(re.compile("18 instead of 25 weights")).wait_for()
    page.screenshot(path=str(shots / "stacks.png"))


@pytest.mark.slow
def test_training_curve_updates_then_stop(page, shots):
    page.get_by_role("tab", name="Training").click()
    page.get_by_label("Epochs").fill("2")
    page.get_by_label("Batch size").fill("50")
    page.get_by_label(re.compile("Training images")).fill("3000")
    page.get_by_role("button", name="Start").click()
    progress = page.locator("#train-progress")
    progress.get_by_text("running", exact=True).wait_for()  # (an earlier run's "finished" line is replaced)
    step_text = re.compile(r"step (\d+)/")
    page.wait_for_function("sel => /step \\d+\\//.test(document.querySelector(sel).innerText)", arg="#train-progress")

    def step() -> int:
        m = step_text.search(progress.inner_text())
        return int(m.group(1)) if m else -1

    first = step()
    page.wait_for_function(
        "([sel, first]) => { const m = document.querySelector(sel).innerText.match(/step (\\d+)\\//);"
        " return m && parseInt(m[1]) > first; }",
        arg=["#train-progress", first],
        timeout=60_000,
    )
    assert step() > first  # the timer keeps refreshing while the run is active
    page.locator("#loss-plot canvas, #loss-plot svg").first.wait_for()
    if os.environ.get("CNNVIZ_SCREENSHOTS") == "docs":  # the README's picture: wait for the first test point
        page.wait_for_function(
            "sel => /epoch 2\\//.test(document.querySelector(sel).innerText)", arg="#train-progress", timeout=120_000
        )
        page.wait_for_timeout(3000)
    page.screenshot(path=str(shots / "training.png"), full_page=True)
    page.get_by_role("button", name="Stop").click()
    progress.get_by_text("stopped", exact=True).wait_for()


def test_feature_maps_tab(page, shots):
    page.get_by_role("tab", name="Feature maps").click()
    page.locator("button.gallery-item:visible").first.click()
    page.get_by_role("button", name="Show feature maps").click()
    page.get_by_text("showing the top").wait_for()
    # Click inside the first map of the grid (tiles start a few pixels in, below their label): the clicked
    # unit's receptive field is drawn on the input and described.
    grid = page.locator("#feature-grid img").first
    page.wait_for_function(
        "() => { const i = document.querySelector('#feature-grid img'); return i && i.complete && i.naturalWidth > 0; }"
    )
    described = page.locator("#rf-info").get_by_text(re.compile(r"Channel \d+: .* receptive field \d+×\d+"))
    for _ in range(3):  # the image may be swapped for its loaded copy right after it appears: click again then
        box = grid.bounding_box()
        grid.click(position={"x": box["width"] * 0.15, "y": box["height"] * 0.15})
        try:
            described.wait_for(timeout=20_000)
            break
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; the last try's failure is the assert below
            continue
    described.wait_for(timeout=5_000)
    page.locator("#rf-overlay img").first.wait_for()
    page.screenshot(path=str(shots / "features.png"), full_page=True)


PICTURE_LOADS = (
    "() => performance.getEntriesByType('resource').filter(e => e.name.includes('/cnnviz-images/'))"
    ".map(e => ({name: e.name, bytes: e.transferSize}))"
)
GRID_LOADED = (
    "() => { const i = document.querySelector('#feature-grid img'); return i && i.complete && i.naturalWidth > 0; }"
)


def test_a_picture_seen_once_comes_from_the_browsers_cache(browser, server_url):
    # Two pages of one browser open the Feature maps tab (its first look: the first example photo's maps): the second
    # page's pictures (the same files, named by their content) come from the browser's HTTP cache, not the server
    # (``ui.cached_pictures``; without its header Chromium downloads all five again: ~300 KB).
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    try:
        loads = []
        for _ in range(2):
            page = context.new_page()
            page.set_default_timeout(90_000)
            page.goto(server_url)
            page.get_by_role("tab", name="Feature maps").click()
            page.wait_for_function(GRID_LOADED)
            page.wait_for_timeout(1000)  # the other pictures of the answer
            loads.append(page.evaluate(PICTURE_LOADS))
        first, second = loads
        assert len(first) >= 4 and all(load["bytes"] > 1000 for load in first), first  # downloaded
        assert {load["name"] for load in second} == {load["name"] for load in first}
        assert all(load["bytes"] == 0 for load in second), second  # from the cache
    finally:
        context.close()


def test_compare_tab(page, shots):
    page.get_by_role("tab", name="Compare").click()
    page.get_by_role("button", name="Compare").click()
    page.get_by_text("61100840").first.wait_for()  # AlexNet's parameter count in the table
    page.screenshot(path=str(shots / "compare.png"))


def test_language_switch_to_korean(page):
    # Gradio's own Settings panel switches the page language (our EN/KO texts through gr.I18n). Gradio 6.31
    # re-labels only the selected tab on a switch; the other tabs follow on reload (next test).
    page.get_by_text("Settings").last.click()
    page.get_by_label("Language").click()
    page.get_by_role("option", name="한국어").click()
    page.keyboard.press("Escape")
    page.get_by_role("tab", name="비교").wait_for()  # the Compare tab, selected by the earlier test


def test_korean_browser_gets_korean_page(page, server_url, shots):
    context = page.context.browser.new_context(viewport={"width": 1400, "height": 1000}, locale="ko-KR")
    korean = context.new_page()
    korean.goto(server_url)
    korean.get_by_role("tab", name="구조").wait_for()
    assert korean.get_by_role("tab").all_inner_texts() == ["수업", "구조", "3×3 대 5×5", "특징 맵", "학습", "비교"]
    korean.get_by_role("tab", name="구조").click()
    korean.get_by_text("138,357,544").first.wait_for()
    # The details card's text follows the page language too.
    korean.locator('#arch-diagram [data-layer="features.0"]').click()
    korean.locator("#layer-details").get_by_text("파라미터", exact=True).wait_for()
    assert not korean.locator("#layer-details").get_by_text("parameters", exact=True).is_visible()
    korean.get_by_role("tab", name="3×3 대 5×5").click()
    korean.get_by_text("왜 3×3 합성곱을 쌓을까?").wait_for()
    korean.screenshot(path=str(shots / "korean.png"))
    context.close()
