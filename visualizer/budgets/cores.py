"""How many cores a run apart trains on while the server beside it answers a class.

A run in a process of its own (``run_process``) trains with one torch thread per core. Alone on the laptop that is
its fastest: on 2 cores, 8 steps/s for alexnet_cifar against 6 with one thread. While the server answers twelve
students, two threads were no faster than one (5.51 and 5.35 steps/s against 5.56 and 5.27, alternated in one session):
every operator waits for its slower thread, and one of them keeps losing its core to the answers. One thread
leaves that core to the server, which then answered 15 % more (36.0 and 31.9 answers/s against 30.4 and 27.9).

So between batches the run looks at how busy its server is (the server process's CPU time, ``/proc``; the run's
own process is not counted) and trains on the cores left: ``threads_for`` below, every ``EVERY_S``. Where
``/proc`` is not there (macOS, Windows) the run keeps all its threads, as before. ``CNNVIZ_RUN_CORES=fixed``
keeps them too, to compare (``bench/bench_load.py --run-cores fixed``).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

EVERY_S = 0.5  # how often the run looks at its server
GIVE_AT = 0.5  # a core's worth of server work above this many cores gives it one more core ...
TAKE_BELOW = 0.3  # ... and back once the server's work falls this far below (no flapping at 0.5)
ENV = "CNNVIZ_RUN_CORES"


def threads_for(busy: float, current: int, full: int) -> int:
    """The run's threads when its server kept ``busy`` cores busy: ``full`` less one for each core's worth of
    server work above ``GIVE_AT`` (0.6 cores → one less, 1.6 → two), never below one; going back up needs the
    work to fall below ``TAKE_BELOW`` instead, so a server hovering at half a core does not flip the run each
    look."""

    def target(threshold: float) -> int:
        return max(1, min(full, full - max(0, math.ceil(busy - threshold))))

    down, up = target(GIVE_AT), target(TAKE_BELOW)
    if up > current:
        return up
    if down < current:
        return down
    return current


def cpu_seconds(pid: int) -> float | None:
    """The user + system CPU seconds process ``pid`` has used, all its threads (``/proc/<pid>/stat``); None
    where there is no ``/proc`` or no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2 :].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14 and 15


class CoreShare:
    """Sets torch's threads on the thread that calls ``look`` (torch's pool is per thread: call it from the
    training loop) to what ``threads_for`` gives for the cores ``pid`` kept busy since the last look."""

    def __init__(
        self,
        pid: int,
        full: int,
        set_threads: Callable[[int], None],
        every_s: float = EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        read: Callable[[int], float | None] = cpu_seconds,
    ) -> None:
        self.pid, self.full, self.threads = pid, full, full
        self._set, self._every, self._clock, self._read = set_threads, every_s, clock, read
        self._last_t, self._last_cpu = clock(), read(pid)

    def look(self) -> int:
        """Cheap between looks (a clock read); every ``every_s``, one ``/proc`` read. Returns the threads now."""
        now = self._clock()
        if now - self._last_t < self._every or self._last_cpu is None:
            return self.threads
        cpu = self._read(self.pid)
        if cpu is None:  # the server is gone: the run stops on its own (run_process watches its parent)
            self._last_cpu = None
            return self.threads
        busy = (cpu - self._last_cpu) / (now - self._last_t)
        self._last_t, self._last_cpu = now, cpu
        threads = threads_for(busy, self.threads, self.full)
        if threads != self.threads:
            self._set(threads)
            self.threads = threads
        return self.threads


def wanted() -> bool:
    """Whether a run apart shares its cores (``CNNVIZ_RUN_CORES``: ``share``, the default, or ``fixed``)."""
    value = os.environ.get(ENV, "share").strip().lower() or "share"
    if value not in ("share", "fixed"):
        raise ValueError(f"{ENV} must be 'share' (the default) or 'fixed' (got {value[:20]!r})")
    return value == "share"


__all__ = ["EVERY_S", "CoreShare", "cpu_seconds", "threads_for", "wanted"]
