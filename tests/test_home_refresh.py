"""The Home tab published again after forms: one person's burst of forms costs one more publish,
not one per form, and every person asked for is published (handlers/views.py, HomeRefresh)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from handlers import views


def test_a_burst_of_forms_publishes_each_home_tab_once_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    published: list[str] = []
    first_started, release = threading.Event(), threading.Event()
    done = threading.Semaphore(0)

    readings: list[object] = []
    shown: list[object] = []

    def read_figures(_deps: Any) -> object:
        readings.append(object())
        return readings[-1]

    def publish(_deps: Any, _client: Any, user_id: str, figures: object) -> None:
        published.append(user_id)
        shown.append(figures)
        if len(published) == 1:
            first_started.set()
            release.wait(10)
        done.release()

    monkeypatch.setattr(views.home_tab, "publish", publish)
    monkeypatch.setattr(views.home_tab, "read_figures", read_figures)
    refresh = views.HomeRefresh()
    deps, client = object(), object()
    refresh.ask(deps, client, "U1")  # type: ignore[arg-type]
    assert first_started.wait(10)
    for user in ("U1", "U2", "U1", "U1"):  # while U1's first publish is under way
        refresh.ask(deps, client, user)  # type: ignore[arg-type]
    release.set()
    for _ in range(3):
        assert done.acquire(timeout=10)
    assert not done.acquire(timeout=0.5)
    assert published == ["U1", "U1", "U2"]
    # The register's figures are read once per round, after the forms that asked: the two
    # Home tabs asked for during the first publish share the second reading.
    assert len(readings) == 2
    assert shown == [readings[0], readings[1], readings[1]]


def test_rounds_of_home_tabs_start_no_closer_than_the_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    # Under a steady stream of forms the register's figures are read at most once a gap, not
    # back to back (each reading costs over half a second of processor at 100,000 proposals).
    started: list[float] = []
    done = threading.Semaphore(0)

    def read_figures(_deps: Any) -> object:
        started.append(time.monotonic())
        return object()

    def publish(_deps: Any, _client: Any, _user_id: str, _figures: object) -> None:
        done.release()

    monkeypatch.setattr(views.home_tab, "publish", publish)
    monkeypatch.setattr(views.home_tab, "read_figures", read_figures)
    monkeypatch.setattr(views, "HOME_ROUND_GAP", 0.6)
    refresh = views.HomeRefresh()
    deps, client = object(), object()
    refresh.ask(deps, client, "U1")  # type: ignore[arg-type]
    assert done.acquire(timeout=10)
    refresh.ask(deps, client, "U2")  # type: ignore[arg-type]  # just after the first round
    assert done.acquire(timeout=10)
    assert len(started) == 2
    assert started[1] - started[0] >= 0.6 - 0.05
