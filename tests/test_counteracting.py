"""Counteracting proposals: two active proposals on one service that move one KPI in opposite
directions are flagged; two in the same direction are not. On the database (both backends) and
end to end through the running bot."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot import counteracting, proposals
from bot.drafts import ProposalDraft
from bot.ids import ActionId, BlockId
from bot.lifecycle import Status
from storage import repositories as repo
from storage.db import session_scope
from tests.botproc import PROPOSALS_CHANNEL
from tests.conftest import Stack


def _store(
    engine: Engine,
    objective_id: int,
    title: str,
    *,
    service: str = "Email",
    kpi: str = "Mean time to restore (h)",
    baseline: str | None = "6",
    target: str | None = "2",
    submitter: str = "U1",
) -> tuple[int, list[counteracting.Counteraction]]:
    draft = ProposalDraft(
        title=title,
        objective_id=objective_id,
        service=service,
        kpi=kpi,
        kpi_baseline=baseline,
        kpi_target=target,
    )
    with session_scope(engine) as session:
        proposal, _ = proposals.capture(
            session=session, draft=draft, submitter=submitter, require_objective=True
        )
        flagged = counteracting.record(session=session, proposal_id=proposal.id or 0)
    return proposal.id or 0, flagged


@pytest.fixture
def objective_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        return proposals.add_objective(session=session, title="Fewer outages").id or 0


def test_opposite_directions_on_one_service_and_kpi_are_flagged_on_both(
    engine: Engine, objective_id: int
) -> None:
    down, none = _store(engine, objective_id, "Automate the mail queue restarts")
    assert none == []
    up, flagged = _store(
        engine,
        objective_id,
        "Add a manual approval before mail restarts",
        kpi=" mean time to  restore (h)",  # spacing and case differ: the same KPI
        baseline="6",
        target="9",
        submitter="U2",
    )
    assert [(f.proposal.id, f.other.id) for f in flagged] == [(up, down)]
    with session_scope(engine) as session:
        assert counteracting.partners(session=session, proposal_id=down) == (up,)
        assert counteracting.partners(session=session, proposal_id=up) == (down,)
        # Recorded once: checking again flags nothing new.
        assert counteracting.record(session=session, proposal_id=up) == []
        assert proposals.summary(session=session, proposal_id=down).counteracts == (up,)
        pairs = counteracting.active_pairs(session=session)
        assert [(a.id, b.id) for a, b in pairs] == [(down, up)]


def test_same_direction_other_service_or_no_direction_is_not_flagged(
    engine: Engine, objective_id: int
) -> None:
    _store(engine, objective_id, "Automate the mail queue restarts")
    assert _store(engine, objective_id, "Self-healing mail relays", target="1")[1] == []
    assert _store(engine, objective_id, "Manual VPN approvals", service="VPN", target="9")[1] == []
    assert _store(engine, objective_id, "Measure the mail KPI", baseline=None, target="9")[1] == []
    assert _store(engine, objective_id, "Other KPI up", kpi="Tickets per week", target="9")[1] == []


def test_a_finished_proposal_no_longer_counteracts(engine: Engine, objective_id: int) -> None:
    down, _ = _store(engine, objective_id, "Automate the mail queue restarts")
    with session_scope(engine) as session:
        proposals.transition(session=session, proposal_id=down, to=Status.REJECTED, actor="US")
    assert _store(engine, objective_id, "Slower mail restarts", target="9")[1] == []


# ---- through the running bot ----------------------------------------------------------------


def _submit(stack: Stack, user: str, title: str, objective: int, **fields: str) -> None:
    trigger = stack.driver.trigger_id()
    stack.driver.slash_command("", user_id=user, trigger_id=trigger)
    opened = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    values: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: title},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {"type": "static_select", "selected_option": {"value": str(objective)}}
        },
    }
    for block, text in fields.items():
        values[block] = {ActionId.INPUT: text}
    reply = stack.driver.view_submission(opened.response["view"], user_id=user, state_values=values)
    assert reply.status == 200, reply.body
    if reply.body.strip():
        # Held next to related proposals (same service and objective): submit it anyway.
        choice = reply.json()
        assert choice["response_action"] == "update", choice
        reply = stack.driver.view_submission(
            choice["view"],
            user_id=user,
            state_values={
                BlockId.CHOICE: {
                    ActionId.INPUT: {"type": "radio_buttons", "selected_option": {"value": "new"}}
                }
            },
        )
        assert reply.status == 200, reply.body


def _dms(stack: Stack, user: str, words: str) -> list[Any]:
    return [
        c
        for c in stack.slack.calls("chat.postMessage")
        if c.params.get("channel") == user and words in json.dumps(c.params, ensure_ascii=False)
    ]


@pytest.mark.e2e
def test_the_bot_flags_opposite_proposals_to_both_submitters_and_on_both_cards(
    stack: Stack,
) -> None:
    assert stack.cli("objective", "add", "Reliable mail").returncode == 0
    with session_scope(stack.engine) as session:
        objective = repo.objective_by_title(session=session, title="Reliable mail")
        assert objective is not None and objective.id is not None
    kpi = {BlockId.SERVICE: "Mail", BlockId.KPI: "Queue delay (min)"}
    _submit(
        stack,
        "U0DOWN",
        "Tune the outbound mail relays",
        objective.id,
        **kpi,
        kpi_baseline="30",
        kpi_target="5",
    )
    stack.slack.wait_for(
        "chat.postMessage", lambda c: "outbound mail relays" in json.dumps(c.params)
    )
    # The same direction: no flag.
    _submit(
        stack,
        "U0SAME",
        "Add a second outbound relay",
        objective.id,
        **kpi,
        kpi_baseline="30",
        kpi_target="10",
    )
    stack.slack.wait_for(
        "chat.postMessage", lambda c: "second outbound relay" in json.dumps(c.params)
    )
    # Told once it is in the register, and nothing about counteracting.
    stack.slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.params.get("channel") == "U0SAME" and "is in the register" in json.dumps(c.params)
        ),
    )
    assert _dms(stack, "U0SAME", "counteract") == [] and _dms(stack, "U0DOWN", "counteract") == []
    # The other way: both submitters are told, both cards say so.
    _submit(
        stack,
        "U0UP",
        "Scan every outbound mail for malware",
        objective.id,
        **kpi,
        kpi_baseline="30",
        kpi_target="45",
    )
    stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("channel") == "U0UP" and "counteract" in json.dumps(c.params),
    )
    stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("channel") == "U0DOWN" and "counteract" in json.dumps(c.params),
    )
    told_up = json.dumps(_dms(stack, "U0UP", "counteract")[0].params, ensure_ascii=False)
    assert "Tune the outbound mail relays" in told_up and "<@U0DOWN>" in told_up
    assert "up (30 → 45)" in told_up and "down (30 → 5)" in told_up
    deadline = time.monotonic() + 10
    while True:
        cards = [
            json.dumps(c.params.get("blocks"))
            for c in stack.slack.calls()
            if c.method in ("chat.postMessage", "chat.update")
            and c.params.get("channel") == PROPOSALS_CHANNEL
            and "Counteracts" in json.dumps(c.params.get("blocks"))
        ]
        if any("outbound mail relays" in c for c in cards) and any("malware" in c for c in cards):
            break
        assert time.monotonic() < deadline, "both cards should say they counteract"
        time.sleep(0.1)
    assert not stack.slack.refused()
    # The one that moves it down as well is counteracted too, and told so.
    stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("channel") == "U0SAME" and "counteract" in json.dumps(c.params),
    )
