"""What the page opens on (``visualizer/views/opening.py``): the zoo's defaults, or a network of your own in every
tab that has a model picker. Expected values are read from the zoo's specs and the registered modules."""

from __future__ import annotations

import pytest
from torch import nn

import zoo
from visualizer.training import takes_32px
from visualizer.user_models import register_instance
from visualizer.views.compare import MAX_MODELS
from visualizer.views.opening import BASE_SOURCES, PageOpening, page_opening


@pytest.fixture(autouse=True)
def _own_models_removed():
    before = set(zoo.user_models())
    yield
    for name in set(zoo.user_models()) - before:
        zoo.unregister_model(name)


def _small(outputs: int = 10) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, outputs))


def test_without_a_model_of_your_own_the_page_opens_on_the_zoo():
    opening = page_opening()
    assert opening == PageOpening() and opening.weight_sources == BASE_SOURCES
    for name in (opening.model, opening.training_model, *opening.compare_models):
        assert name in zoo.list_models()


def test_a_cifar_sized_network_opens_every_tab_beside_zoo_models_of_its_size():
    name = register_instance(_small(), "3x32x32", name="mine")
    other = register_instance(_small(), "3x32x32", name="notes")
    opening = page_opening(name)
    assert (opening.model, opening.input_size, opening.training_model) == ("mine", "3x32x32", "mine")
    assert opening.compare_models[:2] == ("mine", "notes")
    peers = opening.compare_models[2:]
    assert peers and all(not zoo.is_user_model(n) and zoo.get_spec(n).input_size == (3, 32, 32) for n in peers)
    assert opening.compare_size == "3x32x32" and other in opening.compare_models
    assert opening.weight_sources == (*BASE_SOURCES, "own")  # an instance brings its own weights


def test_a_network_too_big_for_the_training_sets_keeps_the_training_default():
    big = nn.Sequential(nn.Flatten(), nn.Linear(3 * 224 * 224, 1000))  # reads 224×224 only
    name = register_instance(big, "3x224x224", name="flat224")
    assert not takes_32px(zoo.get_spec(name))
    opening = page_opening(name)
    assert (opening.model, opening.input_size) == ("flat224", "3x224x224")
    assert opening.training_model == PageOpening.training_model
    assert all(zoo.get_spec(n).input_size == (3, 224, 224) for n in opening.compare_models)


def test_compare_holds_at_most_what_the_tab_compares():
    names = [register_instance(_small(), "3x32x32", name=f"net{i}") for i in range(MAX_MODELS + 2)]
    assert page_opening(names[0]).compare_models == tuple(names[:MAX_MODELS])


def test_an_unknown_model_is_refused_by_the_zoos_message():
    with pytest.raises(ValueError, match="unknown model"):
        page_opening("no_such_net")
