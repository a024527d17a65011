"""Feature maps, by job: ``capture`` (hooks on the layers asked for), ``layers`` (which layers have maps, one per
stage, good defaults), ``pictures`` (grids, strips, filters and overlays drawn from tensors)."""

from visualizer.features.capture import CamCapture, FeatureCapture, LayerTensors, named_module
from visualizer.features.layers import (
    SpatialLayer,
    default_cam_layer,
    default_layer,
    first_rgb_conv,
    layer_choices,
    spatial_layers,
    stage_layers,
)
from visualizer.features.pictures import (
    BACKGROUND,
    MIN_TILE,
    TEXT,
    ChannelTile,
    GridLayout,
    colorize,
    colormap_lut,
    enlarge,
    feature_grid,
    filters_picture,
    overlay_heatmap,
    overview_strip,
    rank_channels,
)

__all__ = [
    "BACKGROUND", "MIN_TILE", "TEXT", "CamCapture", "ChannelTile", "FeatureCapture", "GridLayout", "LayerTensors",
    "SpatialLayer", "colorize", "colormap_lut", "default_cam_layer", "default_layer", "enlarge", "feature_grid",
    "filters_picture", "first_rgb_conv", "layer_choices", "named_module", "overlay_heatmap", "overview_strip",
    "rank_channels", "spatial_layers", "stage_layers",
]  # fmt: skip
