"""The Feature-maps tab: an image through a model; the strongest maps of one layer, the predictions, Grad-CAM,
the first layer's filters, and a clicked unit's receptive field on the image."""

from __future__ import annotations

import functools

import gradio as gr

from visualizer.ui import units, wire
from visualizer.ui.components import IMAGE_LABEL, ImageUpload, choices, image_label, model_choices, upload_path
from visualizer.ui.handlers import LIGHT, NETWORK, friendly
from visualizer.ui.page_assets import PAGE_LANG_ARG_JS
from visualizer.ui.text import i18n
from visualizer.views import features
from visualizer.views.opening import BASE_SOURCES, PageOpening

COLORMAPS = ["viridis", "magma", "inferno", "gray", "coolwarm", "jet"]
RANKS = ["mean", "max"]
NORMALIZATIONS = ["channel", "shared"]
# After an upload, the info box says how it went; at 1024×768 it sits a screen above the upload button.
SHOW_INFO_JS = "() => document.querySelector('#feature-info')?.scrollIntoView({block: 'start', behavior: 'smooth'})"


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


def imagenet_uploaded(path: str | None, model: str) -> tuple:
    source, message = features.upload_imagenet(path, model)
    if source is None:  # refused: the message in the info box, the panels empty (no error badge on each)
        return gr.skip(), *features.cleared(message)[:-1], None, ""
    # Stored: the weights radio turns to imagenet, the info box says so; the panels keep what they show.
    return source, gr.skip(), message, *([gr.skip()] * 6), gr.skip(), gr.skip()


def relabel_ui(state: dict | None, checkpoint: str | None, lang: str, sources: tuple[str, ...] = BASE_SOURCES) -> tuple:
    # The page's language changed: what Python wrote in one language (the top-5 table's headers, the checkpoint
    # picker's first choice, the upload's label, the radios' choices; ``sources``: the page's weight sources).
    top5 = features.top5_table(state["predictions"], lang) if state and "predictions" in state else gr.skip()
    radios = [gr.Radio(choices=choices(list(values), lang)) for values in (sources, RANKS, NORMALIZATIONS)]
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
    out = features.feature_maps_page(
        upload_path(image),
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
    return *wired(out), ""  # a new grid: the last click's description is stale


FEATURE_OUTPUTS = 10  # what feature_maps_ui returns: 8 pictures and texts, the click state, the click's text


def wired(out: tuple) -> tuple:
    """``views.features.feature_maps``' answer in the form Gradio sends it (``wire``): the pictures as the files
    their forward pass already wrote, the table and text as values. A class looking at the same photo is sent the
    same files, with no encoding, hashing or copying per answer."""
    grid, info, seen, cam, top5, overview, filters, rf, state = out
    image = wire.image
    return (
        *(image(grid), wire.markdown(info), image(seen), image(cam), wire.table(top5)),
        *(image(overview), image(filters), image(rf), state),
    )


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

    def __init__(self, demo: gr.Blocks, lang: gr.Radio, opening: PageOpening) -> None:
        self.lang = lang  # the page's language picker (app.language_picker)
        self.opening = opening
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
            model_choices(),
            value=self.opening.model,
            label=i18n("model"),
            allow_custom_value=True,
            info=i18n("custom_cfg"),
        )
        self.source = gr.Radio(
            list(self.opening.weight_sources), value="auto", label=i18n("weights"), info=i18n("weights_auto")
        )
        # The picker on a row of its own: a run's name is long ("20261202-0512…-alexnet_cifar-shapes (run)").
        self.checkpoint = gr.Dropdown([], label=i18n("checkpoint_path"), allow_custom_value=True)
        with gr.Row():
            self.checkpoint_upload = gr.UploadButton(
                i18n("upload_checkpoint"), file_types=[".pt"], type="filepath", size="sm"
            )
            self.imagenet_upload = gr.UploadButton(
                i18n("upload_imagenet"),
                file_types=[".pth", ".pt"],
                type="filepath",
                size="sm",
                elem_id="imagenet-upload",
            )
        self.layer = gr.Dropdown([], label=i18n("layer"), allow_custom_value=True)
        with gr.Row():
            self.top_n = gr.Slider(1, features.MAX_SHOWN, value=16, step=1, label=i18n("top_n"))
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
        self.top5 = gr.Dataframe(label=i18n("top5"), interactive=False, elem_id="feature-top5")
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
        outputs = [self.grid, self.info, self.seen, self.cam, self.top5, self.overview, self.filters, self.rf]
        self.imagenet_upload.upload(
            friendly(imagenet_uploaded),
            [self.imagenet_upload, self.model],
            [self.source, *outputs, self.state, self.rf_info],
            api_visibility="private",
        ).then(None, None, None, js=SHOW_INFO_JS)
        self.lang.change(
            friendly(functools.partial(relabel_ui, sources=self.opening.weight_sources)),
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
        self.button.click(
            friendly(feature_maps_ui, release_memory=True),
            inputs,
            [*outputs, self.state, self.rf_info],
            api_name="feature_maps",
            **NETWORK,
            **wire.WIRE,
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
            **wire.WIRE,
        )
        self.grid.select(friendly(grid_clicked), self.state, [self.rf, self.rf_info], api_visibility="private")


def build(demo: gr.Blocks, lang: gr.Radio, opening: PageOpening | None = None) -> FeaturesTab:
    """The Feature-maps tab, inside ``demo``'s ``gr.Tabs()``, on the opening model; ``lang``: the page's language
    picker."""
    return FeaturesTab(demo, lang, opening or PageOpening())
