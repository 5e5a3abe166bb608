"""Posting and refreshing a proposal's channel card: the one place cards reach Slack.

Both run after the ack (`deps.later`) and never raise: a card that cannot be posted now is
posted by the outbox later (`scheduler.jobs.post_missing_cards`).
"""

from __future__ import annotations

import logging
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import blocks, proposals
from bot.deps import Deps
from bot.lifecycle import Status
from bot.notify import UNREACHABLE
from bot.outbox import Outbox, Outcome
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


def refresh_card(*, deps: Deps, client: WebClient, proposal_id: int) -> None:
    """Redraw the card (after a vote or a status change), if it was posted."""
    try:
        with deps.session() as session:
            summary = proposals.summary(session=session, proposal_id=proposal_id)
    except SQLAlchemyError as exc:
        log.warning("card of #%s not redrawn, the database failed: %s", proposal_id, exc)
        return
    proposal = summary.proposal
    if not (proposal.channel_id and proposal.message_ts):
        return
    text, card = blocks.proposal_card(summary, vote_emoji=deps.settings.vote_emoji)
    try:
        client.chat_update(
            channel=proposal.channel_id, ts=proposal.message_ts, text=text, blocks=card
        )
    except SlackApiError as exc:
        log.warning("could not update the card of #%s: %s", proposal_id, exc.response.get("error"))
    except UNREACHABLE as exc:
        log.warning("could not update the card of #%s: %s", proposal_id, exc)


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
