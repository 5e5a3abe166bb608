"""Work to start after a delay, or in order, all on one thread: a card waiting for Slack's
budget, or a storm's cards queued behind each other, cost an entry in a heap each (about 150
bytes), not a thread or a pending future (about 1.8 KB) of their own. Plain Python."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Delayed:
    """Calls `start(work, *args)` once each delay is over, in the order they fall due (equal
    times: in the order asked), on one thread: a slow `start` delays the calls due after it.
    A `start` that hands the work on to a pool of workers makes a timer; one that does the
    work itself makes a lane, where each piece of work waits for the one before."""

    def __init__(self, start: Callable[..., Any], *, name: str = "csi-delayed") -> None:
        self._start = start
        self._name = name
        self._ready = threading.Condition()
        self._due: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()  # equal times: first asked, first started
        self._thread: threading.Thread | None = None
        self._stopped = False

    def call_after(self, delay: float, work: Callable[..., Any], /, *args: Any) -> None:
        """Start `work(*args)` in `delay` seconds (at once if `delay` <= 0); returns at once.
        After `stop`, nothing more is started."""
        with self._ready:
            if self._stopped:
                return
            heapq.heappush(self._due, (time.monotonic() + delay, next(self._order), work, args))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._ready.notify()

    def pending(self) -> int:
        """How many calls wait for their time."""
        with self._ready:
            return len(self._due)

    def stop(self, *, wait: bool = True) -> None:
        """Drop the calls still waiting and end the thread (`wait`: once the call under way,
        if any, is over)."""
        with self._ready:
            self._stopped = True
            self._due.clear()
            self._ready.notify()
            thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._stopped:
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    if wait is not None and wait <= 0:
                        break
                    self._ready.wait(wait)
                if self._stopped:
                    return
                _, _, work, args = heapq.heappop(self._due)
            try:
                self._start(work, *args)
            except Exception:  # the thread goes on: the other calls still fall due
                log.exception("background work %s failed", getattr(work, "__qualname__", work))
