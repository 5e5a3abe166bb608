"""`/improve status`, `/improve show`, `/improve history` (wired by `handlers.commands`), and the
benefit check's button and modal (wired by `handlers.actions` and `handlers.views`).

Each answers from the request (the ack, or the modal's own answer); the card, the thread and
direct messages follow through `deps.later`.
"""

from __future__ import annotations

from slack_bolt import Ack
from slack_sdk import WebClient

from bot import benefit, cards, decisions, history, proposals
from bot.blocks import lifecycle as views
from bot.blocks.decisions import refusal_text
from bot.blocks.kit import error_text
from bot.blocks.messages import proposal_card
from bot.command_text import SetStatus
from bot.deps import Deps
from bot.errors import CsiError, InvalidInput, PermissionDenied
from bot.ids import BenefitBlockId
from bot.payloads import BlockAction, SlashCommand, ViewSubmission
from handlers.replies import call_later, respond_later
from storage import repositories as repo


def set_status(
    ack: Ack, client: WebClient, deps: Deps, slash: SlashCommand, cmd: SetStatus
) -> None:
    """`/improve status <id> <status>`: the move, or why not and what is possible instead."""
    if cmd.status is None:
        ack(text=views.status_unknown(cmd.typed, cmd.proposal_id))
        return
    try:
        with deps.session() as session:
            change = decisions.move(
                session=session,
                proposal_id=cmd.proposal_id,
                to=cmd.status,
                actor=slash.user_id,
                is_steering=deps.steering.is_member(slash.user_id),
                allow_self_decision=deps.settings.allow_self_decision,
            )
    except PermissionDenied as exc:
        ack(text=refusal_text(exc))
        return
    except CsiError as exc:
        with deps.session() as session:
            proposal = repo.get_proposal(session=session, proposal_id=cmd.proposal_id)
        refusal = refusal_text(exc)
        if isinstance(exc, decisions.AlreadyDecided) and exc.status != cmd.status:
            # Not a race lost: the move is not one the present status allows.
            refusal = views.cannot_move(cmd.proposal_id, exc.status, cmd.status)
        ack(text=views.status_refused(proposal, refusal))
        return
    ack(text=views.status_moved(change))
    deps.later(cards.announce, deps=deps, client=client, change=change)


def show(ack: Ack, deps: Deps, proposal_id: int) -> None:
    """`/improve show <id>`."""
    try:
        with deps.session() as session:
            summary = proposals.summary(session=session, proposal_id=proposal_id)
            entries = history.entries(session=session, proposal_id=proposal_id)
    except CsiError as exc:
        ack(text=error_text(str(exc)))
        return
    _, card = proposal_card(summary, vote_emoji=deps.settings.vote_emoji)
    text, message = views.show_message(summary, entries, card=card)
    ack(text=text, blocks=message, response_type="ephemeral")


def show_history(ack: Ack, deps: Deps, proposal_id: int) -> None:
    """`/improve history <id>`."""
    try:
        with deps.session() as session:
            proposal = proposals.get(session=session, proposal_id=proposal_id)
            entries = history.entries(session=session, proposal_id=proposal_id)
    except CsiError as exc:
        ack(text=error_text(str(exc)))
        return
    text, message = views.history_message(proposal, entries)
    ack(text=text, blocks=message, response_type="ephemeral")


# ---- the benefit check -------------------------------------------------------------------------


def open_benefit_modal(
    ack: Ack, client: WebClient, deps: Deps, click: BlockAction, proposal_id: int
) -> None:
    """The owner's "Record the result" button: the modal, or why not."""
    ack()
    try:
        with deps.session() as session:
            proposal = benefit.question_for(
                session=session, proposal_id=proposal_id, actor=click.user_id
            )
    except CsiError as exc:
        respond_later(deps, click.response_url, error_text(_message(exc)))
        return
    call_later(
        deps,
        "the benefit form did not open",
        client.views_open,
        trigger_id=click.trigger_id,
        view=views.benefit_modal(proposal),
    )


def submit_benefit(ack: Ack, client: WebClient, deps: Deps, submission: ViewSubmission) -> None:
    """The benefit modal: the answer is checked and recorded on the request, so that a wrong
    value is shown in the modal; the report in the thread and the card follow after the ack."""
    view = submission.view
    days = deps.settings.benefit_check_days
    try:
        proposal_id = view.meta.proposal_id
        if proposal_id is None:
            raise InvalidInput(
                {BenefitBlockId.MEASURED: "This form cannot be read; open it again."}
            )
        value: float | None = None
        realised: bool | None = None
        with deps.session() as session:
            proposal = proposals.get(session=session, proposal_id=proposal_id)
            if benefit.has_measure(proposal):
                value = benefit.parse_value(view.value(BenefitBlockId.MEASURED))
            else:
                realised = _yes_no(view.value(BenefitBlockId.REALISED))
            answer = benefit.record(
                session=session,
                proposal_id=proposal_id,
                actor=submission.user_id,
                value=value,
                realised=realised,
            )
    except CsiError as exc:
        # The error goes under the modal's one input: the value, or the yes/no.
        block = (
            BenefitBlockId.REALISED
            if BenefitBlockId.REALISED in view.values
            else BenefitBlockId.MEASURED
        )
        ack(response_action="errors", errors={block: _message(exc)})
        return
    ack(response_action="update", view=views.benefit_recorded_view(answer, days=days))
    if answer.already:
        return
    deps.later(_report, deps, client, answer)


def _report(deps: Deps, client: WebClient, answer: benefit.Answer) -> None:
    """After the ack: the report in the card's thread, and the card's new status."""
    proposal_id = answer.proposal.id or 0
    text = views.benefit_report(answer, days=deps.settings.benefit_check_days)
    cards.reply_in_thread(deps=deps, client=client, proposal_id=proposal_id, text=text)
    cards.refresh_card(deps=deps, client=client, proposal_id=proposal_id)


def _yes_no(raw: str | None) -> bool:
    if raw == "yes":
        return True
    if raw == "no":
        return False
    raise InvalidInput({BenefitBlockId.REALISED: "Choose yes or not yet."})


def _message(exc: CsiError) -> str:
    # A modal error shows one line per field; the field's own words, not all of them joined.
    if isinstance(exc, InvalidInput) and exc.errors:
        return next(iter(exc.errors.values()))
    return str(exc)
