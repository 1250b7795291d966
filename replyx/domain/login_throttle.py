"""Failed logins slow the next attempt, per account and per client address, with growing delays.

After a few free failures a key must wait before its next attempt, twice as long
after each further failure, up to a cap; an attempt that comes too early is
refused before any password is checked, so it costs no hashing. A success
clears the account's count (not the address's: one's own account must not
unlock guessing at others'). Counts live in this process: behind several
processes an attacker gets a few more tries, each still delayed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

# Failures forgotten after this long without another one.
WINDOW = 15 * 60.0
# The first delay, doubled after each further failure, and its cap.
FIRST_DELAY = 1.0
MAX_DELAY = 15 * 60.0
# Keys remembered at most; the idle ones are forgotten first.
MAX_KEYS = 100_000


@dataclass
class _Failures:
    count: int
    last: float


class LoginThrottle:
    """Counts failed logins per key (``account:<email>``, ``address:<ip>``) and says how long to wait."""

    def __init__(self, *, per_account: int = 5, per_address: int = 20) -> None:
        # Mistyped passwords cost nothing: these many failures per key before any delay.
        self.free = {"account": per_account, "address": per_address}
        self._failures: dict[str, _Failures] = {}

    def wait_needed(self, keys: list[str], now: float | None = None) -> float:
        """Seconds before these keys may try again (0: now)."""
        now = time.monotonic() if now is None else now
        return max((self._wait(key, now) for key in keys), default=0.0)

    def failed(self, keys: list[str], now: float | None = None) -> None:
        """Count one failure for each key."""
        now = time.monotonic() if now is None else now
        for key in keys:
            entry = self._failures.get(key)
            if entry is None or entry.last <= now - WINDOW:
                entry = self._failures[key] = _Failures(0, now)
            entry.count += 1
            entry.last = now
        if len(self._failures) > MAX_KEYS:
            self._forget_idle(now)

    def succeeded(self, key: str) -> None:
        """Forget the failures of a key that just logged in."""
        self._failures.pop(key, None)

    def _wait(self, key: str, now: float) -> float:
        entry = self._failures.get(key)
        if entry is None or entry.last <= now - WINDOW:
            return 0.0
        over = entry.count - self.free[key.split(":", 1)[0]]
        if over < 0:
            return 0.0
        delay = min(FIRST_DELAY * 2.0**over, MAX_DELAY)
        return max(0.0, entry.last + delay - now)

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, v in self._failures.items() if v.last <= now - WINDOW]:
            del self._failures[key]
