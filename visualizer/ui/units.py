"""Inside one unit, on the page: the "explain this unit" panel (its computation drawn and in numbers, ◀ ▶ and a
slider moving it along its map) and the effective receptive field, for the tabs that show them.

Each tab adds its panel with one call where the panel goes (``feature_panel``, ``architecture_panel``,
``training_panel`` + ``TrainingErfPanel.wire``) and the panel wires its own events to the tab's components; the
endpoints ``explain_unit`` and ``effective_rf`` are registered by ``register_api``. Handlers are the plain
functions of ``visualizer.views.units``. Pictures are drawn in the page's language: each event's ``js`` hands
the language the page shows to Python (a hidden box holds its place among the inputs).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from visualizer.ui.handlers import LIGHT, NETWORK, friendly
from visualizer.ui.text import i18n
from visualizer.views import units

# The language the page shows (the bilingual HTML's switch, else the browser's), as the last input.
LANG_JS = """
(...args) => {
  const root = document.documentElement;
  const lang = root.dataset.cnnvizLang || root.lang || navigator.language || 'en';
  return [...args.slice(0, -1), lang];
}
"""
CARD_CSS = """
table { border-collapse: collapse; font-size: 0.95em; margin: 4px 0; }
td, th { padding: 2px 10px 2px 0; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { border-top: 1px solid #999; font-weight: bold; }
.formula code { white-space: normal; }
h4 { margin: 2px 0 6px; }
"""
ERF_STEPS = dict(minimum=1, maximum=16, step=1)
EPOCH_ERF = {"concurrency_id": "epoch-erf", "concurrency_limit": 1}


def _slider(update: dict | None) -> Any:
    return (
        gr.skip() if update is None else gr.Slider(minimum=0, maximum=max(1, update["maximum"]), value=update["value"])
    )


def _unit_outputs(view: tuple | None) -> tuple:
    """(picture, numbers, state, slider, panel visible) from a ``views.units`` unit view; None: nothing new."""
    if view is None:
        return (gr.skip(),) * 5
    picture, numbers, state, slider = view
    return picture, numbers, state, _slider(slider), gr.Column(visible=True)


# ---------------------------------------------------------------- handlers
def unit_clicked(state: dict | None, lang: str, evt: gr.SelectData) -> tuple:
    return _unit_outputs(units.unit_from_click(state, evt.index[0], evt.index[1], lang))


def step_back(state: dict | None, lang: str) -> tuple:
    return _unit_outputs(units.step_unit(state, -1, lang))


def step_on(state: dict | None, lang: str) -> tuple:
    return _unit_outputs(units.step_unit(state, 1, lang))


def moved(state: dict | None, position: float, lang: str) -> tuple:
    return _unit_outputs(units.move_unit(state, position, lang))


def new_grid(_state: Any) -> tuple:
    # A new grid: the unit explained before belongs to the previous one.
    return None, "", None, gr.Slider(value=0), gr.Column(visible=False)


def arch_selected(arch_state: dict | None, image: Any, weights: str, shown: dict | None, lang: str) -> tuple:
    view = units.architecture_unit(arch_state, image, weights, lang, shown)
    if view is None:
        return (gr.skip(),) * 7
    picture, numbers, state, slider = view
    hint = units.erf_hint(arch_state)
    return picture, numbers, state, _slider(slider), gr.Column(visible=True), None, hint


def arch_erf(arch_state: dict | None, image: Any, weights: str, images: float, lang: str) -> tuple:
    return units.architecture_erf(arch_state, image, weights, images, lang)


def epochs_shown(layer: str | None, shown: tuple | None, lang: str) -> tuple:
    panel = units.training_erf(layer, lang, shown)
    if panel is None:
        return (gr.skip(),) * 4
    picture, numbers, choices, value, state = panel
    return picture, numbers, gr.Dropdown(choices=choices, value=value), state


def explain_unit_api(
    model: str,
    layer: str,
    channel: int,
    y: int | None = None,
    x: int | None = None,
    image: str = "",
    weights: str = "auto",
    top: int = 6,
) -> dict:
    """One unit's computation with the network's numbers (``visualizer.explain_unit`` as JSON). ``image``: "" (the
    first example photo), an example's file name, or a base64 image file (``data:image/png;base64,...``);
    ``y``/``x`` None: the channel's strongest unit (always None for a linear layer)."""
    return units.explain_unit_json(model, layer, channel, y, x, image, weights, top)


def effective_rf_api(
    model: str, layer: str, image: str = "", images: int = 8, weights: str = "auto", input_size: str = ""
) -> dict:
    """A layer's effective receptive field (``visualizer.effective_rf`` as JSON); ``gradient`` as
    ``{"shape", "dtype": "float32", "base64"}``. ``image`` as for explain_unit (the examples fill the batch);
    ``input_size`` ("3x224x224"): a seeded batch of noise images instead."""
    return units.effective_rf_json(model, layer, image, images, weights, input_size)


# ---------------------------------------------------------------- the panels
class UnitPanel:
    """The computation of one unit: the picture, the numbers, ◀ ▶ and the position slider (hidden until a unit
    is picked); ``outputs`` is what every handler above returns into."""

    def __init__(self, elem_id: str, visible: bool = False) -> None:
        with gr.Column(visible=visible, elem_id=elem_id) as self.column:
            gr.Markdown(i18n("unit_title"))
            with gr.Row(equal_height=True):
                self.back = gr.Button(i18n("unit_back"), size="sm", scale=1, min_width=90, elem_id=f"{elem_id}-back")
                self.position = gr.Slider(
                    0, 1, value=0, step=1, label=i18n("unit_position"), scale=8, elem_id=f"{elem_id}-position"
                )
                self.on = gr.Button(i18n("unit_next"), size="sm", scale=1, min_width=90, elem_id=f"{elem_id}-next")
            self.picture = gr.Image(
                show_label=False, type="pil", interactive=False, format="png", elem_id=f"{elem_id}-picture"
            )
            self.numbers = gr.HTML(elem_id=f"{elem_id}-numbers", css_template=CARD_CSS, padding=True)
            self.lang = gr.Textbox(visible=False)  # its value comes from LANG_JS (a hidden box's value is still sent)
            self.state = gr.State(None)
        self.outputs = [self.picture, self.numbers, self.state, self.position, self.column]
        common = dict(js=LANG_JS, api_visibility="private", show_progress="minimal", **LIGHT)
        self.back.click(friendly(step_back), [self.state, self.lang], self.outputs, **common)
        self.on.click(friendly(step_on), [self.state, self.lang], self.outputs, **common)
        self.position.release(friendly(moved), [self.state, self.position, self.lang], self.outputs, **common)


def feature_panel(tab: Any) -> UnitPanel:
    """The Feature-maps tab's panel: a click on a map (``tab.grid``) explains that unit of the tab's pass
    (``tab.state``); a new grid hides it."""
    panel = UnitPanel("feature-unit")
    tab.grid.select(
        friendly(unit_clicked), [tab.state, panel.lang], panel.outputs, js=LANG_JS, api_visibility="private", **NETWORK
    )
    tab.state.change(new_grid, tab.state, panel.outputs, api_visibility="private", show_progress="hidden")
    return panel


class ArchitectureUnits:
    """The Architecture card's panel: the selected layer's strongest unit through the tab's image, and the
    layer's effective receptive field (random weights beside the tab's) on a button."""

    def __init__(self, tab: Any) -> None:
        with gr.Accordion(i18n("arch_inside"), open=True, elem_id="arch-inside"):
            self.unit = UnitPanel("arch-unit")
            with gr.Row(equal_height=True):
                self.images = gr.Slider(
                    value=units.PAGE_ERF_IMAGES,
                    label=i18n("erf_images"),
                    scale=3,
                    elem_id="arch-erf-images",
                    **ERF_STEPS,
                )
                self.button = gr.Button(i18n("erf_button"), scale=2, elem_id="arch-erf-button")
            self.erf = gr.Image(show_label=False, type="pil", interactive=False, format="png", elem_id="arch-erf")
            self.erf_numbers = gr.HTML(elem_id="arch-erf-numbers", css_template=CARD_CSS, padding=True)
        self._selected = dict(
            fn=friendly(arch_selected),
            inputs=[tab.state, tab.image, tab.weights, self.unit.state, self.unit.lang],
            outputs=[*self.unit.outputs, self.erf, self.erf_numbers],
            js=LANG_JS,
            api_visibility="private",
            show_progress="minimal",
            **NETWORK,
        )
        gr.on([tab.state.change, tab.image.change, tab.weights.input], **self._selected)
        self.button.click(
            friendly(arch_erf, release_memory=True),
            [tab.state, tab.image, tab.weights, self.images, self.unit.lang],
            [self.erf, self.erf_numbers],
            js=LANG_JS,
            api_visibility="private",
            **NETWORK,
        )

    def after(self, click: Any) -> Any:
        """The panel shown anew after ``click`` (a box or row click's card, an analysis: answered outside the queue,
        and Gradio 6.31's page fires no ``change`` of a ``gr.State`` set by such an answer, so the state's change does
        not bring it)."""
        return click.then(**self._selected)


def architecture_panel(tab: Any) -> ArchitectureUnits:
    """Call inside the Architecture tab's "through an image" column, after its image and weights exist."""
    return ArchitectureUnits(tab)


class TrainingErfPanel:
    """The Training tab's effective receptive field of one stage layer at each kept epoch (laid out where it is
    made; ``wire`` once the tab's timer exists)."""

    def __init__(self) -> None:
        gr.Markdown(i18n("erf_epochs_title"))
        self.layer = gr.Dropdown([], label=i18n("erf_epochs_layer"), elem_id="epoch-erf-layer")
        self.picture = gr.Image(show_label=False, type="pil", interactive=False, format="png", elem_id="epoch-erf")
        self.numbers = gr.HTML(elem_id="epoch-erf-numbers", css_template=CARD_CSS, padding=True)
        self.lang = gr.Textbox(visible=False)  # filled in by LANG_JS
        self.shown = gr.State(None)

    def wire(self, tab: Any) -> None:
        gr.on(
            [tab.timer.tick, tab.tab.select, self.layer.input],
            friendly(epochs_shown),
            [self.layer, self.shown, self.lang],
            [self.picture, self.numbers, self.layer, self.shown],
            js=LANG_JS,
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
            **EPOCH_ERF,
        )


def training_panel() -> TrainingErfPanel:
    """Call inside the Training tab where the panel goes; then ``panel.wire(tab)`` once ``tab.timer`` exists."""
    return TrainingErfPanel()


def register_api() -> None:
    """The ``explain_unit`` and ``effective_rf`` endpoints (inside the page's ``gr.Blocks``)."""
    gr.api(friendly(explain_unit_api), api_name="explain_unit", **NETWORK)
    gr.api(friendly(effective_rf_api, release_memory=True), api_name="effective_rf", **NETWORK)
