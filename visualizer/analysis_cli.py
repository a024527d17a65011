"""``python -m visualizer summary MODEL [--input CxHxW] [--json]`` and ``python -m visualizer stacks ...``.

Presentation only: the numbers come from ``analysis.analyze_model`` and ``stacks.compare_stacks``.
"""

from __future__ import annotations

import argparse
import json
import sys

from visualizer.analysis import (
    MACS_TEXTBOOK,
    MACS_TORCHINFO,
    Analysis,
    AnalysisError,
    format_shape,
    parse_input_shape,
)

__all__ = ["add_commands", "format_stacks", "format_table", "parse_input_shape"]


def _n(x: int) -> str:
    return f"{x:,}"


def _bytes(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "   --"


def format_table(analysis: Analysis) -> str:
    """A readable text table of every layer call, then totals and breakdowns."""
    rows = analysis.table_rows()
    cols = [
        "#",
        "Layer",
        "Type",
        "Output shape",
        "Kernel / stride / pad",
        "Params",
        MACS_TORCHINFO,
        MACS_TEXTBOOK,
        "Receptive field",
        "Jump",
    ]
    text_rows = [
        [
            str(r["#"]),
            r["Layer"],
            r["Type"],
            r["Output shape"],
            r["Kernel / stride / pad"],
            _n(r["Params"]) if r["Params"] else "--",
            _n(r[MACS_TORCHINFO]) if r[MACS_TORCHINFO] else "--",
            _n(r[MACS_TEXTBOOK]) if r[MACS_TEXTBOOK] else "--",
            r["Receptive field"],
            r["Jump"] or "--",
        ]
        for r in rows
    ]
    widths = [max(len(c), *(len(t[i]) for t in text_rows)) if text_rows else len(c) for i, c in enumerate(cols)]
    right = {0, 5, 6, 7}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    rule = "-" * sum(w + 2 for w in widths)
    a = analysis
    out = [
        f"{a.model_name} at input {format_shape(a.input_shape)}"
        + (
            f" (designed for {format_shape(a.design_input_shape)})"
            if a.design_input_shape and tuple(a.design_input_shape) != tuple(a.input_shape)
            else ""
        ),
        rule,
        line(cols),
        rule,
        *(line(t) for t in text_rows),
        rule,
    ]
    out += [
        f"Total params:        {_n(a.total_params)}",
        f"Trainable params:    {_n(a.trainable_params)}",
        f"Non-trainable:       {_n(a.non_trainable_params)}",
        f"Total MACs:          {_n(a.total_macs)} (torchinfo's convention: weights and biases × output "
        "positions for convs, × 1 for other layers, BatchNorm 2·C)",
        f"Textbook MACs:       {_n(a.total_textbook_macs)} (weights only: k·k·C_in/g·C_out·H_out·W_out for convs, "
        "in·out for linear layers)",
        f"Output activations:  {_bytes(a.total_activation_bytes)} (all layer outputs, batch 1)",
    ]
    if a.output_shape:
        out.append(f"Model output:        {format_shape(a.output_shape[1:])}")
    for title, params, macs in (
        ("By layer type", a.params_by_type(), a.macs_by_type()),
        ("By block", a.params_by_block(), a.macs_by_block()),
    ):
        keys = list(dict.fromkeys([*params, *macs]))
        kw = max(len(k) for k in keys) + 2 if keys else 2
        out += ["", f"{title}:", f"  {'':<{kw}}{'params':>16} {'':>6} {MACS_TORCHINFO:>18}"]
        for key in keys:
            p, m = params.get(key, 0), macs.get(key, 0)
            out.append(f"  {key:<{kw}}{_n(p):>16} {_pct(p, a.total_params)} {_n(m):>18} {_pct(m, a.total_macs)}")
    s = a.conv_fc_split()
    out += [
        "",
        "Conv vs fully-connected:",
        f"  conv params {_n(s['conv_params'])}, FC params {_n(s['fc_params'])}"
        + (f" (FC/conv = {s['fc_to_conv_params']:.2f})" if s["fc_to_conv_params"] is not None else ""),
        f"  conv MACs {_n(s['conv_macs'])}, FC MACs {_n(s['fc_macs'])} (torchinfo)"
        + (f" (conv/FC = {s['conv_to_fc_macs']:.1f})" if s["conv_to_fc_macs"] is not None else ""),
    ]
    out += [f"Note: {n}" for n in a.notes]
    return "\n".join(out)


def format_stacks(cmp) -> str:
    """The stack comparison as a small table."""
    cols = [
        "",
        "weights/pair",
        "params",
        "MACs/position (weights only)",
        "MACs/position (torchinfo)",
        "receptive field",
        "nonlinearities",
    ]
    body = [
        [
            r.label,
            str(r.weights_per_channel_pair),
            _n(r.params),
            _n(r.textbook_macs_per_position),
            _n(r.macs_per_position),
            "×".join(map(str, r.receptive_field)),
            str(r.nonlinearities),
        ]
        for r in cmp.rows
    ]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    stack, single = cmp.rows
    return "\n".join(
        [
            f"{cmp.repeat} stacked {cmp.kernel}×{cmp.kernel} convs vs one {cmp.big_kernel}×{cmp.big_kernel} conv "
            f"(channels {cmp.in_channels} → {cmp.mid_channels} → {cmp.out_channels}, "
            f"input {cmp.input_size}×{cmp.input_size})",
            fmt(cols),
            *(fmt(b) for b in body),
            f"Same receptive field; the single conv has {cmp.param_ratio:.2f}× the parameters of the stack, "
            f"and the stack has {stack.nonlinearities} nonlinearities to its {single.nonlinearities}.",
            "MACs/position (weights only) = k·k·C_in·C_out per conv, the textbook count; torchinfo's adds the biases.",
        ]
    )


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _summary(args: argparse.Namespace) -> int:
    from visualizer.analysis import analyze_model

    try:
        shape = parse_input_shape(args.input) if args.input else None
        analysis = analyze_model(_model_name(args), shape)
    except (AnalysisError, ValueError) as exc:  # ValueError: UserModelError, a file that does not load
        return _fail(str(exc))
    print(json.dumps(analysis.to_dict(), indent=1) if args.json else format_table(analysis))
    return 0


def _model_name(args: argparse.Namespace) -> str:
    """The zoo name of the ``model`` argument; a ``file.py:Net`` is loaded and registered first (issue 16)."""
    # The loader (zoo, torchvision) is imported only for a file: `cnnviz --help` and zoo names stay as quick.
    from visualizer.user_models import resolve_model_argument

    return resolve_model_argument(args.model, args.model_args, args.input)


def _stacks(args: argparse.Namespace) -> int:
    from visualizer.stacks import compare_stacks

    try:
        cmp = compare_stacks(args.kernel, args.repeat, args.channels, args.out_channels, args.mid_channels, args.size)
    except AnalysisError as exc:
        return _fail(str(exc))
    print(json.dumps(cmp.to_dict(), indent=1) if args.json else format_stacks(cmp))
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
