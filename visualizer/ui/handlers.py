"""How the page runs a handler: its errors as readable pop-ups, its images as files, and the queue it waits in.

Handlers themselves are plain functions in ``visualizer.views`` (and thin adapters in each tab's module); these
pieces are what every tab wraps them in.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import gradio as gr

from visualizer.budgets import outputs
from visualizer.budgets.allocator import release_freed_memory

# Two queues: work that runs a network (feature maps, a clicked layer's maps) shares one group, so forward
# passes do not fight over 2 cores; answers computed from the records (analyze, details, stacks, compare)
# have their own, wider limits and never wait behind a forward pass.
NETWORK = {"concurrency_id": "network", "concurrency_limit": 1}
LIGHT = {"concurrency_limit": 4}
# Queues order requests; the CPU is shared all the same. Forward passes run on one thread of their own at a lower
# priority (``network_at_low_priority``), so that answers from the records and a training run come first when both
# want the cores, and a feature-maps request takes what is left. The threads torch starts for a pass inherit it.
NETWORK_NICE = 5  # weight 335 against 1024: a contended pass gets about a quarter of the cores, training the rest


def _lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NETWORK_NICE)
    except (AttributeError, OSError):  # no per-thread priority here (Windows, macOS): the queue alone
        pass


_network_thread = ThreadPoolExecutor(1, thread_name_prefix="cnnviz-network", initializer=_lower_priority)


def on_network_thread(fn: Callable) -> Callable:
    """``fn`` run on the low-priority network thread (with the caller's context: Gradio's request, progress)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _network_thread.submit(contextvars.copy_context().run, fn, *args, **kwargs).result()

    return wrapper


def network_at_low_priority(demo: gr.Blocks) -> int:
    """Move every event of the ``network`` queue onto the low-priority thread; returns how many. One thread is
    enough: that queue runs one event at a time."""
    moved = 0
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        plain = fn is not None and not (inspect.iscoroutinefunction(fn) or inspect.isgeneratorfunction(fn))
        if block_fn.concurrency_id == NETWORK["concurrency_id"] and plain:
            block_fn.fn = on_network_thread(fn)
            moved += 1
    return moved


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
            raise gr.Error(str(exc).strip() or exc.__class__.__name__, duration=None) from exc

    return wrapper
