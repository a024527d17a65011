"""Files handed to Gradio without a copy (or a hash) per reply: a run's checkpoint, the analysis' downloads.

Gradio copies every file a reply names into its cache dir, under a folder named by the file's SHA-256
(``gradio/processing_utils.py``, ``save_file_to_cache``): hashing the whole file on every reply, and keeping one
copy per content. A ``last.pt`` rewritten at every epoch and polled every second left 19 copies (~1 GB) after
10 short runs, those of runs that ``--keep-runs`` had already deleted included. A path that is already inside
the cache dir is served as it is (``Block.move_resource_to_block_cache``: ``is_in_or_equal(path,
GRADIO_CACHE)``), so the page hands Gradio a shelf's path instead: one file per source file (a hard link where
the file system allows, so no bytes are copied at all), replaced when the source changes, deleted when it is
(a run pruned by ``--keep-runs``, an export folder pruned by ``views.architecture``). The same holds for the
table and diagram downloads of every ``analyze``: Gradio hashed all four files on every answer (half of a
cached analysis' time in the server), the shelf answers from a ``stat``.

The analysis' downloads then reach the page as links (``links``), not as a ``gr.File`` value: for each file of
an answer Gradio 6.31 resolves its path a dozen times (static, allowed, blocked and cache-dir checks,
``processing_utils.async_move_files_to_cache``), 2.1 ms of a cached ResNet-50 analysis' 8.0 ms against an echo's
5.3 ms. A link to Gradio's file route (``/gradio_api/file=``, which serves its cache dir, the shelf's home, behind
the login when there is one) is a string in the answer.
"""

from __future__ import annotations

import hashlib
import html
import os
import shutil
import tempfile
import threading
import urllib.parse
from pathlib import Path

from visualizer.budgets import outputs
from visualizer.numbers import bytes_text
from visualizer.views.layer_details import t

SHELF = "cnnviz-checkpoints"


class Shelf:
    """At most one file in Gradio's cache dir per source file, under ``name``; the file keeps the source's name,
    prefixed by its folder's (``prefix_folder``: "run-a_last.pt" rather than "last.pt")."""

    def __init__(self, cache_dir: str | os.PathLike | None = None, name: str = SHELF, prefix_folder: bool = True):
        self._cache_dir = cache_dir
        self._name = name
        self._prefix_folder = prefix_folder
        self._lock = threading.Lock()
        self._shelved: dict[str, tuple[tuple[int, int, int], str]] = {}  # source → (its stat key, shelved copy)

    def folder(self) -> Path:
        return Path(self._cache_dir or outputs.gradio_cache_dir()) / self._name

    def shelve(self, checkpoint: str | os.PathLike | None) -> str | None:
        """The path to hand Gradio for ``checkpoint`` (None if there is none): the same path for as long as the file
        is unchanged, a new one (the old removed) when it changed. Copies of deleted sources go first."""
        with self._lock:
            self._sweep()
            return self._shelve_locked(checkpoint)

    def shelve_all(self, paths: list[str]) -> list[str]:
        """``shelve`` for each of ``paths`` (a reply's downloads), the copies of deleted sources swept once."""
        with self._lock:
            self._sweep()
            return [shelved for shelved in map(self._shelve_locked, paths) if shelved]

    def _shelve_locked(self, checkpoint: str | os.PathLike | None) -> str | None:
        if not checkpoint or not os.path.isfile(checkpoint):
            return None
        source = os.path.realpath(checkpoint)
        st = os.stat(source)
        key = (st.st_ino, st.st_size, st.st_mtime_ns)
        known = self._shelved.get(source)
        fresh = known and known[0] == key and known[1].startswith(str(self.folder())) and os.path.isfile(known[1])
        if fresh:
            return known[1]
        if known:
            _remove(known[1])
        shelved = self._place(source, key)
        self._shelved[source] = (key, shelved)
        return shelved

    def forget_missing(self) -> None:
        """Delete the copies of sources that no longer exist (a pruned run's checkpoint, a deleted upload)."""
        with self._lock:
            self._sweep()

    def _sweep(self) -> None:
        for source, (_, shelved) in list(self._shelved.items()):
            if not os.path.isfile(source):
                _remove(shelved)
                del self._shelved[source]

    def _place(self, source: str, key: tuple[int, int, int]) -> str:
        path = Path(source)
        digest = hashlib.sha1(f"{source}|{key}".encode()).hexdigest()[:16]
        folder = self.folder() / digest
        folder.mkdir(parents=True, exist_ok=True)
        # A checkpoint's download says which run it is ("…-alexnet_cifar-shapes_last.pt"), not only "last.pt".
        target = folder / (f"{path.parent.name}_{path.name}" if self._prefix_folder else path.name)
        if target.is_file():
            return str(target)
        fd, staging = tempfile.mkstemp(dir=folder, prefix=".staging-")
        os.close(fd)
        os.unlink(staging)
        try:
            try:
                # The trainer replaces last.pt by a rename, so a link keeps this version's bytes, unchanged.
                os.link(source, staging)
            except OSError:  # another file system (runs/ in the working dir, the cache in /tmp): copy once
                shutil.copyfile(source, staging)
            os.replace(staging, target)
        except BaseException:
            if os.path.exists(staging):
                os.unlink(staging)
            raise
        return str(target)


def _remove(shelved: str) -> None:
    try:
        os.unlink(shelved)
        os.rmdir(os.path.dirname(shelved))
    except OSError:
        pass


KINDS = {  # a download's extension → what it holds
    "csv": ("the table, CSV", "표, CSV"),
    "md": ("the table, Markdown", "표, Markdown"),
    "svg": ("the diagram, SVG", "그림, SVG"),
    "png": ("the diagram, PNG", "그림, PNG"),
}
FILE_ROUTE = "gradio_api/file="  # relative: the page may be served under a path (a proxy's root_path)


def links(paths: list[str] | None) -> str:
    """The page's download links for shelved ``paths`` (``Shelf.shelve_all``), both languages; each fetched from
    Gradio's file route and saved under its own name. "" for none."""
    if not paths:
        return ""
    items = []
    for path in paths:
        name = os.path.basename(path)
        en, ko = KINDS.get(name.rsplit(".", 1)[-1], ("a file", "파일"))
        href = html.escape(FILE_ROUTE + urllib.parse.quote(path), quote=True)
        items.append(
            f'<li><a href="{href}" download="{html.escape(name, quote=True)}">{t(en, ko)}</a> '
            f"<code>{html.escape(name)}</code> <small>{bytes_text(os.path.getsize(path))}</small></li>"
        )
    heading = t("Download the table and the diagram", "표와 그림 내려받기")
    return f'<div class="cnnviz-downloads"><b>{heading}</b><ul>{"".join(items)}</ul></div>'


CHECKPOINTS = Shelf()
EXPORTS = Shelf(name="cnnviz-exports", prefix_folder=False)
