"""The 3×3 vs 5×5 tab: a stack of small kernels against one big kernel with the same receptive field."""

from __future__ import annotations

import gradio as gr

from visualizer.ui import wire
from visualizer.ui.handlers import LIGHT, friendly, in_page_and_for_scripts, refusal_slot
from visualizer.ui.page_assets import PAGE_LANG_ARG_JS
from visualizer.ui.text import i18n
from visualizer.views import stacks


def stacks_ui(kernel: float, repeat: float, in_channels: float, out_channels: float, lang: str = "en") -> tuple:
    # The bars in the table's order (the stack first), drawn in Python (``views.bars`` says why).
    # In the form Gradio sends (``wire``): the sliders' numbers are checked by the view itself.
    table, summary, chart = stacks.stacks_view(kernel, repeat, in_channels, out_channels, lang)
    return wire.table(table), wire.markdown(summary), stacks.chart_html(chart)


def build(demo: gr.Blocks, lang: gr.Radio) -> None:
    """The tab and its events: any slider released recomputes the comparison (also on page load, and in the other
    language when the page's picker ``lang`` switches)."""
    with gr.Tab(i18n("tab_stacks"), id="stacks"):
        with gr.Row():
            kernel = gr.Slider(1, 11, value=3, step=2, label=i18n("kernel"))
            repeat = gr.Slider(1, 6, value=2, step=1, label=i18n("repeats"))
            in_channels = gr.Slider(1, 1024, value=64, step=1, label=i18n("in_ch"))
            out_channels = gr.Slider(1, 1024, value=64, step=1, label=i18n("out_ch"))
        said = refusal_slot("stacks-said")  # numbers a script or a typed value got wrong (the comparison stays)
        summary = gr.Markdown(elem_id="stacks-summary")
        table = gr.Dataframe(interactive=False)
        chart = gr.HTML(elem_id="stacks-chart", padding=True)
        gr.Markdown(i18n("explain_stacks"))

    inputs = [kernel, repeat, in_channels, out_channels, lang]
    outputs = [table, summary, chart]
    # The page's answer in its request, a refusal said above the summary; scripts have `compare_stacks`.
    in_page_and_for_scripts([c.release for c in inputs[:-1]], stacks_ui, inputs, outputs, said, "compare_stacks")
    demo.load(friendly(stacks_ui), inputs, outputs, js=PAGE_LANG_ARG_JS, api_visibility="private", **wire.WIRE)
    lang.change(friendly(stacks_ui), inputs, outputs, api_visibility="private", **LIGHT, **wire.WIRE)
