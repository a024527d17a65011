"""ImageNet weights brought to the page (issue 17), in a real browser at a projector's 1024×768: a file that is not
weights is one message in the info box with no error badge on the panels; torchvision's file for the picked model
is stored and the imagenet weights then show feature maps with no internet.

Screenshots go to the test's temp dir (``CNNVIZ_SHOTS_DIR`` to keep them elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torchvision
from conftest import CHROMIUM, FLAGS
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (apt-get install -y chromium)"
)

MODEL = "tv:squeezenet1_1"  # small (5 MB of weights), and a torchvision classifier: loaded by torchvision's builder
FILE = "squeezenet1_1-b8a52dc0.pth"  # the end of torchvision's URL for SqueezeNet1_1_Weights.IMAGENET1K_V1


@pytest.fixture(scope="module")
def projector(server_url):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_context(viewport={"width": 1024, "height": 768}, locale="en-US").new_page()
        page.set_default_timeout(60_000)
        page.goto(server_url)
        yield page
        browser.close()


@pytest.fixture(scope="module")
def shots_dir(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("CNNVIZ_SHOTS_DIR") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pick_model(page, name: str) -> None:
    box = page.get_by_label("Model", exact=True).filter(visible=True).first
    box.fill(name)
    box.press("Enter")


def test_a_bad_file_is_one_message_and_no_error_badges_then_the_right_file_works_offline(
    projector, shots_dir, tmp_path
):
    page = projector
    page.get_by_role("tab", name="Feature maps").click()
    page.locator("button.gallery-item:visible").first.click()
    pick_model(page, MODEL)
    upload = page.locator("#imagenet-upload")
    assert upload.is_visible() and "Upload ImageNet weights" in upload.inner_text()

    garbage = tmp_path / FILE
    garbage.write_bytes(b"half a download" * 1000)
    with page.expect_file_chooser() as chooser:
        upload.click()
    chooser.value.set_files(str(garbage))
    info = page.locator("#feature-info")
    message = info.get_by_text("not a PyTorch weights file that loads safely")
    message.wait_for()
    expect(message).to_be_in_viewport()  # scrolled to: at 1024×768 it is a screen above the button
    page.wait_for_timeout(500)
    assert page.get_by_text("Error", exact=True).count() == 0  # no red badge on any panel, no pop-up
    page.screenshot(path=str(shots_dir / "weights-refused-1024.png"))

    generator = torch.Generator().manual_seed(3)
    state = {
        k: torch.randn(v.shape, generator=generator) * 0.05
        for k, v in torchvision.models.squeezenet1_1(weights=None).state_dict().items()
    }
    good = tmp_path / "from the teacher's USB stick.pth"
    torch.save(state, good)
    with page.expect_file_chooser() as chooser:
        upload.click()
    chooser.value.set_files(str(good))
    info.get_by_text(f"{FILE}").first.wait_for()
    info.get_by_text("is now in this server's torch cache").wait_for()
    # The weights radio turned to the file just given.
    assert page.get_by_role("radio", name="imagenet").filter(visible=True).is_checked()
    page.get_by_role("button", name="Show feature maps").click()
    info.get_by_text("pretrained weights").wait_for()
    page.locator("#feature-grid img").first.wait_for()
    page.screenshot(path=str(shots_dir / "weights-stored-1024.png"))
