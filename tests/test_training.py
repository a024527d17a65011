import threading

import pytest
import torch

import visualizer.training as training
import zoo
from visualizer.checkpoint import load_checkpoint, model_from_checkpoint
from visualizer.datasets import Normalizer, load_shapes
from visualizer.training import (
    MetricsLog,
    NonFiniteLossError,
    RunControl,
    TrainConfig,
    build_model,
    freeze_features,
    learning_rate,
    train,
)

TINY_VGG = "vgg_bn:16,M,32,M,64,M"  # a zoo custom VGG: learns shapes in seconds on a CPU


def _tiny(tmp_path, **over) -> TrainConfig:
    # CPU even where a GPU exists: the exact-resume and independent-evaluation checks assume float32.
    kw = dict(
        model=TINY_VGG,
        dataset="shapes",
        device="cpu",
        epochs=2,
        subset=640,
        test_subset=200,
        batch_size=64,
        lr=3e-3,
        schedule="constant",
        log_every=5,
        out_dir=str(tmp_path / "run"),
    )
    kw.update(over)
    return TrainConfig(**kw)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("epochs", 0, "epochs must be 1..1000, got 0"),
        ("batch_size", -8, "batch_size must be 1..8192, got -8"),
        ("lr", 0.0, "lr must be in (0, 10], got 0.0"),
        ("lr", float("nan"), "lr must be"),
        ("optimizer", "rmsprop", "optimizer must be one of sgd, adam, got 'rmsprop'"),
        ("schedule", "step", "schedule must be one of constant, cosine, onecycle"),
        ("momentum", 1.5, "momentum must be in [0, 1), got 1.5"),
        ("dataset", "mnist", "dataset must be one of cifar10, shapes, got 'mnist'"),
        ("subset", 0, "subset must be a positive integer or None"),
        ("device", "tpu", "device must be one of auto, cpu, cuda, mps"),
        ("model", "lenet", "unknown model 'lenet'"),
        ("model", "alexnet", "needs inputs of at least 63×63"),  # torchvision's AlexNet metadata: min_size 63
        ("pretrained", True, "has no pretrained weights"),  # the default model, alexnet_cifar, is trained from scratch
        ("resume", "/no/such/last.pt", "checkpoint to resume from not found: /no/such/last.pt"),
    ],
)
def test_validate_rejects_absurd_values_and_says_why(field, value, words):
    with pytest.raises(ValueError) as err:
        TrainConfig(**{field: value}).validate()
    assert words in str(err.value)


def test_config_roundtrips_through_plain_dicts():
    cfg = TrainConfig(model="resnet18_cifar", epochs=7, subset=None)
    assert TrainConfig.from_dict({**cfg.to_dict(), "from_a_newer_version": 1}) == cfg


def test_cosine_matches_torch_and_onecycle_has_its_shape():
    cfg = TrainConfig(lr=0.1, schedule="cosine")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=50)
    for step in range(50):
        assert learning_rate(cfg, step, 50) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-9, abs=1e-12)
        opt.step()
        sched.step()
    one = TrainConfig(lr=0.1, schedule="onecycle")
    lrs = [learning_rate(one, s, 1000) for s in range(1001)]
    assert lrs[0] == pytest.approx(0.1 / 25) and max(lrs) == pytest.approx(0.1) and lrs.index(max(lrs)) == 300
    assert lrs[-1] == pytest.approx(0.1 / 25 / 1e4)
    assert all(a <= b for a, b in zip(lrs[:300], lrs[1:301])) and all(a >= b for a, b in zip(lrs[300:], lrs[301:]))
    assert learning_rate(TrainConfig(lr=0.1, schedule="constant"), 999, 1000) == 0.1


def test_a_short_run_on_shapes_really_learns(tmp_path):
    # Measured: 0.65-0.67 test accuracy over seeds 0-2 (chance is 0.10).
    cfg = _tiny(tmp_path, epochs=2, subset=4000, test_subset=1000, schedule="onecycle", lr=1e-2, log_every=20)
    log = MetricsLog()
    done = train(cfg, log)
    assert done["status"] == "finished" and done["synthetic"] and done["step"] == 2 * (4000 // 64)
    assert done["test_acc"] >= 0.5

    # The reported accuracy is what the saved weights really score (evaluated here, independently).
    model, ckpt = model_from_checkpoint(done["checkpoint"])
    test = load_shapes(train=False, seed=0, n=1000)
    spec = zoo.get_spec(TINY_VGG)
    x = (test.images.float() / 255 - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        pred = model(x).argmax(1)
    assert (pred == test.labels).float().mean().item() == pytest.approx(done["test_acc"], abs=1e-6)

    m = log.snapshot()
    final = m["final"]
    cm = torch.tensor(final["confusion_matrix"])
    assert cm.sum() == 1000 and torch.equal(cm.sum(1), torch.bincount(test.labels, minlength=10))
    assert (cm.diag().sum() / 1000).item() == pytest.approx(done["test_acc"])
    assert final["per_class_acc"] == pytest.approx((cm.diag() / cm.sum(1)).tolist())
    assert [e["epoch"] for e in m["epochs"]] == [1, 2]
    steps = [r["step"] for r in m["steps"]]
    assert steps == sorted(steps) and steps[-1] == done["step"]
    assert set(m["steps"][0]) == {"epoch", "step", "loss", "acc", "lr", "images_per_sec"}
    assert ckpt["metrics"]["epochs"] == m["epochs"]  # the checkpoint carries the curves


def test_stop_then_resume_continues_exactly(tmp_path):
    """Stopped mid-epoch and resumed, a run ends with the same weights and curve as an uninterrupted one."""
    whole = train(_tiny(tmp_path, out_dir=str(tmp_path / "whole")))

    control = RunControl()

    def stop_at_15(event):
        if event["event"] == "step" and event["step"] == 15:
            control.stop()

    first = train(_tiny(tmp_path, out_dir=str(tmp_path / "parts")), control=control, on_event=stop_at_15)
    assert first["status"] == "stopped" and first["step"] == 15 and first["epochs_done"] == 1
    ckpt = load_checkpoint(first["checkpoint"])
    assert (ckpt["epoch"], ckpt["step"]) == (1, 15)

    log = MetricsLog()
    resumed = train(_tiny(tmp_path, out_dir=str(tmp_path / "parts"), resume=first["checkpoint"]), log)
    assert resumed["status"] == "finished" and resumed["step"] == whole["step"] == 20

    a, _ = model_from_checkpoint(whole["checkpoint"])
    b, _ = model_from_checkpoint(resumed["checkpoint"])
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        torch.testing.assert_close(pa, pb, msg=f"{name} differs after resume")
    whole_steps = load_checkpoint(whole["checkpoint"])["metrics"]["steps"]
    assert [r["step"] for r in log.snapshot()["steps"]] == [5, 10, 15, 20]
    assert [r["loss"] for r in log.snapshot()["steps"]] == pytest.approx([r["loss"] for r in whole_steps])
    assert resumed["test_acc"] == pytest.approx(whole["test_acc"])


def test_nan_loss_stops_the_run_and_says_so(tmp_path, monkeypatch):
    class PoisonedAfter3(Normalizer):  # the 4th training batch turns into NaNs
        calls = 0

        def __call__(self, images):
            PoisonedAfter3.calls += 1
            out = super().__call__(images)
            return out * float("nan") if PoisonedAfter3.calls > 3 else out

    monkeypatch.setattr(training, "Normalizer", PoisonedAfter3)
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at step 5 \(epoch 1\).*learning rate"):
        train(_tiny(tmp_path))
    assert not (tmp_path / "run" / "last.pt").exists()  # broken weights are never checkpointed


def test_frozen_features_do_not_move(tmp_path):
    cfg = _tiny(tmp_path, epochs=1, subset=256, freeze_features=True)
    torch.manual_seed(cfg.seed)
    before = build_model(cfg, 10).state_dict()
    done = train(cfg)
    after, _ = model_from_checkpoint(done["checkpoint"])
    after = after.state_dict()
    conv_w = [k for k in before if k.startswith("features.") and k.endswith("weight")]
    head_w = [k for k in before if not k.startswith("features.") and k.endswith("weight")]
    assert conv_w and head_w
    assert all(torch.equal(before[k], after[k]) for k in conv_w)
    assert all(not torch.equal(before[k], after[k]) for k in head_w)

    resnet = zoo.create_model("resnet18_cifar")
    freeze_features(resnet)
    assert [n for n, p in resnet.named_parameters() if p.requires_grad] == ["linear.weight", "linear.bias"]


def test_an_imagenet_model_gets_a_ten_way_head_and_frozen_features():
    model = build_model(TrainConfig(model="resnet18", freeze_features=True), 10)  # torchvision's builder
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["fc.weight", "fc.bias"]
    vgg = build_model(TrainConfig(model="vgg11", freeze_features=True), 10)
    trainable = {n.split(".")[0] for n, p in vgg.named_parameters() if p.requires_grad}
    assert trainable == {"classifier"} and vgg.classifier[-1].out_features == 10


def test_metrics_log_reads_are_consistent_while_writing():
    log = MetricsLog()
    n = 20000

    def writer():
        for i in range(n):
            log.add_step({"step": i})

    t = threading.Thread(target=writer)
    t.start()
    seen = 0
    while t.is_alive() or seen < n:
        steps = log.snapshot()["steps"]
        assert len(steps) >= seen
        assert all(
            r["step"] == i for i, r in enumerate(steps[seen - 100 if seen > 100 else 0 :], start=max(seen - 100, 0))
        )
        seen = len(steps)
    t.join()
    snap = log.snapshot()
    snap["steps"].append({"step": -1})  # a reader's list is its own
    assert len(log.snapshot()["steps"]) == n


def test_one_recipe_for_the_cli_the_training_tab_and_the_config():
    """Flags and tab fields left at their defaults give the same run as TrainConfig's, from DATASET_DEFAULTS."""
    from visualizer.cli import build_parser
    from visualizer.train_cli import config_from_args
    from visualizer.views import training as tab

    # The classroom demo: `train alexnet_cifar --dataset shapes` runs 3 epochs of 4000 images.
    shapes = TrainConfig(dataset="shapes")
    assert (shapes.epochs, shapes.subset) == (3, 4000)
    assert {k: getattr(shapes, k) for k in training.DATASET_DEFAULTS["shapes"]} == training.DATASET_DEFAULTS["shapes"]
    assert TrainConfig() == TrainConfig(dataset="cifar10") != TrainConfig(dataset="shapes", model="alexnet_cifar")
    for dataset in training.DATASET_DEFAULTS:
        config = TrainConfig(dataset=dataset)
        cli = config_from_args(build_parser().parse_args(["train", "alexnet_cifar", "--dataset", dataset]))
        assert cli == config
        fields = tab.recipe(dataset)  # what the tab's fields hold after picking the dataset
        ui = tab.make_config(
            "alexnet_cifar",
            dataset,
            fields["epochs"],
            fields["batch_size"],
            fields["lr"],
            "adam",
            fields["schedule"],
            0.0,
            fields["subset"],
            0,
            fields["augment"],
        )
        assert ui == TrainConfig(dataset=dataset, log_every=tab.UI_LOG_EVERY)
    # A value given wins over the dataset's; a checkpoint's config (every field) is taken as it is.
    assert TrainConfig(dataset="shapes", batch_size=128).batch_size == 128
    assert (
        TrainConfig.from_dict(TrainConfig(dataset="cifar10").to_dict() | {"dataset": "shapes"}).batch_size
        == training.DATASET_DEFAULTS["cifar10"]["batch_size"]
    )


def test_a_diverging_run_stops_and_says_to_lower_the_learning_rate(tmp_path):
    # Adam at lr 10: the loss explodes within a few steps (it once "finished" at 6.7e13 and chance accuracy).
    from visualizer.training import DivergedError, MetricsLog, train

    config = TrainConfig(
        model="vgg:8,M,16,M",
        dataset="shapes",
        device="cpu",
        epochs=3,
        subset=320,
        test_subset=50,
        batch_size=32,
        lr=10.0,
        optimizer="adam",
        schedule="constant",
        log_every=1,
        out_dir=str(tmp_path / "run"),
    )
    log = MetricsLog()
    with pytest.raises(
        DivergedError,
        match=r"more than 10× where it started .* Lower the learning rate "
        r"\(it was 10; try 1\)",
    ):
        train(config, log)
    losses = [r["loss"] for r in log.snapshot()["steps"]]
    assert losses and max(losses) <= 10 * max(losses[0], 1.0)  # stopped at the first record past the bound
    assert not (tmp_path / "run" / "last.pt").exists()  # no checkpoint of the broken weights
