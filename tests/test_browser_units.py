"""A real browser at a projector's 1024×768 on the real server: click a feature map and the unit's computation
opens, its numbers adding up on screen; ▶ moves it one unit along the map; the Architecture card explains the
selected layer's strongest unit and measures its effective receptive field; the same in Korean.

Screenshots go to the test's temp dir (``CNNVIZ_SCREENSHOTS=docs``: ``docs/``). Every wait is on a condition,
never a fixed sleep (the machine is shared).
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import CHROMIUM

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (apt-get install -y chromium)"
)
WAIT = 240_000  # ms: a forward pass of VGG-16 on a loaded 2-core machine
UNIT_LINE = re.compile(r"channel (\d+), row (\d+), column (\d+)")
UNIT_LINE_KO = re.compile(r"채널 (\d+), 행 (\d+), 열 (\d+)")


def projector(browser, server_url, locale):
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(WAIT)
    page.goto(server_url)
    page.get_by_role("tab", name=re.compile("Architecture|구조")).click()  # the page opens on the Lesson
    page.get_by_text("138,357,544").first.wait_for()  # the page has loaded (VGG-16 analysed)
    return context, page


def number(text: str) -> float:
    return float(text.strip().replace("−", "-"))


def numbers_add_up(panel) -> tuple[float, float]:
    """The panel's table: every part (bias, channels, the other channels) sums to the recomputed total as shown
    (each at 4 significant digits), and the total is the network's value. Returns (total, network's value)."""
    rows = panel.locator("table tr").all_inner_texts()
    cells = [r.split("\t") for r in rows if "\t" in r]
    values = {label.strip(): number(value) for label, value in cells}
    total = next(v for k, v in values.items() if "recomputed total" in k or "다시 계산한 합계" in k)
    network = next(v for k, v in values.items() if "network computed" in k or "네트워크가 계산한" in k)
    parts = [v for k, v in values.items() if not re.search(r"total|computed|difference|합계|계산한|차이", k)]
    rounding = sum(abs(v) for v in parts) * 5e-4 + 1e-3
    assert len(parts) >= 3 and abs(sum(parts) - total) <= rounding, (values, sum(parts))
    assert abs(total - network) <= 1e-3 * max(1.0, abs(network)), values
    return total, network


def show_feature_maps(page) -> None:
    page.get_by_role("tab", name=re.compile("Feature maps|특징 맵")).click()
    page.locator("button.gallery-item:visible").first.click()
    page.locator("input[value=random]:visible").first.check()
    page.get_by_role("button", name=re.compile("Show feature maps|특징 맵 보기")).click()
    # (the tab opens showing the first example already: wait for this click's answer, not that one)
    page.wait_for_function(
        "() => ![...document.querySelectorAll('.progress-text, .eta-bar')].some((e) => e.checkVisibility())"
    )
    # (the info line is bilingual: the half in the page's language is the visible one)
    page.locator("#feature-info span:visible").filter(
        has_text=re.compile(r"showing the top|상위 \d+개 채널")
    ).first.wait_for()
    page.wait_for_function(
        "() => { const i = document.querySelector('#feature-grid img'); return i && i.complete && i.naturalWidth > 0; }"
    )


def click_a_map(page, header: re.Pattern) -> None:
    grid = page.locator("#feature-grid img").first
    opened = page.locator("#feature-unit-numbers h4").filter(has_text=header)
    for _ in range(3):  # the grid may be swapped for its loaded copy right after it appears: click again then
        box = grid.bounding_box()
        grid.click(position={"x": box["width"] * 0.15, "y": box["height"] * 0.15})
        try:
            opened.wait_for(timeout=60_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; the last try fails below
            continue
    opened.wait_for(timeout=10_000)


def test_click_a_map_explains_the_unit_and_next_moves_it(browser, server_url, shots):
    context, page = projector(browser, server_url, "en-US")
    show_feature_maps(page)
    panel = page.locator("#feature-unit-numbers")
    click_a_map(page, UNIT_LINE)
    page.locator("#feature-unit-picture img").wait_for()
    channel, y, x = (int(v) for v in UNIT_LINE.search(panel.locator("h4").inner_text()).groups())
    numbers_add_up(panel)
    # The rf overlay of the same click names the same channel.
    page.locator("#rf-info").get_by_text(re.compile(rf"Channel {channel}:")).wait_for()
    page.locator("#feature-unit").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "unit-feature-maps-1024.png"))
    page.locator("#feature-unit").screenshot(path=str(shots / "unit-panel.png"))
    # ▶: the next unit along the row (the map is wider than the clicked column), its numbers adding up again,
    # and the slider one position on.
    slider = "#feature-unit-position input[type=number]"
    before = int(page.locator(slider).input_value())
    page.locator("#feature-unit-next").click()
    panel.locator("h4").filter(has_text=f"channel {channel}, row {y}, column {x + 1}").wait_for()
    numbers_add_up(panel)
    page.wait_for_function("([s, v]) => document.querySelector(s).value === v", arg=[slider, str(before + 1)])
    # ◀ comes back.
    page.locator("#feature-unit-back").click()
    panel.locator("h4").filter(has_text=f"channel {channel}, row {y}, column {x}").wait_for()
    numbers_add_up(panel)
    context.close()


def test_the_architecture_card_explains_its_layer_and_measures_its_erf(browser, server_url, shots):
    context, page = projector(browser, server_url, "en-US")
    page.locator("button.gallery-item:visible").first.click()
    page.locator("input[value=random]:visible").first.check()
    page.locator('#arch-diagram [data-layer="features.10"]').click()
    panel = page.locator("#arch-unit-numbers")
    panel.locator("h4").filter(has_text=re.compile(r"features\.10 · Conv2d")).wait_for()
    numbers_add_up(panel)
    page.locator("#arch-erf-images input[type=number]").fill("2")
    page.locator("#arch-erf-images input[type=number]").press("Enter")
    page.locator("#arch-erf-button").click()
    page.locator("#arch-erf img").wait_for()
    table = page.locator("#arch-erf-numbers table")
    table.get_by_text("24×24").wait_for()  # the theoretical field of features.10, as the card works it out
    page.locator("#arch-inside").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "unit-architecture-1024.png"))
    page.locator("#arch-erf").screenshot(path=str(shots / "unit-architecture-erf.png"))
    context.close()


def test_the_unit_panel_in_korean(browser, server_url, shots):
    context, page = projector(browser, server_url, "ko-KR")
    show_feature_maps(page)
    click_a_map(page, UNIT_LINE_KO)
    panel = page.locator("#feature-unit-numbers")
    assert panel.get_by_text("다시 계산한 합계").is_visible()
    assert not panel.get_by_text("recomputed total").is_visible()
    numbers_add_up(panel)
    # (the picture is a lazy image: below the fold it stays unloaded, 0 px high, until scrolled to)
    page.locator("#feature-unit").scroll_into_view_if_needed()
    page.locator("#feature-unit-picture img").wait_for()
    page.screenshot(path=str(shots / "unit-feature-maps-1024-ko.png"))
    context.close()
