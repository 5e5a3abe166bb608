"""The steering group's decisions and the owner's next steps: the card's buttons, the reason
modal, and replies in the card's thread. Thin: read, call `bot.decisions`, answer after the ack.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import cards, decisions, payloads, thread_replies
from bot.blocks import decisions as decision_blocks
from bot.deps import Deps
from bot.errors import BadPayload, CsiError
from bot.ids import ActionId, CallbackId, DecisionBlockId
from bot.lifecycle import Status
from bot.middleware import payload
from bot.payloads import BlockAction, MessageEvent, ViewSubmission
from handlers.replies import call_later, respond_later
from storage import repositories as repo

log = logging.getLogger(__name__)

# Buttons that change the status at once: the decision or move each one makes.
_AT_ONCE = {
    ActionId.APPROVE: Status.APPROVED,
    ActionId.START_WORK: Status.IN_PROGRESS,
    ActionId.MARK_IMPLEMENTED: Status.IMPLEMENTED,
    ActionId.REOPEN: Status.OPEN,
}
# Buttons that first ask for a reason.
_WITH_REASON = {ActionId.REJECT: Status.REJECTED, ActionId.DEFER: Status.DEFERRED}
_MODALS = {CallbackId.REJECT_REASON: Status.REJECTED, CallbackId.DEFER_REASON: Status.DEFERRED}

# Subtypes of a message that a person wrote in a thread (others are edits, joins, bots...).
_PERSON_SUBTYPES = frozenset({None, "thread_broadcast"})


def register_buttons(app: App, deps: Deps) -> None:
    """Wire the card's Approve / Reject / Defer / Start work / Mark implemented / Reopen."""

    def refuse(click: BlockAction, error: CsiError) -> None:
        respond_later(deps, click.response_url, decision_blocks.refusal_text(error))

    def change_at_once(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        ack()
        click = payload(context, BlockAction)
        try:
            to = _AT_ONCE[ActionId(click.action_id)]
            proposal_id = payloads.proposal_number(click.value)
            with deps.session() as session:
                change = decisions.move(
                    session=session,
                    proposal_id=proposal_id,
                    to=to,
                    actor=click.user_id,
                    is_steering=deps.steering.is_member(click.user_id),
                    allow_self_decision=deps.settings.allow_self_decision,
                )
        except CsiError as error:
            refuse(click, error)
            return
        deps.later(cards.announce, deps=deps, client=client, change=change)

    def ask_reason(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        ack()
        click = payload(context, BlockAction)
        try:
            decision = _WITH_REASON[ActionId(click.action_id)]
            proposal_id = payloads.proposal_number(click.value)
            with deps.session() as session:
                proposal = decisions.check_decision(
                    session=session,
                    proposal_id=proposal_id,
                    decision=decision,
                    actor=click.user_id,
                    is_steering=deps.steering.is_member(click.user_id),
                    allow_self_decision=deps.settings.allow_self_decision,
                )
        except CsiError as error:
            refuse(click, error)
            return
        call_later(
            deps,
            "the reason form did not open",
            client.views_open,
            trigger_id=click.trigger_id,
            view=decision_blocks.reason_modal(proposal, decision),
        )

    for action in _AT_ONCE:
        app.action(action)(change_at_once)
    for action in _WITH_REASON:
        app.action(action)(ask_reason)


def register_modals(app: App, deps: Deps) -> None:
    """Wire the reason modal of Reject and Defer."""

    def submit_reason(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        submission = payload(context, ViewSubmission)
        view = submission.view
        try:
            decision = _MODALS[CallbackId(view.callback_id)]
            if view.meta.proposal_id is None:
                raise BadPayload(payloads.UNREADABLE_FORM)
            with deps.session() as session:
                change = decisions.decide(
                    session=session,
                    proposal_id=view.meta.proposal_id,
                    decision=decision,
                    actor=submission.user_id,
                    is_steering=deps.steering.is_member(submission.user_id),
                    reason=view.value(DecisionBlockId.REASON),
                    allow_self_decision=deps.settings.allow_self_decision,
                )
        except decisions.AlreadyDecided as error:
            # Said in the modal itself, where mentions and times read as in a message.
            ack(response_action="update", view=decision_blocks.refusal_view(error))
            return
        except CsiError as error:
            ack(response_action="errors", errors={DecisionBlockId.REASON: str(error)[:2000]})
            return
        ack()
        deps.later(cards.announce, deps=deps, client=client, change=change)

    for callback in _MODALS:
        app.view(callback)(submit_reason)


def on_thread_reply(deps: Deps, context: dict[str, Any], client: WebClient) -> None:
    """A message event: a steering word in a card's thread is applied once (the event's mark
    commits with the change, before Slack gets its 200); anything else is left alone."""
    message = payload(context, MessageEvent)
    if (
        message.bot_id
        or message.subtype not in _PERSON_SUBTYPES
        or not message.user_id
        or not message.thread_ts
        or message.thread_ts == message.ts
    ):
        return
    command = thread_replies.parse(message.text)
    if command is None:
        return
    with deps.session() as session:
        proposal = repo.proposal_by_card(
            session=session, channel_id=message.channel_id, message_ts=message.thread_ts
        )
        if proposal is None or proposal.id is None:
            return  # a thread under some other message
        if message.event_id and not repo.mark_event(session=session, event_id=message.event_id):
            log.info("ignoring repeated delivery of event %s", message.event_id)
            return
        try:
            change = _apply(deps, session, proposal.id, command, message.user_id)
        except CsiError as error:
            # The event stays marked as handled: a retry must not refuse twice.
            text = decision_blocks.refusal_text(error)
            call_later(
                deps,
                "refusal in the thread not shown",
                client.chat_postEphemeral,
                channel=message.channel_id,
                user=message.user_id,
                thread_ts=message.thread_ts,
                text=text,
            )
            return
    deps.later(cards.announce, deps=deps, client=client, change=change)


def _apply(
    deps: Deps, session: Any, proposal_id: int, command: thread_replies.ThreadCommand, user: str
) -> decisions.Change:
    is_steering = deps.steering.is_member(user)
    allow_self = deps.settings.allow_self_decision
    if isinstance(command, thread_replies.ThreadAssign):
        return decisions.assign(
            session=session,
            proposal_id=proposal_id,
            owner=command.owner,
            actor=user,
            is_steering=is_steering,
            allow_self_decision=allow_self,
        )
    return decisions.decide(
        session=session,
        proposal_id=proposal_id,
        decision=command.decision,
        actor=user,
        is_steering=is_steering,
        reason=command.reason,
        allow_self_decision=allow_self,
    )
