"""``python app.py`` flags: safe defaults, clear refusals (checked before anything heavy is imported)."""

from __future__ import annotations

import pytest

import app


def test_defaults_are_local_and_private():
    args = app.parse_args([])
    assert args.host == "127.0.0.1" and args.port == 7860 and args.share is False and args.auth is None


def test_budget_defaults_fit_a_laptop_and_flags_take_units():
    args = app.parse_args([])
    assert (args.max_params, args.max_train_memory, args.keep_runs) == (200_000_000, 3 * 2**30, 5)
    assert args.max_forward_memory == 2**30
    assert app.parse_args(["--max-forward-memory", "512MiB"]).max_forward_memory == 512 * 2**20
    args = app.parse_args(
        [
            "--max-params",
            "150M",
            "--max-train-memory",
            "2GiB",
            "--model-cache",
            "512MB",
            "--keep-runs",
            "3",
            "--max-model-share",
            "40%",
            "--max-checkpoint-upload",
            "100MB",
        ]
    )
    assert (args.max_params, args.max_train_memory, args.model_cache) == (150_000_000, 2 * 2**30, 512_000_000)
    assert (args.keep_runs, args.max_model_share, args.max_checkpoint_upload) == (3, 0.4, 100_000_000)
    assert (app.parse_args([]).max_queue, app.parse_args([]).runs_dir) == (8, None)  # None: runs/ or $CNNVIZ_RUNS_DIR
    args = app.parse_args(["--max-queue", "3", "--runs-dir", "/srv/runs"])
    assert (args.max_queue, args.runs_dir) == (3, "/srv/runs")


def test_classroom_flags():
    args = app.parse_args(["--host", "0.0.0.0", "--port", "8080", "--auth", "teacher:s3cr:et"])
    assert args.host == "0.0.0.0" and args.port == 8080 and args.auth == ("teacher", "s3cr:et")


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--auth", "teacher"], "--auth must look like user:password, got 'teacher'"),
        (["--auth", ":pw"], "user:password"),
        (["--port", "99999"], "--port must be a number from 1 to 65535, got '99999'"),
        (["--max-params", "lots"], "--max-params must be a positive amount of parameters, e.g. 200M"),
        (["--max-params", "3GB"], "got '3GB'"),
        (["--max-train-memory", "0GB"], "--max-train-memory must be a positive amount of bytes, e.g. 3GB"),
        (["--keep-runs", "0"], "--keep-runs must be a whole number ≥ 1, got '0'"),
        (["--max-queue", "none"], "--max-queue must be a whole number ≥ 1, got 'none'"),
        (["--max-model-share", "150%"], "--max-model-share must be in (0, 1]"),
    ],
)
def test_bad_flags_say_what_would_work(flags, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        app.parse_args(flags)
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err
