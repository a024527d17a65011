"""The pictures fit a 1024×768 projector, come in English and Korean, and draw what the numbers say: the
window where the unit reads, the theoretical box and the mass squares where the ERF puts them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from visualizer.images import example_images
from visualizer.units import pictures
from visualizer.units.compute import layer_units
from visualizer.units.erf import effective_rf
from visualizer.units.pictures import erf_comparison, erf_crop, erf_picture, korean_available, unit_picture

IMAGE = example_images()[0]


@pytest.fixture(scope="module")
def vgg_units():
    return layer_units("vgg11", IMAGE, "features.3", weights="random")


def _explained(model, layer, unit):
    units = layer_units(model, IMAGE, layer, weights="random")
    ex = units.explain(*unit)
    return ex, units.seen, units.input_map(ex["unit"]["channel"])


@pytest.mark.parametrize(
    "model, layer, unit",
    [
        ("vgg11", "features.3", (5, 3, 4)),
        ("resnet18", "conv1", (5, 0, 0)),  # 7×7: colours instead of numbers
        ("vgg11", "features.2", (5, None, None)),
        ("resnet18", "avgpool", (5, 0, 0)),
        ("vgg11", "classifier.0", (5,)),
        ("resnet18", "bn1", (5, 2, 2)),
        ("resnet18", "⊕0", (5, 2, 2)),
        ("resnet18", "relu", (5, 2, 2)),
    ],
)
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_every_kind_fits_the_projector_in_both_languages(model, layer, unit, lang):
    if lang == "ko" and not korean_available():
        pytest.skip("no Korean font (Noto Sans CJK) on this machine")
    ex, seen, input_map = _explained(model, layer, unit)
    picture = unit_picture(ex, lang=lang, seen=seen, input_map=input_map)
    assert picture.width <= 1000 and picture.height <= 768, picture.size
    assert picture.info["lang"] == lang


def test_english_and_korean_labels_differ():
    if not korean_available():
        pytest.skip("no Korean font on this machine")
    ex, seen, input_map = _explained("vgg11", "features.3", (5, 3, 4))
    en = np.asarray(unit_picture(ex, lang="en", seen=seen, input_map=input_map))
    ko = np.asarray(unit_picture(ex, lang="ko", seen=seen, input_map=input_map))
    assert en.shape != ko.shape or (en != ko).any()
    assert all(english and korean for english, korean in pictures.WORDS.values())
    assert [key for key, (english, korean) in pictures.WORDS.items() if english == korean] == ["product"]  # x · w


def _red_frames(picture: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    arr = np.asarray(picture.crop(box)).astype(int)
    return (arr[..., 0] > 200) & (arr[..., 1] < 60) & (arr[..., 2] < 60)


def test_the_window_moves_with_the_unit(vgg_units):
    """A unit at the left edge reads padding (grey cells left of its window); one step right, none."""
    edge = vgg_units.explain(5, 10, 0)
    inner = vgg_units.explain(5, 10, 1)
    assert edge["window"]["real"][0] == [False, True, True] and all(all(r) for r in inner["window"]["real"])
    left_column = (16, 0, 16 + pictures.SIDE, 800)
    pic_edge = unit_picture(edge, input_map=vgg_units.input_map(5))
    pic_inner = unit_picture(inner, input_map=vgg_units.input_map(5))
    grey = np.array(pictures.PADDING)
    crop_edge = np.asarray(pic_edge.crop(left_column))
    crop_inner = np.asarray(pic_inner.crop(left_column))
    assert (crop_edge == grey).all(axis=2).sum() > (crop_inner == grey).all(axis=2).sum()
    assert _red_frames(pic_edge, left_column).sum() > 100  # the window's frame is drawn


def test_erf_boxes_are_drawn_where_the_numbers_put_them():
    gradient = np.zeros((32, 32))
    gradient[14:19, 14:19] = 1.0
    result = {
        "model": "toy",
        "layer": "conv",
        "gradient": gradient,
        "box": [10, 10, 22, 22],  # a 13×13 theoretical field
        "center": [16.0, 16.0],
        "theoretical": [13, 13],
        "theoretical_display": "13×13",
        "mass50": 3,
        "mass95": 5,
        "images": 4,
        "inputs": "noise",
    }
    picture = erf_picture(result, side=320, zoom=False)  # 10 px per input pixel
    arr = np.asarray(picture).astype(int)
    top = 76  # the panel's top, under the title
    left = 20
    white = (arr[..., 0] > 240) & (arr[..., 1] > 240) & (arr[..., 2] > 240)
    # The theoretical box's left edge: input column 10 → x = 100 in the panel, rows 10..22 → 100..229.
    assert white[top + 110 : top + 220, left + 100].all()
    cyan = (arr[..., 0] < 120) & (arr[..., 1] > 180) & (arr[..., 2] > 220)
    # The 95 % square (5×5 around pixel 16): columns 14..18 → x = 140..189.
    assert cyan[top + 150 : top + 180, left + 140].all()
    assert not cyan[top + 150 : top + 180, left + 100].any()
    # Zoomed: the box plus a quarter of its 13 pixels (3) around it, rows and columns 7..25: 19 pixels wide.
    assert erf_crop(result, zoom=True) == (7, 7, 25, 25)
    zoomed = np.asarray(erf_picture(result, side=190)).astype(int)  # 10 px per pixel again
    white = (zoomed[..., 0] > 240) & (zoomed[..., 1] > 240) & (zoomed[..., 2] > 240)
    assert white[top + 40 : top + 150, left + 30].all()  # column 10 − 7 = 3 → x = 30


def test_erf_comparison_puts_panels_side_by_side():
    model = nn.Sequential(nn.Conv2d(1, 1, 3, padding=1), nn.Conv2d(1, 1, 3, padding=1)).eval()
    a = effective_rf(model, torch.randn(2, 1, 24, 24), "1", images=2)
    picture = erf_comparison([("random", a), ("again", a)], lang="en")
    assert picture.width <= 1000 and picture.height <= 768
    with pytest.raises(ValueError, match="lang must be"):
        erf_comparison([("random", a)], lang="fr")
