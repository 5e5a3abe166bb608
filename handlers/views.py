"""Modal submissions: the proposal form, and the choice it turns into when similar ones exist."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks, cards, held_forms, notify, proposals
from bot.deps import Deps
from bot.errors import CsiError, InvalidInput
from bot.ids import BlockId, CallbackId
from bot.modal_state import draft_from_state, selected_value

FORM_BLOCKS = {b.value for b in BlockId}


def modal_errors(exc: CsiError) -> dict[str, str]:
    """Errors keyed by the modal's block IDs; anything else is shown under the title."""
    fields = exc.errors if isinstance(exc, InvalidInput) else {"title": str(exc)}
    errors: dict[str, str] = {}
    for name, message in fields.items():
        block = name if name in FORM_BLOCKS else BlockId.TITLE
        errors[block] = (errors[block] + " " + message) if block in errors else message
    return errors


def register(app: App, deps: Deps) -> None:
    """Wire the proposal form and the similar-proposal choice."""
    vote_emoji = deps.settings.vote_emoji

    @app.view(CallbackId.PROPOSAL)
    def submit_proposal(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        user_id = body["user"]["id"]
        draft = draft_from_state(view.get("state", {}).get("values", {}))
        meta = json.loads(view.get("private_metadata") or "{}")
        try:
            with deps.session() as session:
                if meta.get("proposal_id"):
                    proposal = proposals.update_details(
                        session=session,
                        proposal_id=int(meta["proposal_id"]),
                        draft=draft,
                        actor=user_id,
                    )
                    outcome: held_forms.Held | held_forms.Stored = held_forms.Stored(
                        proposal=proposal, created=True
                    )
                else:
                    outcome = held_forms.submit(
                        session=session,
                        similar=deps.similar,
                        draft=draft,
                        submitter=user_id,
                        source_key=f"view:{view['id']}",
                    )
        except CsiError as exc:
            ack(response_action="errors", errors=modal_errors(exc))
            return
        if isinstance(outcome, held_forms.Held):
            ack(
                response_action="update",
                view=blocks.similar_choice_view(
                    matches=outcome.matches,
                    related=outcome.related,
                    pending_key=outcome.key,
                    title=draft.title,
                    vote_emoji=vote_emoji,
                ),
            )
            return
        ack()
        if outcome.created and outcome.proposal.id is not None:
            # A repeated delivery of the same submission was stored once and is announced once.
            notify_stored(deps, client, outcome.proposal.id, user_id)

    @app.view(CallbackId.SIMILAR_CHOICE)
    def submit_choice(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        user_id = body["user"]["id"]
        key = json.loads(view.get("private_metadata") or "{}").get("pending", "")
        choice = selected_value(view.get("state", {}).get("values", {}), BlockId.CHOICE) or ""
        vote_for = int(choice[5:]) if choice.startswith("vote:") and choice[5:].isdigit() else None
        try:
            with deps.session() as session:
                outcome = held_forms.decide(
                    session=session,
                    similar=deps.similar,
                    key=key,
                    user_id=user_id,
                    vote_for=vote_for,
                )
        except CsiError as exc:
            ack(response_action="errors", errors={BlockId.CHOICE: str(exc)})
            return
        ack(response_action="clear")
        if isinstance(outcome, held_forms.Stored) and outcome.created:
            notify_stored(deps, client, outcome.proposal.id or 0, user_id)
        elif isinstance(outcome, held_forms.Voted):
            cards.refresh_card(
                deps=deps, client=client, proposal_id=outcome.summary.proposal.id or 0
            )
            notify.tell(client, user_id, blocks.vote_recorded(outcome.summary))


def notify_stored(deps: Deps, client: WebClient, proposal_id: int, user_id: str) -> None:
    """Post the card and tell the submitter where their proposal is."""
    posted = cards.post_card(deps=deps, client=client, proposal_id=proposal_id)
    with deps.session() as session:
        summary = proposals.summary(session=session, proposal_id=proposal_id)
    channel = deps.settings.proposals_channel or ""
    notify.tell(
        client,
        user_id,
        blocks.proposal_stored(summary, card_posted=posted, channel_id=channel),
    )
