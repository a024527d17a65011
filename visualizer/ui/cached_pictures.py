"""The page's pictures served once per browser: a picture file is named by its content, so its answer says so.

``budgets.outputs`` writes every picture a reply carries (feature maps, Grad-CAM, the overview, the filters, a
receptive field) once, as ``<Gradio's cache dir>/cnnviz-images/<sha1 of its PNG bytes>.png``, and never rewrites
it; the reply names it by Gradio's file route (``/gradio_api/file=<path>``, ``ui.wire.image``). Gradio 6.31 answers
that route with an ETag and no ``Cache-Control`` (``route_utils.file_fetch``), so a browser downloads a picture
again every time it is shown, and each download costs the server's one event loop Gradio's routing, its login
dependency, a dozen path resolutions for its allow-lists and a file response: 2.0–2.7 ms of server CPU per picture
(``bench/bench_load.py``'s client), five pictures per feature-maps answer whose own cost is 11 ms.

``CachedPictures`` sits inside Gradio's app (``launch(app_kwargs={"middleware": …})``) behind the login wall (with
``--auth`` nothing reaches it before login) and answers a GET or HEAD of exactly those files itself: the path must
be a file directly in that folder with a 40-hex-digit name, as ``budgets.outputs`` writes them (no other file, no
``..``). The answer says ``Cache-Control: private, max-age=…, immutable``: a name that is the content's hash cannot
come to mean other bytes, so a browser keeps it and never asks again; ``private``: behind a login no shared cache
may keep it. Anything else, a picture no longer on disk included, goes on to Gradio as before.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable

from visualizer.budgets import outputs

# A year, the longest ``max-age`` the HTTP caching RFC (9111) suggests; ``immutable``: not even a revalidation.
CACHE_CONTROL = b"private, max-age=31536000, immutable"
# Gradio's file route, under whatever root path the app is served at: the file's absolute path after ``file=``.
FILE_ROUTE = re.compile(r"/gradio_api/file=(/.*)$")
NAME = re.compile(r"[0-9a-f]{40}\.png")
MAX_BYTES = 16 * 2**20  # larger than any picture the page draws; a larger file is Gradio's to stream


def picture_file(url_path: str) -> str | None:
    """The picture file a request's (percent-decoded) URL path names, or None when it names anything else."""
    found = FILE_ROUTE.search(url_path)
    if found is None:
        return None
    folder, name = os.path.split(found.group(1))
    if folder != outputs.folder_path() or NAME.fullmatch(name) is None:
        return None
    return found.group(1)


class CachedPictures:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        method = scope.get("method")
        path = picture_file(scope["path"]) if scope["type"] == "http" and method in ("GET", "HEAD") else None
        data = _read(path) if path else None
        if data is None:
            await self.app(scope, receive, send)
            return
        headers = [
            (b"content-type", b"image/png"),
            (b"content-length", str(len(data)).encode()),
            (b"cache-control", CACHE_CONTROL),
            (b"x-content-type-options", b"nosniff"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else data})


def _read(path: str) -> bytes | None:
    """The file's bytes (a picture is ~100 KB, read from the page cache), or None: gone (pruned), or too large."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError:
        return None
    return data if len(data) <= MAX_BYTES else None
