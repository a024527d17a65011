import shutil

import numpy as np
import pytest
import torch

import visualizer.snapshots as snapshots
import zoo
from visualizer.checkpoint import load_checkpoint, model_from_checkpoint
from visualizer.datasets import load_shapes
from visualizer.features import filters_picture, first_rgb_conv
from visualizer.latest_weights import WeightsRegistry
from visualizer.snapshots import SnapshotLog, filters_image, probe_maps_image
from visualizer.training import TrainConfig, train

TINY_VGG = "vgg_bn:16,M,32,M,64,M"  # stages: features.2 (16×32×32), .6 (32×16×16), .10 (64×8×8), .11 (64×4×4)


def _tiny(tmp_path, **over) -> TrainConfig:
    kw = dict(
        model=TINY_VGG,
        dataset="shapes",
        device="cpu",
        epochs=2,
        subset=320,
        test_subset=100,
        batch_size=32,
        lr=3e-3,
        schedule="constant",
        log_every=1,
        out_dir=str(tmp_path / "run"),
    )
    kw.update(over)
    return TrainConfig(**kw)


def _probe_forward(model, image_u8):
    """The probe through ``model`` the plain way: normalized by hand, outputs of every stage layer by plain hooks."""
    spec = zoo.get_spec(TINY_VGG)
    mean, std = torch.tensor(spec.mean).view(1, 3, 1, 1), torch.tensor(spec.std).view(1, 3, 1, 1)
    x = (image_u8.float()[None] / 255 - mean) / std
    outputs = {}
    handles = [
        model.features[i].register_forward_hook(lambda m, i_, o, i=i: outputs.__setitem__(i, o.clone()))
        for i in (2, 6, 10, 11)
    ]
    with torch.no_grad():
        logits = model.eval()(x)[0]
    for h in handles:
        h.remove()
    return logits, {f"features.{i}": out[0] for i, out in outputs.items()}


def test_snapshots_are_the_weights_trained_at_that_moment(tmp_path):
    # Keep the checkpoint written at the end of epoch 1 (the first step of epoch 2 comes after it is saved).
    def keep_epoch_1(event):
        if event["event"] == "step" and event["step"] == 11:
            shutil.copy(tmp_path / "run" / "last.pt", tmp_path / "epoch1.pt")

    registry = WeightsRegistry()
    # Only the start, the epoch ends and the end: exactly what the test compares.
    log = SnapshotLog(every_s=1e9, publish_to=registry)
    done = train(_tiny(tmp_path), on_event=keep_epoch_1, snapshots=log)
    history = log.history()
    assert [(s.epochs_done, s.step, s.epoch_end) for s in history] == [(0, 0, False), (1, 10, True), (2, 20, True)]
    assert log.latest() is history[-1]

    test = load_shapes(train=False, seed=0, n=100)
    torch.manual_seed(0)
    initial = zoo.create_model(TINY_VGG, num_classes=10).features[0].weight.detach()  # the trainer's seeded start
    assert torch.equal(history[0].filters, initial) and history[2].start_filters is history[0].filters
    for snap, path in [(history[1], tmp_path / "epoch1.pt"), (history[2], done["checkpoint"])]:
        model, ckpt = model_from_checkpoint(path)
        assert ckpt["step"] == snap.step
        # The filters are the first conv's weights of that epoch, bit for bit, drawn as filters_picture draws
        # them; below, their change since the start (the seeded initial weights), drawn the same way.
        assert torch.equal(snap.filters, ckpt["model"]["features.0.weight"])
        picture, now = filters_image(snap), filters_picture(first_rgb_conv(model).weight, min_patch=24)
        top = snapshots.FILTERS_LABEL_H
        assert np.array_equal(np.asarray(picture.crop((0, top, now.width, top + now.height))), np.asarray(now))
        change = ckpt["model"]["features.0.weight"] - initial
        below = 2 * top + now.height
        assert np.array_equal(
            np.asarray(picture.crop((0, below, now.width, below + now.height))),
            np.asarray(filters_picture(change, min_patch=24)),
        )
        # The probe is the run's first test image; its maps and logits are what those weights compute for it.
        assert torch.equal(snap.probe.image, test.images[0]) and snap.probe.label == int(test.labels[0])
        assert snap.probe.class_name == test.class_names[snap.probe.label]
        logits, stages = _probe_forward(model, test.images[0])
        torch.testing.assert_close(snap.logits, logits, rtol=1e-5, atol=1e-5)
        assert [s.key for s in snap.stages] == list(stages)
        for stage in snap.stages:
            full = stages[stage.key]
            assert stage.shape == tuple(full.shape)
            means = full.mean(dim=(1, 2))
            top = torch.argsort(means, descending=True, stable=True)[: snapshots.MAPS_PER_STAGE]
            assert list(stage.channels) == top.tolist()
            np.testing.assert_allclose(stage.maps, full[list(stage.channels)].numpy(), rtol=1e-5, atol=1e-5)
        assert [name for name, _ in snap.top(3)] == [test.class_names[i] for i in logits.topk(3).indices.tolist()]

    # It changes as the network learns: every epoch moves the filters and the probe's maps.
    start, first, second = history
    for a, b in [(start, first), (first, second)]:
        assert (a.filters - b.filters).abs().max() > 1e-3
        assert not np.allclose(a.stages[0].maps, b.stages[0].maps)

    # The latest weights are the final ones: the checkpoint's state, every tensor.
    weights = log.latest_weights()
    final = load_checkpoint(done["checkpoint"])
    assert (weights.model_name, weights.epochs_done, weights.step, weights.dataset) == (TINY_VGG, 2, 20, "")
    assert weights.class_names == final["class_names"] and weights.state_dict.keys() == final["model"].keys()
    assert all(torch.equal(weights.state_dict[k], final["model"][k]) for k in final["model"])
    assert registry.latest() is weights  # published, for weight loading to read


def test_a_stopped_run_ends_with_a_snapshot_of_its_last_step(tmp_path):
    from visualizer.training import RunControl

    control = RunControl()

    def stop_at_7(event):
        if event["event"] == "step" and event["step"] == 7:
            control.stop()

    log = SnapshotLog(every_s=1e9)
    done = train(_tiny(tmp_path), control=control, on_event=stop_at_7, snapshots=log)
    assert done["status"] == "stopped"
    latest = log.latest()
    assert (latest.step, latest.epochs_done, latest.epoch_end) == (7, 0, False)
    assert torch.equal(latest.filters, load_checkpoint(done["checkpoint"])["model"]["features.0.weight"])
    assert [s.step for s in log.history()] == [0]  # the start only: no epoch ended


def test_long_runs_keep_a_spread_of_epochs(tmp_path, monkeypatch):
    monkeypatch.setattr(snapshots, "HISTORY_LIMIT", 4)
    log = SnapshotLog(every_s=1e9)
    train(_tiny(tmp_path, epochs=6, subset=64), snapshots=log)  # 2 steps per epoch
    kept = [s.epochs_done for s in log.history()]
    # 0 1 2 3 +4 → 0 2 3 4 +5 → 0 2 4 5 +6 → 0 2 4 6: each time, the inner one with the closest neighbours goes
    assert kept == [0, 2, 4, 6]


def test_pictures_show_every_stage_and_the_probe(tmp_path):
    log = SnapshotLog(every_s=1e9)
    train(_tiny(tmp_path, epochs=1, subset=64), snapshots=log)
    snap = log.latest()
    maps = probe_maps_image(snap)
    # Four stages of six maps, each map at least 96 px (MIN_TILE), one row per stage under its label.
    assert len(snap.stages) == 4 and all(len(s.channels) == 6 for s in snap.stages)
    assert maps.width > 6 * 96 and maps.height >= 4 * 96
    # The probe sits top-left under its label, enlarged 4× with nearest-neighbour: its first pixel is the image's.
    assert maps.getpixel((6, 6 + 22)) == tuple(snap.probe.image[:, 0, 0].tolist())
    now = filters_picture(first_rgb_conv(model_from_checkpoint(tmp_path / "run" / "last.pt")[0]).weight, min_patch=24)
    assert filters_image(snap).size == (now.width, 2 * (snapshots.FILTERS_LABEL_H + now.height))  # now, and change
    # In Korean (where the machine has a font with Hangul): the same pictures, only their labels differ.
    korean = probe_maps_image(snap, lang="ko")
    assert korean.size == maps.size and korean.getpixel((6, 6 + 22)) == maps.getpixel((6, 6 + 22))
    labels_differ = np.asarray(korean)[:22].tolist() != np.asarray(maps)[:22].tolist()
    assert labels_differ == snapshots.korean_available()
    assert filters_image(snap, lang="ko").size == filters_image(snap).size


def test_a_request_gets_a_snapshot_at_the_next_batch(tmp_path):
    log = SnapshotLog(every_s=1e9)
    seen = {}

    def ask_at_step_5(event):
        if event["event"] == "step" and event["step"] == 5:
            seen["ticket"] = log.request()
        if event["event"] == "step" and event["step"] == 6:
            seen["latest at 6"] = log.latest().step

    train(_tiny(tmp_path, epochs=1), on_event=ask_at_step_5, snapshots=log)
    assert seen["latest at 6"] == 5  # taken before batch 6, from the weights after step 5
    assert log.wait(seen["ticket"], timeout=0)
    assert [s.step for s in log.history()] == [0, 10]  # requested ones are not kept: the start and epoch ends are
    assert not log.wait(log.request(), timeout=0.01)  # the run is over: nobody serves a request


@pytest.mark.parametrize("model", ["alexnet_cifar", "resnet18_cifar"])
def test_the_course_models_have_a_picture(model):
    """Stage layers come from the analysis engine's records: real module names of the models the trainer builds."""
    torch.manual_seed(0)
    net = zoo.create_model(model)
    log = SnapshotLog()
    image = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    log.begin(net, model, [f"c{i}" for i in range(10)], snapshots.Probe(image, 3, "c3", 0), torch.randn(1, 3, 32, 32))
    snap = log.latest()
    assert snap.step == 0 and snap.filters.shape[1] == 3 and len(snap.stages) >= 3
    assert [s.shape[1] for s in snap.stages] == sorted((s.shape[1] for s in snap.stages), reverse=True)
    assert net.training  # the snapshot's eval() is undone
    assert probe_maps_image(snap).width > 0


def test_a_failing_snapshot_stops_the_pictures_not_the_run(tmp_path, monkeypatch):
    class Broken(snapshots.FeatureCapture):
        calls = 0

        def __enter__(self):
            Broken.calls += 1
            if Broken.calls == 2:  # the start works; the epoch end's snapshot breaks
                raise RuntimeError("out of memory, say")
            return super().__enter__()

    monkeypatch.setattr(snapshots, "FeatureCapture", Broken)
    log = SnapshotLog(every_s=1e9)
    done = train(_tiny(tmp_path, epochs=2, subset=64), snapshots=log)
    assert done["status"] == "finished" and done["epochs_done"] == 2  # trained to the end all the same
    assert log.error == "RuntimeError: out of memory, say" and Broken.calls == 2  # no more tries after the failure
    assert [s.step for s in log.history()] == [0] and log.latest().step == 0
    assert not log.due() and log.wait(log.request(), timeout=10)  # nobody waits for a snapshot that will not come
