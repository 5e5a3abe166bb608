"""One thread for every delayed start (bot/delayed.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bot.delayed import Delayed


def _recorder() -> tuple[list[tuple[str, float]], Callable[..., None], threading.Event]:
    started: list[tuple[str, float]] = []
    done = threading.Event()

    def start(work: Callable[..., Any], *args: Any) -> None:
        started.append((work(*args), time.monotonic()))
        if len(started) == 3:
            done.set()

    return started, start, done


def test_work_starts_once_its_delay_is_over_in_the_order_it_falls_due() -> None:
    started, start, done = _recorder()
    delayed = Delayed(start)
    asked = time.monotonic()
    try:
        delayed.call_after(0.3, str, "late")
        delayed.call_after(0.1, str, "early")
        delayed.call_after(0, str, "now")
        assert done.wait(5)
    finally:
        delayed.stop()
    assert [name for name, _ in started] == ["now", "early", "late"]
    at = dict(started)
    assert at["early"] - asked >= 0.1 and at["late"] - asked >= 0.3


def test_many_waits_share_one_thread() -> None:
    _, start, _ = _recorder()
    delayed = Delayed(start)
    before = threading.active_count()
    try:
        for n in range(200):
            delayed.call_after(0.2 + n / 1000, str, n)
        assert threading.active_count() - before == 1
        assert delayed.pending() == 200
    finally:
        delayed.stop()


def test_a_failing_start_does_not_stop_the_others() -> None:
    started: list[str] = []
    three = threading.Event()

    def start(work: Callable[..., Any], *args: Any) -> None:
        if args == ("bad",):
            raise RuntimeError("no workers")
        started.append(work(*args))
        if len(started) == 2:
            three.set()

    delayed = Delayed(start)
    try:
        delayed.call_after(0.01, str, "one")
        delayed.call_after(0.02, str, "bad")
        delayed.call_after(0.03, str, "two")
        assert three.wait(5)
    finally:
        delayed.stop()
    assert started == ["one", "two"]


def test_after_stop_nothing_waiting_starts() -> None:
    started, start, _ = _recorder()
    delayed = Delayed(start)
    delayed.call_after(0.2, str, "dropped")
    delayed.stop()
    delayed.call_after(0, str, "after stop")
    time.sleep(0.4)
    assert started == []
    assert delayed.pending() == 0


def test_as_a_lane_each_piece_of_work_waits_for_the_one_before() -> None:
    ran: list[tuple[int, float, float]] = []
    done = threading.Event()

    def work(n: int) -> None:
        began = time.monotonic()
        time.sleep(0.02)
        ran.append((n, began, time.monotonic()))
        if len(ran) == 5:
            done.set()

    lane = Delayed(lambda w, *args: w(*args))
    try:
        for n in range(5):
            lane.call_after(0, work, n)
        assert done.wait(5)
    finally:
        lane.stop()
    assert [n for n, _, _ in ran] == [0, 1, 2, 3, 4]
    assert all(ran[i + 1][1] >= ran[i][2] for i in range(4))
