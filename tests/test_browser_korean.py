"""A real browser in Korean walks every tab and finds no English sentence; the page's own language picker and
``?lang=ko`` switch the whole page; every tab opens showing its view.

"An English sentence" (``english_sentences``): three or more Latin-script words in a row, each of two letters or
more, none of them a name, a unit or a term the Korean text keeps as it is (``KEPT``, class names too). A token
with a digit, a dot, an underscore, a colon, a symbol like × or any Hangul is not a word (a number, a layer name
like ``features.0``, code, Korean) and ends the run; so does an element boundary. Text in ``code`` and ``pre``,
hidden text (the other half of bilingual HTML) and the inputs' own values (a model's name in its box) are not
looked at. Every wait is on a condition, never a fixed sleep (the machine is shared).

Screenshots go to the test's temp dir (``CNNVIZ_SCREENSHOTS=docs``: ``docs/``).
"""

from __future__ import annotations

import os
import re
import time

import pytest
import torchvision
from conftest import CHROMIUM

from visualizer.datasets import SHAPES_CLASSES
from zoo import CIFAR10_CLASSES

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (apt-get install -y chromium)"
)
WAIT = 120_000  # ms: a loaded 2-core machine
FILLED_WITHIN_S = 10
TABS = ["lesson", "arch", "stacks", "features", "train", "compare"]  # the tabs' ids, in page order

# Names, units and terms that Korean text keeps in Latin script (the course notes do too).
KEPT_TEXT = """vgg alexnet resnet pytorch torchvision torchinfo forward hook imagenet cifar batchnorm grad-cam adam sgd
    macs mac conv fc flatten stride padding dilation kernel shortcut bottleneck basic ceil fp32 float32
    px mib kib gib mb gb rgb gpu cpu api eta top-1 top-5 auto random checkpoint mean max channel shared
    viridis magma inferno gray coolwarm jet shapes constant cosine onecycle live
    conv2d relu maxpool2d linear dropout adaptiveavgpool2d batchnorm2d sequential identity avgpool
    simonyan zisserman krizhevsky sutskever hinton he zhang ren sun et al"""
KEPT = set(KEPT_TEXT.split())
# Class names are names (the dataset's own words): each, whole, ends a sentence like a number does.
CLASS_NAMES = sorted(
    {*torchvision.models.VGG16_Weights.IMAGENET1K_V1.meta["categories"], *CIFAR10_CLASSES, *SHAPES_CLASSES},
    key=len,
    reverse=True,
)
CLASS_NAME = re.compile(r"\b(" + "|".join(re.escape(n) for n in CLASS_NAMES) + r")\b")
HANGUL = re.compile(r"[\uac00-\ud7a3]")
WORD = re.compile(r"^[\"'(\[“‘]*([A-Za-z][A-Za-z'’-]*[A-Za-z])[\"')\].,;:!?”’…]*$")

# The page's visible text, one string per element (an element boundary ends a sentence), without code.
VISIBLE_TEXT_JS = """
() => {
  const groups = new Map();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    const text = node.nodeValue.trim();
    if (!el || !text || el.closest('code, pre, script, style, textarea, title, #lang-probe')) continue;
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const block = el.closest('text, p, li, td, th, h1, h2, h3, h4, h5, h6, label, button, span[data-testid], div');
    groups.set(block, (groups.get(block) || '') + ' ' + text);
  }
  return [...groups.values()].map((t) => t.trim());
}
"""


LETTER = re.compile(r"^[\"'(“‘]*[A-Za-z][\"')”’.,;:!?]*$")  # "a", "I": inside a sentence, not one by themselves


def english_sentences(texts: list[str]) -> list[str]:
    """Every run of three or more Latin-script words (not names, units or kept terms) in ``texts``."""
    found = []
    for text in texts:
        run: list[str] = []
        words = 0
        for token in CLASS_NAME.sub(" ¦ ", text).split() + [""]:
            m = WORD.match(token)
            word = m.group(1).lower() if m else None
            if word and word not in KEPT:
                run.append(token)
                words += 1
            elif run and (word or LETTER.match(token)):  # a kept term or "a" inside an English run continues it
                run.append(token)
            else:
                if words >= 3:
                    found.append(" ".join(run))
                run, words = [], 0
    return found


def test_the_sentence_finder():
    # Independent of the page: what counts as an English sentence and what does not.
    assert english_sentences(["2 × 3×3 conv sees 5×5, the same as 1 × 5×5 conv"]) == ["the same as"]
    assert english_sentences(["실제 PyTorch 모델의 forward hook으로 살펴보는 VGG, AlexNet, ResNet."]) == []
    assert english_sentences(["features.0 · Conv2d · 3×3 · MACs (torchinfo)", "black swan 클래스"]) == []
    assert english_sentences(["Click a box for its details"]) == ["Click a box for its details"]
    assert english_sentences(["채널 쌍당 가중치", "every layer"]) == []  # two words are a label, not a sentence


def open_page(browser, url: str, locale: str, width: int = 1400, height: int = 1000):
    context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
    page = context.new_page()
    page.set_default_timeout(WAIT)
    page.goto(url)
    page.locator("#lesson-view svg.cnn-diagram").wait_for()  # loaded: it opens on the Lesson, VGG-16 drawn
    return context, page


# What each tab shows once it is filled (a CSS selector that exists only then).
FILLED = {
    "lesson": "#lesson-view svg.cnn-diagram",
    "arch": "#arch-diagram svg.cnn-diagram",
    "stacks": "#stacks-summary p",
    "features": "#feature-grid img",
    "train": "#train-progress span",
    "compare": "#compare-table [data-testid='cell-0-0']",
}


# No event of the page is still running (Gradio shows a progress text or a bar on the outputs it will fill).
SETTLED_JS = """
() => ![...document.querySelectorAll('.progress-text, .eta-bar, .meta-text-center, .loader')]
  .some((e) => e.checkVisibility())
"""


def open_tab(page, tab: str) -> float:
    """Click the tab; seconds until its view is filled (then wait for every event it started to answer)."""
    started = time.monotonic()
    page.locator("[role=tab]").nth(TABS.index(tab)).click()
    page.locator(FILLED[tab]).first.wait_for(state="visible")
    seconds = time.monotonic() - started
    page.wait_for_function(SETTLED_JS)
    return seconds


def test_every_tab_in_korean_has_no_english_sentence(browser, server_url, shots):
    context, page = open_page(browser, server_url, "ko-KR")
    found = {}
    for tab in TABS:
        open_tab(page, tab)
        if tab == "arch":  # a clicked box: its card, its row highlighted
            page.locator('#arch-diagram [data-layer="features.10"]').click()
            page.locator("#layer-details").get_by_text("128 · 256 · 3 · 3 + 256 = 295,168").wait_for()
        if tab == "features":  # a clicked map: its unit's receptive field and computation
            grid = page.locator("#feature-grid img").first
            box = grid.bounding_box()
            grid.click(position={"x": box["width"] * 0.15, "y": box["height"] * 0.15})
            page.locator("#rf-info").get_by_text(re.compile("채널 \\d+:")).wait_for()
            page.locator("#feature-unit-numbers h4").wait_for()
        page.wait_for_function(SETTLED_JS)
        page.screenshot(path=str(shots / f"ko-{tab}.png"), full_page=True)
        texts = page.evaluate(VISIBLE_TEXT_JS)
        # The walk reads the tab's own text: a good deal of Korean, from the tab's view too.
        assert sum(len(HANGUL.findall(text)) for text in texts) > 200, texts
        found[tab] = english_sentences(texts)
    context.close()
    print("English sentences on the Korean page:", found)
    assert not any(found.values()), found


def test_the_same_walk_in_english_finds_english(browser, server_url):
    # The finder sees the page: in English, the Architecture tab's hint and the Stacks tab's sentence are found.
    context, page = open_page(browser, server_url, "en-US")
    open_tab(page, "arch")
    arch = english_sentences(page.evaluate(VISIBLE_TEXT_JS))
    open_tab(page, "stacks")
    stacks = english_sentences(page.evaluate(VISIBLE_TEXT_JS))
    context.close()
    assert any("Click a box for its details" in s for s in arch), arch
    assert any("the same as" in s for s in stacks), stacks


def test_the_language_picker_switches_the_whole_page(browser, server_url):
    context, page = open_page(browser, server_url, "en-US")
    assert page.locator("[role=tab]").first.inner_text() == "Lesson"
    open_tab(page, "arch")
    page.locator("#lang-picker").get_by_text("한국어").click()
    # Gradio's labels (every tab's button, opened or not), the bilingual HTML and the table's headers.
    page.wait_for_function(
        "() => [...document.querySelectorAll('[role=tab]')].map(t => t.innerText).join('|') === "
        "'수업|구조|3×3 대 5×5|특징 맵|학습|비교'"
    )
    page.locator("#arch-table").get_by_text("수용 영역", exact=True).first.wait_for()
    page.locator("#arch-diagram .diagram-hint .ko").wait_for(state="visible")
    assert "lang=ko" in page.url
    page.locator("#lang-picker").get_by_text("EN").click()
    page.locator("#arch-table").get_by_text("Receptive field", exact=True).first.wait_for()
    assert page.locator("[role=tab]").first.inner_text() == "Lesson"
    context.close()


def test_lang_in_the_address_asks_for_korean(browser, server_url):
    context, page = open_page(browser, server_url + "?lang=ko", "en-US")
    open_tab(page, "arch")
    page.locator("#arch-table").get_by_text("수용 영역", exact=True).first.wait_for()
    page.wait_for_function("() => document.querySelector('[role=tab]').innerText === '수업'")
    assert page.locator("#lang-picker input[value=ko]").is_checked()
    context.close()


@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
def test_every_tab_opens_filled_at_1024(browser, server_url, shots, locale):
    context, page = open_page(browser, server_url, locale, 1024, 768)
    page.screenshot(path=str(shots / f"first-{locale[:2]}-lesson-1024.png"))
    seconds = {}
    for tab in TABS[1:]:
        seconds[tab] = open_tab(page, tab)
        if tab == "features":
            # Its primary button is on screen without scrolling.
            box = page.locator("#features-show").bounding_box()
            assert box and box["y"] >= 0 and box["y"] + box["height"] <= 768, box
        page.screenshot(path=str(shots / f"first-{locale[:2]}-{tab}-1024.png"))
    context.close()
    print("seconds until filled:", seconds)
    assert all(s <= FILLED_WITHIN_S for s in seconds.values()), seconds


def test_a_refusal_is_said_under_the_pickers_in_the_pages_language(browser, server_url, shots):
    # The page's analyses and comparisons answer outside the queue, where Gradio pops nothing up: the refusal is
    # said in the tab's slot (handlers.said_beside), in Korean, and what the tab showed stays.
    context, page = open_page(browser, server_url, "ko-KR", 1024, 768)
    open_tab(page, "arch")
    page.locator("#arch-diagram svg").first.wait_for()
    assert page.locator("#arch-said").is_hidden()  # an empty slot takes no room
    box = page.get_by_label("모델").first
    box.fill("nope")
    box.press("Enter")
    page.get_by_role("button", name="분석").click()
    said = page.locator("#arch-said .said-in-place")
    said.get_by_text(re.compile("알 수 없는 모델 'nope'; 쓸 수 있는 이름: alexnet")).wait_for()
    assert not said.get_by_text("unknown model").first.is_visible()
    assert page.locator("#arch-diagram svg").first.is_visible()  # the drawing shown before stays
    assert page.get_by_text("Error", exact=True).count() == 0  # no red badge on the panels
    box = said.bounding_box()
    assert box and box["y"] + box["height"] <= 768, box  # under the pickers, on screen at a projector's size
    page.screenshot(path=str(shots / "refusal-ko-arch-1024.png"))
    box = page.get_by_label("모델").first
    box.fill("vgg16")
    box.press("Enter")
    page.get_by_role("button", name="분석").click()
    said.wait_for(state="detached")  # the next answer empties the slot
    page.locator("#arch-said").wait_for(state="hidden")
    context.close()
