"""The VGG lesson: n stacked k×k convs versus one K×K conv with the same receptive field, K = n(k−1)+1.

Both variants are real ``nn.Conv2d`` stacks run through ``analyze``, so every number in the comparison
(parameters, MACs, receptive field) comes from the same engine as the model tables and cannot drift.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from visualizer.analysis import AnalysisError, analyze
from visualizer.records import Analysis


@dataclass(frozen=True)
class StackRow:
    label: str  # "2 × 3×3 conv"
    layers: int  # number of convs
    kernel: int
    weights_per_channel_pair: int  # n·k² for the stack, K² for the single conv
    params: int
    macs: int
    macs_per_position: int  # torchinfo's MACs for one output position (summed over the stack's layers; biases count)
    receptive_field: list[int]
    nonlinearities: int  # ReLUs: one after each conv
    textbook_macs: int = 0  # weights only: k·k·C_in·C_out·H·W per conv, summed
    textbook_macs_per_position: int = 0  # weights only, one output position: 2·3·3·64·64 = 73,728 vs 5·5·64·64

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StackComparison:
    kernel: int
    repeat: int
    big_kernel: int
    in_channels: int
    mid_channels: int
    out_channels: int
    input_size: int
    rows: list[StackRow]  # [stack, single]

    @property
    def param_ratio(self) -> float:
        """Parameters of the single big conv per parameter of the stack (> 1: the stack is cheaper)."""
        return self.rows[1].params / self.rows[0].params

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["param_ratio"] = self.param_ratio
        return d


def _convs(widths: list[int], kernel: int, bias: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for c_in, c_out in zip(widths, widths[1:]):
        # "same" padding keeps every layer at the input size, so per-position counts are exact.
        layers += [nn.Conv2d(c_in, c_out, kernel, padding="same", bias=bias), nn.ReLU()]
    return nn.Sequential(*layers)


def _row(label: str, n: int, kernel: int, a: Analysis) -> StackRow:
    convs = [r for r in a.layers if r.type == "Conv2d"]
    positions = [r.output_shape[2] * r.output_shape[3] for r in convs]
    return StackRow(
        label=label,
        layers=n,
        kernel=kernel,
        weights_per_channel_pair=sum(r.kernel[0] * r.kernel[1] for r in convs),
        params=a.total_params,
        macs=a.total_macs,
        macs_per_position=sum(r.macs // p for r, p in zip(convs, positions)),
        receptive_field=list(convs[-1].receptive_field),
        nonlinearities=sum(1 for r in a.layers if r.type == "ReLU"),
        textbook_macs=a.total_textbook_macs,
        textbook_macs_per_position=sum(r.textbook_macs // p for r, p in zip(convs, positions)),
    )


def compare_stacks(
    kernel: int = 3,
    repeat: int = 2,
    in_channels: int = 64,
    out_channels: int | None = None,
    mid_channels: int | None = None,
    input_size: int = 32,
    bias: bool = True,
) -> StackComparison:
    """Compare ``repeat`` stacked ``kernel``×``kernel`` convs with one conv of the same receptive field."""
    out_channels = in_channels if out_channels is None else out_channels
    mid_channels = out_channels if mid_channels is None else mid_channels
    for label, v, lo, hi in (
        ("kernel", kernel, 1, 31),
        ("repeat", repeat, 1, 16),
        ("channels", in_channels, 1, 4096),
        ("input size", input_size, 1, 4096),
        ("out channels", out_channels, 1, 4096),
        ("mid channels", mid_channels, 1, 4096),
    ):
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise AnalysisError(f"{label} must be an integer from {lo} to {hi}, got {v!r}")
    return _compared(kernel, repeat, in_channels, out_channels, mid_channels, input_size, bool(bias))


# Checked above, so that a cached answer is never given to a value that would be refused (True hashes as 1). A
# class drags the same few sliders back and forth: building and analysing the two stacks is ~4 ms of each answer,
# the comparison is frozen, so the same one is shared.
@functools.lru_cache(maxsize=512)
def _compared(
    kernel: int, repeat: int, in_channels: int, out_channels: int, mid_channels: int, input_size: int, bias: bool
) -> StackComparison:
    big = repeat * (kernel - 1) + 1
    shape = (in_channels, input_size, input_size)
    with torch.device("meta"):  # shapes only: a 4096-wide 31×31 conv would otherwise need 64 GB
        stack = _convs([in_channels] + [mid_channels] * (repeat - 1) + [out_channels], kernel, bias)
        single = _convs([in_channels, out_channels], big, bias)
    with warnings.catch_warnings():  # "same" with an even kernel pads one side more: expected, and exact here
        warnings.filterwarnings("ignore", message="Using padding='same'")
        rows = [
            _row(f"{repeat} × {kernel}×{kernel} conv", repeat, kernel, analyze(stack, shape, "stack")),
            _row(f"1 × {big}×{big} conv", 1, big, analyze(single, shape, "single")),
        ]
    return StackComparison(kernel, repeat, big, in_channels, mid_channels, out_channels, input_size, rows)
