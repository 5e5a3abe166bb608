"""A budget of Slack calls: Slack's rate limits as a token bucket that keeps slots.

Slack limits each Web API method (a Tier 3 method such as `chat.update` allows an app about 50
calls a minute in a workspace) and posts to one channel (`chat.postMessage`: about one message a
second, with bursts). A bot that keeps inside them is not answered "ratelimited" and does not sit
out Retry-After waits; one budget is shared by every caller it limits.
"""

from __future__ import annotations

import threading
import time
from typing import Any


class Budget:
    """A token bucket of calls that keeps slots: `take` counts a call and says when it may go."""

    def __init__(self, *, per_s: float, burst: int) -> None:
        self._per_s = per_s
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()
        self._resume_at = 0.0
        self._lock = threading.Lock()

    def take(self) -> float:
        """Count a call and say in how many seconds it may go: 0 within the budget, else the
        time of the slot kept for it (callers keep their slots: no crowd wakes to one call)."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._per_s)
            self._at = now
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self._per_s
            return max(wait, self._resume_at - now)

    def pause(self, seconds: float) -> None:
        """Slack answered "ratelimited": no call for `seconds`, whoever asks."""
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + seconds)


def retry_after(headers: Any) -> float:
    """The seconds Slack's Retry-After header asks for (whole seconds); a missing or odd value
    waits a little, a huge one at most a minute."""
    try:
        value = headers.get("Retry-After") or headers.get("retry-after")
        return min(max(float(value), 1.0), 60.0)
    except (AttributeError, TypeError, ValueError):
        return 1.0
