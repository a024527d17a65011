"""``--auth`` with a brake: after a few wrong passwords for a user name, further tries are refused unchecked
for a while, and the while doubles with every failure (up to ``MAX_LOCK_S``). Gradio accepts any callable as
``auth``, so this is what the login form calls; a right password after the lock expires clears the count.
"""

from __future__ import annotations

import hmac
import threading
import time

FREE_TRIES = 3
FIRST_LOCK_S = 2.0
MAX_LOCK_S = 300.0


class LoginGuard:
    def __init__(self, user: str, password: str, clock=time.monotonic) -> None:
        self._user, self._password = user.encode(), password.encode()
        self._clock = clock
        self._lock = threading.Lock()
        self._failures: dict[str, tuple[int, float]] = {}  # user name → (failures, locked until)

    def __call__(self, user: str, password: str) -> bool:
        now = self._clock()
        key = (user or "")[:200]
        with self._lock:
            failures, until = self._failures.get(key, (0, 0.0))
            if now < until:
                return False  # locked: not even checked, so guessing gains nothing
        ok = hmac.compare_digest(key.encode(), self._user) & hmac.compare_digest(
            (password or "").encode(), self._password
        )
        with self._lock:
            if ok:
                self._failures.pop(key, None)
            else:
                failures += 1
                lock = 0.0 if failures < FREE_TRIES else min(MAX_LOCK_S, FIRST_LOCK_S * 2 ** (failures - FREE_TRIES))
                self._failures[key] = (failures, now + lock)
                if len(self._failures) > 10_000:  # a flood of made-up names must not grow this forever
                    self._failures.clear()
        return ok

    def locked_for(self, user: str) -> float:
        """Seconds until ``user`` may try again (0 when not locked)."""
        with self._lock:
            return max(0.0, self._failures.get(user, (0, 0.0))[1] - self._clock())
