"""End to end: the proposal form refuses what the register cannot hold, field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.ids import ActionId, BlockId, CallbackId
from tests.conftest import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def objective_id(stack: Stack) -> str:
    result = stack.cli("objective", "add", "Reduce unplanned downtime")
    assert result.returncode == 0, result.stderr
    listed = stack.cli("objective", "list")
    return listed.stdout.split()[0]


def _open_modal(stack: Stack, user: str) -> dict[str, Any]:
    trigger = stack.driver.trigger_id()
    reply = stack.driver.slash_command("", user_id=user, trigger_id=trigger)
    assert reply.status == 200, reply.body
    call = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    view = call.response["view"]
    assert view["callback_id"] == CallbackId.PROPOSAL
    return dict(view)


def _form(title: str, objective: str, **more: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: title},
        BlockId.OBJECTIVE: {
            ActionId.INPUT: {"type": "static_select", "selected_option": {"value": objective}}
        },
    }
    for block, text in more.items():
        values[block] = {ActionId.INPUT: text}
    return values


def _submitters(stack: Stack) -> set[str]:
    result = stack.cli("export", "--format", "json")
    assert result.returncode == 0, result.stderr
    return {row["submitter"] for row in json.loads(result.stdout)}


@pytest.mark.parametrize("raw", ["inf", "-Infinity", "nan", "1e309"])
def test_a_kpi_baseline_that_is_not_finite_is_refused_in_the_form(
    stack: Stack, objective_id: str, raw: str
) -> None:
    user = "U0KPI" + "".join(c for c in raw.upper() if c.isalnum())
    view = _open_modal(stack, user)
    form = _form("Measure restore times", objective_id, kpi="Hours to restore", kpi_baseline=raw)
    reply = stack.driver.view_submission(view, user_id=user, state_values=form)
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["response_action"] == "errors"
    assert list(answer["errors"]) == [BlockId.KPI_BASELINE]
    assert "KPI baseline" in answer["errors"][BlockId.KPI_BASELINE]
    assert user not in _submitters(stack)


@pytest.mark.parametrize("block", [BlockId.TITLE, BlockId.DESCRIPTION, BlockId.SERVICE])
def test_a_nul_character_is_refused_in_the_form_on_both_databases(
    stack: Stack, objective_id: str, block: BlockId
) -> None:
    # SQLite used to store it and PostgreSQL to fail with a DataError (a 500 to Slack).
    user = f"U0NUL{block.value.upper()}"
    view = _open_modal(stack, user)
    title = "Restart\x00 the print spooler" if block == BlockId.TITLE else "Restart the spooler"
    more = {} if block == BlockId.TITLE else {block.value: "Print\x00 server"}
    reply = stack.driver.view_submission(
        view, user_id=user, state_values=_form(title, objective_id, **more)
    )
    assert reply.status == 200, reply.body
    answer = reply.json()
    assert answer["response_action"] == "errors"
    assert "NUL character" in answer["errors"][block]
    assert user not in _submitters(stack)
    assert "Traceback" not in stack.bot.log()


def test_a_one_line_proposal_with_a_nul_character_is_refused(
    stack: Stack, objective_id: str
) -> None:
    reply = stack.driver.slash_command("Restart\x00 the mail relay", user_id="U0NULLINE")
    assert reply.status == 200, reply.body
    try:
        answer = str(reply.json().get("text", ""))
    except ValueError:
        answer = reply.body
    assert "control character" in answer or "NUL character" in answer
    assert "U0NULLINE" not in _submitters(stack)
    assert "Traceback" not in stack.bot.log()
