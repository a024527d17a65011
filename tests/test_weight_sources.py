"""Weights from random init, ImageNet (offline: a clear message) or a trainer checkpoint; a small LRU cache."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
import torch

import zoo
from visualizer import budgets, latest_weights, weight_sources
from visualizer.checkpoint import make_checkpoint, save_checkpoint
from visualizer.latest_weights import LatestWeights, WeightsRegistry
from visualizer.predictions import RANDOM_WEIGHTS_NOTE, prediction_note, predictions_meaningful, top_k
from visualizer.weight_sources import WeightsError, load_model, load_weights

SMALL = "vgg:8,M,16,M"


@pytest.fixture(autouse=True)
def fresh_cache():
    weight_sources.clear_cache()
    yield
    weight_sources.clear_cache()


def test_random_is_seeded_cached_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    model, info = load_model(SMALL, "random")
    assert torch.equal(torch.rand(3), expected_next)  # the caller's RNG stream is untouched
    assert not model.training and "random" in info
    assert load_model(SMALL, "random")[0] is model  # cached
    weight_sources.clear_cache()
    again, _ = load_model(SMALL, "random")
    assert again is not model
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))


def test_cache_is_bounded_by_bytes_and_evicts_the_least_recently_used():
    # vgg:n,M is one 3×3 conv 3→n (with bias) and one linear n→10: (27n + n + 10n + 10) float32 parameters.
    def size(n):
        return 4 * (27 * n + n + 10 * n + 10)

    weight_sources.clear_cache()
    before = budgets.current()
    budgets.configure(model_cache_bytes=size(4) + size(5) + size(6))
    try:
        a = load_weights("vgg:4,M").model
        b = load_weights("vgg:5,M").model
        load_weights("vgg:6,M")
        assert len(weight_sources._cache) == 3  # exactly at the budget
        assert load_weights("vgg:4,M").model is a  # touched again: now the most recent
        load_weights("vgg:7,M")  # over budget: evicts 5, then 6 (least recently used first), keeps 4 and 7
        assert [k[1] for k in weight_sources._cache] == ["vgg:4,M", "vgg:7,M"]
        assert load_weights("vgg:4,M").model is a and load_weights("vgg:5,M").model is not b
        assert weight_sources.model_bytes(a) == size(4)
    finally:
        budgets.configure(model_cache_bytes=before.model_cache_bytes)
        weight_sources.clear_cache()


def test_a_model_too_large_is_refused_before_it_is_built(monkeypatch):
    built, real = [], zoo.create_model

    def spy(*args, **kwargs):  # counts real builds; the budget's own count runs on the meta device
        if torch.empty(0).device.type != "meta":
            built.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(zoo, "create_model", spy)
    # 4096-wide 3×3 convs: 3·4096·9 + 4096 + 4096·4096·9 + 4096 + 4096·10 + 10 parameters (≈ 151 M).
    name = "vgg:4096,M,4096,M"
    params = 3 * 4096 * 9 + 4096 + 4096 * 4096 * 9 + 4096 + 4096 * 10 + 10
    before = budgets.current()
    budgets.configure(max_params=100_000_000)
    try:
        with pytest.raises(
            budgets.BudgetError,
            match=rf"{params / 1e6:,.1f} M parameters .* limit of 100 M "
            r"\(--max-params\)",
        ):
            load_weights(name, "random")
    finally:
        budgets.configure(max_params=before.max_params)
    assert built == []  # refused before zoo.create_model was called
    monkeypatch.setattr(budgets.memory, "available_memory", lambda: 400 * 2**20)  # a crowded machine
    with pytest.raises(
        budgets.BudgetError, match=r"needs 576\.6 MiB for its weights but this server has 400\.0 MiB free"
    ):
        load_weights(name, "random")


def test_imagenet_offline_gives_a_clear_message(monkeypatch):
    real = zoo.create_model

    def offline(name, pretrained=False, num_classes=None):
        if not pretrained:  # (the memory budget counts parameters on a meta-device build)
            return real(name, pretrained, num_classes)
        raise zoo.WeightsUnavailableError(f"could not download the pretrained weights for {name} (offline)")

    monkeypatch.setattr(zoo, "create_model", offline)
    with pytest.raises(WeightsError, match="ImageNet weights for resnet18 are not available.*offline"):
        load_model("resnet18", "imagenet")
    monkeypatch.undo()
    with pytest.raises(WeightsError, match="no pretrained weights"):
        load_model(SMALL, "imagenet")  # a CIFAR-only custom model: the zoo's own message


def test_checkpoint_weights_names_and_reload_on_change(tmp_path):
    torch.manual_seed(7)
    trained = zoo.create_model(SMALL, num_classes=3)
    names = ["cat", "dog", "bird"]
    path = tmp_path / "latest.pt"
    save_checkpoint(
        make_checkpoint(
            model_name=SMALL,
            class_names=names,
            model=trained,
            optimizer=None,
            config={"lr": 0.1},
            epoch=2,
            step=40,
            metrics={"val_acc": 0.5},
        ),
        path,
    )
    loaded = load_weights("vgg16", "checkpoint", path)  # the checkpoint names its own model
    assert loaded.model_name == SMALL and loaded.class_names == names
    assert "epoch 2" in loaded.info and "vgg16" in loaded.info
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), loaded.model.state_dict().values()))
    assert load_weights(SMALL, "checkpoint", path) is loaded

    with torch.no_grad():
        trained.features[0].weight.add_(1.0)
    save_checkpoint(
        make_checkpoint(
            model_name=SMALL, class_names=names, model=trained, optimizer=None, config={}, epoch=3, step=60
        ),
        path,
    )
    os.utime(path, ns=(1, 10**18))  # a different mtime even on coarse file systems
    newer = load_weights(SMALL, "checkpoint", path)
    assert newer is not loaded and "epoch 3" in newer.info
    assert torch.equal(newer.model.features[0].weight, trained.features[0].weight)


def test_checkpoint_errors(tmp_path):
    with pytest.raises(WeightsError, match="needs a checkpoint path"):
        load_weights(SMALL, "checkpoint")
    with pytest.raises(WeightsError, match="checkpoint not found"):
        load_weights(SMALL, "checkpoint", tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="corrupt"):
        load_weights(SMALL, "checkpoint", junk)
    with pytest.raises(WeightsError, match="unknown weight source 'pretrained'"):
        load_weights(SMALL, "pretrained")
    with pytest.raises(zoo.UnknownModelError):
        load_weights("vgg17", "random")


def test_top_k_and_the_random_weights_flag():
    logits = torch.tensor([1.0, 3.0, 2.0, 0.0])
    names = ["a", "b", "c", "d"]
    exp = torch.exp(logits) / torch.exp(logits).sum()
    result = top_k(logits, names, k=3)
    assert [n for n, _ in result] == ["b", "c", "a"]
    assert [p for _, p in result] == pytest.approx([float(exp[1]), float(exp[2]), float(exp[0])])
    assert top_k(logits.unsqueeze(0), names, k=10) == top_k(logits, names, k=4)
    with pytest.raises(ValueError, match="4 logits but 3 class names"):
        top_k(logits, names[:3])
    assert not predictions_meaningful("random") and prediction_note("random") == RANDOM_WEIGHTS_NOTE
    assert predictions_meaningful("imagenet") and prediction_note("checkpoint") == ""
    assert predictions_meaningful("imagenet", "resnet18")
    # ImageNet features under a new CIFAR-10 head: the head is untrained.
    assert not predictions_meaningful("imagenet", "vgg19_finetune_cifar")
    assert "head is untrained" in prediction_note("imagenet", "vgg19_finetune_cifar")


def test_reload_finds_weights_by_their_key_after_the_cache_forgot_them():
    """The page keeps only a pass's key; the weights it was computed from are found again by theirs."""
    loaded = load_weights("alexnet_cifar", "random")
    weight_sources.clear_cache()
    again = weight_sources.reload(loaded.key, loaded.model_name)
    assert again.key == loaded.key and again is not loaded
    assert all(torch.equal(a, b) for a, b in zip(loaded.model.state_dict().values(), again.model.state_dict().values()))
    assert weight_sources.reload(loaded.key, loaded.model_name) is again  # from the cache now
    # A network of your own: its weights by its key, until the instance changes them.
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.Flatten(), torch.nn.LazyLinear(10))
    net(torch.zeros(1, 3, 32, 32))
    zoo.register_model(net, name="reload_net")
    try:
        own = load_weights("reload_net", "own")
        weight_sources.clear_cache()
        assert weight_sources.reload(own.key, "reload_net").key == own.key
        with torch.no_grad():
            net[0].weight.mul_(2)  # trained on since
        assert weight_sources.reload(own.key, "reload_net").key == own.key  # the cached copy still holds them
        weight_sources.clear_cache()  # and once it is gone, so are the weights the page showed
        with pytest.raises(WeightsError, match="the weights changed since this was shown"):
            weight_sources.reload(own.key, "reload_net")
    finally:
        zoo.unregister_model("reload_net")


# ------------------------------------------------------------------------------------ the training run's weights


def test_the_training_source_reads_what_the_trainer_published(monkeypatch, tmp_path):
    # Published by hand, as the trainer's snapshots publish: weight loading needs no trainer, no thread.
    registry = WeightsRegistry()
    monkeypatch.setattr(latest_weights, "REGISTRY", registry)
    with pytest.raises(WeightsError, match="no training run has weights yet"):
        load_weights(SMALL, "training")
    assert weight_sources.resolve_auto(SMALL)[0] == "random" and weight_sources.latest_checkpoint() is None

    torch.manual_seed(7)
    trained = zoo.create_model(SMALL, num_classes=10)
    state = {k: v.clone() for k, v in trained.state_dict().items()}
    registry.publish(LatestWeights("run-x", SMALL, list(zoo.CIFAR10_CLASSES), "shapes", state, 2, 40, True))
    loaded = load_weights(SMALL, "training")
    assert all(torch.equal(v, state[k]) for k, v in loaded.model.state_dict().items())
    assert loaded.key == ("training", ("run-x", 40, True)) and "epoch 2 done, step 40, shapes" in loaded.info
    assert weight_sources.resolve_auto(SMALL)[0] == "training"  # auto: the run's weights, for the model it trains
    assert weight_sources.resolve_auto("vgg:4,M")[0] == "random"  # not for another model

    path = tmp_path / "last.pt"
    save_checkpoint(
        make_checkpoint(
            model_name=SMALL,
            class_names=zoo.CIFAR10_CLASSES,
            model=trained,
            optimizer=None,
            config={},
            epoch=2,
            step=40,
        ),
        path,
    )
    registry.publish_checkpoint(str(path))
    registry.publish(LatestWeights("run-x", "vgg:4,M", ["a"], "shapes", {}, 0, 0, False))  # another model now
    assert weight_sources.latest_checkpoint() == str(path)
    assert weight_sources.resolve_auto(SMALL)[:2] == ("checkpoint", str(path))  # the run's checkpoint of SMALL


def test_loading_weights_imports_nothing_of_the_trainer():
    # weight_sources reads the registry; the trainer (thread, loop, snapshots) is above it, never imported by it.
    code = "import sys, visualizer.weight_sources; print(sorted(m for m in sys.modules if m.startswith('visualizer')))"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root).stdout
    loaded = set(ast.literal_eval(out))
    assert "visualizer.latest_weights" in loaded
    assert not loaded & {"visualizer.background", "visualizer.training", "visualizer.snapshots"}


def test_weights_say_what_they_are_in_korean_too():
    loaded = load_weights("alexnet_cifar", "random")
    assert loaded.info == "alexnet_cifar: random initialization (seed 0), untrained"
    assert loaded.info_ko == "alexnet_cifar: 무작위 초기화 (시드 0), 학습되지 않음"
    assert "의미가 없습니다" in prediction_note("random", "alexnet_cifar", "ko")
    assert prediction_note("random", "alexnet_cifar") == RANDOM_WEIGHTS_NOTE
