"""The Feature-maps tab: an image through a model; the strongest maps of one layer, the predictions, Grad-CAM,
the first layer's filters, and a clicked unit's receptive field on the image."""

from __future__ import annotations

import gradio as gr

from visualizer.ui import units
from visualizer.ui.components import IMAGE_LABEL, WEIGHT_SOURCES, ImageUpload, choices, image_label, model_choices
from visualizer.ui.handlers import LIGHT, NETWORK, friendly
from visualizer.ui.page_assets import PAGE_LANG_ARG_JS
from visualizer.ui.text import i18n
from visualizer.views import features

COLORMAPS = ["viridis", "magma", "inferno", "gray", "coolwarm", "jet"]
RANKS = ["mean", "max"]
NORMALIZATIONS = ["channel", "shared"]


# ---------------------------------------------------------------- handlers
# (none of those behind a public endpoint has a docstring: Gradio would publish it as the endpoint's description)
def layer_pickers(model: str) -> tuple[gr.Dropdown, gr.Dropdown]:
    return gr.Dropdown(**features.layer_choices(model)), gr.Dropdown(**features.cam_layer_choices(model))


def checkpoint_picker(checkpoint: str | None, lang: str) -> gr.Dropdown:
    choices = features.checkpoint_choices(lang)
    values = {value for _, value in choices["choices"]}
    return gr.Dropdown(choices=choices["choices"], value=checkpoint if checkpoint in values else choices["value"])


def checkpoint_uploaded(path: str | None, lang: str) -> tuple[gr.Dropdown, str]:
    choices, source = features.upload_checkpoint(path, lang)
    return gr.Dropdown(**choices), source


def relabel_ui(state: dict | None, checkpoint: str | None, lang: str) -> tuple:
    # The page's language changed: what Python wrote in one language (the top-5 table's headers, the checkpoint
    # picker's first choice, the upload's label, the radios' choices).
    top5 = features.top5_table(state["predictions"], lang) if state and "predictions" in state else gr.skip()
    radios = [gr.Radio(choices=choices(values, lang)) for values in (WEIGHT_SOURCES, RANKS, NORMALIZATIONS)]
    return top5, checkpoint_picker(checkpoint, lang), image_label(lang), *radios


def feature_maps_ui(
    image,
    model,
    weights,
    checkpoint,
    layer,
    top_n,
    rank_by,
    colormap,
    normalization,
    gradcam_class,
    gradcam_layer,
    lang="en",
    progress=gr.Progress(track_tqdm=True),
) -> tuple:
    # (track_tqdm: the one-time ImageNet weights download shows its progress bar in the page; the parameter names
    # are the `feature_maps` endpoint's parameter names)
    out = features.feature_maps(
        image,
        model,
        weights,
        checkpoint,
        layer,
        top_n,
        rank_by,
        colormap,
        normalization,
        gradcam_class,
        gradcam_layer,
        lang,
    )
    return *out, ""  # a new grid: the last click's description is stale


FEATURE_OUTPUTS = 10  # what feature_maps_ui returns: 8 pictures and texts, the click state, the click's text


def first_visit_ui(state: dict | None, *inputs) -> tuple:
    # The tab's first look shows its view (the first example photo, the weights it can get) rather than empty boxes.
    if state is not None or inputs[0] is None:
        return (gr.skip(),) * FEATURE_OUTPUTS
    return feature_maps_ui(*inputs)


def grid_clicked(state: dict | None, evt: gr.SelectData) -> tuple:
    return features.rf_from_click(state, evt.index[0], evt.index[1])


# ---------------------------------------------------------------- the tab
class FeaturesTab:
    """The tab's components (attributes, in page order), then its events."""

    def __init__(self, demo: gr.Blocks, lang: gr.Radio) -> None:
        self.lang = lang  # the page's language picker (app.language_picker)
        with gr.Tab(i18n("tab_features"), id="features") as self.tab:
            self.state = gr.State(None)
            with gr.Row():
                with gr.Column(scale=1):
                    self._settings()
                with gr.Column(scale=2):
                    self._results()
            self.unit = units.feature_panel(self)  # a click on a map also explains that unit (full width)
            gr.Markdown(i18n("explain_features"))
        self._events(demo)

    def _settings(self) -> None:
        examples = features.example_images()
        self.image = ImageUpload(
            value=examples[0] if examples else None,  # the tab opens on the first example (first_visit_ui)
            type="filepath",
            label=IMAGE_LABEL["en"],  # in the page's language: relabel_ui
            sources=["upload", "clipboard"],
            height=240,
        )
        gr.Examples(examples, inputs=self.image, label=i18n("examples"))
        # The primary button high up: on screen without scrolling at a projector's 1024×768.
        self.button = gr.Button(i18n("show"), variant="primary", elem_id="features-show")
        self.model = gr.Dropdown(
            model_choices(), value="vgg16", label=i18n("model"), allow_custom_value=True, info=i18n("custom_cfg")
        )
        self.source = gr.Radio(WEIGHT_SOURCES, value="auto", label=i18n("weights"), info=i18n("weights_auto"))
        with gr.Row():
            self.checkpoint = gr.Dropdown([], label=i18n("checkpoint_path"), allow_custom_value=True, scale=3)
            self.checkpoint_upload = gr.UploadButton(
                i18n("upload_checkpoint"), file_types=[".pt"], type="filepath", scale=1, size="sm"
            )
        self.layer = gr.Dropdown([], label=i18n("layer"), allow_custom_value=True)
        with gr.Row():
            self.top_n = gr.Slider(1, 64, value=16, step=1, label=i18n("top_n"))
            self.rank = gr.Radio(RANKS, value="mean", label=i18n("rank_by"))
        with gr.Row():
            self.colormap = gr.Dropdown(COLORMAPS, value="viridis", label=i18n("colormap"))
            self.normalization = gr.Radio(NORMALIZATIONS, value="channel", label=i18n("normalize"))
        with gr.Row():
            self.cam_layer = gr.Dropdown([], label=i18n("gradcam_layer"), allow_custom_value=True)
            self.cam_class = gr.Textbox(label=i18n("gradcam_class"), placeholder=i18n("gradcam_class_example"))

    def _results(self) -> None:
        self.info = gr.Markdown(elem_id="feature-info")
        self.grid = gr.Image(label=i18n("grid"), type="pil", interactive=False, elem_id="feature-grid")
        with gr.Row():
            self.seen = gr.Image(label=i18n("net_input"), type="pil", interactive=False)
            self.rf = gr.Image(label=i18n("rf_overlay"), type="pil", interactive=False, elem_id="rf-overlay")
            self.cam = gr.Image(label=i18n("gradcam"), type="pil", interactive=False)
        self.rf_info = gr.Markdown(elem_id="rf-info")
        self.top5 = gr.Dataframe(label=i18n("top5"), interactive=False)
        self.overview = gr.Image(label=i18n("overview"), type="pil", interactive=False)
        self.filters = gr.Image(label=i18n("filters"), type="pil", interactive=False)

    def _events(self, demo: gr.Blocks) -> None:
        gr.on(
            [self.model.change, demo.load],
            friendly(layer_pickers),
            self.model,
            [self.layer, self.cam_layer],
            api_visibility="private",
        )
        gr.on(
            [demo.load, self.tab.select],
            friendly(checkpoint_picker),
            [self.checkpoint, self.lang],
            self.checkpoint,
            js=PAGE_LANG_ARG_JS,
            api_visibility="private",
        )
        self.checkpoint_upload.upload(
            friendly(checkpoint_uploaded),
            [self.checkpoint_upload, self.lang],
            [self.checkpoint, self.source],
            api_visibility="private",
        )
        self.lang.change(
            friendly(relabel_ui),
            [self.state, self.checkpoint, self.lang],
            [self.top5, self.checkpoint, self.image, self.source, self.rank, self.normalization],
            api_visibility="private",
            **LIGHT,
        )
        inputs = [  # in feature_maps_ui's order
            self.image,
            self.model,
            self.source,
            self.checkpoint,
            self.layer,
            self.top_n,
            self.rank,
            self.colormap,
            self.normalization,
            self.cam_class,
            self.cam_layer,
            self.lang,
        ]
        outputs = [self.grid, self.info, self.seen, self.cam, self.top5, self.overview, self.filters, self.rf]
        self.button.click(
            friendly(feature_maps_ui, release_memory=True),
            inputs,
            [*outputs, self.state, self.rf_info],
            api_name="feature_maps",
            **NETWORK,
        )
        # Prepared on page load (a tab not shown yet keeps what it is sent), and on the first look if that was
        # quicker than the load's forward pass: the tab is never empty when it opens.
        gr.on(
            [demo.load, self.tab.select],
            friendly(first_visit_ui, release_memory=True),
            [self.state, *inputs],
            [*outputs, self.state, self.rf_info],
            js=PAGE_LANG_ARG_JS,
            api_visibility="private",
            **NETWORK,
        )
        self.grid.select(friendly(grid_clicked), self.state, [self.rf, self.rf_info], api_visibility="private")


def build(demo: gr.Blocks, lang: gr.Radio) -> FeaturesTab:
    """The Feature-maps tab, inside ``demo``'s ``gr.Tabs()``; ``lang``: the page's language picker."""
    return FeaturesTab(demo, lang)
