"""Modal submissions."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks, cards, proposals
from bot.deps import Deps
from bot.errors import CsiError, InvalidInput
from bot.ids import BlockId, CallbackId
from bot.modal_state import draft_from_state

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
    """Wire the proposal modal's submission."""

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
                    created = True
                else:
                    proposal, created = proposals.capture(
                        session=session,
                        draft=draft,
                        submitter=user_id,
                        source_key=f"view:{view['id']}",
                        require_objective=True,
                    )
        except CsiError as exc:
            ack(response_action="errors", errors=modal_errors(exc))
            return
        ack()
        if created and proposal.id is not None:
            # A repeated delivery of the same submission was stored once and is announced once.
            notify_stored(deps, client, proposal.id, user_id)


def notify_stored(deps: Deps, client: WebClient, proposal_id: int, user_id: str) -> None:
    """Post the card and tell the submitter where their proposal is."""
    posted = cards.post_card(deps=deps, client=client, proposal_id=proposal_id)
    with deps.session() as session:
        summary = proposals.summary(session=session, proposal_id=proposal_id)
    channel = deps.settings.proposals_channel or ""
    client.chat_postMessage(
        channel=user_id,
        text=blocks.proposal_stored(summary, card_posted=posted, channel_id=channel),
    )
