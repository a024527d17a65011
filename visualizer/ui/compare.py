"""The Compare tab: several models side by side (parameters, MACs, activation memory), as a table and bars."""

from __future__ import annotations

import gradio as gr

import zoo
from visualizer.ui import wire
from visualizer.ui.components import SIZE_PRESETS
from visualizer.ui.handlers import LIGHT, friendly, in_page_and_for_scripts, refusal_slot
from visualizer.ui.page_assets import PAGE_LANG_ARG_JS
from visualizer.ui.text import i18n
from visualizer.views import compare
from visualizer.views.opening import PageOpening

TV_EXAMPLES = ["tv:mobilenet_v2", "tv:efficientnet_b0", "tv:densenet121", "tv:googlenet", "tv:convnext_tiny"]


def compare_ui(models: list[str], input_size: str, lang: str = "en") -> tuple:
    # One frame, three measures, drawn in Python in the table's order (``views.bars`` says why).
    # In the form Gradio sends (``wire``): the picked names and the size are checked by the view itself.
    table, chart = compare.compare_view(models, input_size, lang)
    return wire.table(table), compare.charts_html(chart, lang)


def build(demo: gr.Blocks, lang: gr.Radio, opening: PageOpening | None = None) -> None:
    """The tab and its events: the button compares the picked models (the opening ones on page load, again in the
    other language when the page's picker ``lang`` switches)."""
    opening = opening or PageOpening()
    with gr.Tab(i18n("tab_compare"), id="compare"):
        with gr.Row():
            models = gr.Dropdown(
                zoo.list_models() + TV_EXAMPLES,
                value=list(opening.compare_models),
                multiselect=True,
                allow_custom_value=True,
                label=i18n("models_to_compare"),
                scale=3,
            )
            size = gr.Dropdown(
                SIZE_PRESETS, value=opening.compare_size, allow_custom_value=True, label=i18n("input_size"), scale=1
            )
            button = gr.Button(i18n("compare"), variant="primary", scale=1)
        said = refusal_slot("compare-said")  # too few or too many models, a name or size not understood
        table = gr.Dataframe(interactive=False, elem_id="compare-table")
        charts = gr.HTML(elem_id="compare-charts", padding=True)
        gr.Markdown(i18n("explain_compare"))

    outputs = [table, charts]
    inputs = [models, size, lang]
    # The page's comparison in its request, a refusal said under the pickers; scripts have `compare_models`.
    in_page_and_for_scripts([button.click], compare_ui, inputs, outputs, said, "compare_models")
    demo.load(friendly(compare_ui), inputs, outputs, js=PAGE_LANG_ARG_JS, api_visibility="private", **wire.WIRE)
    lang.change(friendly(compare_ui), inputs, outputs, api_visibility="private", **LIGHT, **wire.WIRE)
