"""Images a reply carries, each written once as a file of its own, so no reply can be cut short by another.

Gradio 6.31 stores a returned PIL image under a name derived from its bytes and rewrites that file in place
on every reply (``gradio/processing_utils.py``, ``save_pil_to_cache``: ``write_bytes``). Two students asking
for the same feature maps at once could then download a file while it is being truncated (measured: 12 of
217 calls failed, "Too little data for declared Content-Length"). A file path handed to Gradio instead goes
through ``save_file_to_cache``, which stages a copy and renames it into place, and reuses an existing one.
So the page's handlers return paths written here: atomically (temp file + rename), never rewritten, and
pruned to the newest ``MAX_FILES``. A picture marked ``frozen`` (kept by a forward pass and never changed, so many
students are sent the same object) remembers its file: it is encoded once, not once per reply.

The files lie inside Gradio's cache dir (``cnnviz-images`` there), so Gradio serves them as they are: a path
outside it is hashed whole (SHA-256) and copied in on every reply (``Block.move_resource_to_block_cache``), five
pictures per feature-maps answer. Their downloads are answered by ``ui.cached_pictures``, marked as never changing:
a name is its content's hash (160 bits, known only to the page that got the reply).
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import tempfile
import threading
from typing import Any

from gradio.utils import get_upload_folder
from PIL import Image

MAX_FILES = 2000  # ~100 KB each: ~200 MB of disk at most
_lock = threading.Lock()
_written = 0


FOLDER = "cnnviz-images"


def gradio_cache_dir() -> str:
    """Gradio's cache dir (``GRADIO_TEMP_DIR``, else ``<temp dir>/gradio``), found once per such setting: Gradio
    resolves the path each time it is asked, and the page asks for every picture written or downloaded
    (``ui.cached_pictures``) and every file shelved (``ui.downloads``)."""
    return _gradio_cache_dir(os.environ.get("GRADIO_TEMP_DIR"), tempfile.gettempdir())


@functools.lru_cache(maxsize=16)
def _gradio_cache_dir(gradio_temp_dir: str | None, temp_dir: str) -> str:
    return get_upload_folder()  # (the arguments are the cache's key: what get_upload_folder reads)


def folder_path() -> str:
    """Where the pictures are written, inside Gradio's cache dir."""
    return os.path.join(gradio_cache_dir(), FOLDER)


def folder() -> str:
    path = folder_path()
    os.makedirs(path, exist_ok=True)
    return path


def frozen(image: Image.Image) -> Image.Image:
    """Mark ``image`` as never changed from now on, so ``image_file`` may answer it with the file it wrote."""
    image._cnnviz_frozen = True
    return image


def image_file(image: Image.Image) -> str:
    """``image`` as a PNG file named by its content; written atomically the first time, reused after."""
    known = getattr(image, "_cnnviz_file", None)
    if known is not None and os.path.exists(known):
        os.utime(known)
        return known
    path = _write(image)
    if getattr(image, "_cnnviz_frozen", False):
        image._cnnviz_file = path
    return path


def _write(image: Image.Image) -> str:
    global _written
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)  # fast; the browser gets it once
    data = buffer.getvalue()
    path = os.path.join(folder(), hashlib.sha1(data).hexdigest() + ".png")
    if os.path.exists(path):
        os.utime(path)  # recently used: pruned last
        return path
    fd, staging = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".staging-", suffix=".png")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, path)
    except BaseException:
        if os.path.exists(staging):
            os.unlink(staging)
        raise
    with _lock:
        _written += 1
        if _written % 100 == 0:
            _prune()
    return path


def _prune() -> None:
    entries = sorted(
        (e for e in os.scandir(folder()) if e.name.endswith(".png") and not e.name.startswith(".")),
        key=lambda e: e.stat().st_mtime,
    )
    for entry in entries[: max(0, len(entries) - MAX_FILES)]:
        try:
            os.unlink(entry.path)
        except OSError:
            pass


def as_files(result: Any) -> Any:
    """A handler's return value with every PIL image (top level or in a tuple/list) replaced by its file."""
    if isinstance(result, Image.Image):
        return image_file(result)
    if isinstance(result, tuple):
        return tuple(as_files(v) if isinstance(v, Image.Image) else v for v in result)
    if isinstance(result, list):
        return [as_files(v) if isinstance(v, Image.Image) else v for v in result]
    return result
