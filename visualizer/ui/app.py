"""The Gradio page: five tabs, each wired to plain functions in ``visualizer.views``.

This is the only module that knows about components. Handlers' ``ValueError``/``RuntimeError`` messages
become ``gr.Error`` pop-ups (the server keeps serving); every event has a stable ``api_name``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any

import gradio as gr

import zoo
from visualizer.budgets import outputs
from visualizer.budgets.allocator import release_freed_memory
from visualizer.ui.text import EN, KO
from visualizer.views import architecture, compare, features, stacks, training

i18n = gr.I18n(en=EN, ko=KO)
EXAMPLE_CUSTOM = "vgg:64,64,M,128,128,M,256,256,M"  # type any such string into a model box
TV_EXAMPLES = ["tv:mobilenet_v2", "tv:efficientnet_b0", "tv:densenet121", "tv:googlenet", "tv:convnext_tiny"]
SIZE_PRESETS = ["3x224x224", "3x227x227", "3x32x32"]
MAX_UPLOAD = "20mb"
CURVE_COLORS = {"train": "#4c78a8", "test": "#f58518"}
FROM_ZERO = [0, None]  # bars must start at zero, or an 18-vs-25 comparison looks like nothing-vs-25
# Two queues: work that runs a network (feature maps, a clicked layer's maps) shares one group, so forward
# passes do not fight over 2 cores; answers computed from the records (analyze, details, stacks, compare)
# have their own, wider limits and never wait behind a forward pass.
NETWORK = {"concurrency_id": "network", "concurrency_limit": 1}
# A checkpoint is offered for download at every epoch while it is small; a big one once the run ends (each file
# Gradio serves is copied into its cache; the cache itself is cleared of files older than an hour).
AUTO_SEND_CHECKPOINT_BYTES = 64 * 2**20
GRADIO_CACHE_CLEANUP = (600, 3600)  # every 10 minutes, files older than an hour
LIGHT = {"concurrency_limit": 4}

# A click anywhere in the diagram (one delegated listener, so redraws need no re-binding): a box selects its
# layer at once in the page and then asks Python for its details; a stage's ×N badge asks for a redraw.
DIAGRAM_JS = """
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
  trigger('select', {layer: key});
});
"""
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
# The page's language, read off a hidden translated probe, decides which half of bilingual HTML shows.
LANGUAGE_JS = """
() => {
  const apply = () => {
    const probe = document.querySelector('#lang-probe');
    const ko = probe && probe.innerText.trim().startsWith('ko');
    document.documentElement.dataset.cnnvizLang = ko ? 'ko' : 'en';
  };
  apply();
  new MutationObserver(apply).observe(document.body, {subtree: true, childList: true, characterData: true});
}
"""
CSS = """
.ko { display: none; }
html[data-cnnviz-lang="ko"] .ko { display: inline !important; }  /* beats Gradio's prefixed copy of .ko */
html[data-cnnviz-lang="ko"] .en { display: none !important; }
#lang-probe { display: none; }
.diagram-scroll { overflow-x: auto; width: 100%; }
.diagram-hint { color: #666; font-size: 0.85em; margin: 2px 0 4px; }
.layer-card h3 { margin: 0 0 2px; }
.layer-card table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
.layer-card th { text-align: left; vertical-align: top; padding: 4px 8px 4px 0; white-space: nowrap; color: #444; }
.layer-card td { padding: 4px 0; }
.layer-card code { white-space: normal; }
.layer-card .formula { margin: 1px 0 3px; }
.muted { color: #666; }
"""


class ImageUpload(gr.Image):
    """An image upload that hands the original file to ``visualizer.images.load_image``.

    Gradio's own preprocessing opens and converts the file first: 16-bit PNGs are clipped, transparency
    takes the file's hidden colour, and a non-image fails inside Gradio before our checks could say why.
    """

    is_template = True  # the browser side is the ordinary Image component

    def preprocess(self, payload: Any) -> Any:
        if payload is None or payload.path is None or (payload.url or "").startswith("data:"):
            return super().preprocess(payload)
        return payload.path


def friendly(fn: Callable, release_memory: bool = False) -> Callable:
    """Turn the handlers' plain exceptions into a readable message in the page (the server keeps serving), and
    their images into files that no concurrent reply can truncate."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = outputs.as_files(fn(*args, **kwargs))  # images as files of their own: see budgets.outputs
            if release_memory:  # after a forward pass: give what it freed back to the system
                release_freed_memory()
            return result
        except gr.Error:
            raise
        except (ValueError, RuntimeError, OSError, KeyError) as exc:
            raise gr.Error(str(exc).strip() or exc.__class__.__name__, duration=None) from exc

    return wrapper


def build_demo() -> gr.Blocks:
    models = zoo.list_models() + [EXAMPLE_CUSTOM]
    with gr.Blocks(title="CNN architecture visualizer", delete_cache=GRADIO_CACHE_CLEANUP) as demo:
        gr.Markdown(i18n("title"))
        gr.Markdown(i18n("lang_code"), elem_id="lang-probe")
        with gr.Tabs():
            # ---------------------------------------------------------------- Architecture
            with gr.Tab(i18n("tab_arch"), id="arch"):
                arch_state = gr.State(None)  # {"model", "input_size", "fold", "expanded", "selected"}
                arch_maps_state = gr.State(None)  # click state of the layer's maps (like the Feature-maps grid)
                with gr.Row():
                    arch_model = gr.Dropdown(
                        models,
                        value="vgg16",
                        label=i18n("model"),
                        allow_custom_value=True,
                        info=i18n("custom_cfg"),
                        scale=3,
                    )
                    arch_size = gr.Dropdown(
                        SIZE_PRESETS, value="3x224x224", allow_custom_value=True, label=i18n("input_size"), scale=2
                    )
                    arch_btn = gr.Button(i18n("analyze"), variant="primary", scale=1)
                arch_fold = gr.Radio(architecture.FOLD_CHOICES, value="blocks", label=i18n("fold"), elem_id="arch-fold")
                arch_diagram = gr.HTML(elem_id="arch-diagram", js_on_load=DIAGRAM_JS, padding=False)
                arch_totals = gr.Markdown()
                with gr.Row():
                    with gr.Column(scale=3):
                        arch_table = gr.Dataframe(
                            label=i18n("layers"), interactive=False, wrap=False, max_height=480, elem_id="arch-table"
                        )
                    with gr.Column(scale=2):
                        arch_details = gr.HTML(elem_id="layer-details", padding=True)
                        with gr.Accordion(i18n("through_image"), open=True):
                            with gr.Row():
                                arch_image = ImageUpload(
                                    type="filepath",
                                    label="Image · 이미지",
                                    height=150,
                                    sources=["upload", "clipboard"],
                                    scale=1,
                                )
                                arch_weights = gr.Radio(
                                    ["auto", "random", "imagenet", "checkpoint"],
                                    value="auto",
                                    label=i18n("weights"),
                                    scale=1,
                                )
                            gr.Examples(features.example_images()[:4], inputs=arch_image)
                            arch_maps = gr.Image(
                                label=i18n("layer_maps"), type="pil", interactive=False, elem_id="arch-maps"
                            )
                            arch_rf = gr.Image(
                                label=i18n("rf_overlay"), type="pil", interactive=False, elem_id="arch-rf", height=260
                            )
                            arch_maps_info = gr.Markdown(elem_id="arch-maps-info")
                arch_files = gr.File(label=i18n("downloads"), file_count="multiple")
                with gr.Accordion("Formulas · 공식", open=True):
                    gr.Markdown(i18n("explain_arch"), latex_delimiters=[])

            # ---------------------------------------------------------------- 3×3 vs 5×5
            with gr.Tab(i18n("tab_stacks"), id="stacks"):
                with gr.Row():
                    st_kernel = gr.Slider(1, 11, value=3, step=2, label=i18n("kernel"))
                    st_repeat = gr.Slider(1, 6, value=2, step=1, label=i18n("repeats"))
                    st_in = gr.Slider(1, 1024, value=64, step=1, label=i18n("in_ch"))
                    st_out = gr.Slider(1, 1024, value=64, step=1, label=i18n("out_ch"))
                st_summary = gr.Markdown()
                st_table = gr.Dataframe(interactive=False)
                st_chart = gr.BarPlot(
                    x="design",
                    y="value",
                    color="design",
                    x_label_angle=0,
                    y_lim=FROM_ZERO,
                    label="weights per channel pair · 채널 쌍당 가중치 수",
                )
                gr.Markdown(i18n("explain_stacks"))

            # ---------------------------------------------------------------- Feature maps
            with gr.Tab(i18n("tab_features"), id="features") as features_tab:
                fm_state = gr.State(None)
                with gr.Row():
                    with gr.Column(scale=1):
                        fm_image = ImageUpload(
                            type="filepath",
                            label="Image · 이미지",  # (an upload's label takes no i18n key)
                            sources=["upload", "clipboard"],
                            height=240,
                        )
                        gr.Examples(features.example_images(), inputs=fm_image)
                        fm_model = gr.Dropdown(
                            models, value="vgg16", label=i18n("model"), allow_custom_value=True, info=i18n("custom_cfg")
                        )
                        fm_source = gr.Radio(
                            ["auto", "random", "imagenet", "checkpoint"],
                            value="auto",
                            label=i18n("weights"),
                            info=i18n("weights_auto"),
                        )
                        with gr.Row():
                            fm_ckpt = gr.Dropdown([], label=i18n("checkpoint_path"), allow_custom_value=True, scale=3)
                            fm_ckpt_upload = gr.UploadButton(
                                i18n("upload_checkpoint"), file_types=[".pt"], type="filepath", scale=1, size="sm"
                            )
                        fm_layer = gr.Dropdown([], label=i18n("layer"), allow_custom_value=True)
                        with gr.Row():
                            fm_topn = gr.Slider(1, 64, value=16, step=1, label=i18n("top_n"))
                            fm_rank = gr.Radio(["mean", "max"], value="mean", label=i18n("rank_by"))
                        with gr.Row():
                            fm_cmap = gr.Dropdown(
                                ["viridis", "magma", "inferno", "gray", "coolwarm", "jet"],
                                value="viridis",
                                label=i18n("colormap"),
                            )
                            fm_norm = gr.Radio(["channel", "shared"], value="channel", label=i18n("normalize"))
                        with gr.Row():
                            fm_cam_layer = gr.Dropdown([], label=i18n("gradcam_layer"), allow_custom_value=True)
                            fm_cam_class = gr.Textbox(label=i18n("gradcam_class"), placeholder="e.g. 281 or tabby")
                        fm_btn = gr.Button(i18n("show"), variant="primary")
                    with gr.Column(scale=2):
                        fm_info = gr.Markdown(elem_id="feature-info")
                        fm_grid = gr.Image(label=i18n("grid"), type="pil", interactive=False, elem_id="feature-grid")
                        with gr.Row():
                            fm_seen = gr.Image(label=i18n("net_input"), type="pil", interactive=False)
                            fm_rf = gr.Image(
                                label=i18n("rf_overlay"), type="pil", interactive=False, elem_id="rf-overlay"
                            )
                            fm_cam = gr.Image(label=i18n("gradcam"), type="pil", interactive=False)
                        fm_rf_info = gr.Markdown(elem_id="rf-info")
                        fm_top5 = gr.Dataframe(label=i18n("top5"), interactive=False)
                        fm_overview = gr.Image(label=i18n("overview"), type="pil", interactive=False)
                        fm_filters = gr.Image(label=i18n("filters"), type="pil", interactive=False)
                gr.Markdown(i18n("explain_features"))

            # ---------------------------------------------------------------- Training
            with gr.Tab(i18n("tab_train"), id="train") as train_tab:
                recipe = training.recipe("shapes")  # the dataset's defaults (training.DATASET_DEFAULTS)
                with gr.Row():
                    tr_dataset = gr.Radio(["shapes", "cifar10"], value="shapes", label=i18n("dataset"))
                    tr_model = gr.Dropdown(
                        training.trainable_models(), value="alexnet_cifar", allow_custom_value=True, label=i18n("model")
                    )
                    tr_epochs = gr.Number(recipe["epochs"], precision=0, label=i18n("epochs"))
                    tr_batch = gr.Number(recipe["batch_size"], precision=0, label=i18n("batch"))
                    tr_lr = gr.Number(recipe["lr"], label=i18n("lr"))
                with gr.Row():
                    tr_opt = gr.Radio(["adam", "sgd"], value="adam", label=i18n("optimizer"))
                    tr_sched = gr.Radio(
                        ["constant", "cosine", "onecycle"], value=recipe["schedule"], label=i18n("schedule")
                    )
                    tr_wd = gr.Number(0.0, label=i18n("wd"))
                    tr_subset = gr.Number(recipe["subset"], precision=0, label=i18n("subset"))
                    tr_seed = gr.Number(0, precision=0, label=i18n("seed"))
                with gr.Row():
                    tr_aug = gr.Checkbox(recipe["augment"], label=i18n("augment"))
                    tr_pre = gr.Checkbox(False, label=i18n("pretrained"))
                    tr_freeze = gr.Checkbox(False, label=i18n("freeze"))
                    tr_resume_from = gr.Dropdown([], value=None, label=i18n("resume_from"), allow_custom_value=True)
                with gr.Row():
                    tr_start = gr.Button(i18n("start"), variant="primary")
                    tr_pause = gr.Button(i18n("pause"))
                    tr_resume = gr.Button(i18n("resume"))
                    tr_stop = gr.Button(i18n("stop"), variant="stop")
                tr_progress = gr.Markdown(elem_id="train-progress")
                with gr.Row():
                    tr_loss = gr.LinePlot(
                        x="step",
                        y="value",
                        color="series",
                        label=i18n("loss_curve"),
                        y_title="loss",
                        color_map=CURVE_COLORS,
                        elem_id="loss-plot",
                    )
                    tr_acc = gr.LinePlot(
                        x="step",
                        y="value",
                        color="series",
                        label=i18n("acc_curve"),
                        y_title="accuracy (%)",
                        color_map=CURVE_COLORS,
                        elem_id="acc-plot",
                    )
                # The network itself, as it learns: snapshots taken by the training thread (live), or kept ones.
                gr.Markdown(i18n("snapshot_title"))
                with gr.Row(equal_height=True):
                    tr_snap_pick = gr.Radio(
                        [(i18n("snapshot_live"), training.LIVE)],
                        value=training.LIVE,
                        label=i18n("snapshot_pick"),
                        scale=4,
                        elem_id="snapshot-pick",
                    )
                    tr_snap_btn = gr.Button(i18n("snapshot_refresh"), scale=1)
                tr_snap_info = gr.Markdown(elem_id="snapshot-info")
                with gr.Row():  # headings above the pictures: an image's own label would cover their top-left
                    with gr.Column(scale=1, min_width=300):
                        gr.Markdown(i18n("snapshot_filters"))
                        tr_filters = gr.Image(
                            show_label=False, type="pil", interactive=False, format="png", elem_id="snapshot-filters"
                        )
                        tr_top3 = gr.Label(num_top_classes=3, label=i18n("snapshot_top3"), elem_id="snapshot-top3")
                    with gr.Column(scale=3):
                        gr.Markdown(i18n("snapshot_maps"))
                        tr_maps = gr.Image(
                            show_label=False, type="pil", interactive=False, format="png", elem_id="snapshot-maps"
                        )
                gr.Markdown(i18n("explain_snapshot"))
                tr_snap_shown = gr.State(None)  # what the snapshot panel shows (see training.snapshot_panel)
                with gr.Row():
                    tr_conf = gr.Image(label=i18n("confusion"), type="pil", interactive=False)
                    tr_per_class = gr.Dataframe(label=i18n("per_class"), interactive=False)
                tr_ckpt = gr.File(label=i18n("ckpt_download"))
                gr.Markdown(i18n("explain_train"))
                tr_timer = gr.Timer(1.0, active=False)
                tr_shown = gr.State(None)  # (path, mtime) of the checkpoint this page already has

            # ---------------------------------------------------------------- Compare
            with gr.Tab(i18n("tab_compare"), id="compare"):
                with gr.Row():
                    cmp_models = gr.Dropdown(
                        zoo.list_models() + TV_EXAMPLES,
                        value=["alexnet", "vgg16", "resnet18", "resnet50"],
                        multiselect=True,
                        allow_custom_value=True,
                        label=i18n("models_to_compare"),
                        scale=3,
                    )
                    cmp_size = gr.Dropdown(
                        SIZE_PRESETS, value="3x224x224", allow_custom_value=True, label=i18n("input_size"), scale=1
                    )
                    cmp_btn = gr.Button(i18n("compare"), variant="primary", scale=1)
                cmp_table = gr.Dataframe(interactive=False)
                with gr.Row():
                    cmp_params = gr.BarPlot(
                        x="model", y="parameters (M)", color="model", x_label_angle=-30, y_lim=FROM_ZERO
                    )
                    cmp_macs = gr.BarPlot(x="model", y="MACs (G)", color="model", x_label_angle=-30, y_lim=FROM_ZERO)
                    cmp_mem = gr.BarPlot(
                        x="model", y="activations (MiB)", color="model", x_label_angle=-30, y_lim=FROM_ZERO
                    )
                gr.Markdown(i18n("explain_compare"))

        # ==================================================================== events
        # Every interaction is also an API endpoint with a stable name (see README, "API").
        arch_outputs = [arch_table, arch_totals, arch_diagram, arch_files, arch_fold, arch_state, arch_details]
        no_maps = [arch_maps, arch_rf, arch_maps_info, arch_maps_state]

        def analyze_ui(model: str, input_size: str):
            return *architecture.analyze_view(model, input_size), None, None, "", None

        gr.on(
            [arch_btn.click, arch_size.select],
            friendly(analyze_ui),
            [arch_model, arch_size],
            arch_outputs + no_maps,
            api_name="analyze",
            **LIGHT,
        )
        # Picking a model switches to the input size it was designed for, then analyses it.
        arch_model.select(friendly(architecture.design_size), arch_model, arch_size, api_visibility="private").then(
            friendly(analyze_ui), [arch_model, arch_size], arch_outputs + no_maps, api_visibility="private"
        )
        demo.load(friendly(analyze_ui), [arch_model, arch_size], arch_outputs + no_maps, api_visibility="private")

        def refold_ui(state: dict | None, fold: str):
            return architecture.redraw_view(state, fold)

        arch_fold.input(
            friendly(refold_ui),
            [arch_state, arch_fold],
            [arch_diagram, arch_files, arch_state],
            api_visibility="private",
        )

        def expand_ui(state: dict | None, evt: gr.EventData):
            return architecture.redraw_view(state, None, getattr(evt, "expand", None))

        arch_diagram.click(
            friendly(expand_ui), arch_state, [arch_diagram, arch_files, arch_state], api_visibility="private"
        )

        # A click answers in two steps: the card and the highlighted row at once (light), then the layer's maps
        # through the image (a forward pass, queued with the other network work).
        select_outputs = [arch_table, arch_details, arch_state]

        def diagram_clicked(state: dict | None, evt: gr.EventData):
            return architecture.select_view(state, getattr(evt, "layer", ""))

        def row_clicked(state: dict | None, evt: gr.SelectData):
            return architecture.select_view(state, architecture.row_key(state, evt.index[0]))

        def selected_maps(state: dict | None, image: Any, weights: str, progress=gr.Progress(track_tqdm=True)):
            key = (state or {}).get("selected")
            if not key:
                return None, None, "", None
            return features.layer_maps(image, state["model"], weights, key)

        for selected in (
            arch_diagram.select(
                friendly(diagram_clicked), arch_state, select_outputs, **LIGHT, api_visibility="private"
            ),
            arch_table.select(friendly(row_clicked), arch_state, select_outputs, **LIGHT, api_visibility="private"),
        ):
            selected.then(None, None, None, js=SCROLL_TO_ROW_JS).then(
                friendly(selected_maps, release_memory=True),
                [arch_state, arch_image, arch_weights],
                no_maps,
                **NETWORK,
                api_visibility="private",
            )

        def layer_details_api(model: str, input_size: str, layer: str) -> str:
            """A layer's details card by name (what a click on its box shows), for scripts."""
            state = architecture.arch_state(architecture.run(model, input_size), "blocks")
            return architecture.select_view(state, layer)[1]

        gr.api(friendly(layer_details_api), api_name="layer_details", **LIGHT)

        gr.on(
            [arch_image.change, arch_weights.input],
            friendly(selected_maps, release_memory=True),
            [arch_state, arch_image, arch_weights],
            no_maps,
            **NETWORK,
            api_visibility="private",
        )

        def arch_maps_clicked(maps_state, evt: gr.SelectData):
            return features.rf_from_click(maps_state, evt.index[0], evt.index[1])

        arch_maps.select(
            friendly(arch_maps_clicked), arch_maps_state, [arch_rf, arch_maps_info], api_visibility="private"
        )

        st_inputs = [st_kernel, st_repeat, st_in, st_out]
        st_outputs = [st_table, st_summary, st_chart]
        gr.on(
            [c.release for c in st_inputs],
            friendly(stacks.stacks_view),
            st_inputs,
            st_outputs,
            api_name="compare_stacks",
            **LIGHT,
        )
        demo.load(friendly(stacks.stacks_view), st_inputs, st_outputs, api_visibility="private")

        def layer_pickers(model: str):
            return gr.Dropdown(**features.layer_choices(model)), gr.Dropdown(**features.cam_layer_choices(model))

        gr.on(
            [fm_model.change, demo.load],
            friendly(layer_pickers),
            fm_model,
            [fm_layer, fm_cam_layer],
            api_visibility="private",
        )

        def checkpoint_picker():
            return gr.Dropdown(**features.checkpoint_choices())

        gr.on([demo.load, features_tab.select], friendly(checkpoint_picker), None, fm_ckpt, api_visibility="private")

        def checkpoint_uploaded(path: str | None):
            choices, source = features.upload_checkpoint(path)
            return gr.Dropdown(**choices), source

        fm_ckpt_upload.upload(
            friendly(checkpoint_uploaded), fm_ckpt_upload, [fm_ckpt, fm_source], api_visibility="private"
        )
        fm_inputs = [
            fm_image,
            fm_model,
            fm_source,
            fm_ckpt,
            fm_layer,
            fm_topn,
            fm_rank,
            fm_cmap,
            fm_norm,
            fm_cam_class,
            fm_cam_layer,
        ]
        fm_outputs = [fm_grid, fm_info, fm_seen, fm_cam, fm_top5, fm_overview, fm_filters, fm_rf, fm_state]

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
            progress=gr.Progress(track_tqdm=True),
        ):
            # (track_tqdm: the one-time ImageNet weights download shows its progress bar in the page)
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
            )
            return *out, ""  # a new grid: the last click's description is stale

        fm_btn.click(
            friendly(feature_maps_ui, release_memory=True),
            fm_inputs,
            [*fm_outputs, fm_rf_info],
            api_name="feature_maps",
            **NETWORK,
        )

        def grid_clicked(state, evt: gr.SelectData):
            return features.rf_from_click(state, evt.index[0], evt.index[1])

        fm_grid.select(friendly(grid_clicked), fm_state, [fm_rf, fm_rf_info], api_visibility="private")

        train_inputs = [
            tr_model,
            tr_dataset,
            tr_epochs,
            tr_batch,
            tr_lr,
            tr_opt,
            tr_sched,
            tr_wd,
            tr_subset,
            tr_seed,
            tr_aug,
            tr_pre,
            tr_freeze,
            tr_resume_from,
        ]
        status_outputs = [tr_progress, tr_loss, tr_acc, tr_conf, tr_per_class, tr_ckpt, tr_timer]

        def status_ui():
            *values, active = training.train_status()
            return *values, gr.Timer(active=active)  # poll only while a run is active

        snap_outputs = [tr_snap_info, tr_filters, tr_maps, tr_top3]
        snap_panel_outputs = [*snap_outputs, tr_snap_pick, tr_snap_shown]

        def snapshot_ui(choice: str | None, shown: tuple | None):
            """The snapshot panel; everything skipped when the page already shows it (no drawing, nothing sent)."""
            panel = training.snapshot_panel(choice, shown)
            if panel is None:
                return (gr.skip(),) * len(snap_panel_outputs)
            *values, choices, value, state = panel
            choices = [(i18n("snapshot_live") if v == training.LIVE else label, v) for label, v in choices]
            return *values, gr.Radio(choices=choices, value=value), state

        def tick_ui(shown: tuple | None, choice: str | None, snap_shown: tuple | None):
            """The 1-second refresh: the checkpoint file is re-sent only when it changed on disk — and, for a big
            one, only once the run has ended (Gradio keeps a full copy of every file it serves) — the snapshot
            panel only when there is a new snapshot."""
            *values, checkpoint, running = training.train_status()
            timer = gr.Timer(active=running)
            key = (checkpoint, os.path.getmtime(checkpoint)) if checkpoint and os.path.exists(checkpoint) else None
            big = key is not None and os.path.getsize(checkpoint) > AUTO_SEND_CHECKPOINT_BYTES
            send = key != shown and not (running and big)
            return (
                *values,
                checkpoint if send else gr.skip(),
                timer,
                key if send else shown,
                *snapshot_ui(choice, snap_shown),
            )

        def start_ui(*args):
            training.train_start(*args)
            return status_ui()

        def control_ui(action: Callable[[], str]) -> Callable:
            def run():
                gr.Info(action())
                return status_ui()

            run.__name__ = action.__name__
            return run

        snap_refresh = dict(
            fn=friendly(snapshot_ui),
            inputs=[tr_snap_pick, tr_snap_shown],
            outputs=snap_panel_outputs,
            api_visibility="private",
            show_progress="hidden",
        )
        recipe_fields = [tr_epochs, tr_batch, tr_lr, tr_sched, tr_subset, tr_aug]

        def recipe_ui(dataset: str):
            values = training.recipe(dataset)
            return [values[k] for k in ("epochs", "batch_size", "lr", "schedule", "subset", "augment")]

        # Picking a dataset fills in its recipe (the defaults the CLI uses too).
        tr_dataset.input(friendly(recipe_ui), tr_dataset, recipe_fields, api_visibility="private")

        def resume_picker():
            return gr.Dropdown(**training.resume_choices())

        gr.on([demo.load, train_tab.select], friendly(resume_picker), None, tr_resume_from, api_visibility="private")
        tr_start.click(friendly(start_ui), train_inputs, status_outputs, api_name="train_start").then(**snap_refresh)
        tr_pause.click(friendly(control_ui(training.train_pause)), None, status_outputs, api_name="train_pause").then(
            **snap_refresh
        )
        tr_resume.click(friendly(control_ui(training.train_resume)), None, status_outputs, api_name="train_resume")
        tr_stop.click(friendly(control_ui(training.train_stop)), None, status_outputs, api_name="train_stop").then(
            **snap_refresh
        )
        tr_timer.tick(
            friendly(tick_ui),
            [tr_shown, tr_snap_pick, tr_snap_shown],
            [*status_outputs, tr_shown, *snap_panel_outputs],
            api_visibility="private",
            show_progress="hidden",
        )
        # The latest weights on demand (the running thread takes a snapshot at its next batch); then the picker
        # goes back to live.
        tr_snap_btn.click(friendly(training.train_snapshot), None, snap_outputs, api_name="train_snapshot").then(
            lambda: training.LIVE, None, tr_snap_pick, api_visibility="private"
        ).then(**snap_refresh)
        tr_snap_pick.input(**snap_refresh)
        # A newly opened page, or a look at the Training tab, picks up the run in progress (a run may have been
        # started from another browser or the API) and starts polling if there is one.
        demo.load(friendly(status_ui), None, status_outputs, api_name="train_status").then(**snap_refresh)
        train_tab.select(friendly(status_ui), None, status_outputs, api_visibility="private").then(**snap_refresh)

        def compare_ui(models: list[str], input_size: str):
            table, chart = compare.compare_view(models, input_size)
            return table, chart, chart, chart  # one frame, three measures

        cmp_outputs = [cmp_table, cmp_params, cmp_macs, cmp_mem]
        cmp_btn.click(friendly(compare_ui), [cmp_models, cmp_size], cmp_outputs, api_name="compare_models", **LIGHT)
        demo.load(friendly(compare_ui), [cmp_models, cmp_size], cmp_outputs, api_visibility="private")
    return demo


def launch(
    host: str = "127.0.0.1", port: int = 7860, share: bool = False, auth: Any = None, prevent_thread_lock: bool = False
) -> gr.Blocks:
    """Serve the page; ``auth`` is a (user, password) login or a callable checking one (``LoginGuard``)."""
    demo = build_demo()
    demo.queue(default_concurrency_limit=2)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=auth,
        i18n=i18n,
        max_file_size=MAX_UPLOAD,
        prevent_thread_lock=prevent_thread_lock,
        show_error=True,
        theme=gr.themes.Soft(),
        css=CSS,
        js=LANGUAGE_JS,
    )
    return demo
