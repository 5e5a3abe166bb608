"""Posting and refreshing a proposal's channel card: the one place cards reach Slack.

Both run after the ack (`deps.later`) and never raise: a card that cannot be posted now is
posted by the outbox later (`scheduler.jobs.post_missing_cards`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import blocks, decisions, notify, proposals
from bot.blocks import decisions as decision_blocks
from bot.deps import Deps
from bot.lifecycle import Status
from bot.notify import UNREACHABLE
from bot.outbox import Outbox, Outcome
from bot.slack_budget import retry_after
from storage import repositories as repo

log = logging.getLogger(__name__)

# When another thread or replica is posting the same card, wait this long to see it land.
WAIT_FOR_OTHER_POST = 3.0

# A card asked for by a handler: any status with an objective (the outbox is stricter).
_ASKED_STATUSES = frozenset(Status) - {Status.NEEDS_OBJECTIVE}


def outbox(deps: Deps, client: WebClient) -> Outbox:
    """The outbox of the configured proposals channel."""
    return Outbox(
        engine=deps.engine,
        client=client,
        channel=deps.settings.proposals_channel or "",
        vote_emoji=deps.settings.vote_emoji,
    )


def post_card(*, deps: Deps, client: WebClient, proposal_id: int) -> bool:
    """Post the card to the proposals channel once and remember where; True when the card is
    in the channel. A card posted before is redrawn instead, so an edited proposal shows its
    new fields. When Slack refuses or cannot be reached, the outbox tries again later.
    """
    if not deps.settings.proposals_channel:
        return False
    outcome = outbox(deps, client).deliver(proposal_id, statuses=_ASKED_STATUSES)
    if outcome is Outcome.HAS_CARD:
        refresh_card(deps=deps, client=client, proposal_id=proposal_id)
        return True
    if outcome is Outcome.BUSY:
        return _wait_for_card(deps, proposal_id)
    return outcome in (Outcome.POSTED, Outcome.ADOPTED)


# Redraws of one refresh when the card keeps changing under it (see `refresh_card`).
REFRESH_ROUNDS = 3


def refresh_card(*, deps: Deps, client: WebClient, proposal_id: int) -> None:
    """Redraw the card (after a status change), if it was posted. A vote redrawing the same card
    at the same time (bot.card_updates) may reach Slack after this one with what it read before:
    so the card is read again afterwards and redrawn while it differs from what was sent."""
    for _ in range(REFRESH_ROUNDS):
        drawn = redraw_card(deps=deps, client=client, proposal_id=proposal_id).drawn
        try:
            if drawn is None or drawn_as(card_content(deps=deps, proposal_id=proposal_id)) == drawn:
                return
        except SQLAlchemyError:
            return


# What a card shows: its fallback text and blocks (see `drawn_as`).
CardLook = tuple[str, list[Any]]


@dataclass(frozen=True)
class Redrawn:
    """What one redraw left in Slack."""

    drawn: CardLook | None = None  # the card as sent; None: nothing was sent
    retry_after: float | None = None  # Slack's rate limit: try again after this many seconds


def card_content(*, deps: Deps, proposal_id: int) -> tuple[str, str, str, list[Any]] | None:
    """The card as it should look now: (channel, ts, text, blocks); None when the proposal has
    no card. Raises SQLAlchemyError when the database fails."""
    with deps.session() as session:
        summary = proposals.summary(session=session, proposal_id=proposal_id)
        decision = decisions.last_decision(session=session, proposal_id=proposal_id)
    proposal = summary.proposal
    if not (proposal.channel_id and proposal.message_ts):
        return None
    text, card = blocks.proposal_card(
        summary, vote_emoji=deps.settings.vote_emoji, decision=decision
    )
    return proposal.channel_id, proposal.message_ts, text, card


def drawn_as(content: tuple[str, str, str, list[Any]] | None) -> CardLook | None:
    """What the card shows, to compare with what was sent: equal values, equal cards. Compared
    as they are (dicts equal whatever their key order): cheaper than serialising both."""
    return None if content is None else (content[2], content[3])


def redraw_card(*, deps: Deps, client: WebClient, proposal_id: int) -> Redrawn:
    """Redraw the card once with what the register holds now; never raises."""
    try:
        content = card_content(deps=deps, proposal_id=proposal_id)
    except SQLAlchemyError as exc:
        log.warning("card of #%s not redrawn, the database failed: %s", proposal_id, exc)
        return Redrawn()
    if content is None:
        return Redrawn()
    channel, ts, text, card = content
    try:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=card)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error == "ratelimited":
            wait = retry_after(exc.response.headers)
            log.info("card of #%s: Slack asks to wait %.0f s before redrawing", proposal_id, wait)
            return Redrawn(retry_after=wait)
        log.warning("could not update the card of #%s: %s", proposal_id, error)
        return Redrawn()
    except UNREACHABLE as exc:
        log.warning("could not update the card of #%s: %s", proposal_id, exc)
        return Redrawn()
    return Redrawn(drawn=drawn_as(content))


def announce(*, deps: Deps, client: WebClient, change: decisions.Change) -> None:
    """After a decision, a move or a new owner: redraw the card, reply in its thread, and for a
    decision tell the submitter and every voter, one direct message each."""
    proposal_id = change.proposal.id or 0
    redraw_card(deps=deps, client=client, proposal_id=proposal_id)
    reply_in_thread(
        deps=deps, client=client, proposal_id=proposal_id, text=decision_blocks.thread_reply(change)
    )
    if change.action == decisions.ASSIGN:
        if change.owner != change.actor:
            notify.tell(client, change.owner, decision_blocks.thread_reply(change))
        return
    if change.action != decisions.DECISION:
        return
    try:
        with deps.session() as session:
            voters = repo.voters(session=session, proposal_id=proposal_id)
    except SQLAlchemyError as exc:
        log.warning("voters of #%s not told, the database failed: %s", proposal_id, exc)
        voters = []
    submitter = change.proposal.submitter
    if submitter != change.actor:
        notify.tell(client, submitter, decision_blocks.decision_dm(change, to_submitter=True))
    for voter in sorted(set(voters) - {submitter, change.actor}):
        notify.tell(client, voter, decision_blocks.decision_dm(change, to_submitter=False))


def reply_in_thread(*, deps: Deps, client: WebClient, proposal_id: int, text: str) -> bool:
    """Post `text` in the card's thread; False (logged) when there is no card or Slack refuses."""
    try:
        with deps.session() as session:
            proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
    except SQLAlchemyError as exc:
        log.warning("no reply in the thread of #%s, the database failed: %s", proposal_id, exc)
        return False
    if proposal is None or not (proposal.channel_id and proposal.message_ts):
        return False
    try:
        client.chat_postMessage(
            channel=proposal.channel_id,
            thread_ts=proposal.message_ts,
            text=text,
            unfurl_links=False,
            unfurl_media=False,
        )
    except SlackApiError as exc:
        error = exc.response.get("error")
        log.warning("could not reply in the thread of #%s: %s", proposal_id, error)
        return False
    except UNREACHABLE as exc:
        log.warning("could not reply in the thread of #%s: %s", proposal_id, exc)
        return False
    return True


def _wait_for_card(deps: Deps, proposal_id: int) -> bool:
    deadline = time.monotonic() + WAIT_FOR_OTHER_POST
    while time.monotonic() < deadline:
        time.sleep(0.2)
        try:
            with deps.session() as session:
                proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
                if proposal is not None and proposal.message_ts:
                    return True
        except SQLAlchemyError:
            return False
    return False
