"""The App Home tab: published when opened; its buttons (propose, new objective, edit or retire
an objective) and the steering group's objective modal.

Only the steering group may change objectives: the buttons, the modal's submission and any
crafted request are checked here, on the server, whatever the Home tab showed.
"""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot import blocks, home_tab, notify, objectives, payloads
from bot.blocks.objectives import (
    RETIRE,
    notice_view,
    objective_modal,
    objective_retired,
    objective_saved,
    retire_notices,
)
from bot.deps import Deps
from bot.errors import CsiError, InvalidInput
from bot.ids import ActionId, CallbackId, ObjectiveBlockId
from bot.middleware import payload
from bot.mrkdwn import escape
from bot.payloads import BlockAction, HomeOpened, ModalView, ViewSubmission
from bot.sla import targets as sla_targets
from bot.sla.services import known_names as known_services
from handlers.replies import call_later
from storage import repositories as repo
from storage.models import Objective

STEERING_ONLY = "Only the steering group can add, edit or retire objectives."
_WEIGHT = re.compile(r"[0-9]{1,3}(\.[0-9]{1,6})?")


def register(app: App, deps: Deps) -> None:
    """Publish the viewer's home when they open it; wire its buttons and the objective modal."""

    def show(client: WebClient, trigger_id: str, view: dict[str, Any], what: str) -> None:
        call_later(deps, what, client.views_open, trigger_id=trigger_id, view=view)

    def refuse(client: WebClient, click: BlockAction, text: str) -> None:
        show(client, click.trigger_id, notice_view("Not allowed", text), "refusal not shown")

    @app.event("app_home_opened")
    def home_opened(context: dict[str, Any], client: WebClient) -> None:
        opened = payload(context, HomeOpened)
        if opened.tab != "home":
            return
        deps.later(home_tab.publish, deps, client, opened.user_id)

    @app.action(ActionId.PROPOSE_FROM_HOME)
    def propose(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        ack()
        click = payload(context, BlockAction)
        with deps.session() as session:
            choices = objectives.search(session=session, query="", limit=objectives.OPTIONS_MAX + 1)
            services = known_services(session=session)
        if not choices:
            text = blocks.no_objectives_message()
            show(client, click.trigger_id, notice_view("No objectives yet", text), "notice")
            return
        form = blocks.proposal_modal(objectives=choices, services=services)
        show(client, click.trigger_id, form, "the proposal form did not open")

    @app.action(ActionId.ADD_OBJECTIVE)
    def add_objective(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        ack()
        click = payload(context, BlockAction)
        if not deps.steering.is_member(click.user_id):
            refuse(client, click, STEERING_ONLY)
            return
        with deps.session() as session:
            offered = sla_targets.list_all(session=session)
        form = objective_modal(sla_targets=offered)
        show(client, click.trigger_id, form, "the objective form did not open")

    @app.action(ActionId.MANAGE_OBJECTIVE)
    def manage_objective(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        ack()
        click = payload(context, BlockAction)
        if not deps.steering.is_member(click.user_id):
            refuse(client, click, STEERING_ONLY)
            return
        try:
            objective_id = payloads.proposal_number(click.selected, what="objective")
            with deps.session() as session:
                objective = objectives.get(session=session, objective_id=objective_id)
                offered = sla_targets.list_all(session=session)
        except CsiError as exc:
            refuse(client, click, str(exc))
            return
        if not objective.active:
            refuse(client, click, f"The objective *{escape(objective.title)}* is already retired.")
            return
        form = objective_modal(objective, sla_targets=offered)
        show(client, click.trigger_id, form, "objective form not opened")

    @app.view(CallbackId.OBJECTIVE)
    def save_objective(ack: Ack, context: dict[str, Any], client: WebClient) -> None:
        submission = payload(context, ViewSubmission)
        user_id, view = submission.user_id, submission.view
        if not deps.steering.is_member(user_id):
            ack(response_action="errors", errors={ObjectiveBlockId.TITLE: STEERING_ONLY})
            return
        try:
            text, retired = _save(deps, view, user_id)
        except InvalidInput as exc:
            ack(response_action="errors", errors=_errors(exc, view))
            return
        except CsiError as exc:
            ack(response_action="errors", errors={ObjectiveBlockId.TITLE: str(exc)})
            return
        ack(response_action="update", view=notice_view("Objectives", text))
        if retired is not None and retired.changed:
            deps.later(_ask_to_choose_again, deps, client, retired)
        deps.later(home_tab.publish, deps, client, user_id)


def _weight(raw: str | None) -> float:
    text = (raw or "").strip().replace(",", ".")
    if not _WEIGHT.fullmatch(text):
        raise InvalidInput({"weight": objectives.WEIGHT_RULE})
    return float(text)


def _save(deps: Deps, view: ModalView, user_id: str) -> tuple[str, objectives.Retired | None]:
    """Add, edit and maybe retire, in one unit of work; what to tell the steering member."""
    title = view.value(ObjectiveBlockId.TITLE) or ""
    description = view.value(ObjectiveBlockId.DESCRIPTION) or ""
    weight = _weight(view.value(ObjectiveBlockId.WEIGHT))
    target = _target(view)
    objective_id = view.meta.objective_id
    with deps.session() as session:
        if objective_id is None:
            same = _same_added(session, title, description, weight, user_id)
            if same is not None:  # this very form, delivered again
                return objective_saved(same, created=False, changed=False), None
            objective = objectives.add_objective(
                session=session,
                title=title,
                weight=weight,
                description=description,
                actor=user_id,
                target=None if target is None or target.empty else target,
            )
            return objective_saved(objective, created=True, changed=True), None
        retire = view.value(ObjectiveBlockId.RETIRE) == RETIRE
        current = objectives.get(session=session, objective_id=objective_id)
        if retire and not current.active:  # retired already: this form again, or a colleague
            return objective_retired(current, submitters=0, proposals=0), None
        objective, changed = objectives.edit_objective(
            session=session,
            objective_id=objective_id,
            title=title,
            description=description,
            weight=weight,
            target=target,
        )
        if not retire:
            return objective_saved(objective, created=False, changed=changed), None
        retired = objectives.retire_objective(session=session, objective_id=objective_id)
        submitters = {p.submitter for p in retired.to_choose_again}
        text = objective_retired(
            objective, submitters=len(submitters), proposals=len(retired.to_choose_again)
        )
        return text, retired


def _same_added(
    session: Any, title: str, description: str, weight: float, user_id: str
) -> Objective | None:
    found = repo.objective_by_title(session=session, title=" ".join(title.split()))
    if (
        found is not None
        and found.active
        and found.created_by == user_id
        and found.weight == weight
        and found.description == description
    ):
        return found
    return None


def _target(view: ModalView) -> objectives.TargetInput | None:
    """The measurable target entered; None when the form had no target fields (one opened
    before they existed), so that its target is left as it is."""
    if ObjectiveBlockId.KPI not in view.values:
        return None
    return objectives.parse_target(
        kpi=view.value(ObjectiveBlockId.KPI),
        sla_target=view.value(ObjectiveBlockId.SLA_TARGET),
        baseline=view.value(ObjectiveBlockId.BASELINE),
        target=view.value(ObjectiveBlockId.TARGET),
        target_date=view.value(ObjectiveBlockId.TARGET_DATE),
    )


def _errors(exc: InvalidInput, view: ModalView) -> dict[str, str]:
    blocks_of = {
        "title": ObjectiveBlockId.TITLE,
        "description": ObjectiveBlockId.DESCRIPTION,
        "weight": ObjectiveBlockId.WEIGHT,
        "kpi": ObjectiveBlockId.KPI,
        "baseline": ObjectiveBlockId.BASELINE,
        "target": ObjectiveBlockId.TARGET,
        "target_date": ObjectiveBlockId.TARGET_DATE,
    }
    if ObjectiveBlockId.SLA_TARGET in view.values:  # an error names only a block of the form
        blocks_of["sla_target"] = ObjectiveBlockId.SLA_TARGET
    else:
        blocks_of["sla_target"] = ObjectiveBlockId.KPI
    errors: dict[str, str] = {}
    for name, message in exc.errors.items():
        block = blocks_of.get(name, ObjectiveBlockId.TITLE)
        errors[block] = (errors[block] + " " + message) if block in errors else message
    return errors


def _ask_to_choose_again(deps: Deps, client: WebClient, retired: objectives.Retired) -> None:
    """After the ack: each submitter of an open proposal of the retired objective is asked, in a
    direct message, which objective it serves now."""
    with deps.session() as session:
        choices = objectives.search(session=session, query="", limit=objectives.OPTIONS_MAX + 1)
    by_submitter: dict[str, list[Any]] = {}
    for proposal in retired.to_choose_again:
        by_submitter.setdefault(proposal.submitter, []).append(proposal)
    for submitter, mine in by_submitter.items():
        for text, message in retire_notices(retired.objective, mine, choices):
            notify.tell(client, submitter, text, message)
