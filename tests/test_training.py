import math
import re
import threading

import pytest
import torch

import visualizer.training as training
import zoo
from visualizer.checkpoint import load_checkpoint, model_from_checkpoint
from visualizer.datasets import Normalizer, load_shapes
from visualizer.training import (
    DivergedError,
    MetricsLog,
    NonFiniteLossError,
    RunControl,
    TrainConfig,
    build_model,
    check_loss,
    divergence_bound,
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
    assert set(m["steps"][0]) == {"epoch", "step", "loss", "acc", "lr", "images_per_sec", "images", "elapsed_s"}
    # images seen: the x axis runs of different batch sizes compare on (the config's batch of 64, every batch full)
    assert [r["images"] for r in m["steps"]] == [64 * s for s in steps] and done["images"] == 64 * done["step"]
    per_epoch = 64 * (4000 // 64)  # the ragged last batch of each epoch is dropped
    assert [e["images"] for e in m["epochs"]] == [per_epoch, 2 * per_epoch]
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
        fields = tab.recipe_fields(dataset)  # what the tab's fields hold after picking the dataset
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


# ------------------------------------------------------------------------------------------- divergence

ADVICE = r"Lower the learning rate \(it was {lr}; try {tenth}\) or use a schedule with warm-up \(onecycle\)"


def test_adam_at_lr_10_stops_at_its_first_record(tmp_path):
    # The reported run (the default alexnet_cifar, Adam lr 10, batch 32 on shapes) "finished" at 10 %: its first
    # record, the mean of its first steps, was already 1.2e25, and that was the yardstick. Two steps reproduce it.
    config = TrainConfig(
        dataset="shapes",
        device="cpu",
        epochs=1,
        subset=64,
        test_subset=20,
        batch_size=32,
        lr=10.0,
        schedule="constant",
        log_every=2,
        out_dir=str(tmp_path / "run"),
    )
    with pytest.raises(DivergedError) as err:
        train(config)
    message = str(err.value)
    # The first batch of a network at random init scores about ln 10 = 2.30, what a chance predictor scores.
    first = float(re.search(r"where it started \(([\d.]+), its first batch\)", message)[1])
    assert first == pytest.approx(math.log(10), abs=0.1)
    assert re.search(r"rose to [\d.]+e\+\d+ at step 2 \(epoch 1\)", message)
    assert re.search(r"accuracy \d+% \(chance: 10%\)", message) and re.search(ADVICE.format(lr=10, tenth=1), message)
    assert not (tmp_path / "run" / "last.pt").exists()  # no checkpoint of the broken weights


def test_a_tenfold_rise_from_a_small_start_is_stopped(tmp_path):
    # A network that has learnt its 32 images (loss ~0.4), resumed at lr 1: its first batch scores ~0.3 and the
    # mean of the next two is ~10 (measured). Judged against that first record, the run went on, at 34 and 8.7.
    learnt = train(_tiny(tmp_path, subset=32, batch_size=16, epochs=15, lr=1e-2, log_every=2))
    assert learnt["status"] == "finished"
    resumed = _tiny(tmp_path, subset=32, batch_size=16, epochs=18, lr=1.0, log_every=2, resume=learnt["checkpoint"])
    resumed.out_dir = str(tmp_path / "resumed")
    with pytest.raises(DivergedError) as err:
        train(resumed)
    started = re.search(
        r"rose to ([\d.]+) at step 32 \(epoch 16\), more than 10× where it started \(([\d.]+)", str(err.value)
    )
    loss, first = float(started[1]), float(started[2])
    assert first < 0.5 and loss > 10 * first and loss > math.log(10)
    assert re.search(ADVICE.format(lr=1, tenth=0.1), str(err.value))
    assert not (tmp_path / "resumed" / "last.pt").exists()


def test_a_healthy_default_run_is_not_stopped(tmp_path):
    # The classroom recipe (alexnet_cifar, Adam 2.5e-4, batch 16): it sits at chance for a while, which is no
    # divergence. Its first epoch's start, on fewer images.
    config = TrainConfig(dataset="shapes", device="cpu", epochs=1, subset=400, test_subset=100, log_every=5)
    config.out_dir = str(tmp_path / "run")
    log = MetricsLog()
    done = train(config, log)
    losses = [r["loss"] for r in log.snapshot()["steps"]]
    assert done["status"] == "finished" and len(losses) == 5
    assert max(losses) < math.log(10) + 0.5  # at chance (2.30) or better, far under the bound (~23 for this start)


@pytest.mark.parametrize(
    "first, bound",
    [
        (2.3, 23.0),  # at random init a network scores about chance's ln 10 = 2.303: ten times its first batch
        (1.0, 10.0),
        (0.2, 2.303),  # a small start: 10× (2.0) is still better than guessing, noise for a trained network (README)
        (0.01, 2.303),
        (50.0, 23.026),  # a start worse than chance is judged against chance
    ],
)
def test_divergence_is_judged_against_the_first_batch_and_chance(first, bound):
    assert divergence_bound(first, 10) == pytest.approx(bound, abs=1e-3)
    check_loss(bound - 0.01, 0.1, first, 10, step=7, epoch=1, lr=0.5)  # under the bound: the run goes on
    with pytest.raises(
        DivergedError, match=r"rose to [\d.]+ at step 7 \(epoch 1\).*" + ADVICE.format(lr=0.5, tenth=0.05)
    ):
        check_loss(bound + 0.01, 0.1, first, 10, step=7, epoch=1, lr=0.5)
    nan = r"became nan at step 7 \(epoch 1\); the run is stopped\. " + ADVICE.format(lr=0.5, tenth=0.05)
    with pytest.raises(NonFiniteLossError, match=nan):  # the same advice as a divergence
        check_loss(float("nan"), 0.1, first, 10, step=7, epoch=1, lr=0.5)


@pytest.mark.parametrize("name", ["adam", "sgd"])
def test_the_optimizer_is_fused_on_the_cpu_and_makes_torchs_reference_update(name):
    """One kernel call per step on the CPU (the trainer shares the GIL with the server), and the same update as
    PyTorch's single-tensor reference loop (``foreach=False``) over ten steps."""
    from visualizer.training import TrainConfig, make_optimizer

    config = TrainConfig(model="alexnet_cifar", optimizer=name, lr=1e-2, weight_decay=1e-3)
    torch.manual_seed(0)
    ours, reference = torch.nn.Linear(12, 5), torch.nn.Linear(12, 5)
    reference.load_state_dict(ours.state_dict())
    optimizer = make_optimizer(config, ours)
    assert optimizer.defaults["fused"] is True
    kwargs = {"momentum": config.momentum} if name == "sgd" else {}
    cls = torch.optim.SGD if name == "sgd" else torch.optim.Adam
    plain = cls(reference.parameters(), lr=config.lr, weight_decay=config.weight_decay, foreach=False, **kwargs)
    for _ in range(10):
        x = torch.randn(6, 12)
        for model, opt in ((ours, optimizer), (reference, plain)):
            opt.zero_grad()
            model(x).square().mean().backward()
            opt.step()
    for a, b in zip(ours.parameters(), reference.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
