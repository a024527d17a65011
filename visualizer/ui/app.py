"""The Gradio page: five tabs, one module each (its components and its events side by side), each wired to
plain functions in ``visualizer.views``.

``visualizer.ui`` is the only package that knows about components. Handlers' ``ValueError``/``RuntimeError``
messages become ``gr.Error`` pop-ups (``handlers.friendly``; the server keeps serving); every event has a stable
``api_name`` (see README, "API").
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from visualizer.ui import architecture, compare, features, login_wall, stacks, training, units
from visualizer.ui.handlers import LIGHT, friendly, network_at_low_priority
from visualizer.ui.page_assets import CSS, LANGUAGE_JS
from visualizer.ui.text import i18n

MAX_UPLOAD = "20mb"
GRADIO_CACHE_CLEANUP = (600, 3600)  # every 10 minutes, files older than an hour


def build_demo() -> gr.Blocks:
    """The page: a title, a hidden language probe (see ``page_assets``), then the tabs in teaching order."""
    with gr.Blocks(title="CNN architecture visualizer", delete_cache=GRADIO_CACHE_CLEANUP) as demo:
        gr.Markdown(i18n("title"))
        gr.Markdown(i18n("lang_code"), elem_id="lang-probe")
        with gr.Tabs():
            architecture.build(demo)
            stacks.build(demo)
            features.build(demo)
            training.build(demo)
            compare.build(demo)
        # An endpoint for scripts only: it has no component, so it sits outside the tabs (Gradio adds its own).
        gr.api(friendly(architecture.layer_details_api), api_name="layer_details", **LIGHT)
        units.register_api()  # explain_unit, effective_rf
    network_at_low_priority(demo)  # forward passes yield the cores to answers from records and to training
    return demo


def launch(
    host: str = "127.0.0.1", port: int = 7860, share: bool = False, auth: Any = None, prevent_thread_lock: bool = False
) -> gr.Blocks:
    """Serve the page; ``auth`` is a (user, password) login or a callable checking one (``LoginGuard``): with one,
    nothing about the app is served before login (``login_wall``)."""
    demo = build_demo()
    demo.queue(default_concurrency_limit=2)
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        auth=login_wall.gradio_auth(auth),
        auth_message=login_wall.AUTH_MESSAGE if auth is not None else None,
        app_kwargs=login_wall.app_kwargs(auth),
        i18n=i18n,
        max_file_size=MAX_UPLOAD,
        prevent_thread_lock=prevent_thread_lock,
        show_error=True,
        theme=gr.themes.Soft(),
        css=CSS,
        js=LANGUAGE_JS,
    )
    return demo
