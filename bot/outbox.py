"""The card outbox: every proposal that should have a channel card gets exactly one.

A card is posted in three steps: claim it in the database (one conditional UPDATE, which only
one replica or thread wins), post it with message metadata naming the proposal, and store its
ts at once. A process that dies between posting and storing leaves a claim that expires; whoever
takes it over first looks in the channel for the card (by its metadata) and adopts it instead of
posting a second one.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, NamedTuple

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot import blocks, proposals
from bot.lifecycle import Status
from bot.notify import UNREACHABLE
from bot.slack_budget import Budget, retry_after
from storage import repositories as repo
from storage.db import session_scope
from storage.models import Proposal
from storage.types import utcnow

log = logging.getLogger(__name__)

# Statuses whose proposals are shown in the channel. A proposal waiting for its objective gets
# its card once it has one; a merged or withdrawn one has nothing left to vote on or decide.
CARD_STATUSES = frozenset(
    {
        Status.OPEN,
        Status.APPROVED,
        Status.REJECTED,
        Status.IN_PROGRESS,
        Status.IMPLEMENTED,
        Status.VERIFIED,
    }
)

EVENT_TYPE = "csi_proposal_card"
# Longer than the slowest post: the client's timeout and retries (3 connection attempts of 10 s,
# 3 rate-limit waits) stay well inside it, so a live post is never taken over.
CLAIM_FOR = timedelta(minutes=2)
# After Slack refused a card (not in the channel, archived...), the outbox waits this long.
RETRY_REFUSED_AFTER = timedelta(minutes=10)
RETRY_RATELIMITED_AFTER = timedelta(minutes=1)
# A run stops after this many failed cards in a row: Slack is down, the rest can wait.
GIVE_UP_AFTER = 3
# Slack posts about one message a second to a channel, after a burst: cards are paced to that
# (per channel, for all the cards of this process), so a storm of proposals is not answered
# "ratelimited" card after card; the cards of a storm follow one a second.
POSTS_PER_S = 1.0
POST_BURST = 20
# Slack is asked for at most this many pages of history when looking for a lost card.
HISTORY_PAGES = 10
# A clock of another replica may be a little behind: look this much further back.
CLOCK_SKEW = timedelta(minutes=1)


class CardClaim(NamedTuple):
    """This process's claim on a card; `taken_over` is the expired claim it replaces, if any."""

    token: str
    taken_over: str | None
    taken_over_until: datetime | None


class Outcome(StrEnum):
    """What became of one proposal's card."""

    POSTED = "posted"
    ADOPTED = "adopted"  # found in the channel after an interrupted post, and recorded
    HAS_CARD = "has_card"
    BUSY = "busy"  # another process is posting it, or a refused post waits for its retry
    FAILED = "failed"
    SKIPPED = "skipped"  # not in a status that is shown in the channel


@dataclass
class Tally:
    """How many cards ended each way in one run."""

    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    remaining: int = 0  # not tried: the run was stopped, or gave up
    gave_up: bool = False  # Slack failed too often in a row to go on

    def add(self, outcome: Outcome) -> None:
        """Count one more card that ended this way."""
        self.counts[outcome] += 1

    def __getitem__(self, outcome: Outcome) -> int:
        return self.counts[outcome]


@dataclass(frozen=True)
class Outbox:
    """Where cards go and how they look: the channel, the vote emoji, the database, the client."""

    engine: Engine
    client: WebClient
    channel: str
    vote_emoji: str = "+1"
    claim_for: timedelta = CLAIM_FOR

    def deliver(
        self,
        proposal_id: int,
        *,
        statuses: Collection[str] = CARD_STATUSES,
        respect_backoff: bool = True,
    ) -> Outcome:
        """Make sure this proposal's card is in the channel, posting it at most once."""
        now = utcnow()
        claim = CardClaim(token=uuid.uuid4().hex, taken_over=None, taken_over_until=None)
        try:
            with session_scope(self.engine) as session:
                proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
                if proposal is None or proposal.status not in statuses:
                    return Outcome.SKIPPED
                if proposal.message_ts:
                    return Outcome.HAS_CARD
                claim = claim._replace(
                    taken_over=proposal.card_claim, taken_over_until=proposal.card_claimed_until
                )
            with session_scope(self.engine) as session:
                won = repo.claim_card(
                    session=session,
                    proposal_id=proposal_id,
                    token=claim.token,
                    seen_claim=claim.taken_over,
                    now=now,
                    until=now + self.claim_for,
                    respect_backoff=respect_backoff,
                )
        except SQLAlchemyError as exc:
            log.warning("card of #%s not claimed, the database failed: %s", proposal_id, exc)
            return Outcome.FAILED
        if not won:
            return Outcome.HAS_CARD if self._has_card(proposal_id) else Outcome.BUSY
        token = claim.token
        if claim.taken_over is not None:
            found = self._find_posted(proposal_id, claim)
            if found is None:
                # Slack cannot say whether the card is there: leave the claim to expire.
                return Outcome.FAILED
            if found:
                return self._record(proposal_id, found, adopted=True)
        return self._post(proposal_id, token)

    def _post(self, proposal_id: int, token: str) -> Outcome:
        try:
            with session_scope(self.engine) as session:
                summary = proposals.summary(session=session, proposal_id=proposal_id)
        except SQLAlchemyError as exc:
            log.warning("card of #%s not posted, the database failed: %s", proposal_id, exc)
            self._release(proposal_id, token, retry_at=utcnow() + RETRY_RATELIMITED_AFTER)
            return Outcome.FAILED
        text, card = blocks.proposal_card(summary, vote_emoji=self.vote_emoji)
        budget = channel_budget(self.channel)
        time.sleep(budget.take())
        try:
            posted = self.client.chat_postMessage(
                channel=self.channel,
                text=text,
                blocks=card,
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": EVENT_TYPE, "event_payload": {"proposal_id": proposal_id}},
            )
        except SlackApiError as exc:
            error = exc.response.get("error")
            if exc.response.status_code >= 500:
                # Slack's own failure: the message may have been posted all the same.
                log.warning(
                    "card of #%s: Slack failed (%s); checked again later", proposal_id, error
                )
                return Outcome.FAILED
            log.warning("Slack refused the card of #%s in %s: %s", proposal_id, self.channel, error)
            if error == "ratelimited":
                budget.pause(retry_after(exc.response.headers))
            wait = RETRY_RATELIMITED_AFTER if error == "ratelimited" else RETRY_REFUSED_AFTER
            self._release(proposal_id, token, retry_at=utcnow() + wait)
            return Outcome.FAILED
        except UNREACHABLE as exc:
            # It may have arrived: the claim expires and its taker looks in the channel first.
            log.warning(
                "card of #%s: Slack did not answer (%s); checked again later", proposal_id, exc
            )
            return Outcome.FAILED
        ts = str(posted["ts"])
        outcome = self._record(proposal_id, ts, adopted=False, channel=str(posted["channel"]))
        if outcome is Outcome.POSTED:
            self._redraw_if_changed(proposal_id, ts, text, card)
        return outcome

    def _record(
        self, proposal_id: int, ts: str, *, adopted: bool, channel: str | None = None
    ) -> Outcome:
        channel = channel or self.channel
        try:
            with session_scope(self.engine) as session:
                stored = repo.store_card(
                    session=session, proposal_id=proposal_id, channel_id=channel, message_ts=ts
                )
        except SQLAlchemyError as exc:
            # The card is in the channel; the claim expires and its taker adopts the card.
            log.error("card of #%s posted as %s but not recorded: %s", proposal_id, ts, exc)
            return Outcome.POSTED
        if not stored:
            # A slower claimant's card won the race to be recorded: remove this copy.
            if not adopted:
                self._delete(ts)
            return Outcome.HAS_CARD
        self._store_permalink(proposal_id, channel, ts)
        log.info("card of #%s %s as %s", proposal_id, "found" if adopted else "posted", ts)
        return Outcome.ADOPTED if adopted else Outcome.POSTED

    def _find_posted(self, proposal_id: int, claim: CardClaim) -> str | None:
        """The ts of a card an interrupted claimant posted, "" if there is none, None if Slack
        cannot tell."""
        since = (claim.taken_over_until or utcnow()) - self.claim_for - CLOCK_SKEW
        cursor: str | None = None
        try:
            for _ in range(HISTORY_PAGES):
                page = self.client.conversations_history(
                    channel=self.channel,
                    oldest=f"{since.timestamp():.6f}",
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
                for message in page.get("messages") or []:
                    if _is_card_of(message, proposal_id):
                        return str(message["ts"])
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not (page.get("has_more") and cursor):
                    return ""
        except SlackApiError as exc:
            log.warning(
                "cannot look for the card of #%s in %s: %s",
                proposal_id,
                self.channel,
                exc.response.get("error"),
            )
            return None
        except UNREACHABLE as exc:
            log.warning("cannot look for the card of #%s: %s", proposal_id, exc)
            return None
        log.warning("card of #%s: history too long to search; checked again later", proposal_id)
        return None

    def _has_card(self, proposal_id: int) -> bool:
        try:
            with session_scope(self.engine) as session:
                proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
                return bool(proposal and proposal.message_ts)
        except SQLAlchemyError:
            return False

    def _release(self, proposal_id: int, token: str, *, retry_at: datetime) -> None:
        try:
            with session_scope(self.engine) as session:
                repo.release_card_claim(
                    session=session, proposal_id=proposal_id, token=token, retry_at=retry_at
                )
        except SQLAlchemyError as exc:
            log.warning("claim on the card of #%s left to expire: %s", proposal_id, exc)

    def _store_permalink(self, proposal_id: int, channel: str, ts: str) -> None:
        try:
            permalink = self.client.chat_getPermalink(channel=channel, message_ts=ts).get(
                "permalink"
            )
            if permalink:
                with session_scope(self.engine) as session:
                    repo.store_card_permalink(
                        session=session, proposal_id=proposal_id, message_ts=ts, permalink=permalink
                    )
        except SlackApiError as exc:
            log.warning("no permalink for #%s: %s", proposal_id, exc.response.get("error"))
        except (*UNREACHABLE, SQLAlchemyError) as exc:
            log.warning("no permalink for #%s: %s", proposal_id, exc)

    def _redraw_if_changed(
        self, proposal_id: int, ts: str, text: str, card: list[dict[str, Any]]
    ) -> None:
        # A status change or an edit while the card was on its way would otherwise not show.
        try:
            with session_scope(self.engine) as session:
                summary = proposals.summary(session=session, proposal_id=proposal_id)
            now_text, now_card = blocks.proposal_card(summary, vote_emoji=self.vote_emoji)
            if (now_text, now_card) != (text, card):
                self.client.chat_update(channel=self.channel, ts=ts, text=now_text, blocks=now_card)
        except SlackApiError as exc:
            log.warning(
                "could not redraw the card of #%s: %s", proposal_id, exc.response.get("error")
            )
        except (*UNREACHABLE, SQLAlchemyError) as exc:
            log.warning("could not redraw the card of #%s: %s", proposal_id, exc)

    def _delete(self, ts: str) -> None:
        try:
            self.client.chat_delete(channel=self.channel, ts=ts)
        except SlackApiError as exc:
            log.warning("could not delete duplicate card %s: %s", ts, exc.response.get("error"))
        except UNREACHABLE as exc:
            log.warning("could not delete duplicate card %s: %s", ts, exc)

    def post_missing(
        self,
        *,
        statuses: Collection[str] = CARD_STATUSES,
        captured_only: bool = False,
        unchanged_since: datetime | None = None,
        respect_backoff: bool = True,
        pace: float = 1.0,
        limit: int | None = None,
        give_up_after: int = GIVE_UP_AFTER,
        stop: Callable[[], bool] = lambda: False,
        on_start: Callable[[int], None] | None = None,
        on_card: Callable[[int, Outcome, int, int], None] | None = None,
    ) -> Tally:
        """Post the cards these proposals lack, oldest first, one every `pace` seconds (Slack
        accepts about one message a second per channel); `stop()` ends the run between cards,
        and so do `give_up_after` failures in a row (Slack is down: the rest waits for the next
        run). `on_start(total)` and `on_card(proposal_id, outcome, done, total)` follow it."""
        tally = Tally()
        with session_scope(self.engine) as session:
            waiting = repo.proposals_missing_card(
                session=session,
                statuses=statuses,
                now=utcnow(),
                captured_only=captured_only,
                unchanged_since=unchanged_since,
                respect_backoff=respect_backoff,
                limit=limit,
            )
        if on_start is not None:
            on_start(len(waiting))
        last_post, failed_in_a_row = 0.0, 0
        for done, proposal_id in enumerate(waiting, start=1):
            if failed_in_a_row >= give_up_after:
                tally.remaining, tally.gave_up = len(waiting) - done + 1, True
                break
            if stop():
                tally.remaining = len(waiting) - done + 1
                break
            _sleep_until(last_post + pace, stop)
            if stop():
                tally.remaining = len(waiting) - done + 1
                break
            outcome = self.deliver(proposal_id, statuses=statuses, respect_backoff=respect_backoff)
            if outcome in (Outcome.POSTED, Outcome.FAILED):
                last_post = time.monotonic()
            failed_in_a_row = failed_in_a_row + 1 if outcome is Outcome.FAILED else 0
            tally.add(outcome)
            if on_card is not None:
                on_card(proposal_id, outcome, done, len(waiting))
        return tally


def card_queued(proposal: Proposal) -> bool:
    """Its card is still to be posted and no post of it has failed: it waits its turn (the
    channel's pace), or for the outbox's next run. A claimed card is being posted, or was left
    by a post whose fate Slack did not tell; a released claim keeps the time to try again."""
    return (
        proposal.status in CARD_STATUSES
        and not proposal.message_ts
        and proposal.card_claim is None
        and proposal.card_claimed_until is None
    )


_budgets: dict[str, Budget] = {}
_budgets_lock = threading.Lock()


def channel_budget(channel: str) -> Budget:
    """The card posts' budget of `channel`, shared by every outbox of this process."""
    with _budgets_lock:
        budget = _budgets.get(channel)
        if budget is None:
            budget = _budgets[channel] = Budget(per_s=POSTS_PER_S, burst=POST_BURST)
        return budget


def _is_card_of(message: dict[str, Any], proposal_id: int) -> bool:
    metadata = message.get("metadata") or {}
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return False
    payload = metadata.get("event_payload") or {}
    return isinstance(payload, dict) and str(payload.get("proposal_id")) == str(proposal_id)


def _sleep_until(moment: float, stop: Callable[[], bool]) -> None:
    # Short naps so that Ctrl-C ends the wait at once.
    while not stop():
        left = moment - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.1))
