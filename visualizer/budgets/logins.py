"""``--auth`` with a brake: after a few wrong passwords for a user name, further tries are refused unchecked
for a while, and the while doubles with every failure (up to ``MAX_LOCK_S``). Gradio accepts any callable as
``auth``, so this is what the login form calls; a right password after the lock expires clears the count.

A try during a lock is counted as a failure (the lock grows while someone keeps guessing) without its password
being looked at, right or wrong: the answer ("locked, retry in N s", ``LoginLocked``) and the lock's growth are
the same either way, so trying during a lock tells nobody anything.
"""

from __future__ import annotations

import hmac
import math
import threading
import time

FREE_TRIES = 3
FIRST_LOCK_S = 2.0
MAX_LOCK_S = 300.0


class LoginLocked(Exception):
    """A try for a user name that is locked out; ``seconds`` until the next try is checked."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        wait = max(1, math.ceil(seconds))
        super().__init__(
            f"locked, retry in {wait} s (too many wrong passwords for this user name; every try while locked "
            f"makes the wait longer) · 잠김: 이 사용자 이름으로 틀린 비밀번호가 너무 많습니다. {wait}초 후에 "
            "다시 시도하세요 (잠긴 동안 시도할 때마다 더 길어집니다)"
        )


def lock_seconds(failures: int) -> float:
    """How long a user name is locked after ``failures`` failures in a row."""
    return 0.0 if failures < FREE_TRIES else min(MAX_LOCK_S, FIRST_LOCK_S * 2 ** (failures - FREE_TRIES))


class LoginGuard:
    def __init__(self, user: str, password: str, clock=time.monotonic) -> None:
        self._user, self._password = user.encode(), password.encode()
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # user name → (failures, locked until)

    def __call__(self, user: str, password: str) -> bool:
        """True for the right login, False for a wrong one; ``LoginLocked`` while the user name is locked."""
        now = self._clock()
        key = (user or "")[:200]
        with self._lock:
            failures, until = self._failures.get(key, (0, 0.0))
            if now < until:  # counted, not checked (see the module's docstring)
                failures += 1
                self._failures[key] = (failures, now + lock_seconds(failures))
                raise LoginLocked(lock_seconds(failures))
        ok = hmac.compare_digest(key.encode(), self._user) & hmac.compare_digest(
            (password or "").encode(), self._password
        )
        with self._lock:
            if ok:
                self._failures.pop(key, None)
            else:
                failures += 1
                self._failures[key] = (failures, now + lock_seconds(failures))
                if len(self._failures) > 10_000:  # a flood of made-up names must not grow this forever
                    self._failures.clear()
        return ok

    def failures(self, user: str) -> int:
        """Failed tries for ``user`` since its last good login (those during a lock included)."""
        with self._lock:
            return self._failures.get(user, (0, 0.0))[0]

    def locked_for(self, user: str) -> float:
        """Seconds until ``user`` may try again (0 when not locked)."""
        with self._lock:
            return max(0.0, self._failures.get(user, (0, 0.0))[1] - self._clock())
