"""End to end, on both databases: the steering group sets an objective's measurable target in
Slack and with the CLI; `/improve objective <id>` through the fake Slack shows how far it got,
`/improve objectives` one line each, and `csi-bot objective list --format json` carries the
same figures."""

from __future__ import annotations

import json
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from slack_sdk import WebClient

from bot import objective_progress
from bot.deps import Deps
from bot.ids import ActionId, CallbackId, ObjectiveBlockId
from bot.objective_posting import post_objective_progress
from bot.settings import Settings
from bot.steering import SteeringGroup
from scheduler.digest import post_sla_digest
from storage import repositories as repo
from storage.db import session_scope
from storage.models import Proposal
from storage.types import utcnow
from tests.botproc import BOT_TOKEN
from tests.conftest import Stack
from tests.fakeslack.validation import check_message

pytestmark = pytest.mark.e2e

STEERING = "USTEER"  # CSI_STEERING_MEMBERS of the stack
KPI = "Major incidents per month"


def _listed(stack: Stack) -> dict[str, dict[str, Any]]:
    result = stack.cli("objective", "list", "--format", "json")
    assert result.returncode == 0, result.stderr
    return {row["title"]: row for row in json.loads(result.stdout)}


def _text(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _answer(stack: Stack, text: str) -> str:
    """The text of `/improve <text>`'s answer (a plain-text ack or a JSON message)."""
    reply = stack.driver.slash_command(text, user_id="U0READ")
    assert reply.status == 200, reply.body
    try:
        return str(reply.json().get("text", ""))
    except ValueError:
        return str(reply.body)


@pytest.fixture(scope="module")
def register(stack: Stack) -> dict[str, int]:
    """Two objectives set with the CLI (one with a target), and the steps of a known register."""
    by = (utcnow() + timedelta(days=365)).date().isoformat()
    added = stack.cli(
        "objective", "add", "Fewer outages", "--weight", "2", "--kpi", KPI,
        "--baseline", "10", "--target", "4", "--by", by,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert f"target: {KPI} from 10 to 4 by {by}" in added.stdout
    assert stack.cli("objective", "add", "Cheaper licences").returncode == 0
    with session_scope(stack.engine) as session:
        ids = {o.title: o.id or 0 for o in repo.list_objectives(session=session)}
    steps = [
        ("open", 3, 5.0, {}),
        ("open", 4, 2.0, {}),
        ("approved", 5, 15.0, {}),
        ("in_progress", 2, 5.0, {}),
        ("verified", 4, 5.0, {"kpi": KPI, "kpi_baseline": 10, "kpi_target": 7, "kpi_actual": 8}),
        ("rejected", 5, 40.0, {}),
    ]
    with session_scope(stack.engine) as session:
        for n, (status, value, days, kpi) in enumerate(steps):
            session.add(
                Proposal(
                    title=f"Outage step {n} ({status})",
                    submitter="U0STEP",
                    status=status,
                    objective_id=ids["Fewer outages"],
                    value=value,
                    effort="M",
                    effort_days=days,
                    **kpi,
                )
            )
        session.add(
            Proposal(
                title="Licence audit under way",
                submitter="U0STEP",
                status="in_progress",
                objective_id=ids["Cheaper licences"],
                value=2,
                effort="S",
                effort_days=2,
            )
        )
    return ids


def test_objective_shows_the_whole_picture_and_the_json_carries_the_same_figures(
    stack: Stack, register: dict[str, int]
) -> None:
    reply = stack.driver.slash_command(f"objective {register['Fewer outages']}", user_id="U0READ")
    assert reply.status == 200, reply.body
    answer = reply.json()
    blocks = answer["blocks"]
    assert check_message({"text": answer["text"], "blocks": blocks}) is None
    shown = _text(blocks)
    every = _listed(stack)
    listed = every["Fewer outages"]
    # Work under way but nothing open or approved: neglected.
    assert every["Cheaper licences"]["neglected"] is True
    # The steps by status, their value and effort, as the JSON counts them.
    assert listed["steps"] == {
        "open": 2,
        "approved": 1,
        "in_progress": 1,
        "implemented": 0,
        "verified": 1,
        "rejected": 1,
    }
    for label, status in [("Open", "open"), ("Approved", "approved"), ("Verified", "verified")]:
        assert f"{label}: {listed['steps'][status]}" in shown
    assert (listed["value"], listed["effort_days"]) == (18, 32)
    assert "*Expected value*: 18 · *effort*: 32 person-days" in shown
    # The verified step and its measured result.
    assert [(v["title"], v["actual"], v["reached"]) for v in listed["verified"]] == [
        ("Outage step 4 (verified)", 8, False)
    ]
    assert "Outage step 4 (verified)" in shown and "10 → 8 (target 7)" in shown
    # The KPI: latest 8 from that step, the path barely left 10, so on track.
    target = listed["target"]
    assert (target["kpi"], target["latest"], target["state"]) == (KPI, 8, "on_track")
    assert "*Latest value*: 8 (a step's measured result" in shown
    assert "on track" in shown and listed["neglected"] is False
    assert "Neglected" not in shown


def test_objectives_list_one_line_each_and_calls_out_the_neglected(
    stack: Stack, register: dict[str, int]
) -> None:
    answer = _answer(stack, "objectives")
    lines = {line.split("*")[1]: line for line in answer.splitlines() if line.startswith("• *")}
    assert set(lines) >= {"Fewer outages", "Cheaper licences"}
    assert "2 open · 1 approved · 1 in progress · 1 verified · 1 rejected" in lines["Fewer outages"]
    assert "KPI 8" in lines["Fewer outages"] and "on track" in lines["Fewer outages"]
    # Work under way but nothing open or approved: neglected.
    assert "neglected" in lines["Cheaper licences"]
    assert "neglected" not in lines["Fewer outages"]
    text = stack.cli("objective", "list").stdout
    assert "Cheaper licences\tweight 1\t1 in progress" in text and "neglected" in text


def test_an_unknown_or_malformed_objective_number_is_answered(stack: Stack) -> None:
    assert "Objective 99999 does not exist." in _answer(stack, "objective 99999")
    assert "takes one objective number" in _answer(stack, "objective 1 2")


def test_steering_sets_a_target_in_the_objective_form(
    stack: Stack, register: dict[str, int]
) -> None:
    trigger = stack.driver.trigger_id()
    reply = stack.driver.block_actions(
        [{"action_id": ActionId.ADD_OBJECTIVE}],
        user_id=STEERING,
        view={"type": "home", "id": "VHOME01", "blocks": []},
        trigger_id=trigger,
    )
    assert reply.status == 200, reply.body
    call = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    modal = call.response["view"]
    assert modal["callback_id"] == CallbackId.OBJECTIVE
    by = (utcnow() + timedelta(days=200)).date().isoformat()

    def form(baseline: str) -> dict[str, Any]:
        return {
            ObjectiveBlockId.TITLE: {ActionId.INPUT: "Faster changes"},
            ObjectiveBlockId.WEIGHT: {ActionId.INPUT: "1"},
            ObjectiveBlockId.KPI: {ActionId.INPUT: "Lead time in days"},
            ObjectiveBlockId.BASELINE: {ActionId.INPUT: baseline},
            ObjectiveBlockId.TARGET: {ActionId.INPUT: "5"},
            ObjectiveBlockId.TARGET_DATE: {ActionId.INPUT: by},
        }

    refused = stack.driver.view_submission(modal, user_id=STEERING, state_values=form("soon"))
    assert "is not a number" in refused.json()["errors"][ObjectiveBlockId.BASELINE]
    saved = stack.driver.view_submission(modal, user_id=STEERING, state_values=form("20"))
    assert saved.json()["response_action"] == "update"
    with session_scope(stack.engine) as session:
        faster = repo.objective_by_title(session=session, title="Faster changes")
        assert faster is not None
    # The CLI edits it: a new target value keeps the rest.
    edited = stack.cli("objective", "edit", str(faster.id), "--target", "3")
    assert edited.returncode == 0, edited.stdout
    target = _listed(stack)["Faster changes"]["target"]
    assert (target["kpi"], target["baseline"], target["target"]) == ("Lead time in days", 20, 3)
    assert (target["target_date"], target["state"]) == (by, "no_measurement")


def test_the_digest_thread_carries_the_objectives_neglected_first(
    stack: Stack, register: dict[str, int]
) -> None:
    client = WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url)
    digest = client.chat_postMessage(channel="C0DIGEST", text="SLA digest")
    deps: Any = SimpleNamespace(
        session=lambda: session_scope(stack.engine), settings=SimpleNamespace(timezone="UTC")
    )
    neglected = post_objective_progress(
        deps=deps, client=client, channel="C0DIGEST", thread_ts=str(digest["ts"])
    )
    with session_scope(stack.engine) as session:
        found = objective_progress.progress(
            session=session, objectives=repo.list_objectives(session=session), now=utcnow()
        )
    assert neglected == sum(1 for p in found if p.neglected) >= 1
    reply = stack.slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == digest["ts"] and "objectives" in c.params["text"],
    )
    assert not reply.refused
    shown = _text(reply.params["blocks"])
    assert "How far the objectives got" in shown
    assert shown.index("Cheaper licences") < shown.index("Fewer outages")


def test_the_weekly_digest_posts_the_objectives_into_its_thread(
    stack: Stack, register: dict[str, int]
) -> None:
    settings = Settings.from_mapping({**stack.env, "CSI_DIGEST_CHANNEL": "C0OBJWEEK"})
    client = WebClient(token=BOT_TOKEN, base_url=stack.slack.api_url)
    deps = Deps(settings=settings, engine=stack.engine, steering=SteeringGroup(settings, client))
    posted = post_sla_digest(deps=deps, client=client, now=utcnow() + timedelta(days=3))
    assert posted is not None
    replies = [
        c
        for c in stack.slack.calls("chat.postMessage")
        if c.params.get("thread_ts") == posted.ts and not c.refused
    ]
    assert any("How far the objectives got" in _text(c.params["blocks"]) for c in replies)


def test_the_home_tab_shows_how_far_each_objective_got(
    stack: Stack, register: dict[str, int]
) -> None:
    reply = stack.driver.app_home_opened("U0HOME")
    assert reply.status == 200
    call = stack.slack.wait_for("views.publish", lambda c: c.params.get("user_id") == "U0HOME")
    assert not call.refused, call.response
    shown = _text(call.params["view"]["blocks"])
    lines = [line for line in shown.split("\\n") if "Fewer outages" in line or "Cheaper" in line]
    outages = next(line for line in lines if "Fewer outages" in line)
    assert "2 open · 1 approved · 1 in progress · 1 verified · 1 rejected" in outages
    assert "value 18 · 32 person-days" in outages and "on track" in outages
    assert "neglected" in next(line for line in lines if "Cheaper licences" in line)
    assert "with no open or approved step (neglected)" in shown
