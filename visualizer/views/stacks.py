"""3×3 vs 5×5 tab: n stacked k×k convs against one K×K conv, from the analysis engine."""

from __future__ import annotations

import pandas as pd

from visualizer.numbers import plural, shape_text
from visualizer.stacks import compare_stacks
from visualizer.views.bars import bar_chart
from visualizer.views.layer_details import page_lang
from zoo.custom_vgg import quoted

# The table's and the chart's words in Korean (the page's other language; English are the frames' own names).
HEADERS_KO = {
    "design": "설계",
    "convs": "합성곱 수",
    "weights per channel pair": "채널 쌍당 가중치",
    "parameters": "파라미터",
    "MACs per output position (weights only)": "출력 위치당 MAC (가중치만)",
    "MACs per output position (torchinfo, + biases)": "출력 위치당 MAC (torchinfo, 편향 포함)",
    "receptive field": "수용 영역",
    "nonlinearities": "비선형 함수 수",
}
CHART_MEASURE = ("weights per channel pair", "채널 쌍당 가중치 수")


def design_label(label: str, lang: str | None = "en") -> str:
    """``"2 × 3×3 conv"`` in the page's language (``"3×3 합성곱 2개"``)."""
    if page_lang(lang) != "ko":
        return label
    count, _, kernel = label.removesuffix(" conv").partition(" × ")
    return f"{kernel} 합성곱 {count}개"


def _int(value: float, name: str) -> int:
    try:
        whole = value is not None and not isinstance(value, bool) and float(value) == int(float(value))
    except (TypeError, ValueError, OverflowError):  # text, a list, inf: what an API caller may send
        whole = False
    if not whole:
        raise ValueError(f"{name} must be a whole number, got {quoted(value, 40)}")
    return int(float(value))


def stacks_view(
    kernel: float, repeat: float, in_channels: float, out_channels: float, lang: str | None = "en"
) -> tuple[pd.DataFrame, str, pd.DataFrame]:
    """(table, summary, chart frame) for ``repeat`` stacked ``kernel``×``kernel`` convs vs one big conv, in the
    page's language ``lang`` (English by default)."""
    ko = page_lang(lang) == "ko"
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
    if ko:
        stack_label, single_label = design_label(stack.label, "ko"), design_label(single.label, "ko")
        field = f"{stack.receptive_field[0]}×{stack.receptive_field[1]}"
        summary = (
            f"**{stack_label}**는 **{single_label}**와 같은 {field} 영역을 보지만, 채널 쌍당 가중치는 "
            f"{single.weights_per_channel_pair}개 대신 {stack.weights_per_channel_pair}개입니다 (파라미터 "
            f"{stack.params:,}개 대 {single.params:,}개: 큰 합성곱 하나가 **{c.param_ratio:.2f}배** 많습니다). 비선형 "
            f"함수는 {single.nonlinearities}개 대신 {stack.nonlinearities}개입니다. 출력 위치 하나당 곱셈-덧셈은 "
            f"{single.textbook_macs_per_position:,}번 대신 {stack.textbook_macs_per_position:,}번입니다 (가중치만: "
            "합성곱마다 k·k·C_in·C_out)."
        )
        table["design"] = [design_label(label, "ko") for label in table["design"]]
        table = table.rename(columns=HEADERS_KO)
    chart = pd.DataFrame(
        [
            {"design": design_label(r.label, lang), "value": r.weights_per_channel_pair, "measure": CHART_MEASURE[ko]}
            for r in c.rows
        ],
    )
    return table, summary, chart


def chart_html(chart: pd.DataFrame) -> str:
    """The chart frame of ``stacks_view`` as bars from zero (``views.bars``), in its rows' order (the table's: the
    stack first), each with its value; its labels are in the language the frame was made in."""
    bars = [(str(design), float(value), str(int(value))) for design, value in zip(chart["design"], chart["value"])]
    return f"<div data-view='stacks-chart'>{bar_chart(str(chart['measure'].iloc[0]), bars)}</div>"
