"""``visualizer.show(model)`` (``visualizer/show_page.py``): the real page served in this process on a network of
your own; it answers, its endpoints take the model's name, the Feature-maps handler uses the module's own weights
(top-1 equal to calling the module on the same preprocessed image), a second call reuses the port, ``.close()``
frees it. Expected values come from the module (its convs, its logits), not from the page.
"""

from __future__ import annotations

import importlib.util
import socket
import sys
import types
import urllib.request
import webbrowser
from pathlib import Path

import pytest
import torch
from gradio_client import Client
from torch import nn

import zoo
from visualizer import show, show_page
from visualizer.images import example_images, load_image, preprocess
from visualizer.user_models import UserModelError
from visualizer.views.features import feature_maps

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def _notes():
    spec = importlib.util.spec_from_file_location("notes_vgg19_for_show", EXAMPLES / "notes_vgg19.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shown():
    """The notes' VGG-19, its weights moved off their init (as if trained in a notebook), shown."""
    torch.manual_seed(0)
    net = _notes().VGG19()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    page = show(net, "3x32x32", block=False, open_browser=False)
    yield page, net
    page.close()
    for name in zoo.user_models():
        zoo.unregister_model(name)


def _answers(url: str) -> int:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status


def test_the_page_answers_and_its_endpoints_know_the_model(shown):
    page, net = shown
    assert repr(page).startswith("<cnnviz page running at http://127.0.0.1:") and page.models == ["VGG19"]
    assert _answers(page.url) == 200
    client = Client(page.url, verbose=False)
    table, *_ = client.predict("VGG19", "3x32x32", api_name="/analyze")
    convs = [row for row in table["data"] if row[table["headers"].index("Type")] == "Conv2d"]
    assert len(convs) == sum(isinstance(m, nn.Conv2d) for m in net.modules()) == 16
    card = client.predict("VGG19", "3x32x32", "feature.0.layer.0", api_name="/layer_details")
    first = net.feature[0].layer[0]
    assert f"{first.weight.numel() + first.bias.numel():,}" in card  # 3·64·3·3 + 64 = 1,792


def test_feature_maps_use_the_modules_own_weights(shown):
    _, net = shown
    image = example_images()[0]
    *_, top5, _overview, _filters, _rf, state = feature_maps(image, "VGG19", "auto")
    assert state["model_name"] == "VGG19"
    x, _ = preprocess(load_image(image), "VGG19")
    with torch.no_grad():
        expected = torch.softmax(net.eval()(x), 1)[0]
    assert top5.iloc[0]["class"] == zoo.CIFAR10_CLASSES[int(expected.argmax())]
    assert top5.iloc[0]["probability (%)"] == pytest.approx(100 * expected.max().item(), abs=0.01)


@pytest.mark.slow
def test_a_second_show_reuses_the_port_and_close_frees_it(shown):
    page, net = shown
    port = page.port
    small = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    again = show({"mine": small, "notes": net}, block=False, open_browser=False)
    try:
        assert again.port == port and not page.is_running and _answers(again.url) == 200
        assert {"mine", "notes"} <= set(zoo.list_models())
    finally:
        again.close()
    with socket.socket() as s:  # free again
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    "args, kwargs, words",
    [
        (("vgg16",), {}, "show() takes an nn.Module (or a dict of them), got str"),
        (({},), {}, "has no model to show"),
        (({"a": nn.Linear(2, 2)},), {"name": "b"}, "names its models by the keys"),
        (({"a": nn.Identity(), "b": nn.Identity()},), {"weights": "w.pt"}, "weights= loads into one model"),
    ],
)
def test_what_show_cannot_take_is_said_in_one_line(args, kwargs, words):
    with pytest.raises(UserModelError, match=words.replace("(", r"\(").replace(")", r"\)")):
        show(*args, block=False, open_browser=False, **kwargs)


@pytest.mark.slow
def test_in_a_notebook_the_page_is_shown_in_the_cell(shown, monkeypatch):
    """As in Jupyter: Gradio's launch(inline=None) asks gradio.utils.ipython_check() and displays an iframe of the
    page through IPython.display (stood in for here: IPython is not installed); show() returns at once."""
    shown_html: list[str] = []
    display = types.ModuleType("IPython.display")
    display.HTML = lambda html: html
    display.Javascript = lambda code: code
    display.display = shown_html.append
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    import gradio.utils

    monkeypatch.setattr(gradio.utils, "ipython_check", lambda: True)
    monkeypatch.setattr(show_page, "ipython_check", lambda: True)
    opened: list[str] = []
    monkeypatch.setattr(webbrowser, "open", opened.append)
    page = show(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)), name="cell")  # block and browser: defaults
    try:
        assert len(shown_html) == 1 and f'<iframe src="{page.url}"' in shown_html[0] and opened == []
        assert _answers(page.url) == 200
    finally:
        page.close()
