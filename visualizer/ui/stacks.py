"""The 3×3 vs 5×5 tab: a stack of small kernels against one big kernel with the same receptive field."""

from __future__ import annotations

import gradio as gr

from visualizer.ui.components import FROM_ZERO
from visualizer.ui.handlers import LIGHT, friendly
from visualizer.ui.page_assets import PAGE_LANG_ARG_JS
from visualizer.ui.text import i18n
from visualizer.views import stacks

AXES = {"en": ("design", "weights per channel pair"), "ko": ("설계", "채널 쌍당 가중치 수")}


def stacks_ui(kernel: float, repeat: float, in_channels: float, out_channels: float, lang: str = "en") -> tuple:
    table, summary, chart = stacks.stacks_view(kernel, repeat, in_channels, out_channels, lang)
    # The bars in the table's order (the stack first): left alone, the chart sorts its x axis alphabetically,
    # which puts "1 × 5×5 conv" before "2 × 3×3 conv".
    return table, summary, gr.BarPlot(value=chart, sort=list(chart["design"]))


def chart_titles(lang: str) -> gr.BarPlot:
    # The chart's axis titles in the page's language (an update of those alone: its data stay).
    x_title, y_title = AXES[stacks.page_lang(lang)]
    return gr.BarPlot(x_title=x_title, y_title=y_title)


def build(demo: gr.Blocks, lang: gr.Radio) -> None:
    """The tab and its events: any slider released recomputes the comparison (also on page load, and in the other
    language when the page's picker ``lang`` switches)."""
    with gr.Tab(i18n("tab_stacks"), id="stacks"):
        with gr.Row():
            kernel = gr.Slider(1, 11, value=3, step=2, label=i18n("kernel"))
            repeat = gr.Slider(1, 6, value=2, step=1, label=i18n("repeats"))
            in_channels = gr.Slider(1, 1024, value=64, step=1, label=i18n("in_ch"))
            out_channels = gr.Slider(1, 1024, value=64, step=1, label=i18n("out_ch"))
        summary = gr.Markdown(elem_id="stacks-summary")
        table = gr.Dataframe(interactive=False)
        chart = gr.BarPlot(
            x="design",
            y="value",
            color="design",
            x_label_angle=0,
            y_lim=FROM_ZERO,
            label=i18n("stacks_chart"),
            color_title=" ",
        )
        gr.Markdown(i18n("explain_stacks"))

    inputs = [kernel, repeat, in_channels, out_channels, lang]
    outputs = [table, summary, chart]
    gr.on(
        [c.release for c in inputs[:-1]],
        friendly(stacks_ui),
        inputs,
        outputs,
        api_name="compare_stacks",
        **LIGHT,
    )
    demo.load(friendly(stacks_ui), inputs, outputs, js=PAGE_LANG_ARG_JS, api_visibility="private")
    lang.change(friendly(stacks_ui), inputs, outputs, api_visibility="private", **LIGHT)
    demo.load(chart_titles, lang, chart, js=PAGE_LANG_ARG_JS, api_visibility="private")
    lang.change(chart_titles, lang, chart, api_visibility="private")
