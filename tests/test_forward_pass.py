"""One request, one path: a feature-maps request builds its model once and runs the network once.

Counted with PyTorch's global module hooks, independently of the code's own counters: every forward of the root
model, and every parameter registered with real (non-meta) storage, which is what building a model does.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
    register_module_parameter_registration_hook,
)
from torchvision.models import VGG

import zoo
from visualizer import budgets, forward_pass, weight_sources
from visualizer.budgets import outputs
from visualizer.budgets.memory import ForwardSlot
from visualizer.features import feature_grid
from visualizer.images import example_images
from visualizer.views import features


@pytest.fixture
def counted():
    """``(real forwards of a VGG, real parameter tensors registered)`` while the test runs, from empty caches."""
    forwards: Counter = Counter()
    params: list[torch.Tensor] = []

    def pre(module, args):
        if isinstance(module, VGG) and not args[0].is_meta:  # the engine's shape-only passes run on meta
            forwards["VGG"] += 1

    def registered(module, name, param):
        if param is not None and not param.is_meta:
            params.append(param)

    handles = [register_module_forward_pre_hook(pre), register_module_parameter_registration_hook(registered)]
    forward_pass.clear()
    weight_sources.clear_cache()
    try:
        yield forwards, params
    finally:
        for h in handles:
            h.remove()


def _request(image, model="vgg11"):
    return features.feature_maps(image, model, "random", None, "features.3", 8, "mean", "viridis", "channel", "", "")


def test_one_feature_maps_request_is_one_build_and_one_forward(counted):
    forwards, params = counted
    with torch.device("meta"):  # counted on meta: registers nothing real
        layers = [m for m in zoo.create_model("vgg11").modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    out = _request(example_images()[0])
    grid, info, *_, state = out
    assert grid is not None and "Grad-CAM" in info
    # VGG-11: 8 convs and 3 linear layers, a weight and a bias each: one build registers 22 real tensors.
    assert len(layers) == 11 and len(params) == 2 * len(layers)
    # Grid, overview, predictions and Grad-CAM (whose layer needs gradients) all read one forward pass.
    assert forwards["VGG"] == 1
    run = forward_pass.cached(state["pass"])
    assert run.full_forwards == 1 and run.partial_forwards == 0


def test_a_click_afterwards_reads_the_same_pass(counted):
    forwards, params = counted
    image = example_images()[0]
    _request(image)
    before, built = forwards["VGG"], len(params)
    grid, overlay, text, _ = features.layer_maps(image, "vgg11", "random", "features.13")
    # Every spatial layer of VGG-11 at 224 was kept by the first pass: a click costs no forward and no build.
    assert grid is not None and overlay is not None and "features.13" in text
    assert forwards["VGG"] == before and len(params) == built


def test_a_units_tensors_come_from_the_pass_without_a_forward(counted):
    forwards, _ = counted
    image = example_images()[0]
    _request(image)
    loaded = weight_sources.load_weights("vgg11", "random")
    run = forward_pass.for_image(image, loaded)
    read = run.tensors(loaded, {"features.3": "inputs+output", "features.4": "output", "input": "output"})
    conv = read("features.3")
    # The conv's input is the pool's output, kept by the first pass (the very tensor the conv read), batch dim kept.
    assert forwards["VGG"] == 1 and conv.output.shape == (1, 128, 112, 112)
    (x,) = conv.inputs
    assert torch.equal(x, run.activation(loaded, "features.2")[None])
    with torch.no_grad():
        by_hand = loaded.model.features[:4](run.tensor.clone())
    assert torch.allclose(conv.output, by_hand, atol=1e-5)
    assert read("input").output is run.tensor and read("features.0").inputs[0].shape == run.tensor.shape
    assert forwards["VGG"] == 1


def test_forwards_never_overlap_while_kept_passes_are_served_beside_one(counted):
    """Two requests at once (the network queue takes two), on two models (each with its own model lock): their
    forwards run one after the other (one slot per process), and a request whose pass is kept is answered while
    another request holds that slot."""
    forwards, _ = counted
    images = example_images()[:3]
    running, most = [0], [0]
    lock = threading.Lock()

    def pre(module, args):
        if isinstance(module, VGG) and not args[0].is_meta:
            with lock:
                running[0] += 1
                most[0] = max(most[0], running[0])
            time.sleep(0.05)  # long enough for the other thread to arrive while this forward runs

    def post(module, args, out):
        if isinstance(module, VGG) and not args[0].is_meta:
            with lock:
                running[0] -= 1

    handles = [register_module_forward_pre_hook(pre), register_module_forward_hook(post)]
    try:
        threads = [threading.Thread(target=_request, args=pair) for pair in ((images[0],), (images[1], "vgg13"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert forwards["VGG"] >= 2 and most[0] == 1  # both images ran, never at once

        # The slot held (a forward running for someone else): a kept pass is still served, a new one waits.
        done: list[str] = []
        with ForwardSlot():
            kept = threading.Thread(target=lambda: (_request(images[0]), done.append("kept")))
            new = threading.Thread(target=lambda: (_request(images[2]), done.append("new")))
            kept.start(), new.start()
            kept.join(30)
            assert done == ["kept"]  # answered from the pass it keeps, while the slot was taken
            new.join(5)
            assert new.is_alive() and done == ["kept"]  # the new image's forward waits for the slot
        new.join(60)
        assert done == ["kept", "new"]
    finally:
        for h in handles:
            h.remove()


def test_the_pass_cache_keeps_what_fits_its_budget(counted):
    """``--pass-cache``: passes beyond it are dropped, least recently used first; within it, a repeat runs
    nothing."""
    forwards, _ = counted
    images = example_images()[:2]
    before = budgets.current()
    try:
        _request(images[0])
        one = forward_pass.cached(next(iter(forward_pass._passes))).nbytes
        budgets.configure(pass_cache_bytes=one // 2)  # room for the newest pass alone, even with the other shed
        _request(images[1])
        assert len(forward_pass._passes) == 1
        n = forwards["VGG"]
        _request(images[1])
        assert forwards["VGG"] == n  # the kept one: no forward
        _request(images[0])
        assert forwards["VGG"] == n + 1  # dropped to make room: run again
        budgets.configure(pass_cache_bytes=4 * one)
        _request(images[1])
        _request(images[0])
        assert len(forward_pass._passes) == 2 and forwards["VGG"] == n + 2
    finally:
        budgets.configure(pass_cache_bytes=before.pass_cache_bytes)


def test_older_passes_shed_the_layers_no_view_asked_for_before_any_pass_is_dropped(counted):
    """A class's photos: a full VGG pass keeps every layer (the next click costs nothing), but under the budget an
    older pass keeps only what was shown of it, so it stays and its views run nothing, where dropping it whole
    would run the network again for every student coming back to their photo."""
    forwards, _ = counted
    images = example_images()[:2]
    before = budgets.current()
    try:
        _request(images[0])
        first_key = next(iter(forward_pass._passes))
        full = forward_pass.cached(first_key).nbytes
        budgets.configure(pass_cache_bytes=full + full // 2)  # one full pass and a shed one, not two full ones
        _request(images[1])
        assert len(forward_pass._passes) == 2
        older, newer = (forward_pass._passes[k] for k in forward_pass._passes)
        assert older.key == first_key
        assert "features.3" in older._acts and set(older._acts) <= older._asked  # what the view showed, only
        assert len(older._acts) < len(newer._acts) and older.nbytes < full // 4
        assert sum(p.nbytes for p in forward_pass._passes.values()) <= full + full // 2
        n = forwards["VGG"]
        _request(images[0])
        _request(images[1])
        assert forwards["VGG"] == n  # both views served as kept
        shed = next(k for k in newer._acts if k not in older._acts)
        older.activation(weight_sources.load_weights("vgg11", "random"), shed)
        assert forwards["VGG"] == n + 1  # a layer it shed: one (early-stopped) forward brings it back
    finally:
        budgets.configure(pass_cache_bytes=before.pass_cache_bytes)


def test_a_repeated_view_is_drawn_and_encoded_once_and_a_copy_of_the_photo_runs_nothing(counted, tmp_path, monkeypatch):
    """A class asking for one view: the second request is served the first one's pictures (the same drawing, the
    same files: nothing drawn, nothing encoded), and the same photo uploaded again under another name (the page
    hands each upload over as a new file) is known by its bytes: no decoding, no forward."""
    forwards, _ = counted
    photo = example_images()[0]
    copy = tmp_path / "uploaded-again.jpg"
    copy.write_bytes(open(photo, "rb").read())
    first = outputs.as_files(_request(photo))
    n = forwards["VGG"]
    written = []
    real_write = outputs._write
    monkeypatch.setattr(outputs, "_write", lambda image: written.append(image) or real_write(image))
    decoded, drawn = [], []
    monkeypatch.setattr(forward_pass, "load_image", lambda image: decoded.append(image))
    for name in ("feature_grid", "overview_strip", "filters_picture", "overlay_heatmap", "enlarge"):
        real = getattr(features, name)
        monkeypatch.setattr(
            features, name, lambda *a, _real=real, _name=name, **k: drawn.append(_name) or _real(*a, **k)
        )
    again = outputs.as_files(_request(str(copy)))
    assert forwards["VGG"] == n and decoded == [] and drawn == [] and written == []
    pictures = [i for i, v in enumerate(first) if isinstance(v, str) and v.endswith(".png")]
    assert len(pictures) >= 5 and [again[i] for i in pictures] == [first[i] for i in pictures]
    # What was kept is what a fresh drawing of the same activation gives (checked against the feature-grid code).
    run = forward_pass.cached(first[-1]["pass"])
    loaded = weight_sources.load_weights("vgg11", "random")
    fresh, _ = feature_grid(run.activation(loaded, "features.3"), 8, "mean", "viridis", "channel")
    assert np.array_equal(np.asarray(Image.open(first[0]).convert("RGB")), np.asarray(fresh))
    # Another view of the same pass is drawn (and written) anew.
    other = features.feature_maps(photo, "vgg11", "random", None, "features.3", 4, "mean", "magma", "channel", "", "")
    outputs.as_files(other)
    assert written and forwards["VGG"] == n


def _counted_bytes(run) -> int:
    """What ``run`` holds, counted here from its dicts (tensors' elements × size, pictures' pixels × bands)."""
    tensors = [run.tensor, *run._acts.values(), *(t for ts in run._inputs.values() for t in ts)]
    total = sum(t.numel() * t.element_size() for t in tensors)
    total += sum(heat.nbytes for heat, _ in run._cams.values())
    for value in run._pictures.values():
        images = [value] if isinstance(value, Image.Image) else [v for v in value if isinstance(v, Image.Image)]
        total += sum(im.width * im.height * len(im.getbands()) for im in images)
    return total


def test_a_pass_counts_its_bytes_again_after_every_change_and_only_then(counted):
    """``nbytes`` (read by every request's trim) is kept between changes, and is right after each: a new view's
    picture, a layer brought back, a shed."""
    images = example_images()[:1]
    _request(images[0])
    run = forward_pass.cached(next(iter(forward_pass._passes)))
    assert run.nbytes == _counted_bytes(run)
    calls = []
    original = run._count_bytes
    run._count_bytes = lambda: calls.append(1) or original()
    _request(images[0])  # the same view again: nothing added, nothing counted
    assert calls == [] and run.nbytes == _counted_bytes(run)
    changes = run._changes
    features.feature_maps(images[0], "vgg11", "random", None, "features.6", 4, "mean", "magma", "channel", "", "")
    assert run.nbytes == _counted_bytes(run)
    assert 1 <= len(calls) <= run._changes - changes  # its new pictures: counted once per change at most
    before = run.nbytes
    freed = run.shed()
    assert freed > 0 and run.nbytes == _counted_bytes(run) == before - freed
