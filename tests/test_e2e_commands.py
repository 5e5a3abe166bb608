"""End to end: what each `/improve` text does, through the running bot, on both databases.

The module's tests share one bot; the first ones run before any objective exists.
"""

from __future__ import annotations

import html
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from bot.ids import ActionId
from storage import repositories as repo
from storage.db import session_scope
from tests.conftest import Stack

pytestmark = pytest.mark.e2e

STEERING = "USTEER"  # CSI_STEERING_MEMBERS of the stack


def _rows(stack: Stack) -> list[dict[str, Any]]:
    result = stack.cli("export", "--format", "json")
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def _by(stack: Stack, user: str) -> list[dict[str, Any]]:
    return [r for r in _rows(stack) if r["submitter"] == user]


def _text(reply: Any) -> str:
    assert reply.status == 200, reply.body
    try:
        return str(reply.json().get("text", ""))
    except ValueError:
        return str(reply.body)


def _question(stack: Stack, title: str, user: str) -> tuple[int, list[dict[str, Any]]]:
    """Capture a one-line proposal; its number and the question's blocks."""
    answer = stack.driver.slash_command(title, user_id=user).json()
    blocks = answer["blocks"]
    actions = next(b for b in blocks if b.get("block_id", "").startswith("objective:"))
    return int(actions["block_id"].split(":")[1]), blocks


def _click_discard(stack: Stack, blocks: list[dict[str, Any]], user: str) -> None:
    button = next(
        e
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == ActionId.DISCARD
    )
    reply = stack.driver.block_actions(
        [{"type": "button", "action_id": button["action_id"], "value": button["value"]}],
        user_id=user,
    )
    assert reply.status == 200


# ---- before any objective exists ------------------------------------------------------------


def test_without_objectives_a_one_line_title_stores_nothing_and_says_who_can_add_them(
    stack: Stack,
) -> None:
    for _ in range(2):  # trying again must not store a duplicate either
        answer = _text(
            stack.driver.slash_command("Automate TLS certificate renewal", user_id="U3A")
        )
        assert "none exist yet" in answer and "Nothing was saved" in answer
        assert f"<@{STEERING}>" in answer and "/improve objective add" in answer
        assert "Automate TLS certificate renewal" in answer
    assert _by(stack, "U3A") == []
    mine = _text(stack.driver.slash_command("Automate TLS certificate renewal", user_id=STEERING))
    assert "You are on the steering group" in mine
    form = _text(stack.driver.slash_command("", user_id="U3A"))
    assert "none exist yet" in form and f"<@{STEERING}>" in form
    assert stack.slack.calls("views.open") == []
    listed = _text(stack.driver.slash_command("objectives", user_id="U3A"))
    assert listed.startswith("The steering group has not set any objectives yet.")
    assert f"ask <@{STEERING}> to add one." in listed and "Nothing was saved" not in listed
    assert _rows(stack) == []


# ---- with an objective ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def objective(stack: Stack) -> str:
    answer = _text(stack.driver.slash_command("objective add Fewer outages", user_id=STEERING))
    assert answer.startswith(":dart: Added the objective *Fewer outages*"), answer
    return "Fewer outages"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("?", "is not a proposal title"),
        ("#3", "looks like a proposal number"),
        ("42", "looks like a proposal number"),
        ("approve #1", "`/improve approve` is not a command"),
        ("reject #1 too costly", "`/improve reject` is not a command"),
        ("list please", "No active objective is called “please”"),
        ("objective add", "needs the objective's title"),
        ("status", "`/improve status` needs a proposal number"),
        ("status page", "starts with the command word `status`"),
        ("top #²", "plain digits"),
        ("why", "`/improve why` needs a proposal number"),
        ("show #3 #4", "`/improve show` takes one proposal number"),
        ("history #x", "plain digits"),
        ("status #3", "needs a proposal number and the status"),
        ("objective 1 2", "`/improve objective` takes one objective number"),
        ("poll", "`csi-bot poll open`"),
        ("digest", "posted to the digest channel every week"),
        ("sla", "`csi-bot sla target add`"),
        ("assign #4", "`assign @person` in the proposal card's thread"),
        ("merge #1 into #²", "plain digits"),
        ("merge #1 into #99999999999999999999", "plain digits"),
        ("merge #١ into #2", "plain digits"),  # noqa: RUF001 (an Arabic-Indic digit)
        ("withdraw #²", "plain digits"),
        ("Fix the VPN\x00 gateway now", "control characters"),
        ("Fix the VPN\x1b gateway now", "control characters"),
        ("fix wifi", "at least two words and 12 letters"),
    ],
)
def test_text_that_is_not_a_proposal_gets_usage_and_stores_nothing(
    stack: Stack, objective: str, text: str, says: str
) -> None:
    user = "U3" + format(abs(hash(text)) % 10**8, "08d")
    answer = _text(stack.driver.slash_command(text, user_id=user))
    assert says in html.unescape(answer), answer
    assert "Nothing was saved." in answer or "Nothing was changed." in answer
    assert "`/improve help`" in answer
    assert "Traceback" not in answer and "Something went wrong" not in answer
    assert _by(stack, user) == []


def test_a_real_title_that_starts_with_a_command_word_is_a_proposal(
    stack: Stack, objective: str
) -> None:
    number, blocks = _question(stack, "Status page shows stale incidents", "U3STATUS")
    assert "Status page shows stale incidents" in json.dumps(blocks)
    rows = _by(stack, "U3STATUS")
    assert [(r["id"], r["status"]) for r in rows] == [(number, "needs_objective")]


def test_help_lists_what_works_and_the_title_rule(stack: Stack, objective: str) -> None:
    # Placeholders such as <number> reach Slack as entities, so that they show as typed.
    answer = html.unescape(_text(stack.driver.slash_command("help", user_id="U3HELP")))
    for form in (
        "`/improve withdraw #<number>`",
        "`/improve merge #<duplicate> into #<proposal>`",
        "`/improve top [N]`",
        "`/improve why #<number>`",
    ):
        assert form in answer
    assert "at least two words and 12 letters" in answer
    assert "Not available yet" in answer
    assert _by(stack, "U3HELP") == []


def test_discard_withdraws_the_proposal_once_and_only_for_its_submitter(
    stack: Stack, objective: str
) -> None:
    number, blocks = _question(stack, "Retire the old fax gateway", "U3DISCARD")
    _click_discard(stack, blocks, "U3OTHER")
    stack.slack.wait_for(
        "response_url", lambda c: f"Only the person who proposed #{number}" in json.dumps(c.params)
    )
    assert _by(stack, "U3DISCARD")[0]["status"] == "needs_objective"

    with ThreadPoolExecutor(max_workers=3) as pool:  # a triple click, all at once
        list(pool.map(lambda _: _click_discard(stack, blocks, "U3DISCARD"), range(3)))
    # The answers go out after the acks, in any order: one withdrew it, the others found it so.
    name = f"#{number} Retire the old fax gateway"
    stack.slack.wait_for(
        "response_url",
        lambda c: name in json.dumps(c.params) and "Withdrew" in json.dumps(c.params),
    )
    stack.slack.wait_for(
        "response_url",
        lambda c: name in json.dumps(c.params) and "is already withdrawn" in json.dumps(c.params),
    )
    confirmations = [c for c in stack.slack.calls("response_url") if name in json.dumps(c.params)]
    assert all(c.params.get("replace_original") in (True, "true") for c in confirmations)
    assert len([c for c in confirmations if "Withdrew" in json.dumps(c.params)]) == 1
    assert _by(stack, "U3DISCARD")[0]["status"] == "withdrawn"
    with session_scope(stack.engine) as session:
        changes = [
            e
            for e in repo.history(session=session, proposal_id=number)
            if e.to_status == "withdrawn"
        ]
    assert len(changes) == 1


def test_withdraw_takes_back_your_own_proposal_only(stack: Stack, objective: str) -> None:
    number, _ = _question(stack, "Nightly restore test of the mail archive", "U3WD")
    refused = _text(stack.driver.slash_command(f"withdraw #{number}", user_id="U3NOTME"))
    assert f"Only the person who proposed #{number} can withdraw it" in refused
    done = _text(stack.driver.slash_command(f"withdraw #{number}", user_id="U3WD"))
    assert "Withdrew your proposal" in done
    again = _text(stack.driver.slash_command(f"withdraw {number}", user_id="U3WD"))
    assert "is already withdrawn" in again
    assert _by(stack, "U3WD")[0]["status"] == "withdrawn"


def test_merging_twice_says_it_is_already_merged(stack: Stack, objective: str) -> None:
    target, _ = _question(stack, "Password reset portal for all staff", "U3TARGET")
    duplicate, _ = _question(stack, "Self-service password reset for staff", "U3DUPE")
    first = _text(
        stack.driver.slash_command(f"merge #{duplicate} into #{target}", user_id=STEERING)
    )
    assert first.startswith(":twisted_rightwards_arrows: Merged"), first
    assert "which now has 1 vote." in first
    assert "I'll let its submitter, <@U3DUPE>, know." in first
    told = stack.slack.wait_for("chat.postMessage", lambda c: c.params.get("channel") == "U3DUPE")
    assert "was merged into" in told.params["text"]
    second = _text(
        stack.driver.slash_command(f"merge #{duplicate} into #{target}", user_id=STEERING)
    )
    assert f"#{duplicate} was already merged into #{target} by <@{STEERING}> on" in second
    assert "cannot become" not in second


def test_merging_an_imported_proposal_neither_votes_nor_tells_its_placeholder_submitter(
    stack: Stack, objective: str, tmp_path: Path
) -> None:
    source = tmp_path / "sheet.json"
    source.write_text(
        json.dumps([{"ref": "OLD-7", "title": "Second uplink for the branch office"}])
    )
    assert stack.cli("import", str(source)).returncode == 0
    imported = next(r for r in _rows(stack) if r["ref"] == "OLD-7")
    assert imported["submitter"] == "import"
    target, _ = _question(stack, "Redundant internet line for the branch", "U3LINE")
    stack.slack.clear()
    answer = _text(
        stack.driver.slash_command(f"merge #{imported['id']} into #{target}", user_id=STEERING)
    )
    assert "which now has 0 votes." in answer
    assert "Its submitter, “import”, is not a Slack user, so there is nobody to tell." in answer
    assert "I'll let" not in answer and "was told" not in answer
    with session_scope(stack.engine) as session:
        assert repo.voters(session=session, proposal_id=target) == []
    assert not [c for c in stack.slack.calls("chat.postMessage") if c.params["channel"] == "import"]


def test_copies_of_one_merge_at_once_merge_once_and_the_rest_say_so(
    stack: Stack, objective: str
) -> None:
    target, _ = _question(stack, "Patch the hypervisors every month", "U3HYPER")
    duplicate, _ = _question(stack, "Monthly patching for the hypervisor hosts", "U3PATCH")
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(
            pool.map(
                lambda _: _text(
                    stack.driver.slash_command(
                        f"merge #{duplicate} into #{target}", user_id=STEERING
                    )
                ),
                range(4),
            )
        )
    assert len([a for a in answers if a.startswith(":twisted_rightwards_arrows: Merged")]) == 1
    assert len([a for a in answers if "was already merged into" in a]) == 3, answers
    with session_scope(stack.engine) as session:
        history = repo.history(session=session, proposal_id=duplicate)
        assert len([e for e in history if e.to_status == "merged"]) == 1
        assert repo.voters(session=session, proposal_id=target) == ["U3PATCH"]


def test_a_title_with_ampersand_or_angle_brackets_is_stored_as_typed(
    stack: Stack, objective: str
) -> None:
    # Slack sends `&`, `<` and `>` in a command's text as entities.
    _, blocks = _question(stack, "Printers for the R&amp;D lab &lt;3rd floor&gt;", "U3AMP")
    assert _by(stack, "U3AMP")[0]["title"] == "Printers for the R&D lab <3rd floor>"
    assert "<3rd floor>" not in json.dumps(blocks)  # shown escaped, never as a link
