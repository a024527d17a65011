"""``visualizer.budgets``: the limits one server keeps — model size, files it owns, reply images, logins."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from visualizer import budgets
from visualizer.budgets import outputs, runs
from visualizer.budgets.logins import FIRST_LOCK_S, FREE_TRIES, LoginGuard, LoginLocked
from visualizer.checkpoint import make_checkpoint, save_checkpoint


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS_DIR", str(tmp_path / "runs"))
    return tmp_path / "runs"


def write_run(root, name, mtime):
    path = root / name / "last.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    model = zoo.create_model("vgg:4,M")
    save_checkpoint(
        make_checkpoint(
            model_name="vgg:4,M",
            class_names=zoo.CIFAR10_CLASSES,
            model=model,
            optimizer=None,
            config={},
            epoch=1,
            step=1,
        ),
        path,
    )
    os.utime(path, (mtime, mtime))
    return path


def test_a_runs_label_puts_the_model_and_the_data_first(runs_dir):
    # Issue 17: the picker cut "20261202-051234-alexnet_cifar-shapes (run)" before the model's name.
    write_run(runs_dir, "20261202-051234-alexnet_cifar-shapes", 1_000)
    write_run(runs_dir, "20261201-230000-vgg-8-M-16-M-cifar10", 2_000)  # a custom VGG: '-' in its name
    assert [label for label, _ in runs.checkpoints()] == [
        "vgg-8-M-16-M · cifar10 · 2026-12-01 23:00:00",
        "alexnet_cifar · shapes · 2026-12-02 05:12:34",
    ]
    assert runs.run_label("my-run") == "my-run"  # a folder the trainer did not name: as it is


def test_checkpoints_are_the_servers_own_newest_first(runs_dir, tmp_path):
    old, new = write_run(runs_dir, "a-run", 1_000), write_run(runs_dir, "b-run", 2_000)
    (runs_dir / "notes.txt").write_text("not a run")
    assert [path for _, path in runs.checkpoints()] == [str(new), str(old)]
    assert runs.resolve(str(old)) == str(old)
    assert runs.resolve(str(runs_dir / "a-run" / ".." / "a-run" / "last.pt")) == str(old)
    # Outside the runs folder, or not a checkpoint of a run: one message, whether the file exists or not.
    outside = tmp_path / "elsewhere.pt"
    outside.write_bytes(b"x")
    link = runs_dir / "c-run"
    link.mkdir()
    (link / "last.pt").symlink_to(outside)  # a link inside pointing outside is outside
    messages = set()
    for path in (
        str(outside),
        str(tmp_path / "missing.pt"),
        "/etc/passwd",
        str(link / "last.pt"),
        str(runs_dir / "notes.txt"),
        "",
        "runs/../../etc/shadow",
    ):
        with pytest.raises(runs.PathRefused) as err:
            runs.resolve(path)
        messages.add(str(err.value))
    assert len(messages) == 1


def test_prune_keeps_the_newest_runs_and_spares_the_running_one(runs_dir):
    paths = [write_run(runs_dir, f"run{i}", 1_000 + i) for i in range(6)]
    removed = runs.prune(keep=2, protect=paths[0].parent)  # run0 is still training: never deleted
    assert sorted(removed) == sorted(str(p) for p in paths[1:4])
    assert [p.exists() for p in paths] == [True, False, False, False, True, True]
    assert runs.prune(keep=2, protect=paths[0].parent) == []


def test_an_upload_is_stored_once_by_content_and_size_is_bounded(runs_dir, tmp_path):
    source = write_run(tmp_path / "outside", "x", 1_000)
    stored = runs.store_upload(str(source))
    assert stored.startswith(str(runs_dir / "uploads")) and runs.store_upload(str(source)) == stored
    assert runs.resolve(stored) == stored
    before = budgets.current()
    budgets.configure(max_checkpoint_upload=2**20)
    try:
        big = tmp_path / "big.pt"
        big.write_bytes(b"\0" * (2**20 + 1))
        with pytest.raises(budgets.BudgetError, match=r"1\.0 MiB; this server takes checkpoints up to 1\.0 MiB"):
            runs.store_upload(str(big))
    finally:
        budgets.configure(max_checkpoint_upload=before.max_checkpoint_upload)


def test_reply_images_are_files_written_once_and_never_rewritten():
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    path = outputs.image_file(image)
    inode = os.stat(path).st_ino
    assert np.array_equal(np.asarray(Image.open(path)), np.asarray(image))
    # The same picture again (another student's identical reply): the same file, untouched — not rewritten.
    results = []
    threads = [threading.Thread(target=lambda: results.append(outputs.image_file(image.copy()))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {path} and os.stat(path).st_ino == inode
    assert outputs.as_files((image, "text", None)) == (path, "text", None)


def test_login_guard_slows_down_repeated_failures_and_counts_tries_during_a_lock():
    now = [0.0]
    guard = LoginGuard("teacher", "s3cret:x", clock=lambda: now[0])
    assert guard("teacher", "s3cret:x")
    for _ in range(FREE_TRIES):
        assert not guard("teacher", "guess")
    assert guard.locked_for("teacher") == FIRST_LOCK_S
    # Locked: even the right password is refused, as a lock-out (not as a wrong password), and counted.
    with pytest.raises(LoginLocked, match=f"locked, retry in {2 * FIRST_LOCK_S:g} s") as locked:
        guard("teacher", "s3cret:x")
    assert locked.value.seconds == 2 * FIRST_LOCK_S and guard.failures("teacher") == FREE_TRIES + 1
    with pytest.raises(LoginLocked, match=f"retry in {4 * FIRST_LOCK_S:g} s"):  # a wrong one during it, too
        guard("teacher", "guess2")
    assert guard.failures("teacher") == FREE_TRIES + 2 and guard.locked_for("teacher") == 4 * FIRST_LOCK_S
    now[0] += 4 * FIRST_LOCK_S
    assert not guard("teacher", "guess3")  # after the lock: checked, wrong, and the next lock twice as long again
    assert guard.locked_for("teacher") == 8 * FIRST_LOCK_S
    now[0] += 8 * FIRST_LOCK_S
    assert guard("teacher", "s3cret:x") and guard.locked_for("teacher") == 0 and guard.failures("teacher") == 0
    assert not guard("student", "s3cret:x")  # the wrong name is a failure too


def test_model_too_large_for_a_checkpoint_is_refused_before_building(runs_dir):
    # A tiny crafted checkpoint that names a huge model: refused from its name, before any weight exists.
    from visualizer.checkpoint import CheckpointError, model_from_checkpoint

    path = runs_dir / "crafted" / "last.pt"
    path.parent.mkdir(parents=True)
    ckpt = make_checkpoint(
        model_name="vgg:4,M",
        class_names=zoo.CIFAR10_CLASSES,
        model=zoo.create_model("vgg:4,M"),
        optimizer=None,
        config={},
        epoch=1,
        step=1,
    )
    ckpt["model_name"] = "vgg:4096,4096,4096,4096,4096,4096,4096,4096,4096,4096,4096,4096"
    torch.save(ckpt, path)
    assert path.stat().st_size < 100_000
    with pytest.raises(CheckpointError, match="limit of 200 M"):
        model_from_checkpoint(path)


@pytest.fixture()
def limits():
    """Restore this process's limits after a test that changes them."""
    before = budgets.current()
    yield budgets
    budgets.configure(**{f: getattr(before, f) for f in before.__dataclass_fields__})


def test_a_checkpoint_head_counts_as_built_and_a_huge_one_is_refused_before_building(runs_dir):
    """An uploaded 1.6 MB checkpoint naming vgg16 with 100,000 class names would build ~544 M parameters."""
    from torch.nn.modules.module import register_module_parameter_registration_hook

    from visualizer import weight_sources
    from visualizer.budgets.memory import model_params

    path = runs_dir / "uploads" / "head.pt"
    path.parent.mkdir(parents=True)
    names = [f"class {i}" for i in range(100_000)]
    ckpt = make_checkpoint(
        model_name="vgg:4,M", class_names=names[:10], model=zoo.create_model("vgg:4,M"), optimizer=None, config={},
        epoch=1, step=1,
    )  # fmt: skip
    ckpt.update(model_name="vgg16", class_names=names, num_classes=len(names))
    torch.save(ckpt, path)
    assert path.stat().st_size < 3_000_000
    # VGG-16: 138,357,544 parameters with its 1000-class head (4096 × 1000 + 1000); 100,000 classes instead:
    built = 138_357_544 - (4096 * 1000 + 1000) + (4096 * 100_000 + 100_000)
    assert model_params("vgg16", 100_000) == built == 543_960_544
    real = []
    hook = register_module_parameter_registration_hook(
        lambda m, n, p: real.append(p) if p is not None and not p.is_meta else None
    )
    weight_sources.clear_cache()
    try:
        with pytest.raises(weight_sources.WeightsError) as err:
            weight_sources.load_weights("vgg16", "checkpoint", path)
    finally:
        hook.remove()
    message = str(err.value)
    assert "vgg16 with a 100,000-class head has 544.0 M parameters" in message
    assert "limit of 200 M (--max-params)" in message and "with its own head it has 138.4 M" in message
    assert str(runs_dir) not in message and os.sep + "tmp" not in message  # no server path
    assert real == []  # refused from the counts: not one real weight was made
    # and the server goes on serving: a checkpoint of a model that fits loads
    fine = write_run(runs_dir, "fine", 1_000)
    assert weight_sources.load_weights("vgg:4,M", "checkpoint", fine).model_name == "vgg:4,M"


def test_a_training_run_is_counted_with_its_datasets_head():
    from visualizer.budgets.memory import model_params

    # vgg11 for 10 classes: the 1000-class head's last layer (4096 × 1000 + 1000) becomes 4096 × 10 + 10.
    assert model_params("vgg11", 10) == model_params("vgg11") - 4096 * 1000 - 1000 + 4096 * 10 + 10


def test_a_run_apart_counts_its_own_process_and_is_refused_where_it_alone_would_not_fit(tmp_path):
    from visualizer.background import BackgroundTrainer
    from visualizer.budgets.memory import RUN_PROCESS_BYTES, check_training
    from visualizer.training import TrainConfig

    here = check_training("alexnet_cifar", "shapes", 64, 640, 100)
    apart = check_training("alexnet_cifar", "shapes", 64, 640, 100, own_process=True)
    assert apart - here == RUN_PROCESS_BYTES == 400 * 2**20
    before = budgets.current()
    budgets.configure(max_train_memory=here + RUN_PROCESS_BYTES // 2)  # room for the run, not for its process
    try:
        assert check_training("alexnet_cifar", "shapes", 64, 640, 100) == here  # in the server's process: fits
        config = TrainConfig(
            model="alexnet_cifar", dataset="shapes", batch_size=64, subset=640, test_subset=100, out_dir=str(tmp_path)
        )
        trainer = BackgroundTrainer(own_process=True)
        with pytest.raises(budgets.BudgetError) as refused:
            trainer.start(config)
        assert "the run's own process 400.0 MiB), above this server's training budget of" in str(refused.value)
        assert trainer.status()["state"] == "idle"
        budgets.configure(max_train_memory=RUN_PROCESS_BYTES)  # the process alone fills it
        with pytest.raises(budgets.BudgetError, match=r"own process alone takes about 400\.0 MiB: raise --max-tr"):
            trainer.start(config)
    finally:
        budgets.configure(max_train_memory=before.max_train_memory)


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps_rollup"), reason="private memory from /proc: Linux")
def test_a_run_process_takes_what_the_budget_counts_for_it():
    # What a run's process holds of its own before its data: a fresh interpreter importing what the run imports.
    import subprocess
    import sys

    from visualizer.budgets.memory import RUN_PROCESS_BYTES

    child = (
        "import torch, visualizer.run_process, visualizer.training\n"
        "rollup = dict(l.split(':') for l in open('/proc/self/smaps_rollup').read().splitlines()[1:])\n"
        "print(int(rollup['Pss_Anon'].split()[0]) * 1024)"
    )
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": repo}
    out = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120, env=env)
    measured = int(out.stdout.strip())
    assert measured <= RUN_PROCESS_BYTES <= 2 * measured, f"measured {measured / 2**20:.0f} MiB"


def test_forward_memory_counts_every_output_and_gradients_back_to_the_cam_layer():
    from visualizer.budgets.memory import forward_memory

    parts = forward_memory("resnet18", (3, 224, 224), "layer4")
    # layer4 at 7×7×512 (4 bytes each): block 0 has conv1, bn1, relu, conv2, bn2, downsample.0/.1, relu#1 (8
    # outputs), block 1 six; then avgpool (512) and fc (1000).
    assert parts["gradients"] == 14 * 512 * 7 * 7 * 4 + 512 * 4 + 1000 * 4
    assert forward_memory("resnet18", (3, 224, 224))["gradients"] == 0
    # conv1 alone: 64 × 112 × 112 floats, its bn1 and relu the same, then the max pool 64 × 56 × 56
    assert parts["activations"] > 3 * 64 * 112 * 112 * 4 + 64 * 56 * 56 * 4


def test_a_forward_pass_over_the_budget_is_refused_naming_the_limit_and_what_fits():
    from visualizer.budgets.memory import check_forward
    from visualizer.features.layers import default_cam_layer

    with pytest.raises(budgets.BudgetError) as err:
        check_forward("tv:efficientnet_b7", (3, 600, 600), "features.8")
    message = str(err.value)
    assert message.startswith("one image through tv:efficientnet_b7 at 3x600x600 would hold about 3.2 GiB")
    assert "limit of 1.0 GiB for one forward pass (--max-forward-memory)" in message
    side = int(message.split("fit at about 3x")[1].split("x")[0])
    assert 300 <= side <= 340  # 600 · √(1 GiB / 3.2 GiB) ≈ 333
    # every zoo model at its design size passes, with Grad-CAM at its classic layer
    for name in zoo.list_models():
        assert check_forward(name, zoo.get_spec(name).input_size, default_cam_layer(name)) < 2**30


def test_feature_maps_over_the_forward_budget_are_refused_before_the_forward_and_then_served(limits):
    from visualizer import forward_pass, weight_sources
    from visualizer.images import example_images
    from visualizer.views import features

    def request():
        return features.feature_maps(example_images()[0], "vgg11", "random", None, "features.3", 8)

    forward_pass.clear()
    weight_sources.clear_cache()
    limits.configure(max_forward_memory=32 * 2**20)
    with pytest.raises(budgets.BudgetError) as err:
        request()
    # VGG-11 at 224: 62.7 MiB of outputs (features.0 alone is 64 × 224 × 224 floats, 12.25 MiB)
    assert "one image through vgg11 at 3x224x224 would hold about 62.7 MiB" in str(err.value)
    assert "limit of 32.0 MiB for one forward pass (--max-forward-memory)" in str(err.value)
    limits.configure(max_forward_memory=2**30)
    grid, info, *_ = request()
    assert grid is not None


def test_efficientnet_b7_at_600_is_refused_before_its_weights_are_built():
    from torch.nn.modules.module import register_module_parameter_registration_hook

    from visualizer import weight_sources

    real = []
    hook = register_module_parameter_registration_hook(
        lambda m, n, p: real.append(p) if p is not None and not p.is_meta else None
    )
    weight_sources.clear_cache()
    try:
        with pytest.raises(budgets.BudgetError, match=r"tv:efficientnet_b7 at 3x600x600 .*--max-forward-memory"):
            weight_sources.load_weights("tv:efficientnet_b7", "random")
    finally:
        hook.remove()
    assert real == []  # nothing of its 66 M parameters was made
    assert weight_sources.load_weights("alexnet_cifar", "random").model_name == "alexnet_cifar"  # still serving
