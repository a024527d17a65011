"""A real browser at 1400×1000 and at a projector's 1024×768 on the real server: VGG-16, AlexNet and ResNet-18 drawn
within their column with no text under 11 px on screen, the share line visible without scrolling, the Lesson tab's
five steps each showing its view and checking a right and a wrong answer, and presentation mode (``?present=1``
and the toggle).

Screenshots go to the test's temp dir (``CNNVIZ_SCREENSHOTS=docs``: ``docs/``). Every wait is on a condition.
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import CHROMIUM

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (apt-get install -y chromium)"
)
WAIT = 240_000  # ms: a forward pass on a loaded 2-core machine
SIZES = [(1400, 1000), (1024, 768)]
# Right answers worked out by hand (as in tests/test_views_lesson.py), in the steps' order.
RIGHT = ["112", "73,856", "23296", "8192", "51"]

# The diagram's box within its column, and its smallest text as drawn on screen (font size × the SVG's scale).
MEASURE_JS = """
(root) => {
  const column = root.querySelector('.diagram-scroll').getBoundingClientRect();
  const out = {column: [column.left, column.right], svgs: [], smallest: 1e9};
  for (const svg of root.querySelectorAll('svg.cnn-diagram, svg.cnn-bars')) {
    const box = svg.getBoundingClientRect();
    const scale = box.width / svg.viewBox.baseVal.width;
    out.svgs.push([box.left, box.right]);
    for (const t of svg.querySelectorAll('text')) {
      out.smallest = Math.min(out.smallest, parseFloat(t.getAttribute('font-size')) * scale);
    }
  }
  const share = root.querySelector('.share-line').getBoundingClientRect();
  out.share = [share.top, share.bottom, window.innerHeight, window.scrollY];
  return out;
}
"""


def _open(browser, server_url, size, query=""):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(WAIT)
    page.goto(server_url + query)
    return context, page


def _fits(page, root: str) -> dict:
    m = page.locator(root).evaluate(MEASURE_JS)
    left, right = m["column"]
    for svg_left, svg_right in m["svgs"]:
        assert left - 0.5 <= svg_left and svg_right <= right + 0.5, (m, "drawing wider than its column")
    assert m["smallest"] >= 11 - 0.05, m
    top, bottom, height, scrolled = m["share"]
    assert scrolled == 0 and top >= 0 and bottom <= height, (m, "share line not visible without scrolling")
    return m


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_diagrams_fit_their_column_with_text_of_11_px_and_the_share_line_in_view(browser, server_url, shots, size):
    context, page = _open(browser, server_url, size)
    page.get_by_role("tab", name="Architecture").click()
    for model in ("vgg16", "alexnet", "resnet18"):
        if model != "vgg16":
            page.get_by_label("Model").first.click()
            page.get_by_role("option", name=model, exact=True).click()
        page.locator(f'#arch-diagram svg.cnn-diagram[aria-label^="{model} "]').wait_for()
        page.evaluate("window.scrollTo(0, 0)")
        _fits(page, "#arch-diagram")
        if model == "vgg16":  # the three FC boxes are on screen without a sideways scroll
            for key in ("classifier.0", "classifier.3", "classifier.6"):
                box = page.locator(f'#arch-diagram [data-layer="{key}"]').bounding_box()
                assert box["x"] + box["width"] <= size[0], key
            assert page.locator("#arch-diagram .share-line").get_by_text("FC 89 % of the weights").is_visible()
        page.screenshot(path=str(shots / f"architecture-{model}-{size[0]}.png"))
    context.close()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_lesson_steps_show_their_views_and_check_answers(browser, server_url, shots, size):
    context, page = _open(browser, server_url, size)
    assert page.get_by_role("tab", name="Lesson").get_attribute("aria-selected") == "true"  # the first tab, open
    markup = ["svg.cnn-diagram", "table[data-view=stacks]", "svg.cnn-diagram", "g.skip.projection", "img.lesson-img"]
    for index, (right, view) in enumerate(zip(RIGHT, markup)):
        page.locator(f"#lesson-text h3:has-text('Step {index + 1} of 5')").wait_for()
        page.locator(f"#lesson-view {view}").first.wait_for()
        if "svg" in view or "g.skip" in view:
            page.evaluate("window.scrollTo(0, 0)")
            _fits(page, "#lesson-view")
        answer = page.locator("#lesson-answer textarea, #lesson-answer input").first
        answer.fill("7")
        page.locator("#lesson-check").click()
        page.locator("#lesson-feedback .lesson-wrong").get_by_text(re.compile("Hint: work it out")).wait_for()
        assert "= ?" in page.locator("#lesson-feedback").inner_text()
        answer.fill(right)
        answer.press("Enter")
        page.locator("#lesson-feedback .lesson-right").wait_for()
        page.screenshot(path=str(shots / f"lesson-{index + 1}-{size[0]}.png"))
        page.locator("#lesson-next").click()
    page.locator("#lesson-text h3:has-text('Step 1 of 5')").wait_for()  # after the last step, the first again
    # "Open in its tab": step 3 opens the Architecture tab on AlexNet.
    page.locator("#lesson-steps").get_by_text("3", exact=True).click()
    page.locator("#lesson-text h3:has-text('Step 3 of 5')").wait_for()
    page.locator("#lesson-open").click()
    page.locator('#arch-diagram svg.cnn-diagram[aria-label^="alexnet "]').wait_for()
    assert page.get_by_role("tab", name="Architecture").get_attribute("aria-selected") == "true"
    context.close()


def test_presentation_mode_from_the_address_and_the_toggle(browser, server_url, shots):
    context, page = _open(browser, server_url, (1024, 768), "?present=1")
    page.locator("#lesson-view svg.cnn-diagram").wait_for()
    assert page.evaluate("document.documentElement.classList.contains('cnnviz-present')")
    paragraph = page.locator("#lesson-text p").first
    big = float(paragraph.evaluate("p => parseFloat(getComputedStyle(p).fontSize)"))
    page.screenshot(path=str(shots / "lesson-present-1024.png"))
    page.locator("#present-toggle").click()
    page.wait_for_function("() => !document.documentElement.classList.contains('cnnviz-present')")
    assert "present" not in page.url
    small = float(paragraph.evaluate("p => parseFloat(getComputedStyle(p).fontSize)"))
    assert big >= 1.2 * small  # larger type for a projector
    page.locator("#present-toggle").click()
    page.wait_for_function("() => document.documentElement.classList.contains('cnnviz-present')")
    assert "present=1" in page.url
    context.close()
