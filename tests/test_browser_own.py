"""Networks of your own in a real browser (Debian's Chromium driven by Playwright), issue 16.

``visualizer.show(VGG19())`` on the course notes' VGG-19, served by this process: every tab's picker starts on it,
its diagram has the module's 16 convs, a click on one fills the card with that layer's own numbers, and the
Feature-maps tab, on the module's current weights, gives the top-1 that calling the module gives.

``python app.py --model docs/examples/small_resnet.py:SmallResNet`` (a real server): the diagram's shortcuts and
projections are those counted from the module's blocks; the Training tab trains it one epoch on ``shapes`` and its
checkpoint loads again through ``--model`` + ``--weights``; a head that does not fit ``shapes`` is refused in one
line. Expected numbers come from the modules (their layers, their logits), never from the page.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import torch
from conftest import CHROMIUM, REPO, free_port
from torch import nn

import zoo
from visualizer import show
from visualizer.images import example_images, load_image, preprocess
from visualizer.user_models import ModelRequest, register_request
from visualizer.weight_sources import load_weights

pytestmark = pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (apt-get install -y chromium)"
)

EXAMPLES = REPO / "docs" / "examples"
FIXED_HEAD = """
import torch
from torch import nn


class FixedHead(nn.Module):  # an ImageNet-sized head that no argument changes
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 1000)

    def forward(self, x):
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(self.conv(x), 1), 1))
"""


def _example(file: str, module_name: str):
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLES / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _open(browser, url: str):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(90_000)
    page.goto(url)
    return context, page


def _visible(page, label: str | re.Pattern):
    return page.get_by_label(label).filter(visible=True).first  # each tab has its own "Model"


def _picker(page, tab: str) -> str:
    page.get_by_role("tab", name=tab).click()
    return _visible(page, "Model").input_value()


def _pick(page, tab: str, model: str) -> None:
    page.get_by_role("tab", name=tab).click()
    _visible(page, "Model").click()
    page.get_by_role("option", name=model, exact=True).click()


# ------------------------------------------------------------------------------------------- show(VGG19())


@pytest.fixture(scope="module")
def notes_page(browser):
    """The notes' VGG-19, its weights moved off their init (as if trained in a notebook), shown; a browser on it."""
    torch.manual_seed(0)
    net = _example("notes_vgg19.py", "notes_vgg19_in_the_browser").VGG19()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    shown = show(net, "3x32x32", block=False, open_browser=False)
    try:
        context, page = _open(browser, shown.url)
        yield page, net
        context.close()
    finally:
        shown.close()
        for name in zoo.user_models():
            zoo.unregister_model(name)


def test_every_picker_starts_on_the_shown_model(notes_page, shots):
    page, _ = notes_page
    page.locator('#arch-diagram svg.cnn-diagram [data-layer="feature.0.layer.0"]').wait_for()
    assert _visible(page, "Model").input_value() == "VGG19"
    assert _visible(page, re.compile("^Input size")).input_value() == "3x32x32"
    page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "show-vgg19.png"))
    assert _picker(page, "Feature maps") == "VGG19"
    assert _picker(page, "Training") == "VGG19"
    page.get_by_role("tab", name="Compare").click()
    page.get_by_text("VGG19", exact=True).filter(visible=True).first.wait_for()  # a chip of the multiselect
    page.get_by_role("tab", name="Architecture").click()


def test_the_diagram_has_the_modules_convs_and_a_click_fills_the_card(notes_page):
    page, net = notes_page
    convs = [name for name, m in net.named_modules() if isinstance(m, nn.Conv2d)]
    boxes = page.locator("#arch-diagram svg.cnn-diagram .layer.conv")
    boxes.first.wait_for()
    assert boxes.count() == len(convs) == 16
    assert sorted(b.get_attribute("data-layer") for b in boxes.all()) == sorted(convs)
    conv = net.feature[1].layer[3]  # ConvBlock1(64, 128)'s second conv: 128 → 128, 3×3
    page.locator('#arch-diagram [data-layer="feature.1.layer.3"]').click()
    card = page.locator("#layer-details")
    card.get_by_text("feature.1.layer.3").first.wait_for()
    c_in, c_out, k, _ = conv.weight.shape[1], conv.weight.shape[0], *conv.kernel_size
    total = conv.weight.numel() + conv.bias.numel()
    card.get_by_text(f"{c_in} · {c_out} · {k} · {k} + {c_out} = {total:,}").wait_for()  # 147,584
    # Through an image: that layer's maps and a receptive field, on the module's own weights.
    page.locator("button.gallery-item:visible").first.click()
    page.locator("#arch-maps-info").get_by_text(re.compile(r"maps of feature\.1\.layer\.3")).wait_for()
    page.locator("#arch-maps img").first.wait_for()
    page.locator("#arch-rf img").first.wait_for()


def test_feature_maps_on_the_modules_own_weights_give_its_top1(notes_page, shots):
    page, net = notes_page
    page.get_by_role("tab", name="Feature maps").click()
    page.locator("button.gallery-item:visible").first.click()  # the first example image
    page.get_by_role("button", name="Show feature maps").click()
    page.get_by_text("showing the top").wait_for()
    first = page.locator('#feature-top5 [data-testid="cell-0-0"]')
    first.wait_for()
    x, _ = preprocess(load_image(example_images()[0]), "VGG19")
    with torch.no_grad():
        expected = torch.softmax(net.eval()(x), 1)[0]
    assert first.inner_text().strip() == zoo.CIFAR10_CLASSES[int(expected.argmax())]
    shown = page.locator('#feature-top5 [data-testid="cell-0-1"]').inner_text().strip()
    assert float(shown) == pytest.approx(100 * expected.max().item(), abs=0.01)
    assert "own" in page.locator("#feature-info").inner_text()  # the weights it used are said
    page.screenshot(path=str(shots / "show-vgg19-features.png"), full_page=True)


# ------------------------------------------------------------------------------- python app.py --model …


@pytest.fixture(scope="module")
def resnet_server(tmp_path_factory):
    """``python app.py --model small_resnet.py:SmallResNet --model fixed.py:FixedHead`` in a scratch directory."""
    work = tmp_path_factory.mktemp("own_app")
    (work / "fixed.py").write_text(FIXED_HEAD)
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO), TORCH_HOME=str(work / "torch"), GRADIO_ANALYTICS_ENABLED="False")
    argv = [sys.executable, str(REPO / "app.py"), "--port", str(port)]
    argv += ["--model", f"{EXAMPLES / 'small_resnet.py'}:SmallResNet", "--model", f"{work / 'fixed.py'}:FixedHead"]
    with open(work / "server.log", "w") as log:
        proc = subprocess.Popen(argv, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
        url, started = f"http://127.0.0.1:{port}/", time.monotonic()
        try:
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() - started > 120:
                        raise RuntimeError(f"app did not start:\n{(work / 'server.log').read_text()[-3000:]}") from None
                    time.sleep(0.5)
            yield url, work
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="module")
def resnet_page(browser, resnet_server):
    context, page = _open(browser, resnet_server[0])
    yield page
    context.close()


def test_the_hand_written_resnets_shortcuts_are_drawn_from_its_blocks(resnet_page):
    example = _example("small_resnet.py", "small_resnet_in_the_browser")
    model = example.SmallResNet()
    blocks = [m for m in model.modules() if isinstance(m, example.ResidualBlock)]
    projections = sum(b.skip is not None for b in blocks)
    page = resnet_page
    page.locator('#arch-diagram [data-layer="blocks.5.conv2"]').wait_for()
    assert _visible(page, "Model").input_value() == "SmallResNet"
    assert page.locator("#arch-diagram g.skip").count() == len(blocks) == 6
    assert page.locator("#arch-diagram g.skip.projection").count() == projections == 2


def test_a_head_that_does_not_fit_shapes_is_refused_in_one_line(resnet_page):
    page = resnet_page
    assert _picker(page, "Training") == "SmallResNet"  # the first --model; the second is in the list too
    _pick(page, "Training", "FixedHead")
    page.get_by_role("button", name="Start").click()
    page.get_by_text("FixedHead's last layer outputs 1000, shapes has 10 classes").first.wait_for()


@pytest.mark.slow
def test_training_one_epoch_and_the_checkpoint_reloads(resnet_page, resnet_server):
    page, (_, work) = resnet_page, resnet_server
    _pick(page, "Training", "SmallResNet")
    page.get_by_label("Epochs").fill("1")
    page.get_by_label(re.compile("Training images")).fill("128")
    page.get_by_role("button", name="Start").click()
    page.wait_for_function(
        "() => /finished/.test(document.querySelector('#train-progress').innerText)", timeout=300_000
    )
    page.locator("#snapshot-filters").scroll_into_view_if_needed()  # a lazy image loads once scrolled to
    page.locator("#snapshot-filters img").first.wait_for()  # the network's own filters, as it learned
    (checkpoint,) = Path(work, "runs").glob("*/last.pt")
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    assert saved["model_name"] == "SmallResNet" and saved["epoch"] == 1
    assert saved["built"]["file"] == str(EXAMPLES / "small_resnet.py") and saved["built"]["factory"] == "SmallResNet"

    # A later server: --model with the record's file and class, --weights the checkpoint.
    name = register_request(
        ModelRequest(f"{saved['built']['file']}:{saved['built']['factory']}", weights=str(checkpoint), name="again")
    )
    try:
        loaded = load_weights(name, "auto")
        by_hand = _example("small_resnet.py", "small_resnet_reloaded").SmallResNet(**saved["built"]["args"])
        by_hand.load_state_dict(saved["model"])
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            assert loaded.source == "own" and torch.equal(loaded.model(x), by_hand.eval()(x))
        assert loaded.class_names == list(saved["class_names"])
    finally:
        zoo.unregister_model(name)
