"""Events API: emoji votes on cards, and messages (thread replies)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot import cards, proposals
from bot.deps import Deps
from bot.middleware import payload
from bot.payloads import MessageEvent, ReactionEvent
from storage import repositories as repo

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    """Wire reactions and messages."""

    def on_reaction(context: dict[str, Any], client: WebClient) -> None:
        reaction = payload(context, ReactionEvent)
        if reaction.item_type != "message" or not deps.settings.is_vote(reaction.reaction):
            return
        with deps.session() as session:
            proposal = repo.proposal_by_card(
                session=session, channel_id=reaction.channel_id, message_ts=reaction.message_ts
            )
            if proposal is None or proposal.id is None:
                return
            # The mark that this event was handled commits with the vote, or not at all: when
            # the vote cannot be written, Slack's retry of the same event applies it.
            if reaction.event_id and not repo.claim_event(
                session=session, event_id=reaction.event_id
            ):
                log.info("ignoring repeated delivery of event %s", reaction.event_id)
                return
            if reaction.added:
                changed = proposals.vote(
                    session=session, proposal_id=proposal.id, user_id=reaction.user_id
                )
            else:
                changed = proposals.unvote(
                    session=session, proposal_id=proposal.id, user_id=reaction.user_id
                )
        if changed:
            deps.later(cards.refresh_card, deps=deps, client=client, proposal_id=proposal.id)

    @app.event("reaction_added")
    def reaction_added(context: dict[str, Any], client: WebClient) -> None:
        on_reaction(context, client)

    @app.event("reaction_removed")
    def reaction_removed(context: dict[str, Any], client: WebClient) -> None:
        on_reaction(context, client)

    @app.event("message")
    def message(context: dict[str, Any]) -> None:
        # Thread replies carry the steering group's decisions (a later capability); other
        # channel messages are acknowledged and left alone.
        payload(context, MessageEvent)
