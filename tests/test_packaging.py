"""pyproject.toml: `pip install .` gives working `visualizer` / `zoo` packages and the `cnnviz` command."""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import torchvision.models as tvm

from visualizer import app_cli, cli

ROOT = Path(__file__).resolve().parents[1]
OFFLINE_SIGNS = (
    "NewConnectionError",
    "Network is unreachable",
    "Temporary failure in name resolution",
    "No matching distribution found for setuptools",
    "Could not find a version that satisfies",
)


def _requirements(path: Path) -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [re.sub(r"\s+", "", line) for line in lines if line]


def test_pyproject_dependencies_mirror_the_requirements_files():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == _requirements(ROOT / "requirements.txt")
    assert project["optional-dependencies"]["test"] == _requirements(ROOT / "requirements-test.txt")
    assert project["scripts"] == {"cnnviz": "visualizer.cli:main"}


def test_cnnviz_has_every_subcommand_and_app_keeps_its_flags():
    parser = cli.build_parser("cnnviz")
    args = parser.parse_args(["app", "--host", "0.0.0.0", "--port", "8080", "--auth", "t:s"])
    assert args.func is app_cli.serve and (args.host, args.port, args.auth) == ("0.0.0.0", 8080, ("t", "s"))
    for argv in (["summary", "tv:mobilenet_v2"], ["stacks"], ["train", "alexnet_cifar"]):
        assert callable(parser.parse_args(argv).func)


@pytest.mark.slow
def test_pip_install_in_a_fresh_venv_gives_a_working_cnnviz(tmp_path):
    # Build from a copy, so that setuptools' build/ and *.egg-info never land in the checkout.
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for package in ("visualizer", "zoo"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyi"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # torch and friends cannot be downloaded in a test: the fresh venv sees this interpreter's packages
    # (but not the checkout), and only this project is installed into it.
    Path(purelib, "parent_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--disable-pip-version-check",
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    if done.returncode != 0 and any(sign in done.stdout + done.stderr for sign in OFFLINE_SIGNS):
        pytest.skip(
            "offline: pip could not fetch setuptools for the isolated build "
            f"({(done.stderr.strip().splitlines() or ['?'])[-1][:200]})"
        )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    where = subprocess.run(
        [str(python), "-c", "import visualizer, zoo; print(visualizer.__file__, zoo.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert where.returncode == 0 and where.stdout.count(purelib) == 2, where.stdout + where.stderr

    summary = subprocess.run(
        [str(venv / "bin" / "cnnviz"), "summary", "vgg16"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert summary.returncode == 0, summary.stderr
    lines = summary.stdout.splitlines()
    assert lines[0] == "vgg16 at input 3x224x224"
    assert f"Total params:        {tvm.VGG16_Weights.IMAGENET1K_V1.meta['num_params']:,}" in lines
    bad = subprocess.run(
        [str(venv / "bin" / "cnnviz"), "app", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--port must be a number from 1 to 65535, got '0'" in bad.stderr
