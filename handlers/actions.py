"""Buttons and selects: the form's title look-up, the objective question of a one-line proposal,
"vote for #N instead", "add details" and "discard"."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks, cards, home_tab, payloads, proposals, similar_proposals, stale, votes
from bot.blocks.digest import improvement_form_values
from bot.blocks.stale import stale_done
from bot.blocks.votes import voted_instead
from bot.deps import Deps
from bot.errors import BadPayload, CsiError
from bot.ids import ActionId
from bot.lifecycle import Status, state_phrase
from bot.middleware import payload
from bot.modal_state import draft_from_state, initial_from_proposal, initial_from_state
from bot.payloads import BlockAction
from bot.sla.evaluation import evaluate
from bot.sla.services import known_names as known_services
from handlers import decisions as decision_handlers
from handlers import lifecycle
from handlers.replies import call_later, respond_later, respond_now
from storage import repositories as repo
from storage.types import utcnow

EDITABLE = frozenset({Status.NEEDS_OBJECTIVE, Status.OPEN})


def register(app: App, deps: Deps) -> None:
    """Wire the form's title look-up, the objective question, 'vote instead', details, discard."""
    vote_emoji = deps.settings.vote_emoji

    def refuse(click: BlockAction, message: str) -> None:
        respond_later(deps, click.response_url, blocks.error_text(message))

    @app.action(ActionId.TITLE)
    def title_entered(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        ack()
        view = payload(context, BlockAction).view
        if view is None:
            raise BadPayload(payloads.UNREADABLE_FORM)
        draft = draft_from_state(view.values)
        own = [view.meta.proposal_id] if view.meta.proposal_id else []
        with deps.session() as session:
            matches = deps.similar.similar(
                session=session,
                title=draft.title,
                description=draft.description,
                exclude=own,
                service=draft.service,
                objective_id=draft.objective_id,
            )
            related = similar_proposals.related(
                session=session,
                service=draft.service,
                objective_id=draft.objective_id,
                exclude=own + [m.proposal.id or 0 for m in matches],
            )
            objectives = repo.list_objectives(session=session)
            services = known_services(session=session)
        form = blocks.proposal_modal(
            objectives=objectives,
            services=services,
            initial=initial_from_state(view.values),
            proposal_id=view.meta.proposal_id,
            notice_blocks=blocks.similar_notice(matches, related, vote_emoji=vote_emoji),
        )
        # hash_conflict (the form changed meanwhile) is logged; the next Enter shows fresh matches.
        call_later(
            deps,
            "similar proposals not shown",
            client.views_update,
            view_id=view.id,
            hash=view.hash,
            view=form,
        )

    @app.action(re.compile(rf"^{ActionId.VOTE_INSTEAD}(:[0-9]+)?$"))
    def vote_instead(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        ack()
        click = payload(context, BlockAction)
        target, _, mine = (click.value or "").partition(":")
        try:
            in_favour_of = payloads.proposal_number(target)
            proposal_id = payloads.proposal_number(mine)
            with deps.session() as session:
                result = votes.vote_instead(
                    session=session,
                    proposal_id=proposal_id,
                    in_favour_of=in_favour_of,
                    actor=click.user_id,
                )
        except CsiError as exc:
            refuse(click, str(exc))
            return
        respond_later(deps, click.response_url, voted_instead(result), replace_original=True)
        if not result.already:
            for changed in (result.vote.summary.proposal.id, proposal_id):
                deps.later(cards.refresh_card, deps=deps, client=client, proposal_id=changed)

    @app.action(ActionId.CHOOSE_OBJECTIVE)
    def choose_objective(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        ack()
        click = payload(context, BlockAction)
        try:
            # The select sits in the block `objective:<proposal id>`.
            proposal_id = payloads.proposal_number(click.block_id.partition(":")[2])
            objective_id = payloads.proposal_number(click.selected, what="objective")
            with deps.session() as session:
                proposals.choose_objective(
                    session=session,
                    proposal_id=proposal_id,
                    objective_id=objective_id,
                    actor=click.user_id,
                )
        except CsiError as exc:
            refuse(click, str(exc))
            return
        deps.in_card_order(_post_and_confirm, deps, client, proposal_id, click.response_url)
        if click.view is not None and click.view.type == "home":  # chosen on the Home tab
            deps.later(home_tab.publish, deps, client, click.user_id)

    @app.action(ActionId.ADD_DETAILS)
    def add_details(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        ack()
        click = payload(context, BlockAction)
        try:
            proposal_id = payloads.proposal_number(click.value)
            with deps.session() as session:
                proposal = proposals.get(session=session, proposal_id=proposal_id)
                objectives = repo.list_objectives(session=session)
                services = known_services(session=session)
        except CsiError as exc:
            refuse(click, str(exc))
            return
        if proposal.submitter != click.user_id:
            refuse(click, f"Only the person who proposed #{proposal_id} can add details.")
            return
        if proposal.status not in EDITABLE:
            now = state_phrase(proposal.status, merged_into=proposal.merged_into_id)
            refuse(click, f"#{proposal_id} {now}, so it can no longer be changed.")
            return
        form = blocks.proposal_modal(
            objectives=objectives,
            services=services,
            initial=initial_from_proposal(proposal),
            proposal_id=proposal.id,
        )
        call_later(
            deps,
            "the details form did not open",
            client.views_open,
            trigger_id=click.trigger_id,
            view=form,
        )

    @app.action(ActionId.DISCARD)
    def discard(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        # Only the submitter may discard; a second click finds it withdrawn and confirms again.
        ack()
        click = payload(context, BlockAction)
        try:
            proposal_id = payloads.proposal_number(click.value)
            with deps.session() as session:
                proposal, changed = proposals.discard(
                    session=session, proposal_id=proposal_id, actor=click.user_id
                )
        except CsiError as exc:
            refuse(click, str(exc))
            return
        text, message = blocks.proposal_withdrawn(proposal, already=not changed)
        respond_later(deps, click.response_url, text, blocks=message, replace_original=True)
        if changed and proposal.message_ts:
            deps.later(cards.refresh_card, deps=deps, client=client, proposal_id=proposal_id)

    @app.action(ActionId.OPEN_PROPOSAL)
    def open_proposal(ack: Ack) -> None:
        # A link button: Slack opens the URL and tells the app; there is nothing to do.
        ack()

    @app.action(ActionId.PROPOSE_IMPROVEMENT)
    def propose_improvement(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        # The SLA digest's button: the button carries only the target's ID; the form's numbers
        # are read from the register after the ack.
        ack()
        click = payload(context, BlockAction)
        try:
            target_id = payloads.proposal_number(click.value, what="target")
        except CsiError as exc:
            refuse(click, str(exc))
            return
        deps.later(_open_improvement_form, deps, client, target_id, click)

    @app.action(ActionId.RECORD_BENEFIT)
    def record_benefit(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        # The benefit check's question to the owner: opens the small modal (handlers/lifecycle).
        click = payload(context, BlockAction)
        try:
            proposal_id = payloads.proposal_number(click.value)
        except CsiError as exc:
            ack()
            refuse(click, str(exc))
            return
        lifecycle.open_benefit_modal(ack, client, deps, click, proposal_id)

    # The card's Approve / Reject / Defer / Start work / Mark implemented / Reopen.
    decision_handlers.register_buttons(app, deps)
    # Stale work in the digest's thread: keep open, park (defer) or withdraw.
    _stale_buttons(app, deps)


def _post_and_confirm(
    deps: Deps, client: WebClient, proposal_id: int, response_url: str | None
) -> None:
    """After the ack: post the now open proposal's card, then replace the question with where
    it went."""
    cards.post_card(deps=deps, client=client, proposal_id=proposal_id)
    with deps.session() as session:
        summary = proposals.summary(session=session, proposal_id=proposal_id)
    text, message = blocks.objective_chosen(summary, channel_id=summary.proposal.channel_id)
    if response_url:
        respond_now(response_url, text, blocks=message, replace_original=True)


def _open_improvement_form(
    deps: Deps, client: WebClient, target_id: int, click: BlockAction
) -> None:
    """After the ack: the proposal form pre-filled with the target's service, KPI, the baseline
    measured over the latest period and the target."""
    with deps.session() as session:
        digest = evaluate(session=session, as_of=utcnow(), timezone=deps.settings.timezone)
        objectives = repo.list_objectives(session=session)
        services = known_services(session=session)
    result = next((r for r in digest.targets if r.target_id == target_id), None)
    if result is None or not objectives:
        if click.response_url:
            missing = f"There is no target #{target_id}."
            text = blocks.error_text(missing) if result is None else blocks.no_objectives_message()
            respond_now(click.response_url, text)
        return
    form = blocks.proposal_modal(
        objectives=objectives,
        services=services,
        initial=dict(improvement_form_values(result, digest)),
    )
    call_later(
        deps,
        "the improvement form did not open",
        client.views_open,
        trigger_id=click.trigger_id,
        view=form,
    )


def _stale_buttons(app: App, deps: Deps) -> None:
    """Keep / park / withdraw on the stale work listed in the digest's thread (steering only)."""
    weeks = deps.settings.stale_weeks

    @app.action(
        re.compile(rf"^({ActionId.STALE_KEEP}|{ActionId.STALE_PARK}|{ActionId.STALE_WITHDRAW})$")
    )
    def stale_choice(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        ack()
        click = payload(context, BlockAction)
        if not deps.steering.is_member(click.user_id):
            respond_later(
                deps,
                click.response_url,
                blocks.error_text("Only the steering group can keep, park or withdraw stale work."),
            )
            return
        try:
            proposal_id = payloads.proposal_number(click.value)
            with deps.session() as session:
                if click.action_id == ActionId.STALE_KEEP:
                    proposal = stale.keep(
                        session=session, proposal_id=proposal_id, actor=click.user_id, now=utcnow()
                    )
                    what = "kept open"
                elif click.action_id == ActionId.STALE_PARK:
                    proposal = stale.park(
                        session=session,
                        proposal_id=proposal_id,
                        actor=click.user_id,
                        weeks=weeks,
                        allow_self_decision=deps.settings.allow_self_decision,
                    ).proposal
                    what = "parked (deferred)"
                else:
                    proposal, _ = stale.withdraw(
                        session=session, proposal_id=proposal_id, actor=click.user_id, weeks=weeks
                    )
                    what = "withdrawn"
        except CsiError as exc:
            respond_later(deps, click.response_url, blocks.error_text(str(exc)))
            return
        respond_later(deps, click.response_url, stale_done(proposal, what, click.user_id))
        deps.later(cards.refresh_card, deps=deps, client=client, proposal_id=proposal_id)
