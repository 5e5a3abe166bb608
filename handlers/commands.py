"""The /improve slash command and its sub-commands."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks, cards, notify, proposals
from bot.deps import Deps
from bot.drafts import ProposalDraft
from bot.errors import CsiError, InvalidInput
from bot.mrkdwn import escape
from storage import repositories as repo


def register(app: App, deps: Deps) -> None:
    """Wire /improve."""
    steering = deps.steering

    @app.command("/improve")
    def improve(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        text = (command.get("text") or "").strip()
        word, _, rest = text.partition(" ")
        sub = word.lower()
        user_id = command["user_id"]
        if not text:
            open_form(ack, client, command["trigger_id"])
        elif sub == "help" and not rest:
            ack(text=blocks.help_message(vote_emoji=deps.settings.vote_emoji))
        elif sub == "objectives" and not rest:
            with deps.session() as session:
                objectives = repo.list_objectives(session=session)
            ack(text=blocks.objectives_list(objectives))
        elif sub == "list" and not rest:
            with deps.session() as session:
                ranked = proposals.ranked(session=session)
            ack(text=blocks.register_list(ranked, vote_emoji=deps.settings.vote_emoji))
        elif sub == "merge":
            merge(ack, client, user_id, rest)
        elif sub == "objective" and rest.lower().startswith("add "):
            add_objective(ack, user_id, rest[4:])
        else:
            capture_one_line(ack, user_id, text, command.get("trigger_id") or "")

    def open_form(ack: Ack, client: WebClient, trigger_id: str) -> None:
        with deps.session() as session:
            objectives = repo.list_objectives(session=session)
        if not objectives:
            ack(text=blocks.error_text(blocks.no_objectives_message()))
            return
        ack()
        client.views_open(trigger_id=trigger_id, view=blocks.proposal_modal(objectives=objectives))

    def merge(ack: Ack, client: WebClient, user_id: str, rest: str) -> None:
        numbers = [w.lstrip("#") for w in rest.split() if w.lower() != "into"]
        if len(numbers) != 2 or not all(n.isdigit() for n in numbers):
            ack(text=blocks.error_text("Usage: `/improve merge #DUPLICATE into #TARGET`."))
            return
        if not steering.is_member(user_id):
            ack(text=blocks.error_text("Only the steering group can merge proposals."))
            return
        duplicate_id, into_id = (int(n) for n in numbers)
        try:
            with deps.session() as session:
                duplicate = proposals.merge(
                    session=session, duplicate_id=duplicate_id, into_id=into_id, actor=user_id
                )
                target = proposals.summary(session=session, proposal_id=into_id)
        except CsiError as exc:
            ack(text=blocks.error_text(str(exc)))
            return
        ack(text=blocks.merged_text(duplicate, target))
        for proposal_id in (duplicate_id, into_id):
            cards.refresh_card(deps=deps, client=client, proposal_id=proposal_id)
        notify.tell(
            client, duplicate.submitter, blocks.merged_text(duplicate, target, to_submitter=True)
        )

    def add_objective(ack: Ack, user_id: str, title: str) -> None:
        if not steering.is_member(user_id):
            ack(text=blocks.error_text("Only the steering group can add objectives."))
            return
        try:
            with deps.session() as session:
                objective = proposals.add_objective(session=session, title=title, actor=user_id)
        except CsiError as exc:
            ack(text=blocks.error_text(str(exc)))
            return
        ack(text=f":dart: Objective *{escape(objective.title)}* added.")

    def capture_one_line(ack: Ack, user_id: str, title: str, trigger_id: str) -> None:
        try:
            with deps.session() as session:
                proposal, _ = proposals.capture(
                    session=session,
                    draft=ProposalDraft(title=title),
                    submitter=user_id,
                    source_key=f"command:{trigger_id}" if trigger_id else None,
                )
                objectives = repo.list_objectives(session=session)
                matches = deps.similar.similar(
                    session=session, title=proposal.title, exclude=[proposal.id or 0]
                )
        except InvalidInput as exc:
            ack(text=blocks.error_text(str(exc)) + "\nNothing was saved. Try `/improve help`.")
            return
        text, question = blocks.objective_question(
            proposal, objectives, matches=matches, vote_emoji=deps.settings.vote_emoji
        )
        ack(text=text, blocks=question, response_type="ephemeral")
