"""Modal submissions: the proposal form, and the choice it turns into when similar ones exist."""

from __future__ import annotations

import json
import secrets
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks, cards, notify, proposals, similar_proposals
from bot.deps import Deps
from bot.drafts import ProposalDraft
from bot.errors import CsiError, InvalidInput
from bot.ids import BlockId, CallbackId
from bot.modal_state import draft_from_state, selected_value
from storage import repositories as repo

FORM_BLOCKS = {b.value for b in BlockId}
DRAFT_FIELDS = (
    "title",
    "description",
    "outcome",
    "objective_id",
    "service",
    "benefit",
    "value",
    "effort",
    "kpi",
    "kpi_baseline",
    "kpi_target",
)


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
        raw = {name: getattr(draft, name) for name in DRAFT_FIELDS}
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
                    draft.validate(
                        active_objective_ids=proposals.active_objective_ids(session=session),
                        require_objective=True,
                    )
                    matches = deps.similar.similar(
                        session=session, title=draft.title, description=draft.description
                    )
                    if matches:
                        # Hold the form and ask: vote for one of these, or submit anyway?
                        key = secrets.token_urlsafe(16)
                        repo.save_pending_draft(
                            session=session,
                            key=key,
                            user_id=user_id,
                            draft=raw | {"view_id": view["id"]},
                        )
                        related = similar_proposals.related(
                            session=session,
                            service=draft.service,
                            objective_id=draft.objective_id,
                            exclude=[m.proposal.id or 0 for m in matches],
                        )
                        choice = blocks.similar_choice_view(
                            matches=matches,
                            related=related,
                            pending_key=key,
                            title=draft.title,
                            vote_emoji=vote_emoji,
                        )
                        ack(response_action="update", view=choice)
                        return
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

    @app.view(CallbackId.SIMILAR_CHOICE)
    def submit_choice(
        ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient
    ) -> None:
        user_id = body["user"]["id"]
        key = json.loads(view.get("private_metadata") or "{}").get("pending", "")
        choice = selected_value(view.get("state", {}).get("values", {}), BlockId.CHOICE) or ""
        with deps.session() as session:
            pending = repo.take_pending_draft(session=session, key=key)
            if pending is None or pending.user_id != user_id:
                # Already decided (a double click) or not theirs: nothing more to do.
                ack(response_action="clear")
                return
            stored = dict(pending.draft)
            view_id = stored.pop("view_id", view["id"])
            if choice.startswith("vote:") and choice[5:].isdigit():
                target = int(choice[5:])
                proposals.vote(session=session, proposal_id=target, user_id=user_id)
                summary = proposals.summary(session=session, proposal_id=target)
                created_id = None
            else:
                draft = ProposalDraft(**stored)
                try:
                    proposal, created = proposals.capture(
                        session=session,
                        draft=draft,
                        submitter=user_id,
                        source_key=f"view:{view_id}",
                        require_objective=True,
                    )
                except CsiError as exc:
                    # Keep the held form so that the author can still decide after fixing it.
                    repo.save_pending_draft(
                        session=session, key=key, user_id=user_id, draft=dict(pending.draft)
                    )
                    ack(response_action="errors", errors={BlockId.CHOICE: str(exc)})
                    return
                matches = deps.similar.similar(
                    session=session,
                    title=draft.title,
                    description=draft.description,
                    exclude=[proposal.id or 0],
                )
                for match in matches:
                    repo.link_related(
                        session=session,
                        proposal_id=proposal.id or 0,
                        related_id=match.proposal.id or 0,
                    )
                created_id = proposal.id if created else None
        ack(response_action="clear")
        if created_id is not None:
            notify_stored(deps, client, created_id, user_id)
        elif choice.startswith("vote:"):
            cards.refresh_card(deps=deps, client=client, proposal_id=summary.proposal.id or 0)
            notify.tell(client, user_id, blocks.vote_recorded(summary))


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
