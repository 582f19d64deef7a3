"""A small in-process rate limit for the public pages (feedback, survey and RSVP links).

A sliding window per key (the client's address, or address and token): at most ``limit`` hits in
``window_s`` seconds. It lives in the app (one per worker process), which is enough to stop a
script guessing tokens or flooding a form from one address; a chain behind a proxy adds its own.
The table of keys is bounded: past ``max_keys`` the oldest are dropped.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable


class RateLimiter:
    """``allow(key)`` is False once ``key`` made ``limit`` hits within ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float, *, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        if limit < 1 or window_s <= 0:
            raise ValueError("a rate limit needs limit >= 1 and a positive window")
        self.limit, self.window_s, self.max_keys, self._clock = limit, window_s, max_keys, clock
        self._hits: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one hit for ``key``; False (not counted) when it is over the limit."""
        now = self._clock()
        with self._lock:
            hits = self._hits.pop(key, None) or deque()
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            allowed = len(hits) < self.limit
            if allowed:
                hits.append(now)
            self._hits[key] = hits  # most recent last
            while len(self._hits) > self.max_keys:
                self._hits.popitem(last=False)
            return allowed

    def retry_after(self, key: str) -> int:
        """Seconds until ``key`` may hit again (0 when it may now)."""
        now = self._clock()
        with self._lock:
            hits = self._hits.get(key)
            if not hits or len(hits) < self.limit:
                return 0
            return max(1, int(hits[0] + self.window_s - now + 0.999))
