"""``python -m visualizer diagram MODEL [--input CxHxW] [--fold none|blocks|stages] [--out FILE.svg|.png]``."""

from __future__ import annotations

import argparse
import os
import sys

from visualizer.analysis import AnalysisError, analyze_model, parse_input_shape
from visualizer.diagram import render_png, render_svg
from visualizer.user_models import resolve_model_argument


def _diagram(args: argparse.Namespace) -> int:
    def fail(message: str) -> int:
        print(f"error: {message}", file=sys.stderr)
        return 2

    out = args.out
    if out and not out.lower().endswith((".svg", ".png")):
        return fail(f"--out {out!r} must end in .svg or .png")
    try:
        shape = parse_input_shape(args.input) if args.input else None
        analysis = analyze_model(resolve_model_argument(args.model, args.model_args, args.input), shape)
    except (AnalysisError, ValueError) as exc:  # ValueError: UserModelError, a file that does not load
        return fail(str(exc))
    if out is None:
        sys.stdout.write(render_svg(analysis, args.fold) + "\n")
        return 0
    folder = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(folder):
        return fail(f"cannot write {out}: folder {folder} does not exist")
    try:
        if out.lower().endswith(".png"):
            render_png(analysis, args.fold).save(out)
        else:
            with open(out, "w", encoding="utf-8") as f:
                f.write(render_svg(analysis, args.fold) + "\n")
    except OSError as exc:
        return fail(f"cannot write {out}: {exc.strerror or exc}")
    print(f"wrote {out}", file=sys.stderr)
    return 0


def add_commands(sub) -> None:
    """Register ``diagram`` on argparse subparsers (called by ``visualizer.cli``)."""
    p = sub.add_parser("diagram", help="draw a model's architecture as SVG (or PNG): boxes, shapes, shortcuts")
    p.add_argument(
        "model",
        help="zoo model name (e.g. vgg16, resnet18), a custom 'vgg:64,M,128' config, or file.py:ClassOrFactory",
    )
    p.add_argument("--model-args", metavar="JSON", help="for file.py:Factory, its keyword arguments as JSON")
    p.add_argument("--input", metavar="CxHxW", help="input size (default: the model's design size)")
    p.add_argument(
        "--fold",
        choices=("none", "blocks", "stages"),
        default="blocks",
        help="none: every layer; blocks (default): conv+BN+ReLU as one box, every residual block and "
        "shortcut; stages: runs of same-shaped blocks as one box with a count",
    )
    p.add_argument("--out", metavar="FILE", help="write FILE.svg or FILE.png (default: SVG on stdout)")
    p.set_defaults(func=_diagram)
