"""3×3 vs 5×5 tab: n stacked k×k convs against one K×K conv, from the analysis engine."""

from __future__ import annotations

import pandas as pd

from visualizer.numbers import plural, shape_text
from visualizer.stacks import compare_stacks


def _int(value: float, name: str) -> int:
    if value is None or float(value) != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


def stacks_view(
    kernel: float, repeat: float, in_channels: float, out_channels: float
) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """(table, summary, chart frame) for ``repeat`` stacked ``kernel``×``kernel`` convs vs one big conv."""
    k, n = _int(kernel, "kernel"), _int(repeat, "repeats")
    if k % 2 == 0:
        raise ValueError(f"kernel {k} is even; use an odd kernel (1, 3, 5, 7 …) so the layer keeps a centre pixel")
    c = compare_stacks(
        kernel=k,
        repeat=n,
        in_channels=_int(in_channels, "input channels"),
        out_channels=_int(out_channels, "output channels"),
    )
    stack, single = c.rows
    table = pd.DataFrame(
        [
            {
                "design": r.label,
                "convs": r.layers,
                "weights per channel pair": r.weights_per_channel_pair,
                "parameters": r.params,
                "MACs per output position (weights only)": r.textbook_macs_per_position,
                "MACs per output position (torchinfo, + biases)": r.macs_per_position,
                "receptive field": shape_text(r.receptive_field),
                "nonlinearities": r.nonlinearities,
            }
            for r in c.rows
        ]
    )
    summary = (
        f"**{stack.label}** sees {stack.receptive_field[0]}×{stack.receptive_field[1]}, the same as "
        f"**{single.label}**, with {stack.weights_per_channel_pair} instead of {single.weights_per_channel_pair} "
        f"weights per channel pair ({stack.params:,} vs {single.params:,} parameters: the single conv needs "
        f"**{c.param_ratio:.2f}×** as many) and {plural(stack.nonlinearities, 'nonlinearity', 'nonlinearities')} "
        f"instead of {single.nonlinearities}. Per output position that is {stack.textbook_macs_per_position:,} "
        f"multiply-adds instead of {single.textbook_macs_per_position:,} (weights only: k·k·C_in·C_out per conv)."
    )
    chart = pd.DataFrame(
        [
            {"design": r.label, "value": r.weights_per_channel_pair, "measure": "weights per channel pair"}
            for r in c.rows
        ],
    )
    return table, summary, chart
