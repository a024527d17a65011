"""Which layers: the ones with a spatial map (what the layer pickers offer), one per stage, good first choices.

Everything is read from the analysis engine's records (one source of truth with the table, the diagram and the
receptive-field overlays), so a picker offers exactly the layers those views know.
"""

from __future__ import annotations

from typing import NamedTuple

from torch import nn

from visualizer.analysis import analyze, analyze_model
from visualizer.kinds import kind_of
from visualizer.numbers import shape_text
from visualizer.records import Analysis


class SpatialLayer(NamedTuple):
    """A layer call whose output is a C×H×W map (what the layer picker offers)."""

    key: str  # "name" or "name#k" for the k-th call of a module used more than once
    name: str
    call_index: int
    kind: str  # module class name
    channels: int
    height: int
    width: int

    @property
    def label(self) -> str:
        return f"{self.key} ({self.kind}, {shape_text((self.channels, self.height, self.width), 'x')})"


def spatial_layers(
    model: str | Analysis | nn.Module, input_size: tuple[int, int, int] | None = None
) -> list[SpatialLayer]:
    """Every layer call with a C×H×W output, in call order.

    ``model`` is a zoo name (its analysis at the design size), an ``Analysis``, or a module with its
    ``input_size`` (analysed on the spot: a shape-only pass, no weights touched).
    """
    if isinstance(model, str):
        model = analyze_model(model)
    elif isinstance(model, nn.Module):
        if input_size is None:
            raise ValueError("spatial_layers(module) needs input_size=(C, H, W); or pass a zoo model name")
        model = analyze(model, input_size)
    return [
        SpatialLayer(r.key, r.name, r.call_index, r.type, *r.output_shape[1:])
        for r in model.layers
        if r.output_shape is not None and len(r.output_shape) == 4  # batch × C×H×W
    ]


def stage_layers(layers: list[SpatialLayer]) -> list[SpatialLayer]:
    """One layer per stage, in call order: the last layer call at each resolution (VGG: before each pool).

    Layers of the block where the next resolution begins do not count: a ResNet-50 bottleneck's first 1×1
    conv still runs at the old resolution but belongs to the next stage. (When that leaves nothing, as in
    VGG's single ``features`` block, the last layer at the resolution is the stage.) Adaptive pooling in
    front of the classifier and 1×1 maps are not stages.
    """
    spatial = [s for s in layers if not s.kind.startswith("Adaptive") and s.height * s.width > 1]
    resolutions = list(dict.fromkeys((s.height, s.width) for s in spatial))
    stages = []
    for i, resolution in enumerate(resolutions):
        at = [s for s in spatial if (s.height, s.width) == resolution]
        if i + 1 < len(resolutions):
            opener = next(s for s in spatial if (s.height, s.width) == resolutions[i + 1])
            block = opener.name.rpartition(".")[0]
            at = [s for s in at if s.name.rpartition(".")[0] != block] or at
        stages.append(at[-1])
    return stages


def default_layer(model_name: str) -> str:
    """A good first layer to show: the middle stage (VGG-16: features.22, 512×28×28)."""
    layers = spatial_layers(model_name)
    stages = stage_layers(layers)
    return stages[len(stages) // 2].key if stages else layers[-1].key


def default_cam_layer(model_name: str) -> str:
    """Grad-CAM's layer: the last conv before the head, read from the records (VGG-16: features.28, ResNet-18:
    layer4.1.conv2), the deepest maps that are still a picture. A conv that is itself the head (SqueezeNet's 1×1
    conv to the classes) is skipped; a network without a spatial conv falls back to its last stage."""
    analysis = analyze_model(model_name)
    classes = analysis.layers[-1].output_shape[1] if analysis.layers and analysis.layers[-1].output_shape else None
    convs = [
        r
        for r in analysis.layers
        if kind_of(r) == "conv"
        and r.output_shape is not None
        and len(r.output_shape) == 4
        and r.output_shape[2] * r.output_shape[3] > 1
    ]
    if len(convs) > 1 and convs[-1].output_shape[1] == classes:
        convs = convs[:-1]
    if convs:
        return convs[-1].key
    layers = spatial_layers(analysis)
    stages = stage_layers(layers)
    return stages[-1].key if stages else layers[-1].key


def layer_choices(model_name: str) -> list[tuple[str, str]]:
    """``(label, key)`` pairs for a layer dropdown: every layer call with a spatial map, in order."""
    return [(layer.label, layer.key) for layer in spatial_layers(model_name)]


def first_rgb_conv(model: nn.Module) -> nn.Conv2d:
    """The conv that sees the image's colours: its kernels are what "first-layer filters" pictures show."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d) and m.in_channels == 3), None)
    if conv is None:
        raise ValueError(f"{type(model).__name__} has no Conv2d taking 3 input channels; nothing to show as RGB")
    return conv
