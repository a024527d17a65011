"""The Gradio page: five tabs, one module each (its components and its events side by side), each wired to
plain functions in ``visualizer.views``.

``visualizer.ui`` is the only package that knows about components. Handlers' ``ValueError``/``RuntimeError``
messages become ``gr.Error`` pop-ups (``handlers.friendly``; the server keeps serving); every event has a stable
``api_name`` (see README, "API").
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from visualizer.ui import architecture, compare, features, stacks, training, units
from visualizer.ui.handlers import LIGHT, friendly
from visualizer.ui.page_assets import CSS, LANGUAGE_JS, PICKER_CHOICES, PICKER_JS
from visualizer.ui.text import i18n

MAX_UPLOAD = "20mb"
GRADIO_CACHE_CLEANUP = (600, 3600)  # every 10 minutes, files older than an hour


def build_demo() -> gr.Blocks:
    """The page: a title and the language picker, a hidden language probe (see ``page_assets``), then the tabs in
    teaching order; each tab gets the picker (its views that cannot carry both languages are made in the page's)."""
    with gr.Blocks(title="CNN architecture visualizer", delete_cache=GRADIO_CACHE_CLEANUP) as demo:
        with gr.Row(equal_height=True):
            gr.Markdown(i18n("title"))
            lang = language_picker()
        gr.Markdown(i18n("lang_code"), elem_id="lang-probe")
        with gr.Tabs():
            architecture.build(demo, lang)
            stacks.build(demo, lang)
            features.build(demo, lang)
            training.build(demo, lang)
            compare.build(demo, lang)
        # An endpoint for scripts only: it has no component, so it sits outside the tabs (Gradio adds its own).
        gr.api(friendly(architecture.layer_details_api), api_name="layer_details", **LIGHT)
        units.register_api()  # explain_unit, effective_rf
    return demo


def language_picker() -> gr.Radio:
    """EN / 한국어 at the top of the page: switches Gradio's labels and the bilingual HTML at once (in the browser,
    ``page_assets.PICKER_JS``); the tabs re-make what Python wrote in one language on its ``change``."""
    picker = gr.Radio(
        PICKER_CHOICES, value="en", show_label=False, container=False, elem_id="lang-picker", scale=0, min_width=170
    )
    picker.change(None, picker, None, js=PICKER_JS)
    return picker


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
