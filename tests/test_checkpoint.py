import os

import pytest
import torch

import zoo
from visualizer.checkpoint import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    make_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)


def _trained_pair():
    torch.manual_seed(0)
    model = zoo.create_model("alexnet_cifar")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.randn(4, 3, 32, 32)).sum().backward()
    opt.step()
    return model, opt


def _checkpoint(model, opt, **over):
    kw = dict(
        model_name="alexnet_cifar",
        class_names=zoo.CIFAR10_CLASSES,
        model=model,
        optimizer=opt,
        config={"lr": 1e-3, "subset": None},
        epoch=2,
        step=124,
        metrics={"steps": [{"step": 10, "loss": 2.1}], "epochs": [], "final": None},
    )
    kw.update(over)
    return make_checkpoint(**kw)


def test_roundtrip_loads_with_weights_only_and_rebuilds_the_model(tmp_path):
    model, opt = _trained_pair()
    path = save_checkpoint(_checkpoint(model, opt), tmp_path / "run" / "last.pt")
    raw = torch.load(path, weights_only=True)  # what any reader may do: no pickled classes inside
    assert raw["format"] == FORMAT and raw["num_classes"] == 10 and raw["step"] == 124 and raw["epoch"] == 2
    assert raw["optimizer"]["state"][0]["step"] == 1  # Adam took one step
    assert os.listdir(tmp_path / "run") == ["last.pt"]  # no temp file left behind

    rebuilt, ckpt = model_from_checkpoint(path)
    assert ckpt["metrics"]["steps"][0]["loss"] == 2.1 and ckpt["config"] == {"lr": 1e-3, "subset": None}
    assert not rebuilt.training
    x = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(rebuilt(x), model.eval()(x))


def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    model, opt = _trained_pair()
    path = save_checkpoint(_checkpoint(model, opt, step=1), tmp_path / "last.pt")

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(_checkpoint(model, opt, step=2), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert os.listdir(tmp_path) == ["last.pt"]


def test_corrupt_or_foreign_files_give_clear_errors(tmp_path):
    model, opt = _trained_pair()
    good = save_checkpoint(_checkpoint(model, opt), tmp_path / "good.pt")
    data = good.read_bytes()

    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(truncated)

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(os.urandom(2048))
    with pytest.raises(CheckpointError, match="garbage.pt"):
        load_checkpoint(garbage)

    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")

    bare_state = tmp_path / "state_dict.pt"
    torch.save(model.state_dict(), bare_state)  # a plain state dict, not our format
    with pytest.raises(CheckpointError, match="format"):
        load_checkpoint(bare_state)

    no_step = _checkpoint(model, opt)
    del no_step["step"]
    torch.save(no_step, tmp_path / "no_step.pt")
    with pytest.raises(CheckpointError, match="'step'"):
        load_checkpoint(tmp_path / "no_step.pt")


def test_mismatched_weights_name_the_offending_keys(tmp_path):
    model, opt = _trained_pair()
    resnet = zoo.create_model("resnet18_cifar")
    wrong = _checkpoint(resnet, None)  # says alexnet_cifar, holds ResNet weights
    path = save_checkpoint(wrong, tmp_path / "wrong.pt")
    with pytest.raises(CheckpointError, match="does not fit model 'alexnet_cifar'.*missing"):
        model_from_checkpoint(path)

    five_way = make_checkpoint(
        model_name="alexnet_cifar",
        class_names=list("abcde"),
        model=zoo.create_model("alexnet_cifar", num_classes=5),
        optimizer=None,
        config={},
        epoch=0,
        step=0,
    )
    five_way["num_classes"] = 10
    five_way["class_names"] = list("abcdefghij")  # claims 10 classes, head has 5
    torch.save(five_way, tmp_path / "five.pt")
    with pytest.raises(CheckpointError, match=r"shape mismatch.*\(5, 512\)"):
        model_from_checkpoint(tmp_path / "five.pt")
