"""Buttons and selects in messages: the objective question of a one-line proposal."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from slack_bolt import Ack, App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import blocks, cards, payloads, proposals, similar_proposals
from bot.deps import Deps
from bot.errors import CsiError
from bot.ids import ActionId
from bot.modal_state import draft_from_state, initial_from_proposal, initial_from_state
from storage import repositories as repo

log = logging.getLogger(__name__)


def _proposal_id(action: dict[str, Any]) -> int | None:
    """The proposal an action is about: its button value, or the `objective:<id>` block."""
    raw = action.get("value") or action.get("block_id", "").partition(":")[2]
    return int(raw) if str(raw).isdigit() else None


def register(app: App, deps: Deps) -> None:
    """Wire the form's title look-up, the objective question and 'vote instead'."""
    vote_emoji = deps.settings.vote_emoji

    @app.action(ActionId.TITLE)
    def title_entered(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        view = body["view"]
        state = view.get("state", {}).get("values", {})
        draft = draft_from_state(state)
        meta = json.loads(view.get("private_metadata") or "{}")
        own = [int(meta["proposal_id"])] if meta.get("proposal_id") else []
        with deps.session() as session:
            matches = deps.similar.similar(
                session=session, title=draft.title, description=draft.description, exclude=own
            )
            related = similar_proposals.related(
                session=session,
                service=draft.service,
                objective_id=draft.objective_id,
                exclude=own + [m.proposal.id or 0 for m in matches],
            )
            objectives = repo.list_objectives(session=session)
        form = blocks.proposal_modal(
            objectives=objectives,
            initial=initial_from_state(state),
            proposal_id=meta.get("proposal_id"),
            notice_blocks=blocks.similar_notice(matches, related, vote_emoji=vote_emoji),
        )
        try:
            client.views_update(view_id=view["id"], hash=view.get("hash"), view=form)
        except SlackApiError as exc:
            # hash_conflict: the form changed meanwhile; the next Enter shows fresh matches.
            log.info("similar proposals not shown: %s", exc.response.get("error"))

    @app.action(re.compile(rf"^{ActionId.VOTE_INSTEAD}(:\d+)?$"))
    def vote_instead(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        user_id = body["user"]["id"]
        target, _, mine = str(action.get("value", "")).partition(":")
        if not (target.isdigit() and mine.isdigit()):
            return
        try:
            with deps.session() as session:
                proposals.withdraw_for(
                    session=session, proposal_id=int(mine), in_favour_of=int(target), actor=user_id
                )
                proposals.vote(session=session, proposal_id=int(target), user_id=user_id)
                summary = proposals.summary(session=session, proposal_id=int(target))
        except CsiError as exc:
            respond(
                text=blocks.error_text(str(exc)), replace_original=False, response_type="ephemeral"
            )
            return
        cards.refresh_card(deps=deps, client=client, proposal_id=int(target))
        respond(
            text=blocks.vote_recorded(summary), replace_original=True, response_type="ephemeral"
        )

    @app.action(ActionId.CHOOSE_OBJECTIVE)
    def choose_objective(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        user_id = body["user"]["id"]
        proposal_id = _proposal_id(action)
        chosen = (action.get("selected_option") or {}).get("value", "")
        if proposal_id is None or not chosen.isdigit():
            respond(
                text=blocks.error_text("That choice could not be read; try again."),
                replace_original=False,
                response_type="ephemeral",
            )
            return
        try:
            with deps.session() as session:
                proposals.choose_objective(
                    session=session,
                    proposal_id=proposal_id,
                    objective_id=int(chosen),
                    actor=user_id,
                )
        except CsiError as exc:
            respond(
                text=blocks.error_text(str(exc)), replace_original=False, response_type="ephemeral"
            )
            return
        cards.post_card(deps=deps, client=client, proposal_id=proposal_id)
        with deps.session() as session:
            summary = proposals.summary(session=session, proposal_id=proposal_id)
        text, message = blocks.objective_chosen(summary, channel_id=summary.proposal.channel_id)
        respond(text=text, blocks=message, replace_original=True, response_type="ephemeral")

    @app.action(ActionId.ADD_DETAILS)
    def add_details(
        ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, respond: Respond
    ) -> None:
        ack()
        proposal_id = _proposal_id(action)
        with deps.session() as session:
            proposal = (
                repo.get_proposal(session=session, proposal_id=proposal_id) if proposal_id else None
            )
            objectives = repo.list_objectives(session=session)
        if proposal is None or proposal.submitter != body["user"]["id"]:
            respond(
                text=blocks.error_text("Only the person who proposed it can add details."),
                replace_original=False,
                response_type="ephemeral",
            )
            return
        client.views_open(
            trigger_id=body["trigger_id"],
            view=blocks.proposal_modal(
                objectives=objectives,
                initial=initial_from_proposal(proposal),
                proposal_id=proposal.id,
            ),
        )

    @app.action(ActionId.DISCARD)
    def discard(ack: Ack, body: dict[str, Any], client: WebClient, respond: Respond) -> None:
        # Only the submitter may discard; a second click finds it withdrawn and confirms again.
        ack()
        try:
            click = payloads.parse_block_action(body)
            proposal_id = payloads.proposal_number(click.value)
            with deps.session() as session:
                proposal, changed = proposals.discard(
                    session=session, proposal_id=proposal_id, actor=click.user_id
                )
        except CsiError as exc:
            deps.later(
                respond,
                text=blocks.error_text(str(exc)),
                replace_original=False,
                response_type="ephemeral",
            )
            return
        text, message = blocks.proposal_withdrawn(proposal, already=not changed)
        deps.later(
            respond, text=text, blocks=message, replace_original=True, response_type="ephemeral"
        )
        if changed and proposal.message_ts:
            deps.later(cards.refresh_card, deps=deps, client=client, proposal_id=proposal_id)
