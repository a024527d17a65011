"""The page's pictures kept by the browser: a picture file is named by its content, so its answer may say so.

``budgets.outputs`` writes every picture a reply carries (feature maps, Grad-CAM, the overview, the filters, a
receptive field) once, as ``<sha1 of its PNG bytes>.png``, and never rewrites it. Gradio 6.31 serves those files from
its file route (``GET /gradio_api/file=…``, ``route_utils.file_fetch``) with an ETag and no ``Cache-Control``, so a
browser asks again every time the same picture is shown: a student going back to a layer, a photo or a model they
looked at downloads its five pictures again, and each download costs the server's one event loop a path
resolution, an allow-list check and a response (2.7 ms of server CPU each, measured with ``bench/bench_load.py``'s
client, against 11 ms for the feature-maps answer itself).

``CachedPictures`` sits inside Gradio's app (``launch(app_kwargs={"middleware": …})``, after the login wall) and
adds ``Cache-Control: private, max-age=…, immutable`` to a successful answer for exactly those files: a name that
is the content's hash cannot come to mean other bytes. Every other answer passes untouched. ``private``: with
``--auth`` the pictures are behind a login, so no shared cache may keep them.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from visualizer.budgets import outputs

# A year, the longest ``max-age`` the HTTP caching RFC (9111) suggests; ``immutable``: not even a revalidation.
CACHE_CONTROL = b"private, max-age=31536000, immutable"
# ``…/file=<Gradio's cache dir>/cnnviz-images/<40 hex digits>.png``, as ``wire.image`` names them (the folder is
# ``outputs.FOLDER``), under whatever root path the app is served at.
PICTURE = re.compile(rf"/gradio_api/file=.*/{re.escape(outputs.FOLDER)}/[0-9a-f]{{40}}\.png$")


def is_picture(path: str) -> bool:
    """Whether ``path`` (a request's URL path, percent-decoded) names a content-addressed picture."""
    return PICTURE.search(path) is not None


class CachedPictures:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app: Callable) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope.get("method") not in ("GET", "HEAD") or not is_picture(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def cacheable(message: dict) -> None:
            if message["type"] == "http.response.start" and message.get("status") == 200:
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control"]
                message = {**message, "headers": [*headers, (b"cache-control", CACHE_CONTROL)]}
            await send(message)

        await self.app(scope, receive, cacheable)
