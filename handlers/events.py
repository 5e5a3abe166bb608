"""Events API: emoji votes on cards, and messages (thread replies)."""

from __future__ import annotations

from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot import cards, proposals
from bot.deps import Deps
from storage import repositories as repo


def register(app: App, deps: Deps) -> None:
    """Wire reactions and messages."""

    def on_reaction(event: dict[str, Any], client: WebClient, *, added: bool) -> None:
        item = event.get("item") or {}
        if event.get("reaction") != deps.settings.vote_emoji or item.get("type") != "message":
            return
        user_id = event.get("user")
        if not user_id:
            return
        with deps.session() as session:
            proposal = repo.proposal_by_card(
                session=session, channel_id=item.get("channel", ""), message_ts=item.get("ts", "")
            )
            if proposal is None or proposal.id is None:
                return
            if added:
                changed = proposals.vote(session=session, proposal_id=proposal.id, user_id=user_id)
            else:
                changed = proposals.unvote(
                    session=session, proposal_id=proposal.id, user_id=user_id
                )
        if changed:
            cards.refresh_card(deps=deps, client=client, proposal_id=proposal.id)

    @app.event("reaction_added")
    def reaction_added(event: dict[str, Any], client: WebClient) -> None:
        on_reaction(event, client, added=True)

    @app.event("reaction_removed")
    def reaction_removed(event: dict[str, Any], client: WebClient) -> None:
        on_reaction(event, client, added=False)

    @app.event("message")
    def message(event: dict[str, Any]) -> None:
        # Thread replies carry the steering group's decisions (a later capability); other
        # channel messages are acknowledged and left alone.
        return None
