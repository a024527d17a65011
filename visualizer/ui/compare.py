"""The Compare tab: several models side by side (parameters, MACs, activation memory), as a table and bars."""

from __future__ import annotations

import gradio as gr

import zoo
from visualizer.ui.components import FROM_ZERO, SIZE_PRESETS
from visualizer.ui.handlers import LIGHT, friendly
from visualizer.ui.text import i18n
from visualizer.views import compare
from visualizer.views.opening import PageOpening

TV_EXAMPLES = ["tv:mobilenet_v2", "tv:efficientnet_b0", "tv:densenet121", "tv:googlenet", "tv:convnext_tiny"]


def compare_ui(models: list[str], input_size: str) -> tuple:
    table, chart = compare.compare_view(models, input_size)
    # One frame, three measures; the bars in the table's order (left alone, a chart sorts its axis by name).
    order = list(chart["model"])
    return table, *(gr.BarPlot(value=chart, sort=order) for _ in range(3))


def build(demo: gr.Blocks, opening: PageOpening | None = None) -> None:
    """The tab and its events: the button compares the picked models (the opening ones on page load)."""
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
        table = gr.Dataframe(interactive=False)
        with gr.Row():
            params = gr.BarPlot(x="model", y="parameters (M)", color="model", x_label_angle=-30, y_lim=FROM_ZERO)
            macs = gr.BarPlot(x="model", y="MACs (G)", color="model", x_label_angle=-30, y_lim=FROM_ZERO)
            memory = gr.BarPlot(x="model", y="activations (MiB)", color="model", x_label_angle=-30, y_lim=FROM_ZERO)
        gr.Markdown(i18n("explain_compare"))

    outputs = [table, params, macs, memory]
    button.click(friendly(compare_ui), [models, size], outputs, api_name="compare_models", **LIGHT)
    demo.load(friendly(compare_ui), [models, size], outputs, api_visibility="private")
