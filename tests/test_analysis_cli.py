"""``python -m visualizer summary`` / ``stacks``: tables, JSON, and one-line errors with a non-zero exit."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from visualizer import analysis_cli
from visualizer.analysis import analyze_model

ROOT = Path(__file__).resolve().parents[1]


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    analysis_cli.add_commands(parser.add_subparsers(required=True))
    args = parser.parse_args(argv)
    code = args.func(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_json_has_the_documented_keys(capsys):
    code, out, _ = _run(["summary", "alexnet_cifar", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["model"] == "alexnet_cifar" and d["input_shape"] == [3, 32, 32]
    assert {"total_params", "trainable_params", "total_macs", "params_by_type", "layers"} <= set(d)
    assert d["total_params"] == sum(layer["params"] for layer in d["layers"])
    assert {"name", "type", "input_shape", "output_shape", "params", "macs", "receptive_field", "jump"} <= set(
        d["layers"][0]
    )


def test_summary_table_and_input_option(capsys):
    code, out, _ = _run(["summary", "vgg:8,M,16", "--input", "48"], capsys)
    assert code == 0
    assert "input 3x48x48" in out and "features.0" in out and "Conv2d" in out
    a = analyze_model("vgg:8,M,16", (3, 48, 48))
    assert f"{a.total_params:,}" in out and f"{a.total_macs:,}" in out
    assert "whole input" in out  # the classifier after global pooling


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["summary", "nope"], "valid names"),
        (["summary", "vgg16", "--input", "3x0x224"], "zero or negative"),
        (["summary", "vgg16", "--input", "3x8x8"], "too small"),
        (["stacks", "--kernel", "0"], "kernel"),
    ],
)
def test_errors_are_one_line_with_nonzero_exit(argv, fragment, capsys):
    code, out, err = _run(argv, capsys)
    assert code != 0 and out == ""
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err


def test_stacks_json(capsys):
    code, out, _ = _run(["stacks", "--json"], capsys)
    assert code == 0 and json.loads(out)["rows"][0]["weights_per_channel_pair"] == 18


def test_stacks_prints_the_comparison(capsys):
    code, out, _ = _run(["stacks", "--kernel", "3", "--repeat", "2", "--channels", "64"], capsys)
    assert code == 0 and "5×5" in out
    lines = [line.split() for line in out.splitlines()]
    assert any(line[:4] == ["2", "×", "3×3", "conv"] and line[4] == "18" for line in lines)
    assert any(line[:4] == ["1", "×", "5×5", "conv"] and line[4] == "25" for line in lines)


@pytest.mark.slow
def test_module_entry_point():
    # One real process (imports are slow): the wiring, the exit code and a traceback-free stderr line.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bad = subprocess.run(
        [sys.executable, "-m", "visualizer", "summary", "resnet18", "--input", "1x224x224"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode != 0 and bad.stderr.strip().count("\n") == 0 and "channel" in bad.stderr


def test_formatting_parses_the_same_shapes_as_the_app():
    assert analysis_cli.parse_input_shape("3,64,64") == (3, 64, 64)


def test_package_import_is_light_and_gradio_free():
    code = (
        "import sys, visualizer; assert 'torch' not in sys.modules; "
        "from visualizer import analyze, analyze_model, compare_stacks; "
        "assert 'gradio' not in sys.modules, 'gradio imported'"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_summary_of_a_torchvision_model_by_name(capsys):
    code, out, _ = _run(["summary", "tv:googlenet", "--input", "96", "--json"], capsys)
    d = json.loads(out)
    assert code == 0 and d["model"] == "tv:googlenet" and d["input_shape"] == [3, 96, 96]
    assert d["total_params"] == 6_624_904  # GoogLeNet_Weights metadata: the model as shipped, no aux heads
    assert d["total_textbook_macs"] == sum(layer["textbook_macs"] for layer in d["layers"])
    code, out, _ = _run(["summary", "tv:convnext_tiny"], capsys)
    assert code == 0 and "MACs (torchinfo)" in out and "MACs (weights only)" in out and "LayerNorm" in out
