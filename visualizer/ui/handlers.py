"""How the page runs a handler: its errors as readable pop-ups, its images as files, and the queue it waits in.

Handlers themselves are plain functions in ``visualizer.views`` (and thin adapters in each tab's module); these
pieces are what every tab wraps them in.
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from collections.abc import Callable
from typing import Any

import gradio as gr

from visualizer.budgets import outputs
from visualizer.budgets.allocator import release_freed_memory

# Two queues: work that runs a network (feature maps, a clicked layer's maps) shares one group, so forward
# passes do not fight over 2 cores; answers computed from the records (analyze, details, stacks, compare)
# have their own, wider limits and never wait behind a forward pass.
NETWORK = {"concurrency_id": "network", "concurrency_limit": 1}
LIGHT = {"concurrency_limit": 4}


def friendly(fn: Callable, release_memory: bool = False) -> Callable:
    """Turn the handlers' plain exceptions into a readable message in the page (the server keeps serving), and
    their images into files that no concurrent reply can truncate."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            result = outputs.as_files(fn(*args, **kwargs))  # images as files of their own: see budgets.outputs
            if release_memory:  # after a forward pass: give what it freed back to the system
                release_freed_memory()
            return result
        except gr.Error:
            raise
        except (ValueError, RuntimeError, OSError, KeyError) as exc:
            raise gr.Error(without_server_paths(str(exc).strip()) or exc.__class__.__name__, duration=None) from exc

    return wrapper


def without_server_paths(message: str) -> str:
    """``message`` with this machine's folders (temp dir, working dir, home) cut from the paths it names: a file
    keeps its name (``…/last.pt``), the page never learns where the server keeps it."""
    roots = {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir()), os.getcwd(), os.path.expanduser("~")}
    for root in sorted((r.rstrip(os.sep) for r in roots if len(r) > 1), key=len, reverse=True):
        pattern = re.escape(root) + "(" + re.escape(os.sep) + r"[^\s'\":,;]*)?"
        message = re.sub(pattern, _cut_path, message)
    return message


def _cut_path(match: re.Match) -> str:
    rest = match.group(1)
    return "…" + os.sep + os.path.basename(rest.rstrip(os.sep)) if rest and rest.strip(os.sep) else "…"
