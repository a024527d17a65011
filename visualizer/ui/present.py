"""Presentation mode, for a projector: larger type for the diagram, the card and the tables, fewer controls.

A class on the page root (``html.cnnviz-present``) that the page's CSS (``page_assets.CSS``) reads; the toggle
button and ``?present=1`` in the address set it in the browser alone (no server round trip), and the toggle
keeps the address in step so that a reload or a shared link opens the same way.
"""

from __future__ import annotations

import gradio as gr

from visualizer.ui.text import i18n

# On load: ?present=1 (or true / yes / on) turns the mode on.
PRESENT_ON_LOAD_JS = """
() => {
  const value = (new URLSearchParams(window.location.search).get('present') || '').toLowerCase();
  document.documentElement.classList.toggle('cnnviz-present', ['1', 'true', 'yes', 'on'].includes(value));
}
"""
# The toggle: flip the class and write the state into the address (without reloading).
PRESENT_TOGGLE_JS = """
() => {
  const on = document.documentElement.classList.toggle('cnnviz-present');
  const url = new URL(window.location.href);
  if (on) url.searchParams.set('present', '1'); else url.searchParams.delete('present');
  window.history.replaceState(null, '', url);
}
"""


def build(demo: gr.Blocks) -> gr.Button:
    """The toggle button (placed where it is called) and the on-load check of the address."""
    toggle = gr.Button(i18n("present"), size="sm", elem_id="present-toggle", scale=0, min_width=160)
    toggle.click(None, None, None, js=PRESENT_TOGGLE_JS)
    demo.load(None, None, None, js=PRESENT_ON_LOAD_JS)
    return toggle
