"""Who yields the cores to whom when a laptop serves a class: a training run first, then answers, then forward
passes.

A queue orders requests; the CPU is shared all the same. So the server's own threads run at a lower priority than
a training run's (a higher nice value): when both want the cores, the run goes first and the answers take what is
left; when no run trains, nothing changes. A priority cannot give a thread the GIL, so the app's runs train in a
process of their own (``run_process``): in the server's process, under twelve students answered back to back, a run
kept 65–74 % of its idle steps/s whatever the priorities (answers at +10 gave the same as at +4); in its own, 66
and 68 % with answers at +4 and forward passes at +8, 74 and 75 % at +10 and +15 (alternated, README "Who gets the
cores"). But +10 starved the page itself: on a loaded machine the Training tab's snapshot panel fell behind by more
than two minutes (a browser test timed out waiting for a picked snapshot, twice in the full suite), so answers stay
at +4 and passes at +8. The run's process is started by the run's thread, so it starts at that thread's priority.

Linux lets a thread raise its own nice value but never lower it back, and a thread starts at its creator's. So the
threads are placed once, by who starts them:

* ``start_launcher()`` (``python app.py``, before the server starts) keeps one thread at the process's priority;
  ``start(thread)`` has it start the trainer's threads, whichever request asks (``BackgroundTrainer``). Torch's
  intra-op threads for a run are started by the run's thread and inherit its priority.
* ``lower_server_threads()`` (right after the server started) moves the server's event loop and its worker threads
  to ``ANSWERS_NICE``; the workers Gradio starts later are started by the event loop and inherit it.
* Forward passes run on threads of their own at ``NETWORK_NICE`` (``ui.handlers``), below the answers.

Without a launcher (the library, the tests) nothing is moved and ``start`` starts the thread itself. On systems
without per-thread priorities (Windows, macOS) these are no-ops and the queues alone order the work.
"""

from __future__ import annotations

import os
import queue
import threading


def _nice_from_env(name: str, default: int) -> int:
    """A nice value from the environment (``CNNVIZ_ANSWERS_NICE``, ``CNNVIZ_NETWORK_NICE``: for measuring other
    settings, ``bench/bench_load.py --nice``), else ``default``; anything but a whole number from 0 to 19 is
    refused, naming the variable."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 19:
        raise ValueError(f"{name} must be a nice value from 0 to 19 (got {raw[:20]!r}); unset it for {default}")
    return value


TRAINING_NICE = 0  # the process's own: a run's threads
# weight 423 against a run thread's 1024: an answer waits a little while a run trains
ANSWERS_NICE = _nice_from_env("CNNVIZ_ANSWERS_NICE", 4)
# weight 172: a forward pass takes what training and answers leave
NETWORK_NICE = _nice_from_env("CNNVIZ_NETWORK_NICE", 8)
KEPT_PREFIX = "cnnviz-trainer"  # a run already training when the server's threads are moved keeps its priority

_launcher: threading.Thread | None = None
_to_start: queue.Queue = queue.Queue()


def set_thread_nice(nice: int) -> bool:
    """Raise the calling thread's nice value to ``nice`` (never lowers it); False where threads have no priority."""
    return _renice(threading.get_native_id(), nice)


def _renice(native_id: int, nice: int) -> bool:
    try:
        if os.getpriority(os.PRIO_PROCESS, native_id) < nice:
            os.setpriority(os.PRIO_PROCESS, native_id, nice)
        return True
    except (AttributeError, OSError):  # no per-thread priority here, or the thread has ended
        return False


def start_launcher() -> None:
    """Keep a thread at the process's priority to start the trainer's threads (call once, before the server)."""
    global _launcher
    if _launcher is not None:
        return

    def launch() -> None:
        while True:
            thread, started = _to_start.get()
            try:
                thread.start()
            finally:
                started.set()

    _launcher = threading.Thread(target=launch, name="cnnviz-launcher", daemon=True)
    _launcher.start()


def start(thread: threading.Thread) -> None:
    """Start ``thread`` at the process's priority (the launcher's), or here without a launcher; returns once it
    has started."""
    if _launcher is None or threading.current_thread() is _launcher:
        thread.start()
        return
    started = threading.Event()
    _to_start.put((thread, started))
    started.wait()


def lower_server_threads() -> int:
    """Every thread but the main one, the launcher and those it started, at ``ANSWERS_NICE`` (call right after the
    server started, only with a launcher); returns how many were moved."""
    if _launcher is None:
        return 0
    keep = {threading.main_thread().native_id, _launcher.native_id}
    moved = 0
    for thread in threading.enumerate():
        if thread.native_id in keep or thread.name.startswith(KEPT_PREFIX) or thread.native_id is None:
            continue
        moved += _renice(thread.native_id, ANSWERS_NICE)
    return moved
