"""Inside one unit, as the page shows it (``visualizer/views/units.py``): a unit of the Feature-maps grid read from
the image's ``ForwardPass`` adds up to the network's activation, and stepping or explaining a unit of a captured
layer runs no forward (counted with PyTorch's global module hooks, as ``test_forward_pass.py`` does); the
Architecture card, the Training tab's epochs and the JSON endpoints."""

from __future__ import annotations

import base64
import json
import math
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch.nn.modules.module import register_module_forward_pre_hook

import zoo
from visualizer import forward_pass, latest_weights, weight_sources
from visualizer.features import rank_channels
from visualizer.images import example_images, load_image, preprocess
from visualizer.latest_weights import LatestWeights, WeightsRegistry
from visualizer.units.erf import effective_rf
from visualizer.views import features, units

IMAGE = example_images()[0]
REL = 1e-4  # the bound on |recomputed − activation| / |activation| in fp32


@pytest.fixture
def forwards():
    """Real forwards of each root model class while the test runs (the engine's shape passes run on meta)."""
    counted: Counter = Counter()
    roots = ("VGG", "ResNet", "AlexNetCIFAR")

    def pre(module, args):
        if type(module).__name__ in roots and args and isinstance(args[0], torch.Tensor) and not args[0].is_meta:
            counted[type(module).__name__] += 1

    handle = register_module_forward_pre_hook(pre)
    forward_pass.clear()
    try:
        yield counted
    finally:
        handle.remove()


def close(a: float, b: float) -> bool:
    return abs(a - b) <= REL * max(abs(b), 1e-6)


def grid(model: str, layer: str) -> dict:
    """A Feature-maps request's click state (the page keeps it), random weights."""
    return features.feature_maps(IMAGE, model, "random", None, layer, 8, "mean", "viridis", "channel", "", "")[-1]


def click_at(state: dict, tile: int, y: int, x: int) -> tuple[float, float]:
    """The pixel of unit (y, x) in tile ``tile`` of the rendered grid."""
    layout = state["layout"]
    x0, y0 = layout.tile_origin(tile)
    return x0 + (x + 0.5) * layout.scale, y0 + (y + 0.5) * layout.scale


def test_a_clicked_unit_adds_up_to_the_networks_value_and_runs_no_forward(forwards):
    state = grid("vgg11", "features.4")  # the ReLU after features.3, a 3×3 conv of 64 → 128 channels
    assert forwards["VGG"] == 1
    picture, html, unit, slider = units.unit_from_click(state, *click_at(state, 1, 5, 7), "en")
    assert forwards["VGG"] == 1  # the layer and its input were kept by the request's pass
    channel = state["channels"][1]
    # A click on a ReLU's map explains the conv that made the value, then the ReLU.
    assert (unit["layer"], unit["picked"], unit["channel"], unit["y"], unit["x"]) == (
        "features.3",
        "features.4",
        channel,
        5,
        7,
    )
    assert close(unit["recomputed"], unit["activation"])
    # The network's own value, by its submodules run by hand on the pass's input (not through any hook).
    run = forward_pass.cached(state["pass"])
    model = weight_sources.load_weights("vgg11", "random").model
    with torch.no_grad():
        conv = model.features[:4](run.tensor.clone())[0, channel, 5, 7]
    assert close(unit["activation"], float(conv))
    assert f"{unit['recomputed']:.4g}".replace("-", "−") in html and "features.4" in html
    assert picture.width <= 1000 and slider == {"maximum": 112 * 112 - 1, "value": 5 * 112 + 7}
    # ▶ and the slider: the next units, from the same tensors.
    _, _, moved, slider = units.step_unit(unit, 1, "ko")
    assert (moved["y"], moved["x"], slider["value"]) == (5, 8, 5 * 112 + 8)
    _, _, far, _ = units.move_unit(moved, 111 * 112 + 111, "en")
    _, _, wrapped, _ = units.step_unit(far, 1, "en")
    assert (far["y"], far["x"], wrapped["y"], wrapped["x"]) == (111, 111, 0, 0)
    for step in (moved, far, wrapped):
        with torch.no_grad():
            value = model.features[:4](run.tensor.clone())[0, channel, step["y"], step["x"]]
        assert close(step["recomputed"], step["activation"]) and close(step["activation"], float(value))
    assert forwards["VGG"] == 1


def test_the_architecture_cards_unit_reads_the_same_pass(forwards):
    grid("vgg11", "features.4")
    arch = {"model": "vgg11", "selected": "features.13"}
    picture, html, unit, slider = units.architecture_unit(arch, IMAGE, "random", "ko")
    assert forwards["VGG"] == 1  # every spatial layer of VGG-11 at 224 was kept by the first pass
    run = forward_pass.cached(unit["pass"])
    out = run.activation(weight_sources.load_weights("vgg11", "random"), "features.13")
    channel = int(rank_channels(out, "mean")[0][0])
    assert unit["channel"] == channel and (unit["y"], unit["x"]) == divmod(int(out[channel].argmax()), out.shape[2])
    assert close(unit["recomputed"], unit["activation"]) and close(unit["activation"], float(out[channel].max()))
    assert "input channel" in html and "입력 채널" in html  # Korean beside English in the numbers (CSS shows one)
    # The same selection again (a refold changes the tab's state too): nothing is redrawn.
    assert units.architecture_unit(arch, IMAGE, "random", "ko", unit) is None


def test_a_layer_not_kept_costs_one_early_stopped_forward(forwards):
    grid("vgg11", "features.4")
    arch = {"model": "vgg11", "selected": "classifier.3"}  # a linear layer: the full pass kept maps only
    _, html, unit, slider = units.architecture_unit(arch, IMAGE, "random", "en")
    assert forwards["VGG"] == 2 and forward_pass.cached(unit["pass"]).partial_forwards == 1
    assert unit["y"] is None and slider["maximum"] == 4095
    assert close(unit["recomputed"], unit["activation"])
    units.step_unit(unit, 1, "en")
    assert forwards["VGG"] == 2


def test_a_residual_block_through_the_page_path_matches_the_hand_computed_network(forwards):
    state = grid("resnet18", "layer1.0.bn2")
    loaded = weight_sources.load_weights("resnet18", "random")
    run = forward_pass.cached(state["pass"])
    before = forwards["ResNet"]
    layer_units = units.page_units(loaded, run, "layer1.0.bn2")  # the conv that makes bn2's values
    ex = layer_units.explain(4, 5, 6)
    m = loaded.model
    with torch.no_grad():
        stem = m.maxpool(m.relu(m.bn1(m.conv1(run.tensor.clone()))))
        block = m.layer1[0]
        conv2 = block.conv2(block.relu(block.bn1(block.conv1(stem))))
        main = block.bn2(conv2)
        out = torch.relu(main + stem)
    assert ex["layer"] == "layer1.0.conv2" and close(ex["recomputed"], float(conv2[0, 4, 5, 6]))
    assert close(ex["activation"], float(conv2[0, 4, 5, 6]))
    assert [s["layer"] for s in ex["after"]] == ["layer1.0.bn2", "⊕0", "layer1.0.relu#1"]
    assert close(ex["after"][0]["value"], float(main[0, 4, 5, 6]))
    assert close(ex["after"][-1]["value"], float(out[0, 4, 5, 6]))
    # The ⊕'s value is what the in-place ReLU read before it ran (kept as its input, not its output): seen at a
    # unit where the sum is negative, so the ReLU would have changed it.
    c, y, x = (int(i) for i in torch.nonzero((main + stem)[0] < -0.1)[0])
    join = units.page_units(loaded, run, "⊕0").explain(c, y, x)
    assert close(join["recomputed"], float((main + stem)[0, c, y, x]))
    assert close(join["activation"], float((main + stem)[0, c, y, x])) and join["activation"] < 0
    assert forwards["ResNet"] - before <= 1  # the ReLU's input: at most one early-stopped forward


def test_clicks_and_steps_at_the_wrong_time_say_what_to_do(forwards):
    assert units.unit_from_click(None, 10, 10, "en") is None  # the receptive-field handler says why
    state = grid("vgg11", "features.4")
    assert units.unit_from_click(state, -5, -5, "en") is None  # between the maps
    with pytest.raises(ValueError, match="click a feature map first"):
        units.step_unit(None, 1, "en")
    _, _, unit, _ = units.unit_from_click(state, *click_at(state, 0, 0, 0), "en")
    with pytest.raises(ValueError, match=r"position must be a number from 0 to 12543, got 'abc'"):
        units.move_unit(unit, "abc", "en")
    forward_pass.clear()
    with pytest.raises(ValueError, match="no longer kept.*show the feature maps again"):
        units.step_unit(unit, 1, "en")


def test_the_cards_erf_puts_random_weights_first(forwards):
    arch = {"model": "vgg11", "selected": "features.3"}
    picture, html = units.architecture_erf(arch, IMAGE, "random", 2, "en")
    direct = effective_rf("vgg11", IMAGE, "features.3", images=2, weights="random")
    assert f"{direct['mass50']}×{direct['mass50']}" in html and direct["theoretical_display"] in html
    assert picture.width <= 1000
    with pytest.raises(ValueError, match="click a layer first"):
        units.architecture_erf({"model": "vgg11"}, IMAGE, "random", 2, "en")


# ------------------------------------------------------------------------------------------ endpoints


def test_explain_unit_json_is_plain_and_adds_up(forwards):
    out = units.explain_unit_json("vgg11", "features.3", 5, 10, 12, "", "random", 6)
    again = json.loads(json.dumps(out, allow_nan=False))
    assert again == out and close(out["recomputed"], out["activation"])
    parts = out["bias"] + sum(t["sum"] for t in out["terms"]) + out["rest"]["sum"]
    assert math.isclose(parts, out["recomputed"], rel_tol=1e-9)
    assert len(out["terms"]) == 6 and len(out["terms"][0]["inputs"]) == 3  # 3×3 patches, as nested lists
    # The same image file as base64 (what a script without the server's files sends): the same unit.
    encoded = base64.b64encode(Path(IMAGE).read_bytes()).decode()
    other = units.explain_unit_json("vgg11", "features.3", 5, 10, 12, f"data:image/jpeg;base64,{encoded}", "random")
    assert other["activation"] == out["activation"]
    named = units.explain_unit_json("vgg11", "features.3", 5, 10, 12, Path(IMAGE).name, "random")
    assert named["activation"] == out["activation"]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: units.explain_unit_json("vgg11", "features.3", 0, top=99), r"top must be a whole number from 1 to 32"),
        (lambda: units.api_image("/etc/passwd"), r"neither an example .* file paths are not read"),
        (lambda: units.effective_rf_json("vgg11", "features.3", input_size="3x1024x1024"), r"at most 262,144"),
        (lambda: units.explain_unit_json("vgg11", "features.3", 500, 0, 0, "", "random"), r"channel 500 is outside"),
    ],
)
def test_endpoint_refusals_name_the_value_and_what_works(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_effective_rf_json_gradient_decodes_to_the_measured_one():
    out = units.effective_rf_json("vgg11", "features.3", "", 2, "random", "3x32x32")
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    g = out["gradient"]
    decoded = np.frombuffer(base64.b64decode(g["base64"]), "<f4").reshape(g["shape"])
    direct = effective_rf("vgg11", "3x32x32", "features.3", images=2, weights="random")
    np.testing.assert_array_equal(decoded, direct["gradient"].astype(np.float32))
    assert out["mass50"] == direct["mass50"] and out["theoretical"] == direct["theoretical"]


# ------------------------------------------------------------------------------------------ the Training tab


class FakeTrainer:
    """What ``EpochErfs`` reads of the trainer: its latest weights and its kept snapshots."""

    def __init__(self) -> None:
        self.registry = WeightsRegistry()  # weight loading's "training" source reads the registry, as the app's
        self.history: list = []

    def latest_weights(self):
        return self.registry.latest()

    def snapshot_history(self):
        return list(self.history)


def test_each_kept_epoch_gets_its_erf_from_the_weights_it_had(monkeypatch):
    trainer = FakeTrainer()
    monkeypatch.setattr(latest_weights, "REGISTRY", trainer.registry)  # weight_sources' "training" source
    monkeypatch.setattr(units, "get_trainer", lambda: trainer)
    monkeypatch.setattr(units, "epoch_erfs", units.EpochErfs())
    torch.manual_seed(0)
    start = weight_sources.load_weights("alexnet_cifar", "random").model.state_dict()
    later = {k: v * 1.5 if v.is_floating_point() else v for k, v in start.items()}
    stage = SimpleNamespace(key="features.4")
    snap = lambda step, epochs: SimpleNamespace(  # noqa: E731 - a kept snapshot, as the panel reads it
        run_id="run1", step=step, epochs_done=epochs, model_name="alexnet_cifar", stages=[stage]
    )

    def publish(state, step, epochs, kept):
        trainer.registry.publish(
            LatestWeights("run1", "alexnet_cifar", ["c"] * 10, "shapes", state, epochs, step, kept)
        )

    assert units.training_erf(None, "en", None)[0] is None  # no run yet: a note
    trainer.history = [snap(0, 0)]
    publish(start, 0, 0, False)
    picture, html, choices, layer, shown = units.training_erf(None, "en", None)
    assert layer == "features.4" and choices == [("features.4", "features.4")] and "epoch 0" in html
    assert units.training_erf(layer, "en", shown) is None  # a poll with nothing new draws nothing
    publish(later, 7, 0, False)  # between epoch ends: not a kept snapshot, not measured
    assert units.training_erf(layer, "en", shown) is None
    trainer.history.append(snap(10, 1))
    trainer.history.append(snap(20, 2))
    publish(later, 20, 2, True)  # epoch 1's weights were replaced before anyone looked
    picture, html, _, _, shown = units.training_erf(layer, "en", shown)
    assert "Not measured: epoch(s) 1" in html and picture.width <= 2000
    measured = units.epoch_erfs.of_run("run1")
    assert sorted(measured) == [0, 20]
    # Independently: the module with those weights, the example photos as the run's model sees them (32×32).
    batch = torch.cat([preprocess(load_image(p), "alexnet_cifar")[0] for p in example_images()[:8]])
    for step, state in ((0, start), (20, later)):
        model = zoo.create_model("alexnet_cifar")
        model.load_state_dict(state)
        direct = effective_rf(model.eval(), batch, "features.4", images=8)
        np.testing.assert_allclose(measured[step]["features.4"]["gradient"], direct["gradient"], rtol=1e-5, atol=1e-9)


def test_page_language():
    assert [units.page_lang(v) for v in ("ko", "ko-KR", "en-US", "", None, "fr")] == [
        "ko",
        "ko",
        "en",
        "en",
        "en",
        "en",
    ]
