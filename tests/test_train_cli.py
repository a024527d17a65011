import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import zoo
from visualizer.checkpoint import load_checkpoint, model_from_checkpoint
from visualizer.cli import build_parser, main
from visualizer.datasets import load_shapes
from visualizer.train_cli import config_from_args

REPO = Path(__file__).resolve().parents[1]
TINY_VGG = "vgg_bn:16,M,32,M,64,M"


def _read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def _args(tmp_path, *extra):
    return [
        "train",
        TINY_VGG,
        "--dataset",
        "shapes",
        "--device",
        "cpu",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--lr",
        "3e-3",
        "--subset",
        "320",
        "--test-subset",
        "100",
        "--log-every",
        "4",
        "--metrics",
        str(tmp_path / "m.jsonl"),
        "--out",
        str(tmp_path / "out"),
        "--no-progress",
        *extra,
    ]


def test_train_writes_json_lines_and_a_checkpoint_then_resumes(tmp_path):
    assert main(_args(tmp_path, "--epochs", "1")) == 0
    events = _read_jsonl(tmp_path / "m.jsonl")
    steps = [e for e in events if e["event"] == "step"]
    assert set(steps[0]) == {"event", "epoch", "step", "loss", "acc", "lr", "images_per_sec", "images", "elapsed_s"}
    assert [e["step"] for e in steps] == [4, 8, 10]  # every 4th step, and the epoch's last
    epoch = [e for e in events if e["event"] == "epoch"]
    assert len(epoch) == 1 and {"test_loss", "test_acc", "train_loss", "train_acc"} <= set(epoch[0])
    done = events[-1]
    assert done["event"] == "done" and done["status"] == "finished" and done["synthetic"] is True
    ckpt = load_checkpoint(done["checkpoint"])
    assert (ckpt["epoch"], ckpt["step"]) == (1, 10) and ckpt["config"]["lr"] == 3e-3

    # --resume keeps the checkpoint's settings, takes the flags given, continues steps and the file.
    assert (
        main(
            [
                "train",
                TINY_VGG,
                "--resume",
                done["checkpoint"],
                "--epochs",
                "2",
                "--no-progress",  # cpu kept
                "--metrics",
                str(tmp_path / "m.jsonl"),
            ]
        )
        == 0
    )
    events = _read_jsonl(tmp_path / "m.jsonl")
    resumed_steps = [e["step"] for e in events if e["event"] == "step"]
    assert resumed_steps == [4, 8, 10, 12, 16, 20]
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    assert load_checkpoint(events[-1]["checkpoint"])["step"] == 20


def test_bad_values_exit_2_with_one_clear_line(tmp_path, capsys):
    assert main(_args(tmp_path, "--epochs", "0")) == 2
    err = capsys.readouterr().err.strip()
    assert err == "error: epochs must be 1..1000, got 0"
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 10)
    assert main(["train", TINY_VGG, "--resume", str(bad)]) == 2
    assert "corrupt" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_two_gloo_processes(tmp_path):
    """DDP on CPU: two ranks share each epoch, only rank 0 writes, the reported accuracy is the model's."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "visualizer",
        *_args(tmp_path, "--subset", "512", "--test-subset", "300"),
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = _read_jsonl(tmp_path / "m.jsonl")
    steps = [e["step"] for e in events if e["event"] == "step"]
    per_rank = 512 // 2 // 32  # DistributedSampler gives each rank half of the 512 images
    assert steps == sorted(set(steps)) and steps[-1] == 2 * per_rank  # one writer, no duplicate lines
    assert sum(e["event"] == "done" for e in events) == 1
    done = events[-1]
    assert done["total_steps"] == 2 * per_rank
    assert os.listdir(tmp_path / "out") == ["last.pt"]

    # The two ranks' sharded evaluations, summed, equal a plain evaluation of the saved weights.
    model, _ = model_from_checkpoint(done["checkpoint"])
    test = load_shapes(train=False, seed=0, n=300)
    spec = zoo.get_spec(TINY_VGG)
    x = (test.images.float() / 255 - torch.tensor(spec.mean).view(1, 3, 1, 1)) / torch.tensor(spec.std).view(1, 3, 1, 1)
    with torch.no_grad():
        acc = (model(x).argmax(1) == test.labels).float().mean().item()
    assert acc == pytest.approx(done["test_acc"], abs=1e-6)


def test_the_notes_recipe_fills_the_flags_left_out():
    notes = config_from_args(build_parser().parse_args(["train", "resnet18_cifar", "--recipe", "notes"]))
    # the course notes: Adam 1e-3, batch 32, 50 epochs, all of CIFAR-10, no schedule, no augmentation
    assert (notes.optimizer, notes.lr, notes.batch_size, notes.epochs) == ("adam", 1e-3, 32, 50)
    assert (notes.schedule, notes.augment, notes.subset, notes.test_subset) == ("constant", False, None, None)
    flags = ["train", "alexnet_cifar", "--recipe", "notes", "--dataset", "shapes", "--epochs", "1"]
    given = config_from_args(build_parser().parse_args(flags))
    assert (given.epochs, given.dataset, given.batch_size) == (1, "shapes", 32)  # a flag given wins over the recipe
    default = config_from_args(build_parser().parse_args(["train", "alexnet_cifar", "--dataset", "shapes"]))
    assert (default.batch_size, default.epochs) == (16, 3)  # without --recipe: the dataset's classroom recipe
