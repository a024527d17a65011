"""Presentation of an analysis: the per-layer rows, the CLI's text table, the notebook's HTML, the MAC labels.

Facts live in ``visualizer.records`` (this module imports them, never the other way round, as torchinfo keeps
``formatting.py`` apart from its statistics); the engine hands every ``Analysis`` this module as its presenter, so
``print(analysis)`` is ``text(analysis)`` and Jupyter shows ``html(analysis)``.
"""

from __future__ import annotations

import html as html_lib
from typing import Any

from visualizer.diagram import render_svg
from visualizer.numbers import bytes_text, number_text, plural, shape_text
from visualizer.records import Analysis, LayerRecord

MACS_TORCHINFO = "MACs (torchinfo)"
MACS_TEXTBOOK = "MACs (weights only)"
MACS_NOTE = (
    f"{MACS_TORCHINFO}: torchinfo's count, every weight and bias × output positions for convs, × 1 for "
    f"other layers (BatchNorm 2·C). {MACS_TEXTBOOK}: the textbook count, k·k·C_in/g·C_out·H_out·W_out for "
    "convs and in·out for linear layers."
)


def geometry_text(r: LayerRecord) -> str:
    """``3×3 / 1×1 / 1×1`` (kernel / stride / padding, ``/ dil 2×2`` when dilated); "" for a layer without a window."""
    if r.kernel is None:
        return ""
    pad = r.padding if isinstance(r.padding, str) else shape_text(r.padding)
    text = f"{shape_text(r.kernel)} / {shape_text(r.stride)} / {pad}"
    if r.dilation and any(d != 1 for d in r.dilation):
        text += f" / dil {shape_text(r.dilation)}"
    return text


def table_rows(a: Analysis) -> list[dict[str, Any]]:
    """One human-friendly row per record: the page's table, its CSV and Markdown downloads, the text table."""
    return [
        {
            "#": r.index,
            "Layer": r.name + (f" (call {r.call_index + 1})" if r.call_index else ""),
            "Type": r.type,
            "Output shape": shape_text(r.output_shape[1:] if r.output_shape else None, "x"),
            "Kernel / stride / pad": geometry_text(r),
            "Params": r.params if r.call_index == 0 else 0,
            "Params %": round(100 * r.param_share, 2) if r.call_index == 0 else 0.0,
            MACS_TORCHINFO: r.macs,
            MACS_TEXTBOOK: r.textbook_macs,
            "Output KiB": round(r.activation_bytes / 1024, 1),
            "Receptive field": r.rf_display,
            "Jump": shape_text(r.jump),
        }
        for r in a.layers
    ]


def _designed_for(a: Analysis) -> str:
    differs = a.design_input_shape and tuple(a.design_input_shape) != tuple(a.input_shape)
    return f" (designed for {shape_text(a.design_input_shape, 'x')})" if differs else ""


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "   --"


TEXT_COLUMNS = [
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
NUMERIC = {"Params", MACS_TORCHINFO, MACS_TEXTBOOK}


def _text_cells(row: dict[str, Any]) -> list[str]:
    return [
        (f"{row[c]:,}" if row[c] else "--") if c in NUMERIC else (str(row[c]) or ("--" if c == "Jump" else ""))
        for c in TEXT_COLUMNS
    ]


def text(a: Analysis) -> str:
    """A readable text table of every layer call, then totals and breakdowns (``print(analysis)``, the CLI)."""
    cells = [_text_cells(row) for row in table_rows(a)]
    widths = [max([len(c), *(len(t[i]) for t in cells)]) for i, c in enumerate(TEXT_COLUMNS)]
    right = {0, 5, 6, 7}

    def line(row: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    rule = "-" * sum(w + 2 for w in widths)
    out = [f"{a.model_name} at input {shape_text(a.input_shape, 'x')}{_designed_for(a)}", rule, line(TEXT_COLUMNS)]
    out += [rule, *(line(t) for t in cells), rule]
    out += [
        f"Total params:        {a.total_params:,}",
        f"Trainable params:    {a.trainable_params:,}",
        f"Non-trainable:       {a.non_trainable_params:,}",
        f"Total MACs:          {a.total_macs:,} (torchinfo's convention: weights and biases × output "
        "positions for convs, × 1 for other layers, BatchNorm 2·C)",
        f"Textbook MACs:       {a.total_textbook_macs:,} (weights only: k·k·C_in/g·C_out·H_out·W_out for convs, "
        "in·out for linear layers)",
        f"Output activations:  {bytes_text(a.total_activation_bytes)} (all layer outputs, batch 1)",
    ]
    if a.output_shape:
        out.append(f"Model output:        {shape_text(a.output_shape[1:], 'x')}")
    out += _breakdown_lines(a)
    out += [f"Note: {n}" for n in a.notes]
    return "\n".join(out)


def _breakdown_lines(a: Analysis) -> list[str]:
    out = []
    for title, params, macs in (
        ("By layer type", a.params_by_type(), a.macs_by_type()),
        ("By block", a.params_by_block(), a.macs_by_block()),
    ):
        keys = list(dict.fromkeys([*params, *macs]))
        kw = max(len(k) for k in keys) + 2 if keys else 2
        out += ["", f"{title}:", f"  {'':<{kw}}{'params':>16} {'':>6} {MACS_TORCHINFO:>18}"]
        for key in keys:
            p, m = params.get(key, 0), macs.get(key, 0)
            out.append(f"  {key:<{kw}}{p:>16,} {_pct(p, a.total_params)} {m:>18,} {_pct(m, a.total_macs)}")
    s = a.conv_fc_split()
    out += [
        "",
        "Conv vs fully-connected:",
        f"  conv params {s['conv_params']:,}, FC params {s['fc_params']:,}"
        + (f" (FC/conv = {s['fc_to_conv_params']:.2f})" if s["fc_to_conv_params"] is not None else ""),
        f"  conv MACs {s['conv_macs']:,}, FC MACs {s['fc_macs']:,} (torchinfo)"
        + (f" (conv/FC = {s['conv_to_fc_macs']:.1f})" if s["conv_to_fc_macs"] is not None else ""),
    ]
    return out


def html(a: Analysis) -> str:
    """Jupyter's rich display: totals, the diagram and the per-layer table."""
    e = html_lib.escape
    totals = [
        ("Input", shape_text(a.input_shape, "x") + _designed_for(a)),
        ("Output", shape_text(a.output_shape[1:] if a.output_shape else None, "x", empty="–")),
        ("Parameters", f"{a.total_params:,} ({a.trainable_params:,} trainable)"),
        (MACS_TORCHINFO, f"{a.total_macs:,}"),
        (MACS_TEXTBOOK, f"{a.total_textbook_macs:,}"),
        ("Output activations", f"{a.total_activation_bytes / 2**20:,.1f} MiB (all layer outputs, batch 1)"),
    ]
    rows = table_rows(a)
    cols = list(rows[0]) if rows else []
    right = {"#", "Params", "Params %", MACS_TORCHINFO, MACS_TEXTBOOK, "Output KiB"}

    def cell(col: str, v: Any) -> str:
        shown = number_text(v) if isinstance(v, int) and col != "#" else str(v)
        return f'<td style="text-align:{"right" if col in right else "left"}">{e(shown)}</td>'

    return "\n".join(
        [
            '<div class="cnnviz-analysis">',
            f"<p><b>{e(a.model_name)}</b></p>",
            "<table>"
            + "".join(
                f'<tr><th style="text-align:left">{e(k)}</th><td style="text-align:left">{e(v)}</td></tr>'
                for k, v in totals
            )
            + "</table>",
            f'<div class="cnnviz-diagram">{render_svg(a)}</div>',
            f"<details open><summary>{len(rows)} layer calls</summary>",
            '<div style="max-height:480px;overflow:auto"><table>',
            "<thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr></thead><tbody>",
            *("<tr>" + "".join(cell(c, r[c]) for c in cols) + "</tr>" for r in rows),
            "</tbody></table></div></details>",
            *(f"<p><i>{e(note)}</i></p>" for note in [*a.notes, MACS_NOTE]),
            "</div>",
        ]
    )


def stacks_text(cmp: Any) -> str:
    """A ``visualizer.stacks.StackComparison`` as a small table (the ``stacks`` command)."""
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
            f"{r.params:,}",
            f"{r.textbook_macs_per_position:,}",
            f"{r.macs_per_position:,}",
            shape_text(r.receptive_field),
            str(r.nonlinearities),
        ]
        for r in cmp.rows
    ]
    widths = [max(len(c), *(len(b[i]) for b in body)) for i, c in enumerate(cols)]

    def fmt(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    stack, single = cmp.rows
    kernel = f"{cmp.kernel}×{cmp.kernel}"
    return "\n".join(
        [
            f"{plural(cmp.repeat, 'stacked ' + kernel + ' conv')} vs one {cmp.big_kernel}×{cmp.big_kernel} conv "
            f"(channels {cmp.in_channels} → {cmp.mid_channels} → {cmp.out_channels}, "
            f"input {cmp.input_size}×{cmp.input_size})",
            fmt(cols),
            *(fmt(b) for b in body),
            f"Same receptive field; the single conv has {cmp.param_ratio:.2f}× the parameters of the stack, "
            f"and the stack has {plural(stack.nonlinearities, 'nonlinearity', 'nonlinearities')} to its "
            f"{single.nonlinearities}.",
            "MACs/position (weights only) = k·k·C_in·C_out per conv, the textbook count; torchinfo's adds the biases.",
        ]
    )
