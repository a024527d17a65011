"""The Training tab: a run started, paused, resumed and stopped from the page (the trainer is a background
thread), its curves polled every second while it runs, the network itself as it learns (snapshots), and the
results (confusion matrix, per-class accuracy, the checkpoint to download)."""

from __future__ import annotations

import os

import gradio as gr

from visualizer.ui import units
from visualizer.ui.downloads import CHECKPOINTS
from visualizer.ui.handlers import friendly
from visualizer.ui.text import i18n
from visualizer.views import training

CURVE_COLORS = {"train": "#4c78a8", "test": "#f58518"}
# A checkpoint is offered for download at every epoch while it is small; a big one once the run ends. Either way it
# is handed to Gradio from the shelf (``ui.downloads``): one file per checkpoint in Gradio's cache, not a copy per poll.
AUTO_SEND_CHECKPOINT_BYTES = 64 * 2**20
SNAPSHOT_PANEL_SIZE = 6  # its info, filters, maps, top-3, the picker, and what it shows (snapshot_ui's outputs)
RECIPE_FIELDS = ("epochs", "batch_size", "lr", "schedule", "subset", "augment")  # the order of their components


# ---------------------------------------------------------------- handlers
# (none of those behind a public endpoint has a docstring: Gradio would publish it as the endpoint's description)
def checkpoint_file(checkpoint: str | None, running: bool) -> str | None:
    """What the checkpoint download shows: the shelf's file for ``checkpoint``; None for a big one while its run is
    still writing new versions (each would be a copy)."""
    big = bool(checkpoint) and os.path.isfile(checkpoint) and os.path.getsize(checkpoint) > AUTO_SEND_CHECKPOINT_BYTES
    if running and big:
        CHECKPOINTS.forget_missing()
        return None
    return CHECKPOINTS.shelve(checkpoint)


def status_ui() -> tuple:
    *values, checkpoint, active = training.train_status()
    return *values, checkpoint_file(checkpoint, active), gr.Timer(active=active)  # poll only while a run is active


def snapshot_ui(choice: str | None, shown: tuple | None) -> tuple:
    """The snapshot panel; everything skipped when the page already shows it (no drawing, nothing sent)."""
    panel = training.snapshot_panel(choice, shown)
    if panel is None:
        return (gr.skip(),) * SNAPSHOT_PANEL_SIZE
    *values, choices, value, state = panel
    choices = [(i18n("snapshot_live") if v == training.LIVE else label, v) for label, v in choices]
    return *values, gr.Radio(choices=choices, value=value), state


def tick_ui(shown: str | None, choice: str | None) -> tuple:
    """The 1-second refresh: the checkpoint file is re-sent only when the shelf's file for it changed (a new
    version on disk; a big one only once the run has ended); the snapshot panel is not an output at all, only
    the key of what it would show (a change of that key redraws it): each skipped output costs Gradio 6.31 a
    rebuilt component (README, "Answers that cost little"), six of them on every tick of every page."""
    *values, checkpoint, running = training.train_status()
    timer = gr.Timer(active=running)
    shelved = checkpoint_file(checkpoint, running)
    send = shelved is not None and shelved != shown
    return (
        *values,
        shelved if send else gr.skip(),
        timer,
        shelved if send else shown,
        training.snapshot_shown(choice),
    )


def start_ui(*args) -> tuple:
    training.train_start(*args)
    return status_ui()


def pause_ui() -> tuple:
    gr.Info(training.train_pause())
    return status_ui()


def resume_ui() -> tuple:
    gr.Info(training.train_resume())
    return status_ui()


def stop_ui() -> tuple:
    gr.Info(training.train_stop())
    return status_ui()


def recipe_ui(dataset: str) -> list:
    values = training.recipe(dataset)
    return [values[k] for k in RECIPE_FIELDS]


def resume_picker() -> gr.Dropdown:
    return gr.Dropdown(**training.resume_choices())


def live_choice() -> str:
    return training.LIVE


# ---------------------------------------------------------------- the tab
class TrainingTab:
    """The tab's components (attributes, in page order), then its events."""

    def __init__(self, demo: gr.Blocks) -> None:
        with gr.Tab(i18n("tab_train"), id="train") as self.tab:
            self._settings()
            self._curves()
            self._snapshots()
            with gr.Row():
                self.confusion = gr.Image(label=i18n("confusion"), type="pil", interactive=False)
                self.per_class = gr.Dataframe(label=i18n("per_class"), interactive=False)
            self.checkpoint = gr.File(label=i18n("ckpt_download"))
            gr.Markdown(i18n("explain_train"))
            self.timer = gr.Timer(1.0, active=False)
            self.shown = gr.State(None)  # the shelved checkpoint file this page already has (ui.downloads)
        self.status = [
            self.progress,
            self.loss,
            self.accuracy,
            self.confusion,
            self.per_class,
            self.checkpoint,
            self.timer,
        ]
        self.snapshot = [self.snap_info, self.filters, self.maps, self.top3]
        self.snapshot_panel = [*self.snapshot, self.snap_pick, self.snap_shown]
        # An event's arguments that redraw the snapshot panel (only when it changed); one handler object for all
        # of them, so they share one queue (Gradio groups events by their function).
        self.refresh_snapshot = dict(
            fn=friendly(snapshot_ui),
            inputs=[self.snap_pick, self.snap_shown],
            outputs=self.snapshot_panel,
            api_visibility="private",
            show_progress="hidden",
        )
        self._settings_events(demo)
        self._run_events()
        self._snapshot_events(demo)
        self.epoch_erf.wire(self)

    def _settings(self) -> None:
        recipe = training.recipe("shapes")  # the dataset's defaults (training.DATASET_DEFAULTS)
        with gr.Row():
            self.dataset = gr.Radio(["shapes", "cifar10"], value="shapes", label=i18n("dataset"))
            self.model = gr.Dropdown(
                training.trainable_models(), value="alexnet_cifar", allow_custom_value=True, label=i18n("model")
            )
            self.epochs = gr.Number(recipe["epochs"], precision=0, label=i18n("epochs"))
            self.batch = gr.Number(recipe["batch_size"], precision=0, label=i18n("batch"))
            self.lr = gr.Number(recipe["lr"], label=i18n("lr"))
        with gr.Row():
            self.optimizer = gr.Radio(["adam", "sgd"], value="adam", label=i18n("optimizer"))
            self.schedule = gr.Radio(
                ["constant", "cosine", "onecycle"], value=recipe["schedule"], label=i18n("schedule")
            )
            self.weight_decay = gr.Number(0.0, label=i18n("wd"))
            self.subset = gr.Number(recipe["subset"], precision=0, label=i18n("subset"))
            self.seed = gr.Number(0, precision=0, label=i18n("seed"))
        with gr.Row():
            self.augment = gr.Checkbox(recipe["augment"], label=i18n("augment"))
            self.pretrained = gr.Checkbox(False, label=i18n("pretrained"))
            self.freeze = gr.Checkbox(False, label=i18n("freeze"))
            self.resume_from = gr.Dropdown([], value=None, label=i18n("resume_from"), allow_custom_value=True)
        with gr.Row():
            self.start = gr.Button(i18n("start"), variant="primary")
            self.pause = gr.Button(i18n("pause"))
            self.resume = gr.Button(i18n("resume"))
            self.stop = gr.Button(i18n("stop"), variant="stop")

    def _curves(self) -> None:
        self.progress = gr.Markdown(elem_id="train-progress")
        with gr.Row():
            self.loss = gr.LinePlot(
                x="step",
                y="value",
                color="series",
                label=i18n("loss_curve"),
                y_title="loss",
                color_map=CURVE_COLORS,
                elem_id="loss-plot",
            )
            self.accuracy = gr.LinePlot(
                x="step",
                y="value",
                color="series",
                label=i18n("acc_curve"),
                y_title="accuracy (%)",
                color_map=CURVE_COLORS,
                elem_id="acc-plot",
            )

    def _snapshots(self) -> None:
        """The network itself, as it learns: snapshots taken by the training thread (live), or kept ones."""
        gr.Markdown(i18n("snapshot_title"))
        with gr.Row(equal_height=True):
            self.snap_pick = gr.Radio(
                [(i18n("snapshot_live"), training.LIVE)],
                value=training.LIVE,
                label=i18n("snapshot_pick"),
                scale=4,
                elem_id="snapshot-pick",
            )
            self.snap_button = gr.Button(i18n("snapshot_refresh"), scale=1)
        self.snap_info = gr.Markdown(elem_id="snapshot-info")
        with gr.Row():  # headings above the pictures: an image's own label would cover their top-left
            with gr.Column(scale=1, min_width=300):
                gr.Markdown(i18n("snapshot_filters"))
                self.filters = gr.Image(
                    show_label=False, type="pil", interactive=False, format="png", elem_id="snapshot-filters"
                )
                self.top3 = gr.Label(num_top_classes=3, label=i18n("snapshot_top3"), elem_id="snapshot-top3")
            with gr.Column(scale=3):
                gr.Markdown(i18n("snapshot_maps"))
                self.maps = gr.Image(
                    show_label=False, type="pil", interactive=False, format="png", elem_id="snapshot-maps"
                )
        gr.Markdown(i18n("explain_snapshot"))
        self.snap_shown = gr.State(None)  # what the snapshot panel shows (see training.snapshot_panel)
        self.snap_key = gr.State(None)  # what it would show now, polled by the timer (training.snapshot_shown)
        self.epoch_erf = units.training_panel()  # the probe layer's effective receptive field at each kept epoch

    def _settings_events(self, demo: gr.Blocks) -> None:
        # Picking a dataset fills in its recipe (the defaults the CLI uses too).
        recipe = [self.epochs, self.batch, self.lr, self.schedule, self.subset, self.augment]  # RECIPE_FIELDS
        self.dataset.input(friendly(recipe_ui), self.dataset, recipe, api_visibility="private")
        gr.on([demo.load, self.tab.select], friendly(resume_picker), None, self.resume_from, api_visibility="private")

    def _run_events(self) -> None:
        inputs = [  # in training.train_start's order
            self.model,
            self.dataset,
            self.epochs,
            self.batch,
            self.lr,
            self.optimizer,
            self.schedule,
            self.weight_decay,
            self.subset,
            self.seed,
            self.augment,
            self.pretrained,
            self.freeze,
            self.resume_from,
        ]
        self.start.click(friendly(start_ui), inputs, self.status, api_name="train_start").then(**self.refresh_snapshot)
        self.pause.click(friendly(pause_ui), None, self.status, api_name="train_pause").then(**self.refresh_snapshot)
        self.resume.click(friendly(resume_ui), None, self.status, api_name="train_resume")
        self.stop.click(friendly(stop_ui), None, self.status, api_name="train_stop").then(**self.refresh_snapshot)
        self.timer.tick(
            friendly(tick_ui),
            [self.shown, self.snap_pick],
            [*self.status, self.shown, self.snap_key],
            api_visibility="private",
            show_progress="hidden",
        )
        self.snap_key.change(**self.refresh_snapshot)  # a new snapshot (or a new state of the run): redraw

    def _snapshot_events(self, demo: gr.Blocks) -> None:
        # The latest weights on demand (the running thread takes a snapshot at its next batch); then the picker
        # goes back to live.
        self.snap_button.click(friendly(training.train_snapshot), None, self.snapshot, api_name="train_snapshot").then(
            live_choice, None, self.snap_pick, api_visibility="private"
        ).then(**self.refresh_snapshot)
        self.snap_pick.input(**self.refresh_snapshot)
        # A newly opened page, or a look at the Training tab, picks up the run in progress (a run may have been
        # started from another browser or the API) and starts polling if there is one.
        demo.load(friendly(status_ui), None, self.status, api_name="train_status").then(**self.refresh_snapshot)
        self.tab.select(friendly(status_ui), None, self.status, api_visibility="private").then(**self.refresh_snapshot)


def build(demo: gr.Blocks) -> TrainingTab:
    """The Training tab, inside ``demo``'s ``gr.Tabs()``; a run already in progress shows on page load."""
    return TrainingTab(demo)
