"""The /improve slash command: the text is read by `bot.command_text`, answered here.

Every answer is the ack itself (ephemeral); cards and direct messages go out after it through
`deps.later`. Only `views.open` stays on the request path: its trigger expires in 3 seconds.
"""

from __future__ import annotations

import time
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks, cards, command_text, home, notify, objective_progress, proposals
from bot.blocks import objective_progress as progress_blocks
from bot.command_text import (
    AddObjective,
    Capture,
    History,
    ListObjectives,
    ListRegister,
    Merge,
    NotYet,
    OpenForm,
    Refused,
    SetStatus,
    Show,
    ShowHelp,
    ShowObjective,
    Top,
    Why,
    Withdraw,
)
from bot.deps import Deps
from bot.drafts import ProposalDraft
from bot.errors import CsiError
from bot.lifecycle import Status
from bot.middleware import payload
from bot.mrkdwn import escape
from bot.objectives import get as get_objective
from bot.payloads import SlashCommand
from bot.people import is_slack_user
from bot.similar_proposals import SimilarMatch
from bot.sla.services import known_names as known_services
from handlers import lifecycle
from handlers.replies import call_later, respond_now
from storage import repositories as repo
from storage.db import commit_group
from storage.types import utcnow


def register(app: App, deps: Deps) -> None:
    """Wire /improve."""
    steering = deps.steering
    vote_emoji = deps.settings.vote_emoji

    @app.command("/improve")
    def improve(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        # An unreadable body never gets here: the middleware refuses it (bot/middleware.py).
        slash = payload(context, SlashCommand)
        typed = command_text.as_typed(slash.text)
        command = command_text.parse(typed)
        match command:
            case OpenForm():
                open_form(ack, client, slash)
            case ShowHelp():
                ack(text=blocks.help_message(vote_emoji=vote_emoji))
            case ListObjectives():
                with deps.session() as session:
                    found = objective_progress.progress(
                        session=session,
                        objectives=repo.list_objectives(session=session),
                        now=utcnow(),
                        timezone=deps.settings.timezone,
                        with_verified=False,
                    )
                if found:
                    ack(text=progress_blocks.objectives_list(found))
                else:
                    ack(text=no_objectives(slash, None, proposing=False))
            case ShowObjective(objective_id=objective_id):
                show_objective(ack, objective_id)
            case ListRegister(filter=None):
                with deps.session() as session:  # the first 15, ranked by the database
                    top = home.ranked(
                        session=session, statuses=(Status.OPEN, Status.APPROVED), limit=15
                    )
                text = blocks.register_list(top.items, vote_emoji=vote_emoji, total=top.total)
                ack(text=text)
            case ListRegister(filter=wanted):
                list_filtered(ack, slash, wanted)
            case AddObjective(title=title):
                add_objective(ack, slash, title)
            case Merge(duplicate_id=duplicate_id, into_id=into_id):
                merge(ack, client, slash, duplicate_id, into_id)
            case Withdraw(proposal_id=proposal_id):
                withdraw(ack, client, slash, proposal_id)
            case Top(count=asked):
                with deps.session() as session:
                    ranked = proposals.ranked(session=session)
                ack(text=blocks.top_list(ranked, asked=asked, vote_emoji=vote_emoji))
            case Why(proposal_id=proposal_id):
                why(ack, proposal_id)
            case SetStatus():
                lifecycle.set_status(ack, client, deps, slash, command)
            case Show(proposal_id=proposal_id):
                lifecycle.show(ack, deps, proposal_id)
            case History(proposal_id=proposal_id):
                lifecycle.show_history(ack, deps, proposal_id)
            case Capture(title=title):
                capture_one_line(ack, slash, title)
            case NotYet():
                ack(text=blocks.command_not_yet(command, typed=typed))
            case Refused():
                ack(text=blocks.command_refused(command, typed=typed))

    def list_filtered(ack: Ack, slash: SlashCommand, wanted: str | None) -> None:
        try:
            with deps.session() as session:
                found = home.listing(session=session, word=wanted, viewer=slash.user_id)
        except home.UnknownObjective as unknown:
            ack(text=blocks.unknown_objective(unknown.name, unknown.candidates))
            return
        ack(text=blocks.register_listing(found, vote_emoji=vote_emoji))

    def no_objectives(slash: SlashCommand, title: str | None, *, proposing: bool = True) -> str:
        return blocks.no_objectives_yet(
            title=title,
            proposing=proposing,
            asker_is_steering=steering.is_member(slash.user_id),
            steering_members=deps.settings.steering_members,
            steering_usergroup=deps.settings.steering_usergroup,
        )

    def open_form(ack: Ack, client: WebClient, slash: SlashCommand) -> None:
        with deps.session() as session:
            objectives = repo.list_objectives(session=session)
            services = known_services(session=session)
        if not objectives:
            ack(text=no_objectives(slash, None))
            return
        ack()
        # After the ack: a rate-limited views.open (Retry-After) must not hold Slack's answer.
        call_later(
            deps,
            "the proposal form",
            client.views_open,
            trigger_id=slash.trigger_id,
            view=blocks.proposal_modal(objectives=objectives, services=services),
        )

    def merge(
        ack: Ack, client: WebClient, slash: SlashCommand, duplicate_id: int, into_id: int
    ) -> None:
        if not steering.is_member(slash.user_id):
            ack(text=blocks.error_text("Only the steering group can merge proposals."))
            return
        try:
            with deps.session() as session:
                duplicate = proposals.merge(
                    session=session,
                    duplicate_id=duplicate_id,
                    into_id=into_id,
                    actor=slash.user_id,
                )
                target = proposals.summary(session=session, proposal_id=into_id)
        except proposals.AlreadyMerged as exc:
            ack(text=blocks.already_merged(exc))
            return
        except CsiError as exc:
            ack(text=blocks.error_text(f"{escape(str(exc))} Nothing was changed."))
            return
        submitter = duplicate.submitter
        tell = is_slack_user(submitter) and submitter != slash.user_id
        ack(
            text=blocks.merge_done(
                duplicate,
                target,
                actor=slash.user_id,
                submitter_is_person=is_slack_user(submitter),
            )
        )
        for proposal_id in (duplicate_id, into_id):
            deps.later(cards.refresh_card, deps=deps, client=client, proposal_id=proposal_id)
        if tell:
            deps.later(
                notify.tell,
                client,
                submitter,
                blocks.merged_text(duplicate, target, to_submitter=True),
            )

    def withdraw(ack: Ack, client: WebClient, slash: SlashCommand, proposal_id: int) -> None:
        try:
            with deps.session() as session:
                proposal, changed = proposals.discard(
                    session=session, proposal_id=proposal_id, actor=slash.user_id
                )
        except CsiError as exc:
            ack(text=blocks.error_text(f"{escape(str(exc))} Nothing was changed."))
            return
        text, _ = blocks.proposal_withdrawn(proposal, already=not changed)
        ack(text=text)
        if changed:
            deps.later(cards.refresh_card, deps=deps, client=client, proposal_id=proposal_id)

    def why(ack: Ack, proposal_id: int) -> None:
        try:
            with deps.session() as session:
                summary = proposals.summary(session=session, proposal_id=proposal_id)
                ranked = proposals.ranked(session=session)
        except CsiError as exc:
            ack(text=blocks.error_text(escape(str(exc))))
            return
        places = [s.proposal.id for s in ranked]
        rank = places.index(proposal_id) + 1 if proposal_id in places else None
        ack(text=blocks.why_text(summary, rank=rank, ranked_count=len(ranked)))

    def show_objective(ack: Ack, objective_id: int) -> None:
        try:
            with deps.session() as session:
                objective = get_objective(session=session, objective_id=objective_id)
                found = objective_progress.one(
                    session=session,
                    objective=objective,
                    now=utcnow(),
                    timezone=deps.settings.timezone,
                )
        except CsiError as exc:
            ack(text=blocks.error_text(f"{exc} `/improve objectives` lists them."))
            return
        text, message = progress_blocks.objective_picture(found)
        ack(text=text, blocks=message, response_type="ephemeral")

    def add_objective(ack: Ack, slash: SlashCommand, title: str) -> None:
        if not steering.is_member(slash.user_id):
            ack(text=blocks.error_text("Only the steering group can add objectives."))
            return
        try:
            with deps.session() as session:
                objective = proposals.add_objective(
                    session=session, title=title, actor=slash.user_id
                )
        except CsiError as exc:
            ack(text=blocks.error_text(f"{escape(str(exc))} Nothing was saved."))
            return
        ack(text=blocks.objective_added(objective))

    def capture_one_line(ack: Ack, slash: SlashCommand, title: str) -> None:
        # A proposal must serve an objective: without any, storing it would only leave a
        # proposal nobody can complete (and a retry would store it twice).
        try:
            matches: list[SimilarMatch] = []
            searched = deps.similar.ready
            with deps.session() as session:
                objectives = repo.list_objectives(session=session)
                if objectives:
                    # Checked before the write, so that a refused title never holds up the
                    # others whose writes are committed with this one (storage/db.py).
                    draft = ProposalDraft(title=title)
                    active = {o.id for o in objectives if o.id is not None}
                    draft.validate(active_objective_ids=active, require_objective=False)
                    # Looked for before the write too (the new proposal is not in the index
                    # yet): on SQLite the file's one write lock is held for the writes alone.
                    # While the register is still being read into the index (just after start),
                    # the matches follow by response_url: the ack does not wait.
                    if searched:
                        matches = deps.similar.similar(session=session, title=draft.title)
            proposal = None
            if objectives:
                source_key = f"command:{slash.trigger_id}" if slash.trigger_id else None
                proposal, _ = commit_group(deps.engine, deps.session).run(
                    lambda session: proposals.capture(
                        session=session,
                        draft=draft,
                        submitter=slash.user_id,
                        source_key=source_key,
                        objective_ids=active,
                    )
                )
                # A copy of this request stored it before: it is no match of itself.
                matches = [m for m in matches if m.proposal.id != proposal.id]
        except CsiError as exc:
            ack(
                text=blocks.error_text(f"{escape(str(exc))} Nothing was saved.")
                + "\n"
                + blocks.TITLE_USAGE
            )
            return
        if proposal is None:
            ack(text=no_objectives(slash, title))
            return
        text, question = blocks.objective_question(
            proposal, objectives, matches=matches, vote_emoji=vote_emoji
        )
        ack(text=text, blocks=question, response_type="ephemeral")
        if not searched and slash.response_url:
            # Handed on once the index is complete: no background worker waits for it (they
            # post the cards and confirmations meanwhile).
            url, proposal_id, asked = slash.response_url, proposal.id or 0, time.monotonic()
            deps.similar.when_ready(
                lambda: deps.later(_matches_when_ready, deps, url, proposal_id, asked)
            )


# How long after a one-line capture made just after start the matches may still follow, once the
# index is complete (the proposal is stored either way).
MATCHES_WAIT_S = 120.0


def _matches_when_ready(deps: Deps, response_url: str, proposal_id: int, asked: float) -> None:
    """After the ack, once the index has read the register: redraw the objective question with
    the similar proposals, if there are any (not after MATCHES_WAIT_S: too late to help)."""
    if time.monotonic() - asked > MATCHES_WAIT_S:
        return
    with deps.session() as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        if proposal is None or proposal.status != Status.NEEDS_OBJECTIVE:
            return  # answered or withdrawn meanwhile: the question is gone
        matches = deps.similar.similar(session=session, title=proposal.title, exclude=[proposal_id])
        objectives = repo.list_objectives(session=session)
    if matches:
        text, question = blocks.objective_question(
            proposal, objectives, matches=matches, vote_emoji=deps.settings.vote_emoji
        )
        respond_now(response_url, text, blocks=question, replace_original=True)
