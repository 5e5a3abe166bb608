"""What every handler and job needs: the settings, the database, the steering check, and a
place to run Slack calls after the ack."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from bot.delayed import Delayed
from bot.settings import Settings, SettingsError
from bot.steering import SteeringGroup
from storage.db import session_scope

if TYPE_CHECKING:
    from bot.similar_proposals import SimilarProposals

log = logging.getLogger(__name__)

# Outgoing Slack calls (cards, DMs, view updates) wait on Slack's rate limits; they run on these
# threads so that Bolt's request threads only read, write and ack.
LATER_WORKERS = 4


def _run_logged(work: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return work(*args, **kwargs)
    except Exception:
        log.exception("background work %s failed", getattr(work, "__qualname__", work))
        raise


def _call(work: Callable[..., Any], *args: Any) -> None:
    work(*args)  # a failure is logged, with its trace, by the lane's thread


def embeddings_file(settings: Settings) -> Path | None:
    """Where the semantic method keeps its embeddings: CSI_SIMILARITY_EMBEDDINGS, else next to
    a SQLite database file, else nowhere."""
    return _kept_file(settings.similarity_embeddings, settings.database_url, ".embeddings.npz")


def index_file(settings: Settings) -> Path | None:
    """Where the default method keeps its index between runs (bot/kept_index.py):
    CSI_SIMILARITY_INDEX, else next to a SQLite database file, else nowhere."""
    if settings.similarity_method != "lexical":
        return None
    return _kept_file(settings.similarity_index, settings.database_url, ".index.npz")


def _kept_file(configured: str | None, database_url: str, suffix: str) -> Path | None:
    if configured:
        return Path(configured)
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).with_name(Path(url.database).name + suffix)
    return None


@dataclass
class Deps:
    """Shared services, built once by the app factory and handed to each `register(app, deps)`."""

    settings: Settings
    engine: Engine
    steering: SteeringGroup
    _similar: SimilarProposals | None = field(default=None, init=False, repr=False)
    _similar_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _later: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _later_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _cards: Delayed | None = field(default=None, init=False, repr=False)
    _delayed: Delayed | None = field(default=None, init=False, repr=False)

    @property
    def similar(self) -> SimilarProposals:
        """The similar-proposal index, built from the register on first use."""
        with self._similar_lock:
            if self._similar is None:
                # Here, not at the top: a command that never searches (most of the command
                # line) does not load the engine's numpy.
                from bot.similar_proposals import SimilarProposals
                from bot.similarity.warning import model_for

                method, path = self.settings.similarity_method, self.settings.warning_model
                try:
                    model = model_for(method, path)
                except ValueError as exc:
                    raise SettingsError(f"CSI_WARNING_MODEL={path}: {exc}") from exc
                self._similar = SimilarProposals(
                    method=method,
                    warning_model=model,
                    embeddings_file=embeddings_file(self.settings),
                )
            return self._similar

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error. The proposals it writes
        join the similar-proposal index as it commits."""
        with session_scope(self.engine) as session:
            if self._similar is not None:
                self._similar.track(session)
            yield session

    def later(self, work: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """Run `work(*args, **kwargs)` off the request thread (after the ack); failures are
        logged with their trace. Use it for every outgoing Slack call a handler makes."""
        with self._later_lock:
            if self._later is None:
                self._later = ThreadPoolExecutor(
                    max_workers=LATER_WORKERS, thread_name_prefix="csi-later"
                )
            return self._later.submit(_run_logged, work, args, kwargs)

    def later_after(self, delay: float, work: Callable[..., Any], /, *args: Any) -> None:
        """Like `later`, once `delay` seconds have passed. Every such wait shares one thread
        (a card waiting for Slack's budget is an entry in a heap, not a thread of its own)."""
        with self._later_lock:
            if self._delayed is None:
                self._delayed = Delayed(self.later, name="csi-delayed")
            delayed = self._delayed
        delayed.call_after(delay, work, *args)

    def in_card_order(self, work: Callable[..., Any], /, *args: Any) -> None:
        """Like `later`, on the one thread that posts the cards of new proposals, in the order
        asked. Cards are paced to Slack's limit for a channel (bot/outbox.py): a storm of
        proposals queues here, one card after another (an entry of a few hundred bytes each),
        and the other background work (replies, redraws, DMs) goes on meanwhile on the `later`
        workers."""
        with self._later_lock:
            if self._cards is None:
                self._cards = Delayed(_call, name="csi-cards")
            cards = self._cards
        cards.call_after(0, work, *args)

    def shutdown(self, *, wait: bool = True) -> None:
        """Finish (or drop) the queued background work; called when the bot stops. Cards still
        queued are dropped either way (a storm's would take a second each): the outbox posts
        them, and tells their submitters, when the bot is back (bot/confirmations.py)."""
        with self._later_lock:
            delayed, self._delayed = self._delayed, None
            cards, self._cards = self._cards, None
        # What waits for its time is dropped, as a timer's was at exit.
        for lane in (delayed, cards):
            if lane is not None:
                lane.stop(wait=wait)
        with self._later_lock:
            if self._later is not None:
                self._later.shutdown(wait=wait, cancel_futures=not wait)
                self._later = None
