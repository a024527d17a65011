"""Answers in the form Gradio sends them, for the events that skip its postprocessing (``WIRE``): the
Architecture tab's analysis, a click's card and a redraw, the 3×3-vs-5×5 and Compare tabs' tables and charts, the
feature maps.

For every output of every answer Gradio 6.31 hops to a worker thread for the component's ``postprocess``, then
walks the value twice looking for files (``Blocks.postprocess_data``: ``async_move_files_to_cache`` before and
after the value is stored in the session's config; a coroutine per list item, so ResNet-50's table of 174 rows ×
13 cells is ~4,500 awaits each time). All of it runs on the server's one event loop, which every student's request
passes through. An event registered with ``postprocess=False`` (Gradio's documented switch) gets one walk and no
hop; its handler hands over what ``postprocess`` would have produced, built here from plain values.
``tests/test_ui_wire.py`` checks each against the component's own ``postprocess``.

The same holds on the way in: each input's ``preprocess`` is a hop to a worker thread (the feature maps have 12
inputs: under 8 students, skipping them took that request's p50 from 0.12 to 0.05 s, ``bench/bench_load.py``).
These events' inputs are plain choices, numbers and text (dropdowns with custom values allowed, radios, sliders,
``gr.State``): what the browser sent is what the handler gets either way, and the handlers check it themselves (an
unknown model, size or layer is answered with what exists; a number out of its range is refused with the range).
An uploaded photo arrives as the ``FileData`` the browser sent; ``components.upload_path`` hands the handler what
``ImageUpload.preprocess`` would have, and both refuse a file outside Gradio's upload folder (Gradio checks that
only for a ``FileData`` carrying its meta, which an image's data model does not require).

A component update (``gr.BarPlot(value=…, sort=…)``) is built anew by Gradio whichever way the event runs; the
charts of stacks and compare are drawn in Python as HTML (``views.bars``), so none of these answers needs one.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pandas as pd
from PIL import Image

from visualizer.budgets import outputs

# An event's keywords: its handler takes its plain inputs as the browser sent them, and returns the values below.
WIRE = {"preprocess": False, "postprocess": False}


def table(frame: pd.DataFrame | None) -> dict | None:
    """A ``gr.Dataframe``'s value: headers, rows, no styling (``Dataframe.postprocess`` of a plain frame)."""
    if frame is None:
        return None
    return {"headers": [str(c) for c in frame.columns], "data": frame.values.tolist(), "metadata": None}


def markdown(text: str | None) -> str | None:
    """A ``gr.Markdown``'s value (Gradio un-indents it)."""
    return None if text is None else inspect.cleandoc(text)


def image(picture: Image.Image | str | None) -> dict | None:
    """A ``gr.Image``'s value: the picture's file (``budgets.outputs``: written once, inside Gradio's cache dir, so
    Gradio serves it without a hash or a copy)."""
    if picture is None:
        return None
    return _file_data(outputs.image_file(picture) if isinstance(picture, Image.Image) else str(picture), None)


def _file_data(path: str, size: int | None) -> dict:
    """Gradio's ``FileData`` of a file it serves from its cache (the url is Gradio's to add)."""
    return {
        "path": path,
        "url": None,
        "size": size,
        "orig_name": Path(path).name,
        "mime_type": None,
        "is_stream": False,
        "meta": {"_type": "gradio.FileData"},
    }
