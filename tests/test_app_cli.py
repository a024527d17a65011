"""``python app.py`` flags: safe defaults, clear refusals (checked before anything heavy is imported)."""
from __future__ import annotations

import pytest

import app


def test_defaults_are_local_and_private():
    args = app.parse_args([])
    assert args.host == "127.0.0.1" and args.port == 7860 and args.share is False and args.auth is None


def test_classroom_flags():
    args = app.parse_args(["--host", "0.0.0.0", "--port", "8080", "--auth", "teacher:s3cr:et"])
    assert args.host == "0.0.0.0" and args.port == 8080 and args.auth == ("teacher", "s3cr:et")


@pytest.mark.parametrize("flags, words", [
    (["--auth", "teacher"], "--auth must look like user:password, got 'teacher'"),
    (["--auth", ":pw"], "user:password"),
    (["--port", "99999"], "--port must be a number from 1 to 65535, got '99999'"),
])
def test_bad_flags_say_what_would_work(flags, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        app.parse_args(flags)
    assert exit_info.value.code == 2
    assert words in capsys.readouterr().err
