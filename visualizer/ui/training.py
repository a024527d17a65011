"""The Training tab: a run started, paused, resumed and stopped from the page (the trainer is a background
thread), or queued behind it; its curves polled every second while it runs; every kept run in a table, several
overlaid on one chart; the network itself as it learns (snapshots), and the results (confusion matrix, per-class
accuracy, the checkpoint to download)."""

from __future__ import annotations

import os

import gradio as gr

from visualizer import runs_export
from visualizer.ui import units
from visualizer.ui.downloads import CHECKPOINTS
from visualizer.ui.handlers import LIGHT, friendly
from visualizer.ui.page_assets import PAGE_LANG_ARG_JS
from visualizer.ui.text import i18n
from visualizer.ui.units import LANG_JS
from visualizer.views import runs, training
from visualizer.views.opening import PageOpening

CURVE_COLORS = {"train": "#4c78a8", "test": "#f58518", "학습": "#4c78a8", "테스트": "#f58518"}  # series in en, ko
# A checkpoint is offered for download at every epoch while it is small; a big one once the run ends. Either way it
# is handed to Gradio from the shelf (``ui.downloads``): one file per checkpoint in Gradio's cache, not a copy per poll.
AUTO_SEND_CHECKPOINT_BYTES = 64 * 2**20
SNAPSHOT_PANEL_SIZE = 6  # its info, filters, maps, top-3, the picker, and what it shows (snapshot_ui's outputs)
RECIPE_FIELDS = ("epochs", "batch_size", "lr", "optimizer", "schedule", "subset", "augment")  # their components' order
RUNS_LISTED = 40  # newest runs in the table and the pickers (train_runs returns them all)
RUNS_CSS = """
table.runs-table { border-collapse: collapse; font-size: 0.9em; width: 100%; }
.runs-table th, .runs-table td { padding: 3px 8px 3px 0; text-align: left; vertical-align: top; }
.runs-table th { border-bottom: 1px solid #999; }
.runs-table td:nth-child(3), .runs-table td:nth-child(4), .runs-table th:nth-child(4) { white-space: nowrap; }
.runs-table td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.runs-table b.differs { background: #fff1b8; color: #000; padding: 0 2px; border-radius: 2px; }
.runs-table tr.queued td { color: #666; font-style: italic; }
"""


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


def status_ui(lang: str = "en") -> tuple:
    *values, checkpoint, active = training.train_status(lang)
    return *values, checkpoint_file(checkpoint, active), gr.Timer(active=active)  # poll only while a run is active


def curve_titles(lang: str) -> tuple[gr.LinePlot, gr.LinePlot]:
    # The curves' axis titles in the page's language (updates of those alone: their data stay).
    x, loss_y, acc_y = training.CURVE_TITLES[training.page_lang(lang)]
    return gr.LinePlot(x_title=x, y_title=loss_y), gr.LinePlot(x_title=x, y_title=acc_y)


def snapshot_ui(choice: str | None, shown: tuple | None, lang: str = "en") -> tuple:
    """The snapshot panel; everything skipped when the page already shows it (no drawing, nothing sent)."""
    panel = training.snapshot_panel(choice, shown, lang)
    if panel is None:
        return (gr.skip(),) * SNAPSHOT_PANEL_SIZE
    *values, choices, value, state = panel
    choices = [(i18n("snapshot_live") if v == training.LIVE else label, v) for label, v in choices]
    return *values, gr.Radio(choices=choices, value=value), state


def tick_ui(shown: str | None, choice: str | None, lang: str = "en") -> tuple:
    """The 1-second refresh: the checkpoint file is re-sent only when the shelf's file for it changed (a new
    version on disk; a big one only once the run has ended); the snapshot panel is not an output at all, only
    the key of what it would show (a change of that key redraws it): each skipped output costs Gradio 6.31 a
    rebuilt component (README, "Answers that cost little"), six of them on every tick of every page."""
    *values, checkpoint, running = training.train_status(lang)
    timer = gr.Timer(active=running)
    shelved = checkpoint_file(checkpoint, running)
    send = shelved is not None and shelved != shown
    return (
        *values,
        shelved if send else gr.skip(),
        timer,
        shelved if send else shown,
        training.snapshot_shown(choice, lang),
    )


def start_ui(*args) -> tuple:
    *fields, lang = args
    training.train_start(*fields)
    return status_ui(lang)


def _info(message: str, lang: str) -> None:
    gr.Info(training.message_ko(message) if training.page_lang(lang) == "ko" else message)


def pause_ui(lang: str = "en") -> tuple:
    _info(training.train_pause(), lang)
    return status_ui(lang)


def resume_ui(lang: str = "en") -> tuple:
    _info(training.train_resume(), lang)
    return status_ui(lang)


def stop_ui(lang: str = "en") -> tuple:
    _info(training.train_stop(), lang)
    return status_ui(lang)


def recipe_ui(dataset: str, recipe: str = "dataset", model: str = "alexnet_cifar") -> list:
    values = training.recipe_fields(dataset, recipe, model)
    return [values[k] for k in RECIPE_FIELDS]


def queue_ui(model: str, dataset: str, *fields) -> tuple:
    *fields, recipe, lang = fields
    _info(training.train_queue(model, dataset, *fields, recipe=recipe), lang)
    return status_ui(lang)


def queue_notes_ui(dataset: str, *fields) -> tuple:
    *fields, recipe, lang = fields
    _info(training.queue_notes_comparison(dataset, *fields, recipe=recipe), lang)
    return status_ui(lang)


def queue_start_ui(qid: str | None, lang: str = "en") -> tuple:
    _info(training.queue_start(qid or None), lang)
    return status_ui(lang)


def queue_skip_ui(qid: str | None, lang: str = "en") -> tuple:
    if not qid:
        raise ValueError("pick a queued run to skip")
    _info(training.queue_skip(qid), lang)
    return status_ui(lang)


def runs_ui(picked: list[str] | None, shown: tuple | None) -> tuple:
    """The runs table and the pickers of runs (only when their choices changed: a pick in progress is kept); a
    newly started run joins the overlay, so the class sees it grow beside the others."""
    rows = runs.runs_rows()[:RUNS_LISTED]
    queue = training.get_trainer().queue()
    status = training.get_trainer().status()
    choices = runs.run_choices(rows)
    queued = [(f"q{q['qid']} {q['model']} ({q['place']})", str(q["qid"])) for q in queue]
    key = (tuple(choices), tuple(queued))
    table = runs.runs_html(rows, queue)
    if key == shown:
        return table, gr.skip(), gr.skip(), gr.skip(), shown
    live = status.get("run_id")
    known = {v for _, v in (shown or ((), ()))[0]}
    # The picks are the page's: set them only to add a run that has just started (else only the choices change).
    joins = shown is not None and live is not None and str(live) not in known and str(live) not in (picked or [])
    pick = (
        gr.CheckboxGroup(choices=choices, value=[*(picked or []), str(live)])
        if joins
        else gr.CheckboxGroup(choices=choices)
    )
    return (
        table,
        pick,
        gr.Dropdown(choices=choices, value=choices[0][1] if choices else None),
        gr.Dropdown(choices=queued, value=queued[0][1] if queued else None),
        key,
    )


# Gradio 6.31 builds a plot's Vega spec (its colour domain included) when a setting changes, from the data it holds
# then, and hands later data to the chart already drawn. An update carrying both new data and new settings can be
# drawn from the old data: a run just added is then left without a colour, undrawn. So the overlay is updated in two
# steps: the data alone (``compare_ui``, ``compare_tick``), then the settings (``overlay_settings``), whose legend
# lists the runs drawn, so that a change of runs rebuilds the chart from the data already there.
def compare_ui(picked: list[str] | None, x: str, split: str) -> tuple:
    """The overlay's two charts: their data."""
    return runs.compare_frames(runs.compare_runs(picked or []), x, split)


def overlay_settings(picked: list[str] | None, x: str, split: str, shown: tuple | None, lang: str) -> tuple:
    """The overlay's settings, after its data: the runs in the legend, axis titles in the page's language; nothing
    sent when the page already has them (the tick would otherwise rebuild the charts every second)."""
    acc, _ = runs.compare_frames(runs.compare_runs(picked or []), x, split)
    titles = runs.axis_titles(x, lang)
    drawn = list(dict.fromkeys(acc["run"]))
    key = (tuple(drawn), tuple(sorted(titles.items())))
    if key == shown:
        return gr.skip(), gr.skip(), shown
    legend = dict(colors_in_legend=drawn, x_title=titles["x"], color_title=titles["run"])
    return gr.LinePlot(y_title=titles["acc"], **legend), gr.LinePlot(y_title=titles["loss"], **legend), key


def compare_tick(picked: list[str] | None, x: str, split: str) -> tuple:
    """The 1-second refresh of the overlay's data: only when the live run is among those picked."""
    live = training.get_trainer().status().get("run_id")
    if live is None or str(live) not in (picked or []):
        return gr.skip(), gr.skip()
    return compare_ui(picked, x, split)


def export_csv_ui(run_id: str | None) -> str:
    return runs.export_csv(run_id)


def export_tb_ui(run_id: str | None) -> str:
    return runs.export_tensorboard(run_id)


# The endpoints of the kept runs (gr.api: typed, no component); their docstrings are their API descriptions.
def train_runs() -> list[dict]:
    """Every kept run, newest first: id, model, dataset, status, images seen, final and best test accuracy,
    seconds, images/s, its recipe, and whether its checkpoint is still kept."""
    return runs.runs_rows()


def train_queue(
    models: list[str],
    dataset: str = "shapes",
    recipe: str = "dataset",
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    subset: int | None = None,
) -> list[dict]:
    """Queue one run per model to train one after another (recipe: dataset or notes; fields left out take the
    recipe's values); returns the queue: qid, place, model, dataset, config."""
    return training.queue_runs(models, dataset, recipe, epochs, batch_size, lr, subset)


def train_compare(run_ids: list[int], x: str = "images") -> list[dict]:
    """The curves of the runs with these ids, every point as recorded: per run its id, label, model, dataset,
    status, steps (every few batches: step, images, elapsed_s, loss, acc, lr) and epochs (test_loss, test_acc)."""
    if x not in runs.X_AXES:
        raise ValueError(f"x must be one of {', '.join(runs.X_AXES)}, got {x!r}")
    return runs.compare_runs(run_ids)


def resume_picker(current: str | None, lang: str) -> gr.Dropdown:
    choices = training.resume_choices(lang)
    values = {value for _, value in choices["choices"]}
    return gr.Dropdown(choices=choices["choices"], value=current if current in values else choices["value"])


def live_choice() -> str:
    return training.LIVE


# ---------------------------------------------------------------- the tab
class TrainingTab:
    """The tab's components (attributes, in page order), then its events."""

    def __init__(self, demo: gr.Blocks, lang: gr.Radio, opening: PageOpening) -> None:
        self.lang = lang  # the page's language picker (app.language_picker)
        self.opening = opening
        with gr.Tab(i18n("tab_train"), id="train") as self.tab:
            self._settings()
            self._curves()
            self._runs()
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
            inputs=[self.snap_pick, self.snap_shown, self.lang],
            outputs=self.snapshot_panel,
            api_visibility="private",
            show_progress="hidden",
        )
        self._settings_events(demo)
        self._run_events()
        self._runs_events(demo)
        self._snapshot_events(demo)
        self.epoch_erf.wire(self)

    def _settings(self) -> None:
        recipe = training.recipe_fields("shapes")  # the dataset's defaults (training.DATASET_DEFAULTS)
        with gr.Row():
            self.dataset = gr.Radio(["shapes", "cifar10"], value="shapes", label=i18n("dataset"))
            self.model = gr.Dropdown(
                training.trainable_models(),
                value=self.opening.training_model,
                allow_custom_value=True,
                label=i18n("model"),
            )
            # No precision=0: Gradio would round 2.5 epochs to 2 before the handler; make_config refuses it.
            self.epochs = gr.Number(recipe["epochs"], step=1, label=i18n("epochs"))
            self.batch = gr.Number(recipe["batch_size"], step=1, label=i18n("batch"))
            self.lr = gr.Number(recipe["lr"], label=i18n("lr"))
        with gr.Row():
            self.optimizer = gr.Radio(["adam", "sgd"], value="adam", label=i18n("optimizer"))
            self.schedule = gr.Radio(
                ["constant", "cosine", "onecycle"], value=recipe["schedule"], label=i18n("schedule")
            )
            self.weight_decay = gr.Number(0.0, label=i18n("wd"))
            self.subset = gr.Number(recipe["subset"], step=1, label=i18n("subset"))
            self.seed = gr.Number(0, step=1, label=i18n("seed"))
        with gr.Row():
            self.augment = gr.Checkbox(recipe["augment"], label=i18n("augment"))
            self.pretrained = gr.Checkbox(False, label=i18n("pretrained"))
            self.freeze = gr.Checkbox(False, label=i18n("freeze"))
            self.resume_from = gr.Dropdown([], value=None, label=i18n("resume_from"), allow_custom_value=True)
        self.recipe = gr.Radio(
            [(i18n("recipe_dataset"), "dataset"), (i18n("recipe_notes"), "notes")],
            value="dataset",
            label=i18n("recipe"),
            elem_id="train-recipe",
        )
        with gr.Row():
            self.start = gr.Button(i18n("start"), variant="primary")
            self.pause = gr.Button(i18n("pause"))
            self.resume = gr.Button(i18n("resume"))
            self.stop = gr.Button(i18n("stop"), variant="stop")
        with gr.Row():
            self.queue = gr.Button(i18n("queue"), elem_id="train-queue")
            self.queue_notes = gr.Button(i18n("queue_notes"), elem_id="train-queue-notes")

    def _curves(self) -> None:
        self.progress = gr.Markdown(elem_id="train-progress")
        with gr.Row():
            self.loss = gr.LinePlot(
                x="step",
                y="value",
                color="series",
                label=i18n("loss_curve"),
                y_title="loss",
                color_title=" ",
                color_map=CURVE_COLORS,
                elem_id="loss-plot",
            )
            self.accuracy = gr.LinePlot(
                x="step",
                y="value",
                color="series",
                label=i18n("acc_curve"),
                y_title="accuracy (%)",
                color_title=" ",
                color_map=CURVE_COLORS,
                elem_id="acc-plot",
            )

    def _runs(self) -> None:
        """Every kept run (the queue under them), several overlaid on one chart, and a run's export."""
        gr.Markdown(i18n("runs_title"))
        self.runs_table = gr.HTML(elem_id="runs-table", css_template=RUNS_CSS)
        with gr.Row():
            self.runs_pick = gr.CheckboxGroup([], value=[], label=i18n("runs_pick"), scale=3, elem_id="runs-pick")
            self.runs_x = gr.Radio(
                [(i18n("runs_x_images"), "images"), (i18n("runs_x_seconds"), "seconds")],
                value="images",
                label=i18n("runs_x"),
                scale=1,
                elem_id="runs-x",
            )
            self.runs_split = gr.Radio(
                [(i18n("runs_split_test"), "test"), (i18n("runs_split_train"), "train")],
                value="test",
                label=i18n("runs_split"),
                scale=1,
                elem_id="runs-split",
            )
        with gr.Row():
            titles = runs.axis_titles("images", "en")  # until the first pick sends the page's language
            self.runs_acc = gr.LinePlot(
                x="x",
                y="value",
                color="run",
                label=i18n("runs_acc"),
                x_title=titles["x"],
                y_title=titles["acc"],
                elem_id="runs-acc-plot",
            )
            self.runs_loss = gr.LinePlot(
                x="x",
                y="value",
                color="run",
                label=i18n("runs_loss"),
                x_title=titles["x"],
                y_title=titles["loss"],
                elem_id="runs-loss-plot",
            )
        with gr.Row(equal_height=True):
            self.queue_pick = gr.Dropdown([], value=None, label=i18n("queue_pick"), scale=2, elem_id="queue-pick")
            self.queue_start = gr.Button(i18n("queue_start"), scale=1)
            self.queue_skip = gr.Button(i18n("queue_skip"), scale=1)
        with gr.Row(equal_height=True):
            self.export_pick = gr.Dropdown([], value=None, label=i18n("export_pick"), scale=2, elem_id="export-pick")
            self.export_csv = gr.Button(i18n("export_csv"), scale=1)
            self.export_tb = gr.Button(i18n("export_tb"), scale=1, interactive=runs_export.tensorboard_available())
            self.export_file = gr.File(label=i18n("export_file"), scale=2, height=90, elem_id="export-file")
        if not runs_export.tensorboard_available():
            gr.Markdown(i18n("tb_missing"))
        gr.Markdown(i18n("explain_runs"))
        self.runs_lang = gr.Textbox(visible=False)  # the page's language, from LANG_JS (axis titles)
        self.runs_shown = gr.State(None)  # the pickers' choices this page shows (see runs_ui)
        self.legend_shown = gr.State(None)  # the overlay's runs and titles this page shows (see overlay_settings)

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
        # Picking a dataset or a recipe fills in the recipe's fields (the defaults the CLI uses too).
        recipe = [self.epochs, self.batch, self.lr, self.optimizer, self.schedule, self.subset, self.augment]
        picked = [self.dataset, self.recipe, self.model]
        gr.on([self.dataset.input, self.recipe.input], friendly(recipe_ui), picked, recipe, api_visibility="private")
        gr.on(
            [demo.load, self.tab.select],
            friendly(resume_picker),
            [self.resume_from, self.lang],
            self.resume_from,
            js=PAGE_LANG_ARG_JS,
            api_visibility="private",
        )
        self.lang.change(
            friendly(resume_picker), [self.resume_from, self.lang], self.resume_from, api_visibility="private"
        )
        curves = [self.loss, self.accuracy]
        demo.load(curve_titles, self.lang, curves, js=PAGE_LANG_ARG_JS, api_visibility="private")
        self.lang.change(curve_titles, self.lang, curves, api_visibility="private")

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
        lang = self.lang
        self.started = self.start.click(
            friendly(start_ui), [*inputs, self.recipe, lang], self.status, api_name="train_start"
        ).then(**self.refresh_snapshot)
        queued = [self.model, *inputs[1:-1], self.recipe, lang]  # the form without resume, the recipe, the language
        self.queued = self.queue.click(friendly(queue_ui), queued, self.status, api_visibility="private")
        self.queued_notes = self.queue_notes.click(
            friendly(queue_notes_ui), queued[1:], self.status, api_visibility="private"
        )
        self.pause.click(friendly(pause_ui), lang, self.status, api_name="train_pause").then(**self.refresh_snapshot)
        self.resume.click(friendly(resume_ui), lang, self.status, api_name="train_resume")
        self.stopped = self.stop.click(friendly(stop_ui), lang, self.status, api_name="train_stop").then(
            **self.refresh_snapshot
        )
        self.timer.tick(
            friendly(tick_ui),
            [self.shown, self.snap_pick, self.lang],
            [*self.status, self.shown, self.snap_key],
            api_visibility="private",
            show_progress="hidden",
        )
        self.snap_key.change(**self.refresh_snapshot)  # a new snapshot (or a new state of the run): redraw

    def _runs_events(self, demo: gr.Blocks) -> None:
        table = dict(
            fn=friendly(runs_ui),
            inputs=[self.runs_pick, self.runs_shown],
            outputs=[self.runs_table, self.runs_pick, self.export_pick, self.queue_pick, self.runs_shown],
            api_visibility="private",
            show_progress="hidden",
        )
        overlay = [self.runs_pick, self.runs_x, self.runs_split]
        charts = [self.runs_acc, self.runs_loss]
        settings = dict(
            fn=friendly(overlay_settings),
            inputs=[*overlay, self.legend_shown, self.runs_lang],
            outputs=[*charts, self.legend_shown],
            js=LANG_JS,
            api_visibility="private",
            show_progress="hidden",
            concurrency_id="runs-compare",
            concurrency_limit=1,
        )
        gr.on(
            [self.runs_pick.change, self.runs_x.input, self.runs_split.input],
            friendly(compare_ui),
            overlay,
            charts,
            api_visibility="private",
            show_progress="hidden",
            # in order, the last pick's answer last (ticking two runs quickly must not end with the first's chart)
            trigger_mode="always_last",
            concurrency_id="runs-compare",
            concurrency_limit=1,
        ).then(**settings)
        # Whatever changes a run or the queue redraws the table after it (and the tick while one trains, below).
        for event in (self.started, self.queued, self.queued_notes, self.stopped):
            event.then(**table)
        self.queue_start.click(
            friendly(queue_start_ui), [self.queue_pick, self.lang], self.status, api_visibility="private"
        ).then(**table)
        self.queue_skip.click(
            friendly(queue_skip_ui), [self.queue_pick, self.lang], self.status, api_visibility="private"
        ).then(**table)
        gr.on([demo.load, self.tab.select], **table)
        self.timer.tick(**table)
        self.timer.tick(
            friendly(compare_tick),
            overlay,
            charts,
            api_visibility="private",
            show_progress="hidden",
            concurrency_id="runs-compare",
            concurrency_limit=1,
        ).then(**settings)
        self.export_csv.click(friendly(export_csv_ui), self.export_pick, self.export_file, api_visibility="private")
        self.export_tb.click(friendly(export_tb_ui), self.export_pick, self.export_file, api_visibility="private")

    def _snapshot_events(self, demo: gr.Blocks) -> None:
        # The latest weights on demand (the running thread takes a snapshot at its next batch); then the picker
        # goes back to live.
        self.snap_button.click(
            friendly(training.train_snapshot), self.lang, self.snapshot, api_name="train_snapshot"
        ).then(live_choice, None, self.snap_pick, api_visibility="private").then(**self.refresh_snapshot)
        self.snap_pick.input(**self.refresh_snapshot)
        # A newly opened page, or a look at the Training tab, picks up the run in progress (a run may have been
        # started from another browser or the API) and starts polling if there is one.
        demo.load(friendly(status_ui), self.lang, self.status, js=PAGE_LANG_ARG_JS, api_name="train_status").then(
            **self.refresh_snapshot
        )
        gr.on(
            [self.tab.select, self.lang.change],
            friendly(status_ui),
            self.lang,
            self.status,
            api_visibility="private",
        ).then(**self.refresh_snapshot)


def register_api() -> None:
    """The kept runs' endpoints ``train_runs``, ``train_queue``, ``train_compare`` (inside the page's ``gr.Blocks``)."""
    gr.api(friendly(train_runs), api_name="train_runs", **LIGHT)
    gr.api(friendly(train_queue), api_name="train_queue", **LIGHT)
    gr.api(friendly(train_compare), api_name="train_compare", **LIGHT)


def build(demo: gr.Blocks, lang: gr.Radio, opening: PageOpening | None = None) -> TrainingTab:
    """The Training tab, inside ``demo``'s ``gr.Tabs()``; a run already in progress shows on page load; ``lang``:
    the page's language picker."""
    return TrainingTab(demo, lang, opening or PageOpening())
