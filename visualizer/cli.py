"""Command line: ``cnnviz {summary,stacks,diagram,train,app} ...`` (or ``python -m visualizer ...``).

Each subcommand lives next to what it serves; this file only wires them together.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys

from visualizer import analysis_cli, app_cli, train_cli
from visualizer.diagram import cli as diagram_cli


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    # No abbreviations, here and in every subcommand: `--model X` must never be read as `--model-cache X`.
    parser = argparse.ArgumentParser(
        allow_abbrev=False,
        prog=prog or "python -m visualizer",
        description="CNN architecture visualizer: per-layer analysis, stack comparison, CIFAR-10 training, web app.",
    )
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="{summary,stacks,diagram,train,app}",
        parser_class=functools.partial(argparse.ArgumentParser, allow_abbrev=False),
    )
    # Each module registers its own subcommands (argparse parser + set_defaults(func=...)).
    analysis_cli.add_commands(sub)
    diagram_cli.add_commands(sub)
    train_cli.add_commands(sub)
    app_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # installed as the ``cnnviz`` command (pyproject.toml), its own name goes in the usage lines
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    parser = build_parser(None if script in ("", "__main__.py", "-c") else script)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
