"""The Compare tab: several models side by side (parameters, MACs, activation memory), as a table and bars."""

from __future__ import annotations

import gradio as gr

import zoo
from visualizer.ui.components import FROM_ZERO, SIZE_PRESETS
from visualizer.ui.handlers import LIGHT, friendly
from visualizer.ui.page_assets import PAGE_LANG_ARG_JS
from visualizer.ui.text import i18n
from visualizer.views import compare
from visualizer.views.opening import PageOpening

TV_EXAMPLES = ["tv:mobilenet_v2", "tv:efficientnet_b0", "tv:densenet121", "tv:googlenet", "tv:convnext_tiny"]


MEASURES = ("parameters (M)", "MACs (G)", "activations (MiB)")


def compare_ui(models: list[str], input_size: str, lang: str = "en") -> tuple:
    table, chart = compare.compare_view(models, input_size, lang)
    # One frame, three measures; the bars in the table's order (left alone, a chart sorts its axis by name).
    order = list(chart["model"])
    return table, *(gr.BarPlot(value=chart, sort=order) for _ in range(3))


def chart_titles(lang: str) -> tuple:
    # The charts' axis titles in the page's language (updates of those alone: their data stay).
    x_title = compare.chart_title("model", lang)
    return tuple(gr.BarPlot(x_title=x_title, y_title=compare.chart_title(y, lang)) for y in MEASURES)


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
        table = gr.Dataframe(interactive=False, elem_id="compare-table")
        with gr.Row():
            params, macs, memory = (
                gr.BarPlot(x="model", y=y, color="model", color_title=" ", x_label_angle=-30, y_lim=FROM_ZERO)
                for y in MEASURES
            )
        gr.Markdown(i18n("explain_compare"))

    outputs = [table, params, macs, memory]
    inputs = [models, size, lang]
    button.click(friendly(compare_ui), inputs, outputs, api_name="compare_models", **LIGHT)
    demo.load(friendly(compare_ui), inputs, outputs, js=PAGE_LANG_ARG_JS, api_visibility="private")
    lang.change(friendly(compare_ui), inputs, outputs, api_visibility="private", **LIGHT)
    demo.load(chart_titles, lang, outputs[1:], js=PAGE_LANG_ARG_JS, api_visibility="private")
    lang.change(chart_titles, lang, outputs[1:], api_visibility="private")
