"""The Architecture tab: a model drawn (SVG), its per-layer table and totals, a clicked layer's card, and that
layer's maps and receptive field through an image.

Handlers are module-level functions from plain values to plain values (and Gradio updates); ``ArchitectureTab``
lays out the components and wires them to those handlers right after.
"""

from __future__ import annotations

import functools
from typing import Any

import gradio as gr

from visualizer.ui import units, wire
from visualizer.ui.components import (
    IMAGE_LABEL,
    SIZE_PRESETS,
    ImageUpload,
    choices,
    image_label,
    model_choices,
)
from visualizer.ui.downloads import EXPORTS, links
from visualizer.ui.handlers import (
    DIRECT,
    LIGHT,
    NETWORK,
    friendly,
    in_page_and_for_scripts,
    refusal_slot,
    said_in_place,
)
from visualizer.ui.page_assets import PAGE_LANG_ARG_JS
from visualizer.ui.text import i18n
from visualizer.views import architecture, features
from visualizer.views.opening import BASE_SOURCES, PageOpening

# A click anywhere in the diagram (one delegated listener, so redraws need no re-binding): a box selects its
# layer at once in the page — its box, and its row of the table — and then asks Python for its card; a stage's ×N
# badge asks for a redraw. A click on a table row marks that row the same way. The row is marked by a style rule
# on the table's cells of that row index (``cell-<row>-<column>``), which holds while the table, a virtual list,
# recycles its row elements as it scrolls; so a click's answer is the card alone, never the whole table again.
DIAGRAM_JS = """
window.cnnvizPickRow = (index) => {
  let rule = document.getElementById('arch-picked-row');
  if (!rule) {
    rule = document.createElement('style');
    rule.id = 'arch-picked-row';
    document.head.appendChild(rule);
  }
  rule.textContent = (index === null || index === undefined || index === '') ? '' :
    `#arch-table [data-testid^="cell-${Number(index)}-"] { background-color: #ffe8cc !important; font-weight: bold; }`;
};
document.addEventListener('click', (event) => {
  const cell = event.target.closest && event.target.closest('#arch-table [data-testid^="cell-"]');
  if (cell) window.cnnvizPickRow(cell.dataset.testid.split('-')[1]);
});
element.addEventListener('click', (event) => {
  const badge = event.target.closest('[data-expand]');
  if (badge) { trigger('click', {expand: badge.dataset.expand}); return; }
  const hit = event.target.closest('[data-layer], [data-bar], [data-first]');
  if (!hit) return;
  const key = hit.dataset.layer || hit.dataset.bar || hit.dataset.first;
  element.querySelectorAll('.selected').forEach((n) => n.classList.remove('selected'));
  element.querySelectorAll('[data-layer]').forEach((n) => {
    if (n.dataset.layer === key) n.classList.add('selected');
  });
  const box = element.querySelector('.selected[data-index]');
  window.cnnvizPickRow(box ? box.dataset.index : null);
  trigger('select', {layer: key});
});
"""
# A new analysis: no row is marked (its inputs pass through unchanged).
UNPICK_JS = "(...args) => { if (window.cnnvizPickRow) window.cnnvizPickRow(null); return args; }"
# After a box is clicked, bring its (highlighted) row of the table into view. The table is a virtual list
# (only visible rows exist), so scroll its container to the row's position rather than to an element.
SCROLL_TO_ROW_JS = """
() => {
  const picked = document.querySelector('#arch-diagram .selected[data-index]');
  const table = document.querySelector('#arch-table');
  if (!picked || !table) return;
  const row = table.querySelector('[role=row].virtual-row');
  const scroller = [...table.querySelectorAll('*')].find(
    (e) => e.scrollHeight > e.clientHeight + 4 && ['auto', 'scroll'].includes(getComputedStyle(e).overflowY));
  if (!row || !scroller) return;
  const top = Number(picked.dataset.index) * row.offsetHeight - scroller.clientHeight / 3;
  scroller.scrollTo({top: Math.max(0, top), behavior: 'smooth'});
}
"""


# ---------------------------------------------------------------- handlers
# (none of those behind a public endpoint has a docstring: Gradio would publish it as the endpoint's description)
def analyze_ui(model: str, input_size: str, lang: str = "en") -> tuple:
    # A fresh analysis, in the form Gradio sends it (``wire``: the event skips Gradio's postprocessing); the last
    # selection's maps cleared (with values: in Gradio 6.31 a gr.skip() costs more than an empty value, see README
    # "Answers that cost little"); the downloads from the shelf (no hashing), as links (no FileData to check).
    # (the fold's choices in the page's language come from relabel_ui: this is the `analyze` endpoint, plain values)
    table, totals, drawing, files, fold, state, card = architecture.analyze_view(model, input_size, lang=lang)
    shelved = links(EXPORTS.shelve_all(files))
    return wire.table(table), wire.markdown(totals), drawing, shelved, fold, state, card, None, None, "", None


def relabel_ui(state: dict | None, fold: str, lang: str, sources: tuple[str, ...] = BASE_SOURCES) -> tuple:
    # The page's language changed: what Python wrote in one language (the table's headers, the fold's choices,
    # the weight sources: ``sources``, the page's opening ones).
    table = architecture.table_view(state, lang)
    fold = gr.Radio(choices=architecture.fold_choices(lang), value=fold)
    weights = gr.Radio(choices=choices(list(sources), lang))
    return gr.skip() if table is None else wire.table(table), fold, image_label(lang), weights


def redraw_ui(state: dict | None, fold: str | None, expand: str | None = None) -> tuple:
    drawing, files, new = architecture.redraw_view(state, fold, expand)
    return drawing, links(EXPORTS.shelve_all(files)), new


def refold_ui(state: dict | None, fold: str) -> tuple:
    return redraw_ui(state, fold)


def expand_ui(state: dict | None, evt: gr.EventData) -> tuple:
    return redraw_ui(state, None, getattr(evt, "expand", None))


def diagram_clicked(state: dict | None, lang: str, evt: gr.EventData) -> tuple:
    return architecture.select_view(state, getattr(evt, "layer", ""), lang)


def row_clicked(state: dict | None, lang: str, evt: gr.SelectData) -> tuple:
    return architecture.select_view(state, architecture.row_key(state, evt.index[0]), lang)


def selected_maps(state: dict | None, image: Any, weights: str, progress=gr.Progress(track_tqdm=True)) -> tuple:
    key = (state or {}).get("selected")
    if not key:
        return None, None, "", None
    return features.layer_maps(image, state["model"], weights, key)


def layer_details_api(model: str, input_size: str, layer: str) -> str:
    """A layer's details card by name (what a click on its box shows), for scripts."""
    state = architecture.arch_state(architecture.run(model, input_size), "blocks")
    return architecture.select_view(state, layer)[0]


def arch_maps_clicked(maps_state: dict | None, evt: gr.SelectData) -> tuple:
    return features.rf_from_click(maps_state, evt.index[0], evt.index[1])


# ---------------------------------------------------------------- the tab
class ArchitectureTab:
    """The tab's components (attributes, in page order), then its events."""

    def __init__(self, demo: gr.Blocks, lang: gr.Radio, opening: PageOpening) -> None:
        self.lang = lang  # the page's language picker (app.language_picker)
        self.opening = opening
        with gr.Tab(i18n("tab_arch"), id="arch"):
            self.state = gr.State(None)  # {"model", "input_size", "fold", "expanded", "selected"}
            self.maps_state = gr.State(None)  # click state of the layer's maps (like the Feature-maps grid)
            self._model_and_drawing()
            with gr.Row():
                with gr.Column(scale=3):
                    self.table = gr.Dataframe(
                        label=i18n("layers"), interactive=False, wrap=False, max_height=480, elem_id="arch-table"
                    )
                with gr.Column(scale=2):
                    self.details = gr.HTML(elem_id="layer-details", padding=True)
                    self._through_an_image()
            self.unit = units.architecture_panel(self)  # the selected layer's strongest unit, its ERF (full width)
            self.files = gr.HTML(elem_id="arch-downloads", padding=True)  # links (ui.downloads)
            with gr.Accordion(i18n("formulas"), open=True):
                gr.Markdown(i18n("explain_arch"), latex_delimiters=[])
        self.analysis = [self.table, self.totals, self.diagram, self.files, self.fold, self.state, self.details]
        self.no_maps = [self.maps, self.rf, self.maps_info, self.maps_state]
        self._analyze_events(demo)
        self._select_events()
        self._maps_events()

    def _model_and_drawing(self) -> None:
        with gr.Row():
            self.model = gr.Dropdown(
                model_choices(),
                value=self.opening.model,
                label=i18n("model"),
                allow_custom_value=True,
                info=i18n("custom_cfg"),
                scale=3,
            )
            self.size = gr.Dropdown(
                SIZE_PRESETS,
                value=self.opening.input_size,
                allow_custom_value=True,
                label=i18n("input_size"),
                scale=2,
            )
            self.button = gr.Button(i18n("analyze"), variant="primary", scale=1)
        self.said = refusal_slot("arch-said")  # a refused model or size (the analysis shown stays)
        self.fold = gr.Radio(architecture.fold_choices("en"), value="blocks", label=i18n("fold"), elem_id="arch-fold")
        self.diagram = gr.HTML(elem_id="arch-diagram", js_on_load=DIAGRAM_JS, padding=False)
        self.totals = gr.Markdown()

    def _through_an_image(self) -> None:
        with gr.Accordion(i18n("through_image"), open=True):
            with gr.Row():
                self.image = ImageUpload(
                    type="filepath", label=IMAGE_LABEL["en"], height=150, sources=["upload", "clipboard"], scale=1
                )
                self.weights = gr.Radio(list(self.opening.weight_sources), value="auto", label=i18n("weights"), scale=1)
            gr.Examples(features.example_images()[:4], inputs=self.image, label=i18n("examples"))
            self.maps = gr.Image(label=i18n("layer_maps"), type="pil", interactive=False, elem_id="arch-maps")
            self.rf = gr.Image(label=i18n("rf_overlay"), type="pil", interactive=False, elem_id="arch-rf", height=260)
            self.maps_info = gr.Markdown(elem_id="arch-maps-info")

    def _analyze_events(self, demo: gr.Blocks) -> None:
        inputs, outputs = [self.model, self.size, self.lang], self.analysis + self.no_maps
        # The page's analyses answer in their request, a refusal said under the pickers; scripts have `analyze`.
        triggers = [self.button.click, self.size.select]
        analysed = in_page_and_for_scripts(triggers, analyze_ui, inputs, outputs, self.said, "analyze", js=UNPICK_JS)
        # Picking a model switches to the input size it was designed for, then analyses it (as the page does).
        picked = self.model.select(
            friendly(architecture.design_size), self.model, self.size, api_visibility="private"
        ).then(
            analysed.fn,  # the same page handler
            inputs,
            [*outputs, self.said],
            js=UNPICK_JS,
            api_visibility="private",
            **DIRECT,
            **wire.WIRE,
        )
        for answered in (analysed, picked):  # (a direct answer's new state fires no change: the unit panel after it)
            self.unit.after(answered)
        demo.load(friendly(analyze_ui), inputs, outputs, js=PAGE_LANG_ARG_JS, api_visibility="private", **wire.WIRE)
        self.lang.change(
            friendly(functools.partial(relabel_ui, sources=self.opening.weight_sources)),
            [self.state, self.fold, self.lang],
            [self.table, self.fold, self.image, self.weights],
            api_visibility="private",
        )
        redrawn = [self.diagram, self.files, self.state]
        self.fold.input(friendly(refold_ui), [self.state, self.fold], redrawn, api_visibility="private", **wire.WIRE)
        self.diagram.click(friendly(expand_ui), self.state, redrawn, api_visibility="private", **wire.WIRE)

    def _select_events(self) -> None:
        """A click on a box or a row: the card (the page marked the box and the row itself), the table scrolled to
        that row, then the layer's maps through the image (a forward pass, in the network queue)."""
        selected_outputs = [self.details, self.state]
        for selected in (
            self.diagram.select(
                said_in_place(diagram_clicked, len(selected_outputs)),
                [self.state, self.lang],
                selected_outputs,
                **LIGHT,
                **DIRECT,
                **wire.WIRE,
                api_visibility="private",
            ),
            self.table.select(
                said_in_place(row_clicked, len(selected_outputs)),
                [self.state, self.lang],
                selected_outputs,
                **LIGHT,
                **DIRECT,
                **wire.WIRE,
                api_visibility="private",
            ),
        ):
            self.unit.after(selected)  # the unit panel of the layer now selected
            selected.then(None, None, None, js=SCROLL_TO_ROW_JS).then(
                friendly(selected_maps, release_memory=True),
                [self.state, self.image, self.weights],
                self.no_maps,
                **NETWORK,
                api_visibility="private",
            )

    def _maps_events(self) -> None:
        gr.on(
            [self.image.change, self.weights.input],
            friendly(selected_maps, release_memory=True),
            [self.state, self.image, self.weights],
            self.no_maps,
            **NETWORK,
            api_visibility="private",
        )
        self.maps.select(
            friendly(arch_maps_clicked), self.maps_state, [self.rf, self.maps_info], api_visibility="private"
        )


def build(demo: gr.Blocks, lang: gr.Radio, opening: PageOpening | None = None) -> ArchitectureTab:
    """The Architecture tab, inside ``demo``'s ``gr.Tabs()``; its analysis of the opening model (VGG-16 unless the
    page was opened on a network of your own) runs on page load; ``lang``: the page's language picker."""
    return ArchitectureTab(demo, lang, opening or PageOpening())
