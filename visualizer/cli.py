"""Command line: ``python -m visualizer {summary,stacks,diagram,train} ...``.

Each subcommand lives next to what it serves; this file only wires them together.
"""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m visualizer",
        description="CNN architecture visualizer: per-layer analysis, stack comparison, CIFAR-10 training.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{summary,stacks,diagram,train}")
    # Each module registers its own subcommands (argparse parser + set_defaults(func=...)).
    from visualizer import analysis_cli, train_cli
    from visualizer.diagram import cli as diagram_cli

    analysis_cli.add_commands(sub)
    diagram_cli.add_commands(sub)
    train_cli.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
