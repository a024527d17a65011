"""``python -m visualizer summary MODEL [--input CxHxW] [--json]`` and ``python -m visualizer stacks ...``.

Argument parsing only: the numbers come from ``analysis.analyze_model`` and ``stacks.compare_stacks``, the text
from ``report``.
"""

from __future__ import annotations

import argparse
import json
import sys

from visualizer.analysis import AnalysisError, analyze_model, parse_input_shape
from visualizer.report import stacks_text, text
from visualizer.stacks import compare_stacks
from visualizer.user_models import resolve_model_argument

__all__ = ["add_commands"]


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _summary(args: argparse.Namespace) -> int:
    try:
        shape = parse_input_shape(args.input) if args.input else None
        analysis = analyze_model(_model_name(args), shape)
    except (AnalysisError, ValueError) as exc:  # ValueError: UserModelError, a file that does not load
        return _fail(str(exc))
    print(json.dumps(analysis.to_dict(), indent=1) if args.json else text(analysis))
    return 0


def _model_name(args: argparse.Namespace) -> str:
    """The zoo name of the ``model`` argument; a ``file.py:Net`` is loaded and registered first (issue 16)."""
    return resolve_model_argument(args.model, args.model_args, args.input)


def _stacks(args: argparse.Namespace) -> int:
    try:
        cmp = compare_stacks(args.kernel, args.repeat, args.channels, args.out_channels, args.mid_channels, args.size)
    except AnalysisError as exc:
        return _fail(str(exc))
    print(json.dumps(cmp.to_dict(), indent=1) if args.json else stacks_text(cmp))
    return 0


def add_commands(sub) -> None:
    """Register ``summary`` and ``stacks`` on argparse subparsers (called by ``visualizer.cli``)."""
    p = sub.add_parser("summary", help="per-layer shapes, parameters, MACs and receptive fields of a zoo model")
    p.add_argument(
        "model",
        help="zoo model name (e.g. vgg16, resnet18_cifar), any torchvision classifier with a "
        "tv: prefix (tv:mobilenet_v2, tv:efficientnet_b0), a custom 'vgg:64,M,128' config, or a network of your "
        "own as file.py:ClassOrFactory",
    )
    p.add_argument(
        "--model-args", metavar="JSON", help="for file.py:Factory, its keyword arguments, e.g. '{\"num_classes\": 10}'"
    )
    p.add_argument(
        "--input", metavar="CxHxW", help="input size (default: the model's design size); also HxW or one side, e.g. 224"
    )
    p.add_argument("--json", action="store_true", help="print the analysis as JSON")
    p.set_defaults(func=_summary)

    p = sub.add_parser("stacks", help="n stacked k×k convs versus one conv with the same receptive field")
    p.add_argument("--kernel", type=int, default=3, help="kernel of each stacked conv (default 3)")
    p.add_argument("--repeat", type=int, default=2, help="number of stacked convs (default 2)")
    p.add_argument("--channels", type=int, default=64, help="input channels (and others unless given; default 64)")
    p.add_argument("--out-channels", type=int, default=None, help="output channels (default: --channels)")
    p.add_argument(
        "--mid-channels", type=int, default=None, help="channels between stacked convs (default: output channels)"
    )
    p.add_argument("--size", type=int, default=32, help="input side used for the pass (default 32)")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=_stacks)
