"""The Gradio page: five tabs, one module each (its components and its events side by side), each wired to
plain functions in ``visualizer.views``.

``visualizer.ui`` is the only package that knows about components. Handlers' ``ValueError``/``RuntimeError``
messages become ``gr.Error`` pop-ups (``handlers.friendly``; the server keeps serving); every event has a stable
``api_name`` (see README, "API").
"""

from __future__ import annotations

import os
import sys
from typing import Any

import gradio as gr
from starlette.middleware import Middleware

from visualizer.budgets import cpu
from visualizer.ui import architecture, compare, features, lesson, login_wall, present, stacks, training, units
from visualizer.ui.cached_pictures import CachedPictures
from visualizer.ui.handlers import DIRECT, LIGHT, friendly, network_at_low_priority
from visualizer.ui.page_assets import CSS, LANGUAGE_JS, PICKER_CHOICES, PICKER_JS
from visualizer.ui.text import i18n
from visualizer.views.opening import page_opening

MAX_UPLOAD = "20mb"
GRADIO_CACHE_CLEANUP = (600, 3600)  # every 10 minutes, files older than an hour


def build_demo(default_model: str | None = None) -> gr.Blocks:
    """The page: a title, the language picker and the presentation toggle, a hidden language probe (see
    ``page_assets``), then the tabs in teaching order; each tab gets the picker (its views that cannot carry both
    languages are made in the page's), and every model picker starts on ``default_model`` where it fits (a network
    of your own), else on the zoo's defaults."""
    opening = page_opening(default_model)
    with gr.Blocks(title="CNN architecture visualizer", delete_cache=GRADIO_CACHE_CLEANUP) as demo:
        with gr.Row(elem_id="page-head", equal_height=True):
            gr.Markdown(i18n("title"))
            lang = language_picker()
            present.build(demo)  # presentation mode: a toggle, and ?present=1
        gr.Markdown(i18n("lang_code"), elem_id="lang-probe")
        # A page opened on a network of your own opens on its drawing; otherwise on the Lesson.
        with gr.Tabs(selected="arch" if default_model else "lesson") as tabs:
            lesson_tab = lesson.build(demo)  # the notes' storyline first; the other tabs as before
            arch_tab = architecture.build(demo, lang, opening)
            stacks.build(demo, lang)
            features.build(demo, lang, opening)
            training.build(demo, lang, opening)
            compare.build(demo, lang, opening)
        lesson_tab.link(tabs, arch_tab)  # "open in its tab"
        # An endpoint for scripts only: it has no component, so it sits outside the tabs (Gradio adds its own).
        gr.api(friendly(architecture.layer_details_api), api_name="layer_details", **LIGHT, **DIRECT)
        units.register_api()  # explain_unit, effective_rf
        training.register_api()  # train_runs, train_queue, train_compare
    network_at_low_priority(demo)  # forward passes yield the cores to answers from records and to training
    return demo


def language_picker() -> gr.Radio:
    """EN / 한국어 at the top of the page: switches Gradio's labels and the bilingual HTML at once (in the browser,
    ``page_assets.PICKER_JS``); the tabs re-make what Python wrote in one language on its ``change``."""
    picker = gr.Radio(
        PICKER_CHOICES, value="en", show_label=False, container=False, elem_id="lang-picker", scale=0, min_width=170
    )
    picker.change(None, picker, None, js=PICKER_JS)
    return picker


# Gradio's queue keeps a record of its last events for its monitoring page and, by default, rebuilds their summary
# (a pandas DataFrame, grouped, percentiles) after *every* event, on the thread pool every answer passes through: 3.8
# ms per event with 800 records, 14.6 ms with the 10,000 it keeps by default — more than a whole echo round trip
# (9 ms). A class's pages poll the training status every second, so 30 students fill those 10,000 in six minutes.
# Here the summary is rebuilt once every 1,000 events, from the last 1,000 (``bench/bench_load.py`` times both).
QUEUE_ANALYTICS = {"GRADIO_ANALYTICS_MAX_EVENTS": "1000", "GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000"}


def launch(
    host: str = "127.0.0.1",
    port: int | None = 7860,
    share: bool = False,
    auth: Any = None,
    prevent_thread_lock: bool = False,
    default_model: str | None = None,
) -> gr.Blocks:
    """Serve the page; ``auth`` is a (user, password) login or a callable checking one (``LoginGuard``): with one,
    nothing about the app is served before login (``login_wall``); ``default_model``: the model every picker starts
    on (port None: the first free one from 7860)."""
    demo = build_demo(default_model)
    for name, value in QUEUE_ANALYTICS.items():  # read by the queue as it is made (a value set by the caller wins)
        os.environ.setdefault(name, value)
    demo.queue(default_concurrency_limit=2)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=login_wall.gradio_auth(auth),
        auth_message=login_wall.AUTH_MESSAGE if auth is not None else None,
        # the login wall first (nothing before login), then the pictures answered here, marked as never changing
        app_kwargs={"middleware": [*login_wall.middleware(auth), Middleware(CachedPictures)]},
        i18n=i18n,
        max_file_size=MAX_UPLOAD,
        prevent_thread_lock=True,
        show_error=True,
        theme=gr.themes.Soft(),
        css=CSS,
        js=LANGUAGE_JS,
    )
    cpu.lower_server_threads()  # the server's threads below a training run's (only under ``python app.py``)
    if not prevent_thread_lock and not (hasattr(sys, "ps1") or sys.flags.interactive):  # as Gradio's launch does
        demo.block_thread()
    return demo
