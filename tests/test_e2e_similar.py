"""End to end: similar proposals are shown before work is duplicated, on both databases."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from bot.ids import ActionId, BlockId, CallbackId
from storage import repositories as repo
from storage.db import session_scope
from tests.botproc import PROPOSALS_CHANNEL
from tests.conftest import KEPT_INDEX, Stack

pytestmark = pytest.mark.e2e

REGISTER = [
    {
        "ref": "SHEET-1",
        "title": "Automate TLS certificate renewal on the web servers",
        "description": "certificates expire unnoticed and the portal goes down",
        "objective": "Fewer outages",
        "service": "Web portal",
        "value": "4",
        "effort": "M",
    },
    {
        "ref": "SHEET-2",
        "title": "Self-service password reset for staff",
        "description": "the service desk spends hours on password reset calls",
        "objective": "Fewer outages",
        "service": "Service desk",
        "value": "3",
        "effort": "L",
    },
    {
        "ref": "SHEET-3",
        "title": "Add a second uplink to the branch office",
        "description": "a single line means every cut is an outage",
        "objective": "Fewer outages",
        "service": "Network",
        "value": "5",
        "effort": "XL",
    },
]


@pytest.fixture(scope="module")
def register(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    assert stack.cli("objective", "add", "Fewer outages").returncode == 0
    source = Path(tmp_path_factory.mktemp("sheet")) / "register.json"
    source.write_text(json.dumps(REGISTER))
    result = stack.cli("import", str(source))
    assert result.returncode == 0, result.stderr
    rows = json.loads(stack.cli("export", "--format", "json").stdout)
    ids = {row["ref"]: row["id"] for row in rows if row["ref"]}
    objective = next(
        o for o in stack.cli("objective", "list").stdout.splitlines() if "Fewer outages" in o
    )
    ids["objective"] = int(objective.split("\t")[0])
    return ids


def _open_form(stack: Stack, user: str) -> dict[str, Any]:
    trigger = stack.driver.trigger_id()
    assert stack.driver.slash_command("", user_id=user, trigger_id=trigger).status == 200
    return dict(
        stack.slack.wait_for(
            "views.open", lambda c: c.params.get("trigger_id") == trigger
        ).response["view"]
    )


def _state(title: str, objective: int | None = None, **more: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        BlockId.TITLE: {ActionId.TITLE: {"type": "plain_text_input", "value": title}}
    }
    if objective is not None:
        values[BlockId.OBJECTIVE] = {
            ActionId.INPUT: {"type": "static_select", "selected_option": {"value": str(objective)}}
        }
    for block, text in more.items():
        values[block] = {ActionId.INPUT: {"type": "plain_text_input", "value": text}}
    return values


def _enter_title(stack: Stack, view: dict[str, Any], user: str, state: dict[str, Any]) -> str:
    """Press Enter in the title field; returns what the redrawn form shows."""
    typed = dict(view, state={"values": state})
    title = state[BlockId.TITLE][ActionId.TITLE]["value"]
    reply = stack.driver.block_actions(
        [
            {
                "type": "plain_text_input",
                "action_id": ActionId.TITLE,
                "block_id": BlockId.TITLE,
                "value": title,
            }
        ],
        user_id=user,
        view=typed,
    )
    assert reply.status == 200
    update = stack.slack.wait_for("views.update", lambda c: c.params.get("view_id") == view["id"])
    shown = json.dumps(update.params["view"]["blocks"])
    stack.slack.clear()
    return shown


def _choose(stack: Stack, choice: dict[str, Any], user: str, value: str) -> Any:
    """Pick one option of the similar-proposal choice and submit it."""
    option = next(o for o in choice["blocks"][-1]["element"]["options"] if o["value"] == value)
    return stack.driver.view_submission(
        choice,
        user_id=user,
        state_values={
            BlockId.CHOICE: {ActionId.INPUT: {"type": "radio_buttons", "selected_option": option}}
        },
    )


def _rows(stack: Stack) -> list[dict[str, Any]]:
    return list(json.loads(stack.cli("export", "--format", "json").stdout))


def test_entering_a_near_duplicate_title_names_the_existing_proposal(
    stack: Stack, register: dict[str, int]
) -> None:
    view = _open_form(stack, "U1TYPE")
    shown = _enter_title(stack, view, "U1TYPE", _state("Automatic renewal of TLS certificates"))
    assert "Similar proposals already in the register" in shown
    assert f"#{register['SHEET-1']} Automate TLS certificate renewal" in shown
    assert "Open" in shown


def test_an_unrelated_title_gets_no_warning(stack: Stack, register: dict[str, int]) -> None:
    view = _open_form(stack, "U1CALM")
    shown = _enter_title(stack, view, "U1CALM", _state("Catering menu for the summer party"))
    assert "Similar proposals" not in shown
    assert "No similar proposal" in shown


def test_same_service_and_objective_is_shown_as_related(
    stack: Stack, register: dict[str, int]
) -> None:
    view = _open_form(stack, "U1NET")
    shown = _enter_title(
        stack,
        view,
        "U1NET",
        _state("Replace the core switches", register["objective"], **{BlockId.SERVICE: "network"}),
    )
    assert "Related: coordinate with" in shown
    assert f"#{register['SHEET-3']}" in shown


def test_vote_instead_adds_a_vote_and_stores_nothing_new(
    stack: Stack, register: dict[str, int]
) -> None:
    before = _rows(stack)
    view = _open_form(stack, "U1VOTER")
    reply = stack.driver.view_submission(
        view,
        user_id="U1VOTER",
        state_values=_state("Renew TLS certificates automatically", register["objective"]),
    )
    answer = reply.json()
    assert answer["response_action"] == "update"
    choice = answer["view"]
    assert choice["callback_id"] == CallbackId.SIMILAR_CHOICE
    reply = _choose(stack, choice, "U1VOTER", f"vote:{register['SHEET-1']}")
    assert reply.json() == {"response_action": "clear"}
    stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "U1VOTER")
    after = _rows(stack)
    assert len(after) == len(before)
    votes = {r["id"]: r["votes"] for r in after}
    assert (
        votes[register["SHEET-1"]] == 1 + {r["id"]: r["votes"] for r in before}[register["SHEET-1"]]
    )


def test_submit_anyway_stores_it_and_links_the_two(stack: Stack, register: dict[str, int]) -> None:
    view = _open_form(stack, "U1STUBBORN")
    answer = stack.driver.view_submission(
        view,
        user_id="U1STUBBORN",
        state_values=_state("Self-service password reset for contractors", register["objective"]),
    ).json()
    choice = answer["view"]
    reply = _choose(stack, choice, "U1STUBBORN", "new")
    assert reply.json() == {"response_action": "clear"}
    stack.slack.wait_for(
        "chat.postMessage",
        lambda c: (
            c.params.get("channel") == PROPOSALS_CHANNEL
            and "contractors" in json.dumps(c.params.get("blocks"))
        ),
    )
    row = next(r for r in _rows(stack) if r["title"].endswith("for contractors"))
    with session_scope(stack.engine) as session:
        assert register["SHEET-2"] in repo.related_ids(session=session, proposal_id=row["id"])


def test_an_unrelated_submission_is_stored_without_a_detour(
    stack: Stack, register: dict[str, int]
) -> None:
    view = _open_form(stack, "U1FRESH")
    reply = stack.driver.view_submission(
        view,
        user_id="U1FRESH",
        state_values=_state("Quarterly restore drill for the ERP database", register["objective"]),
    )
    assert reply.status == 200 and not reply.body.strip()
    assert any(r["title"] == "Quarterly restore drill for the ERP database" for r in _rows(stack))


def test_one_line_capture_shows_matches_and_can_vote_instead(
    stack: Stack, register: dict[str, int]
) -> None:
    answer = stack.driver.slash_command(
        "Second uplink for the branch office", user_id="U1QUICK"
    ).json()
    shown = json.dumps(answer["blocks"])
    assert f"#{register['SHEET-3']} Add a second uplink" in shown
    buttons = next(b for b in answer["blocks"] if b.get("block_id", "").startswith("vote_instead"))
    button = buttons["elements"][0]
    stack.driver.block_actions(
        [
            {
                "type": "button",
                "action_id": button["action_id"],
                "block_id": buttons["block_id"],
                "value": button["value"],
            }
        ],
        user_id="U1QUICK",
    )
    stack.slack.wait_for("response_url", lambda c: "Your vote went to" in json.dumps(c.params))
    rows = {r["title"]: r for r in _rows(stack)}
    assert rows["Second uplink for the branch office"]["status"] == "withdrawn"
    assert rows["Add a second uplink to the branch office"]["votes"] >= 1


def test_cli_similar_reports_what_the_bot_would_warn_about(
    stack: Stack, register: dict[str, int], tmp_path: Path
) -> None:
    result = stack.cli("similar", "TLS certificate renewal automation", "--format", "json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found[0]["id"] == register["SHEET-1"] and found[0]["ref"] == "SHEET-1"
    assert set(found[0]) >= {"id", "ref", "title", "score"}
    batch = tmp_path / "queries.jsonl"
    batch.write_text(
        json.dumps({"title": "password reset self service", "description": "service desk calls"})
        + "\n"
        + json.dumps({"title": "summer party catering"})
        + "\n"
    )
    lines = stack.cli("similar", "--batch", str(batch)).stdout.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["matches"][0]["ref"] == "SHEET-2"
    assert second["matches"] == []
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json}\n")
    refused = stack.cli("similar", "--batch", str(bad))
    assert refused.returncode == 1 and "line 1" in refused.stderr


def test_steering_group_merges_a_duplicate_and_the_submitter_is_told(
    stack: Stack, register: dict[str, int]
) -> None:
    answer = stack.driver.slash_command("Password reset portal for staff", user_id="U1DUP").json()
    dupe = int(
        next(b for b in answer["blocks"] if b.get("block_id", "").startswith("objective:"))[
            "block_id"
        ].split(":")[1]
    )
    refused = stack.driver.slash_command(
        f"merge #{dupe} into #{register['SHEET-2']}", user_id="U1NOBODY"
    )
    assert "Only the steering group" in refused.body
    done = stack.driver.slash_command(
        f"merge #{dupe} into #{register['SHEET-2']}", user_id="USTEER"
    )
    assert "Merged" in done.body
    told = stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "U1DUP")
    assert "was merged into" in told.params["text"]
    rows = {r["id"]: r for r in _rows(stack)}
    assert rows[dupe]["status"] == "merged"
    found = json.loads(
        stack.cli("similar", "Password reset portal for staff", "--format", "json").stdout
    )
    assert dupe not in [m["id"] for m in found]


def test_a_restarted_bot_takes_the_index_it_kept_and_warns_at_once(
    stack: Stack, register: dict[str, int], tmp_path: Path
) -> None:
    stack.bot.stop()
    kept = stack.workdir / KEPT_INDEX
    assert kept.exists()  # written once the register was read, and as the bot stopped
    # Added while no bot ran: read again at start; the rest comes from the file.
    source = tmp_path / "more.json"
    more = dict(REGISTER[0], ref="SHEET-4", title="Monitor disk space on the file servers")
    source.write_text(json.dumps([more]))
    assert stack.cli("import", str(source)).returncode == 0
    stack.bot.start()
    deadline = time.monotonic() + 30
    while "taken from" not in stack.bot.log():
        assert time.monotonic() < deadline, stack.bot.log()[-2000:]
        time.sleep(0.1)
    assert "proposals changed since it was kept, read again: 1" in stack.bot.log()
    ids = {row["ref"]: row["id"] for row in _rows(stack) if row["ref"]}
    for title, ref in (
        ("Automatic renewal of TLS certificates", "SHEET-1"),
        ("Disk space monitoring for the file servers", "SHEET-4"),
    ):
        answer = stack.driver.slash_command(title, user_id="U1BACK").json()
        assert f"#{ids[ref]} " in json.dumps(answer["blocks"]), answer
