"""Card redraws, coalesced: a burst of votes on one card redraws it a few times, not once per vote.

Each card has at most one redraw in flight in this process. A vote during it only marks the card
"dirty"; when the redraw is done, a dirty card is drawn once more with the count read then, no
sooner than `MIN_INTERVAL` after the last `chat.update` (or Slack's Retry-After). Another replica
may redraw the same card at the same time with an older count, and its `chat.update` may land
after ours: so once `MIN_INTERVAL` has passed after a redraw with no vote asking for another, the
card is read again, and drawn again while what this process last sent differs from what the
register holds. The last redraw of every replica thus reads the final count. (Read at once, that
check cost a second read of the card for most redraws of a storm, where the next vote has the
card drawn again anyway.)

All the cards of the process share one budget of `chat.update` calls: Slack allows a Tier 3
method about 50 calls a minute for the app in a workspace, with short bursts. A storm of votes
on one card keeps its count close behind at one redraw a second; a storm on many cards redraws
them in turn within the budget, each ending with its exact count. When Slack still answers
"ratelimited", every card waits out its Retry-After, not only the one that asked.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot import cards
from bot.deps import Deps
from bot.slack_budget import Budget

log = logging.getLogger(__name__)

# chat.update is rate limited per app (Tier 3, about 50 a minute); one card needs no more than
# one redraw a second for its count to follow a burst of votes closely.
MIN_INTERVAL = 1.0
# The shared chat.update budget (see the module's docstring): a sustained rate and a burst.
BUDGET_PER_S = 50 / 60
BUDGET_BURST = 10
# A card that keeps coming out stale (two replicas racing) or rate limited is left after this
# many redraws in a row; the next vote starts again.
MAX_ROUNDS = 20


@dataclass
class _Card:
    dirty: bool = False
    running: bool = False
    not_before: float = 0.0  # monotonic time of the earliest next chat.update
    rounds: int = 0
    drawn: cards.CardLook | None = None  # what this process last sent


class CardUpdates:
    """The coalescing redraws of one bot process (see the module's docstring)."""

    def __init__(
        self,
        deps: Deps,
        client: WebClient,
        *,
        min_interval: float = MIN_INTERVAL,
        budget: Budget | None = None,
    ):
        self._deps = deps
        self._client = client
        self._min_interval = min_interval
        self._budget = budget or Budget(per_s=BUDGET_PER_S, burst=BUDGET_BURST)
        self._lock = threading.Lock()
        self._cards: dict[int, _Card] = {}

    def request(self, proposal_id: int) -> None:
        """Ask for the card to show what the register holds now; returns at once."""
        with self._lock:
            card = self._cards.setdefault(proposal_id, _Card())
            card.dirty = True
            if card.running:
                # The redraw in flight looks at `dirty` when it is done; a new vote renews the
                # budget of rounds, which only bounds redraws that no vote asked for.
                card.rounds = 0
                return
            card.running, card.rounds = True, 0
            delay = card.not_before - time.monotonic()
        self._schedule(proposal_id, delay)

    def busy(self) -> bool:
        """True while some card has a redraw in flight or waiting (for tests and shutdown)."""
        with self._lock:
            return any(card.running for card in self._cards.values())

    def _schedule(self, proposal_id: int, delay: float, *, counted: bool = False) -> None:
        if delay <= 0:
            self._deps.later(self._redraw, proposal_id, counted)
            return
        # Not a sleep: the shared workers stay free for other Slack calls meanwhile.
        self._deps.later_after(delay, self._redraw, proposal_id, counted)

    def _redraw(self, proposal_id: int, counted: bool = False) -> None:
        with self._lock:
            card = self._cards[proposal_id]
            # No vote since this process last drew the card: only look whether it still shows
            # what the register holds (see the module's docstring).
            checking = not card.dirty
        if not checking and not counted:
            wait = self._budget.take()
            if wait > 0:
                # Over the budget: the card stays in flight and dirty, and is drawn in its slot.
                self._schedule(proposal_id, wait, counted=True)
                return
        with self._lock:
            card.dirty = False
            card.rounds += 1
            drawn = card.drawn
        try:
            if checking:
                result, again = cards.Redrawn(), self._stale(proposal_id, drawn)
            else:
                result = cards.redraw_card(
                    deps=self._deps, client=self._client, proposal_id=proposal_id
                )
                # Once sent, the card is looked at again when the interval is over: by then a
                # vote has most often asked for another redraw, which reads it anyway.
                again = False
        except Exception:
            # Never leave the card marked as in flight: later votes must still redraw it.
            self._finish(proposal_id)
            raise
        if result.retry_after is not None:
            self._budget.pause(result.retry_after)
        now = time.monotonic()
        with self._lock:
            if result.retry_after is not None:
                card.not_before = now + max(result.retry_after, self._min_interval)
                again = True
            elif not checking:
                card.not_before = now + self._min_interval
            card.drawn = result.drawn or card.drawn
            card.dirty = card.dirty or again
            if (not card.dirty and result.drawn is None) or card.rounds >= MAX_ROUNDS:
                if card.dirty:
                    log.warning(
                        "card of #%s: still changing after %d redraws", proposal_id, card.rounds
                    )
                card.running = card.dirty = False
                return
            wait = card.not_before - now
        self._schedule(proposal_id, wait)

    def _stale(self, proposal_id: int, drawn: cards.CardLook | None) -> bool:
        # Read again a while after Slack answered: a vote committed by another replica while
        # ours was in flight shows up here even though this process never saw it.
        if drawn is None:
            return False
        try:
            now = cards.card_content(deps=self._deps, proposal_id=proposal_id)
        except SQLAlchemyError:
            return False
        return cards.drawn_as(now) != drawn

    def _finish(self, proposal_id: int) -> None:
        with self._lock:
            card = self._cards[proposal_id]
            card.running = card.dirty = False


_registry: dict[int, CardUpdates] = {}
_registry_lock = threading.Lock()


def for_deps(deps: Deps, client: WebClient) -> CardUpdates:
    """The coalescer of this bot (one per `Deps`, made on first use)."""
    with _registry_lock:
        updates = _registry.get(id(deps))
        if updates is None or updates._deps is not deps:
            updates = _registry[id(deps)] = CardUpdates(deps, client)
        return updates


def request(*, deps: Deps, client: WebClient, proposal_id: int) -> None:
    """Redraw the card of #`proposal_id` soon, coalesced with other requests for it."""
    for_deps(deps, client).request(proposal_id)
