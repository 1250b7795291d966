"""A sliding-window counter per key, kept in this process."""

from __future__ import annotations

import time
from collections import deque


class SlidingWindowLimiter:
    """Allows at most ``limit`` hits per ``window`` seconds for each key."""

    def __init__(self, window: float) -> None:
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    def hit(self, key: str, limit: int, now: float | None = None) -> bool:
        """Record a hit; False (and nothing recorded) when the key is over its limit."""
        now = time.monotonic() if now is None else now
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= limit:
            return False
        hits.append(now)
        if len(self._hits) > 10000:
            self._forget_idle(now)
        return True

    def retry_after(self, key: str, now: float | None = None) -> float:
        """Seconds until the key's oldest counted hit leaves the window."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        return max(0.0, hits[0] + self.window - now) if hits else 0.0

    def _forget_idle(self, now: float) -> None:
        # Keeps memory flat when many distinct keys come and go.
        idle = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]
        for key in idle:
            del self._hits[key]
