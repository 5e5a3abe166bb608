"""Events API: emoji votes on cards, and messages (thread replies)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks, card_updates, vote_writer
from bot import poll_posting as polls
from bot.deps import Deps
from bot.middleware import payload
from bot.notify import UNREACHABLE
from bot.payloads import ReactionEvent
from handlers import decisions as decision_handlers

log = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    """Wire reactions and messages."""

    # Reaction events usually take the HTTP edge's shorter way to `on_reaction` (see
    # bot/reaction_path.py); these listeners serve Socket Mode and the first events after start.
    @app.event("reaction_added")
    def reaction_added(context: dict[str, Any], client: WebClient) -> None:
        on_reaction(deps, client, payload(context, ReactionEvent))

    @app.event("reaction_removed")
    def reaction_removed(context: dict[str, Any], client: WebClient) -> None:
        on_reaction(deps, client, payload(context, ReactionEvent))

    @app.event("message")
    def message(context: dict[str, Any], client: WebClient) -> None:
        # A steering word in a card's thread is a decision (handlers/decisions); other
        # messages, edits and bots' messages are acknowledged and left alone.
        decision_handlers.on_thread_reply(deps, context, client)


def on_reaction(deps: Deps, client: WebClient, reaction: ReactionEvent) -> None:
    """A reaction, before its ack: a vote emoji on a card is stored (raises when it could not
    be); the card's redraw and any message to the person go out after the ack."""
    if reaction.item_type != "message":
        return
    if not deps.settings.is_vote(reaction.reaction):
        _on_other_reaction(deps, client, reaction)
        return
    # Only the vote and the event's mark are written before the 200; the card and any
    # message go out after it, and a burst of votes redraws the card a few times only.
    outcome = vote_writer.for_engine(deps.engine).apply(
        vote_writer.Reaction(
            channel_id=reaction.channel_id,
            message_ts=reaction.message_ts,
            user_id=reaction.user_id,
            added=reaction.added,
            event_id=reaction.event_id,
        )
    )
    if outcome.proposal_id is None:
        _on_other_reaction(deps, client, reaction)
        return
    if outcome.changed:
        card_updates.request(deps=deps, client=client, proposal_id=outcome.proposal_id)
    if outcome.refused is not None:
        deps.later(
            _whisper,
            client,
            channel_id=reaction.channel_id,
            user_id=reaction.user_id,
            text=blocks.reaction_not_counted(outcome.refused, vote_emoji=deps.settings.vote_emoji),
        )


def _on_other_reaction(deps: Deps, client: WebClient, reaction: ReactionEvent) -> None:
    # A reaction on a prioritisation poll: poll votes are counted from Slack itself when the
    # poll closes (reactions.get), so nothing is written here; someone outside the steering
    # group is told, once, after the ack, that theirs does not count.
    if reaction.added and reaction.channel_id == deps.settings.steering_channel:
        deps.later(
            polls.tell_non_member,
            deps=deps,
            client=client,
            channel_id=reaction.channel_id,
            message_ts=reaction.message_ts,
            user_id=reaction.user_id,
        )


def _whisper(client: WebClient, *, channel_id: str, user_id: str, text: str) -> None:
    # An ephemeral message in the card's channel: seen by that person only, beside the card.
    try:
        client.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
    except SlackApiError as exc:
        log.warning("could not tell %s in %s: %s", user_id, channel_id, exc.response.get("error"))
    except UNREACHABLE as exc:
        log.warning("could not tell %s in %s: %s", user_id, channel_id, exc)
