"""Loading networks of your own (``visualizer/user_models.py``): ``--model file.py:Class`` with its arguments and
weights, every misfit as one line (exit code 2, no traceback), the weight source "own", training's head check,
and checkpoints that record how a model was built.

Expected numbers come from the modules themselves (calling them, their state dicts), not from the loader.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import zoo
from visualizer import app_cli, cli
from visualizer.analysis import analyze_model
from visualizer.checkpoint import (
    CheckpointError,
    load_checkpoint,
    model_from_checkpoint,
)
from visualizer.training import TrainConfig, train
from visualizer.user_models import ModelRequest, UserModelError, check_trainable, register_instance, register_request
from visualizer.weight_sources import clear_cache, load_weights

REPO = Path(__file__).resolve().parents[1]
SMALL_RESNET = REPO / "docs" / "examples" / "small_resnet.py"

MODELS = textwrap.dedent(
    """
    import torch
    from torch import nn


    class Good(nn.Module):
        def __init__(self, num_classes=10, width=8):
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3, padding=1)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(width, num_classes)

        def forward(self, x):
            return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))


    class FixedHead(Good):
        def __init__(self):
            super().__init__(num_classes=1000)


    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * 32 * 32, 10)

        def forward(self, x, y):
            return self.fc(torch.flatten(x + y, 1))


    class ReturnsDict(Good):
        def forward(self, x):
            return {"logits": super().forward(x), "aux": x}


    class ReturnsTuple(Good):
        def forward(self, x):
            return super().forward(x), x


    class DataDependent(Good):
        def forward(self, x):
            if x.mean() > 0:
                x = -x
            return super().forward(x)


    class NeedsArgs(nn.Module):
        def __init__(self, width, depth):
            super().__init__()


    class Big(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * 64 * 64, 10)

        def forward(self, x):
            return self.fc(torch.flatten(x, 1))


    class Maps(Good):
        def forward(self, x):
            return self.conv(x)


    def make_good(num_classes=10):
        return Good(num_classes)


    built = Good(width=4)  # a model the file builds itself
    """
)


@pytest.fixture(autouse=True)
def _own_models_removed():
    before = set(zoo.user_models())
    yield
    for name in set(zoo.user_models()) - before:
        zoo.unregister_model(name)
    clear_cache()


@pytest.fixture
def models_file(tmp_path) -> Path:
    path = tmp_path / "nets.py"
    path.write_text(MODELS)
    return path


def _serve_fails(argv: list[str], capsys) -> str:
    """``python app.py ARGV``'s flags and models, in this process, up to where the page would be built (so a test
    that went wrong cannot start a server): refused, with one line on stderr."""
    assert app_cli.register_models(app_cli.parse_args(argv).models) is None
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1 and err.startswith("error: ")
    return err


@pytest.mark.parametrize(
    "ref, extra, words",
    [
        ("missing.py:Net", [], ["missing.py does not exist"]),
        ("nets.py:Nope", [], ["has no Nope", "it defines Good, FixedHead, TwoInputs"]),
        ("nets.py:NeedsArgs", [], ["needs the argument(s) width, depth", '--model-args \'{"width": …, "depth": …}\'']),
        (
            "nets.py:Good",
            ["--model-args", '{"depth": 3}'],
            ["takes no argument(s) depth; it takes: num_classes, width"],
        ),
        ("nets.py:TwoInputs", [], ["forward takes x, y", "wrap the model in a module whose forward(x) takes"]),
        (
            "nets.py:ReturnsDict",
            [],
            ["returns a dict ('logits', 'aux')", "wrap it so forward returns only that tensor"],
        ),
        ("nets.py:ReturnsTuple", [], ["returns a tuple of 2 (Tensor, Tensor)", "returns only the logits"]),
        ("nets.py:DataDependent", [], ["reads the values of a tensor at nets.py:", "`if x.mean() > 0:`", "x.shape"]),
        ("nets.py:Big", [], ["expects 12288 input features but gets 3072", "--input-size CxHxW"]),
        ("nets.py:Maps", [], ["returns a 1×8×32×32 tensor", "global pooling"]),
        ("nets.py", [], ["say which network", "e.g. ", "nets.py:"]),
    ],
)
def test_bad_models_get_one_line_saying_what_would_work(models_file, capsys, ref, extra, words):
    err = _serve_fails(["--model", str(models_file.parent / ref), *extra], capsys)
    for w in words:
        assert w in err
    assert not set(zoo.user_models()) & {"Good", "TwoInputs", "Big"}  # nothing half-registered


def test_a_refused_model_ends_app_main_with_exit_code_2(models_file, capsys):
    assert app_cli.main(["--model", f"{models_file}:TwoInputs"]) == 2
    assert "forward takes x, y" in capsys.readouterr().err


def test_syntax_errors_and_failing_imports_name_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\n\nclass Net(torch.nn.Module)\n    pass\n")
    assert "bad.py line 3: expected ':'" in _serve_fails(["--model", f"{bad}:Net"], capsys)
    bad.write_text("import torch\nimport no_such_package_here\n")
    assert "line 2 imports no_such_package_here, which is not installed" in _serve_fails(
        ["--model", f"{bad}:N"], capsys
    )
    bad.write_text("raise SystemExit('exits at import')\n")
    assert "running" in _serve_fails(["--model", f"{bad}:N"], capsys)


def test_the_input_size_given_is_used_and_a_bad_one_explained(models_file, capsys):
    name = register_request(ModelRequest(f"{models_file}:Big", input_size="3x64x64"))
    assert zoo.get_spec(name).input_size == (3, 64, 64) and zoo.get_spec(name).min_size == (64, 64)
    assert analyze_model(name).output_shape == [1, 10]
    err = _serve_fails(["--model", f"{models_file}:Good", "--input-size", "3xfoo"], capsys)
    assert "--input-size '3xfoo': input size '3xfoo' is not understood; write CxHxW" in err


def test_options_belong_to_the_model_before_them(models_file, capsys):
    with pytest.raises(SystemExit):
        app_cli.parse_args(["--weights", "w.pt", "--model", f"{models_file}:Good"])
    assert "--weights belongs to a --model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        app_cli.parse_args(["--model", f"{models_file}:Good", "--name", "a", "--name", "b"])
    assert "--name given twice" in capsys.readouterr().err
    args = app_cli.parse_args(
        ["--model", f"{models_file}:Good", "--name", "a", "--model", f"{models_file}:make_good", "--model-args", "{}"]
    )
    assert args.models == [
        {"ref": f"{models_file}:Good", "name": "a"},
        {"ref": f"{models_file}:make_good", "args": "{}"},
    ]
    assert app_cli.register_models(args.models) == ["a", "make_good"]
    assert zoo.list_models()[-2:] == ["a", "make_good"]


def test_abbreviated_flags_are_refused_everywhere(capsys):
    for argv in (["--model-cach", "1GiB"], ["--mod", "x.py:N"], ["--max-p", "1M"]):
        with pytest.raises(SystemExit):
            app_cli.parse_args(argv)
    for argv in (["app", "--model-cach", "1GiB"], ["summary", "vgg16", "--js"], ["train", "vgg16", "--epoch", "1"]):
        with pytest.raises(SystemExit):
            cli.build_parser().parse_args(argv)
    assert "unrecognized arguments" in capsys.readouterr().err


def test_summary_and_diagram_take_a_file(models_file, capsys, tmp_path):
    assert cli.main(["summary", f"{models_file}:Good", "--model-args", '{"width": 4}', "--json"]) == 0
    out = capsys.readouterr().out
    assert '"model": "Good"' in out and f'"total_params": {3 * 4 * 9 + 4 + 4 * 10 + 10}' in out
    assert cli.main(["summary", f"{models_file}:TwoInputs"]) == 2
    assert "forward takes x, y" in capsys.readouterr().err
    assert cli.main(["diagram", str(SMALL_RESNET) + ":SmallResNet", "--out", str(tmp_path / "r.svg")]) == 0
    assert (tmp_path / "r.svg").read_text().count('class="skip') == 6


# ---------------------------------------------------------------------------------------------- weights


def _good(models_file: Path) -> nn.Module:
    namespace: dict = {}
    exec(compile(MODELS, str(models_file), "exec"), namespace)
    torch.manual_seed(1)
    return namespace["Good"]()


def test_weights_files_load_as_the_models_own(models_file, tmp_path):
    net = _good(models_file).eval()
    torch.save({"model_state_dict": net.state_dict(), "epoch": 3}, tmp_path / "tutorial.pt")  # a tutorial's format
    torch.save({f"module.{k}": v for k, v in net.state_dict().items()}, tmp_path / "parallel.pt")  # DataParallel
    x = torch.randn(2, 3, 32, 32)
    for i, file in enumerate(["tutorial.pt", "parallel.pt"]):
        name = register_request(ModelRequest(f"{models_file}:Good", weights=str(tmp_path / file), name=f"g{i}"))
        loaded = load_weights(name, "auto")
        assert loaded.source == "own"
        with torch.no_grad():
            assert torch.equal(loaded.model(x), net(x))


def test_weights_that_do_not_fit_name_the_keys(models_file, tmp_path, capsys):
    torch.save(_good(models_file).state_dict(), tmp_path / "w.pt")
    err = _serve_fails(
        ["--model", f"{models_file}:Good", "--model-args", '{"width": 4}', "--weights", str(tmp_path / "w.pt")], capsys
    )
    assert "conv.weight: (8, 3, 3, 3) vs model (4, 3, 3, 3)" in err
    err = _serve_fails(["--model", f"{models_file}:FixedHead", "--weights", str(tmp_path / "w.pt")], capsys)
    assert "fc.weight: (10, 8) vs model (1000, 8)" in err and "has 10 outputs: build it with 10 classes" in err
    torch.save(nn.Sequential(nn.Linear(2, 2)), tmp_path / "pickled.pt")  # a whole module: refused, no code runs
    err = _serve_fails(["--model", f"{models_file}:Good", "--weights", str(tmp_path / "pickled.pt")], capsys)
    assert "weights-only load refuses" in err and "torch.save(model.state_dict()" in err
    err = _serve_fails(["--model", f"{models_file}:Good", "--weights", str(tmp_path / "none.pt")], capsys)
    assert "none.pt does not exist" in err


def test_an_instance_is_analysed_on_meta_and_its_own_weights_give_its_logits(models_file):
    net = _trained(_good(models_file)).train()
    versions = [t._version for t in net.state_dict().values()]
    name = register_instance(net, "3x32x32", name="mine")
    a = analyze_model(name)
    assert [r.name for r in a.layers if r.type == "Conv2d"] == ["conv"] and a.total_params == sum(
        p.numel() for p in net.parameters()
    )
    assert [t._version for t in net.state_dict().values()] == versions and net.training  # untouched
    own = load_weights(name, "own")
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = net.eval()(x)
        assert torch.equal(own.model(x), expected)
        assert not torch.allclose(load_weights(name, "random").model(x), expected)
    assert own.class_names == zoo.CIFAR10_CLASSES


def test_own_weights_follow_the_instance_between_requests(models_file):
    net = _good(models_file)
    name = register_instance(net, name="live")
    first = load_weights(name, "own")
    assert load_weights(name, "own") is first  # cached while unchanged
    _trained(net)
    second = load_weights(name, "own")
    assert second is not first and torch.equal(second.model.conv.weight, net.conv.weight)


def _trained(net: nn.Module) -> nn.Module:
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(2):
        opt.zero_grad()
        net(torch.randn(4, 3, 32, 32)).sum().backward()
        opt.step()
    return net


def test_zoo_models_have_no_own_weights():
    with pytest.raises(ValueError, match="weight source 'own' is for a network of your own"):
        load_weights("alexnet_cifar", "own")


# ---------------------------------------------------------------------------------------------- training


def test_the_head_must_fit_the_training_set(models_file):
    name = register_request(ModelRequest(f"{models_file}:FixedHead"))
    with pytest.raises(UserModelError, match="FixedHead's last layer outputs 1000, shapes has 10 classes"):
        check_trainable(name, "shapes")
    check_trainable(register_request(ModelRequest(f"{models_file}:Good", args='{"num_classes": 3}')), "shapes")
    check_trainable("alexnet_cifar", "cifar10")  # the zoo's models: nothing to say


@pytest.mark.slow
def test_a_checkpoint_of_a_user_model_records_how_it_was_built(tmp_path):
    ref = f"{SMALL_RESNET}:SmallResNet"
    name = register_request(ModelRequest(ref, args='{"blocks_per_stage": 1}', name="tiny_resnet"))
    config = TrainConfig(
        model=name, dataset="shapes", device="cpu", epochs=1, subset=128, test_subset=64, batch_size=32,
        out_dir=str(tmp_path / "run"),
    )  # fmt: skip
    done = train(config.validate())  # a user model trains like a zoo one
    assert done["status"] == "finished"
    path = done["checkpoint"]
    trained, ckpt = model_from_checkpoint(path)  # reloads while registered
    record = load_checkpoint(path)["built"]  # the trainer wrote how it was built
    assert record == {
        "name": "tiny_resnet",
        "input_size": [3, 32, 32],
        "file": str(SMALL_RESNET),
        "factory": "SmallResNet",
        "args": {"blocks_per_stage": 1, "num_classes": 10},
    }
    zoo.unregister_model(name)  # a later server that has not loaded it says how to
    with pytest.raises(CheckpointError) as err:
        model_from_checkpoint(path)
    message = str(err.value)
    assert f"--model {SMALL_RESNET}:SmallResNet --model-args" in message and f"--weights {path}" in message
    # ... and that reload works: --model + --weights
    again = register_request(ModelRequest(ref, args='{"blocks_per_stage": 1}', weights=str(path), name="tiny_resnet"))
    reloaded = load_weights(again, "auto")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(reloaded.model(x), trained(x))
    assert reloaded.class_names == ckpt["class_names"]  # shapes' classes, from the checkpoint


# ---------------------------------------------------------------------------------------------- python app.py


@pytest.mark.slow
@pytest.mark.parametrize(
    "ref, words",
    [
        ("missing.py:Net", "does not exist"),
        ("nets.py:Nope", "has no Nope"),
        ("nets.py:NeedsArgs", "needs the argument(s) width, depth"),
        ("nets.py:TwoInputs", "forward takes x, y"),
        ("nets.py:ReturnsDict", "returns a dict"),
    ],
)
def test_python_app_py_refuses_bad_models_with_one_line(models_file, ref, words):
    proc = subprocess.run(
        [sys.executable, str(REPO / "app.py"), "--model", str(models_file.parent / ref), "--port", "1"],
        capture_output=True,
        text=True,
        timeout=180,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and words in lines[0] and "Traceback" not in proc.stderr


def test_a_name_given_to_another_network_forgets_what_was_cached_under_it():
    first = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))
    second = nn.Sequential(
        nn.Conv2d(3, 6, 5), nn.Conv2d(6, 6, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 10)
    )
    register_instance(first, name="again")
    assert analyze_model("again").total_params == sum(p.numel() for p in first.parameters())
    random_first = load_weights("again", "random").model
    with pytest.raises(UserModelError, match="already registered"):
        register_instance(second, name="again")
    register_instance(second, name="again", replace=True)  # show() again after editing the class
    assert analyze_model("again").total_params == sum(p.numel() for p in second.parameters())
    assert load_weights("again", "random").model is not random_first
    assert len(load_weights("again", "own").model) == 5


def test_a_model_the_file_built_is_loaded_with_its_weights(models_file):
    name = register_request(ModelRequest(f"{models_file}:built"))
    again = register_request(ModelRequest(f"{models_file}:Good", name="good_too"))  # the file runs once
    instance = sys.modules[zoo.user.user_model(again).factory.__module__].built
    own = load_weights(name, "auto")
    assert own.source == "own" and torch.equal(own.model.conv.weight, instance.conv.weight)
    assert zoo.build_record(name) == {
        "name": "built", "input_size": [3, 32, 32], "file": str(models_file), "factory": "built",
    }  # fmt: skip
    with pytest.raises(UserModelError, match="--model-args are for a class"):
        register_request(ModelRequest(f"{models_file}:built", args='{"width": 2}', name="other"))
