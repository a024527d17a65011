"""The notes' models typed as a student types them (``docs/examples/``): they load through ``--model``, analyse
and draw right. VGG-19's convs per block and the hand-written ResNet's shortcuts and projections are counted from
the module structure (``named_modules``), independently of the engine, and compared with what the analysis records
and the diagram (``visualizer.diagram.skips``, the SVG's arcs) found from the joins.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
from torch import nn

import zoo
from visualizer.analysis import analyze, analyze_model
from visualizer.diagram import render_svg, skips
from visualizer.user_models import ModelRequest, register_request

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


def _load(file: str):
    spec = importlib.util.spec_from_file_location(f"example_{file[:-3]}", EXAMPLES / file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def _own_models_removed():
    before = set(zoo.user_models())
    yield
    for name in set(zoo.user_models()) - before:
        zoo.unregister_model(name)


def test_notes_vgg19_has_16_convs_in_5_blocks():
    notes = _load("notes_vgg19.py")
    model = notes.VGG19()
    blocks = list(model.feature.named_children())
    per_block = {f"feature.{n}": sum(isinstance(m, nn.Conv2d) for m in b.modules()) for n, b in blocks}
    assert list(per_block.values()) == [2, 2, 4, 4, 4]  # the notes' ConvBlock1 ×2, ConvBlock2 ×3

    a = analyze(model, "3x32x32")
    convs = [r for r in a.layers if r.type == "Conv2d"]
    assert {b: sum(r.name.startswith(b + ".") for r in convs) for b in per_block} == per_block
    assert [r.output_shape[2] for r in a.layers if r.type == "MaxPool2d"] == [16, 8, 4, 2, 1]
    assert a.output_shape == [1, 10] and a.total_params == sum(p.numel() for p in model.parameters())
    svg = render_svg(a)
    assert svg.count('class="layer conv"') == 16 and svg.count('class="layer pool"') == 5
    assert 'class="skip' not in svg  # no shortcut in a VGG


def _structure(model: nn.Module, block_type: type) -> dict[str, bool]:
    """Residual block name → has a projection shortcut, read from the modules (not from any pass)."""
    return {name: m.skip is not None for name, m in model.named_modules() if isinstance(m, block_type)}


@pytest.mark.parametrize("blocks_per_stage", [1, 2, 3])
def test_small_resnet_shortcuts_are_found_from_the_joins(blocks_per_stage):
    example = _load("small_resnet.py")
    model = example.SmallResNet(blocks_per_stage=blocks_per_stage)
    truth = _structure(model, example.ResidualBlock)
    assert len(truth) == 3 * blocks_per_stage and sum(truth.values()) == 2  # stages 2 and 3 start with one

    a = analyze(model, "3x32x32")
    found = skips(a)
    assert {s.block: s.projection for s in found} == truth
    for s in found:  # a projection's path is that block's 1×1 conv and BatchNorm; an identity's is empty
        expected = [f"{s.block}.skip.0", f"{s.block}.skip.1"] if truth[s.block] else []
        assert s.via == expected
        assert {k.rsplit(".", 1)[0] for k in s.main} == {s.block}  # conv1, bn1, conv2, bn2 of the same block
    svg = render_svg(a, "blocks")
    arcs = re.findall(r'<g class="(skip(?: projection)?)"', svg)
    assert len(arcs) == len(truth) and arcs.count("skip projection") == sum(truth.values())


def test_the_examples_load_through_model_flags_as_they_analyse_directly():
    for ref, direct in [
        ("notes_vgg19.py:VGG19", _load("notes_vgg19.py").VGG19()),
        ("small_resnet.py:SmallResNet", _load("small_resnet.py").SmallResNet()),
    ]:
        name = register_request(ModelRequest(str(EXAMPLES / ref)))
        spec = zoo.get_spec(name)
        assert (spec.input_size, spec.class_names) == ((3, 32, 32), zoo.CIFAR10_CLASSES)
        by_flag, by_hand = analyze_model(name), analyze(direct, "3x32x32")
        assert [(r.key, r.output_shape, r.params) for r in by_flag.layers] == [
            (r.key, r.output_shape, r.params) for r in by_hand.layers
        ]
