"""End to end: cards reach the channel exactly once, after a crash (the outbox in the running bot)
and after an import (`csi-bot cards post`), on both databases."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from bot.ids import ActionId, BlockId
from bot.outbox import EVENT_TYPE, POST_BURST, POSTS_PER_S
from storage import repositories as repo
from storage.db import session_scope
from storage.models import Proposal
from storage.types import utcnow
from tests.botproc import PROPOSALS_CHANNEL, csi_bot_command, run_cli
from tests.conftest import Stack
from tests.fakeslack import Call
from tests.fakeslack.webapi import BOT_ID, BOT_USER_ID

pytestmark = pytest.mark.e2e

OBJECTIVE = "Fewer failed changes"


@pytest.fixture(scope="module")
def objective_id(stack: Stack) -> int:
    result = stack.cli("objective", "add", OBJECTIVE)
    assert result.returncode == 0, result.stderr
    with session_scope(stack.engine) as session:
        objective = repo.objective_by_title(session=session, title=OBJECTIVE)
        assert objective is not None and objective.id is not None
        return objective.id


def _is_card(proposal_id: int) -> Callable[[Call], bool]:
    return lambda c: bool(
        c.response.get("ok")
        and c.params.get("channel") == PROPOSALS_CHANNEL
        and (c.params.get("metadata") or {}).get("event_payload", {}).get("proposal_id")
        == proposal_id
    )


def _card_calls(stack: Stack, proposal_id: int) -> list[Call]:
    return [c for c in stack.slack.calls("chat.postMessage") if _is_card(proposal_id)(c)]


def _stored_without_card(stack: Stack, objective_id: int, title: str) -> int:
    """A proposal committed by a bot that was killed (-9) before it posted the card."""
    a_minute_ago = utcnow() - timedelta(minutes=1)
    with session_scope(stack.engine) as session:
        proposal = Proposal(
            title=title,
            submitter="U0CRASH",
            status="open",
            objective_id=objective_id,
            source_key=f"view:V{title.replace(' ', '')[:30]}",
            created_at=a_minute_ago,
            updated_at=a_minute_ago,
        )
        session.add(proposal)
        session.flush()
        return proposal.id or 0


def _proposal(stack: Stack, proposal_id: int) -> Proposal:
    with session_scope(stack.engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None
        return proposal


def _card_ts(stack: Stack, proposal_id: int, timeout: float = 10.0) -> str | None:
    """The stored ts of the proposal's card, once the bot has recorded it."""
    deadline = time.monotonic() + timeout
    while (ts := _proposal(stack, proposal_id).message_ts) is None:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)
    return ts


# Made-up words, so that no proposal of the storm is held next to a similar one.
STORM_WORDS = [c + v + c2 for c in "bdfgk" for v in "aeiou" for c2 in "lmnrst"]


def _form(stack: Stack) -> dict[str, object]:
    """The proposal form, as the bot opens it."""
    trigger = stack.driver.trigger_id()
    stack.driver.slash_command("", user_id="U0STORMFORM", trigger_id=trigger)
    opened = stack.slack.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    return dict(opened.response["view"])


def test_a_storm_of_forms_gets_its_cards_at_slacks_pace_each_once_and_each_submitter_told(
    stack: Stack, objective_id: int
) -> None:
    form, count = _form(stack), POST_BURST + 6
    users = [f"U0STORM{n:02d}" for n in range(count)]
    for n, user in enumerate(users):
        title = " ".join(STORM_WORDS[4 * n : 4 * n + 4]).capitalize()
        option = {"value": str(objective_id), "text": {"type": "plain_text", "text": "o"}}
        reply = stack.driver.view_submission(
            {**form, "id": f"VSTORM{n:02d}"},
            user_id=user,
            state_values={
                BlockId.TITLE: {ActionId.TITLE: title},
                BlockId.OBJECTIVE: {
                    ActionId.INPUT: {"type": "static_select", "selected_option": option}
                },
            },
        )
        assert reply.status == 200 and not reply.body.strip(), reply.body  # stored, form closed
    with session_scope(stack.engine) as session:
        stored = list(session.exec(select(Proposal).where(col(Proposal.submitter).in_(users))))
    assert len(stored) == count

    # Slack takes about one post a second in a channel, after a burst: the cards follow at
    # that pace, one each, oldest first.
    wait = count / POSTS_PER_S + 30
    for proposal in stored:
        assert _card_ts(stack, proposal.id or 0, timeout=wait), f"no card for #{proposal.id}"
    posts = [c for c in stack.slack.calls("chat.postMessage") if c.params.get("metadata")]
    storm = {p.id: p for p in stored}
    ours = [c for c in posts if c.params["metadata"]["event_payload"]["proposal_id"] in storm]
    assert sorted(c.params["metadata"]["event_payload"]["proposal_id"] for c in ours) == sorted(
        storm
    )
    assert [c.params["metadata"]["event_payload"]["proposal_id"] for c in ours] == sorted(storm)
    times = [c.at for c in ours]
    assert times[-1] - times[0] >= (count - POST_BURST - 1) / POSTS_PER_S

    # Each submitter is told once: where the card is, or that it is on its way; never that it
    # could not be posted.
    deadline = time.monotonic() + 30
    told: dict[str, list[str]] = {}
    while time.monotonic() < deadline:
        told = {
            user: [
                str(c.params.get("text"))
                for c in stack.slack.calls("chat.postMessage")
                if c.params.get("channel") == user
                and "is in the register" in str(c.params.get("text"))
            ]
            for user in users
        }
        if all(told.values()):
            break
        time.sleep(0.2)
    for user in users:
        assert len(told[user]) == 1, (user, told[user])
        assert "could not be posted" not in told[user][0]
        assert "posted in" in told[user][0] or "will be posted in" in told[user][0]


def _restart(stack: Stack) -> None:
    stack.bot.stop()
    stack.bot.start()


def test_a_proposal_stored_without_its_card_gets_one_when_the_bot_starts(
    stack: Stack, objective_id: int
) -> None:
    proposal_id = _stored_without_card(stack, objective_id, "Alert on certificate expiry")
    _restart(stack)
    card = stack.slack.wait_for("chat.postMessage", _is_card(proposal_id))
    assert card.params["metadata"]["event_type"] == EVENT_TYPE
    assert "Alert on certificate expiry" in card.params["text"]
    assert _card_ts(stack, proposal_id) == card.response["ts"]
    assert _proposal(stack, proposal_id).channel_id == PROPOSALS_CHANNEL
    # Started again, the bot finds nothing missing: never a second card.
    _restart(stack)
    time.sleep(1.5)
    assert len(_card_calls(stack, proposal_id)) == 1


def test_a_card_posted_just_before_a_crash_is_found_and_counts_votes(
    stack: Stack, objective_id: int
) -> None:
    proposal_id = _stored_without_card(stack, objective_id, "Retire the old VPN concentrator")
    # The killed process had claimed the card and posted it, but never stored its ts.
    posted_ts = f"{time.time() - 20:.6f}"
    stack.slack.add_message(
        PROPOSALS_CHANNEL,
        posted_ts,
        text=f"Improvement proposal #{proposal_id}: Retire the old VPN concentrator",
        user=BOT_USER_ID,
        bot_id=BOT_ID,
        metadata={"event_type": EVENT_TYPE, "event_payload": {"proposal_id": proposal_id}},
    )
    with session_scope(stack.engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None
        proposal.card_claim = "killed"
        proposal.card_claimed_until = utcnow() - timedelta(seconds=1)
        session.add(proposal)
    _restart(stack)
    stack.slack.wait_for(
        "conversations.history", lambda c: c.params.get("channel") == PROPOSALS_CHANNEL
    )
    assert _card_ts(stack, proposal_id) == posted_ts
    assert _card_calls(stack, proposal_id) == []
    # The adopted message is the card: a vote on it is counted and drawn on it.
    reply = stack.driver.reaction_added("U0VOTER", "+1", PROPOSALS_CHANNEL, posted_ts)
    assert reply.status == 200
    update = stack.slack.wait_for("chat.update", lambda c: c.params.get("ts") == posted_ts)
    assert "1 vote " in str(update.params["blocks"])


def _import(stack: Stack, tmp_path: Path, name: str, rows: list[tuple[str, str, str]]) -> None:
    path = tmp_path / name
    lines = ["ref,title,status,objective"] + [f"{r},{t},{s},{OBJECTIVE}" for r, t, s in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = stack.cli("import", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def _ids_by_ref(stack: Stack, refs: list[str]) -> dict[str, int]:
    with session_scope(stack.engine) as session:
        found = {ref: repo.proposal_by_ref(session=session, ref=ref) for ref in refs}
    return {ref: p.id or 0 for ref, p in found.items() if p is not None}


def test_cards_post_gives_imported_proposals_one_card_each(
    stack: Stack, objective_id: int, tmp_path: Path
) -> None:
    rows = [
        ("IMP-1", "Standard laptop image", "open"),
        ("IMP-2", "Self-service password reset", "approved"),
        ("IMP-3", "Shared on-call calendar", "open"),
        ("IMP-4", "Dropped idea", "withdrawn"),
    ]
    _import(stack, tmp_path, "register.csv", rows)
    ids = _ids_by_ref(stack, [r[0] for r in rows])
    # Slack rate-limits one of the posts: the client waits it out, nothing is lost or doubled.
    stack.slack.fail_next("chat.postMessage", retry_after=1)

    approved = stack.cli("cards", "post", "--status", "approved", "--pace", "0.05")
    assert approved.returncode == 0, approved.stdout + approved.stderr
    assert "Posted 1 card; 0 failed." in approved.stdout
    assert len(_card_calls(stack, ids["IMP-2"])) == 1
    assert _card_calls(stack, ids["IMP-1"]) == []

    everything = stack.cli("cards", "post", "--pace", "0.05")
    assert everything.returncode == 0, everything.stdout + everything.stderr
    assert "Posted 2 cards; 0 failed." in everything.stdout
    assert "[2/2]" in everything.stderr
    for ref in ("IMP-1", "IMP-2", "IMP-3"):
        calls = _card_calls(stack, ids[ref])
        assert len(calls) == 1, ref
        assert _proposal(stack, ids[ref]).message_ts == calls[0].response["ts"]
    assert _card_calls(stack, ids["IMP-4"]) == []  # withdrawn: nothing to vote on

    again = stack.cli("cards", "post", "--pace", "0.05")
    assert again.returncode == 0 and "Posted 0 cards; 0 failed." in again.stdout
    for ref in ("IMP-1", "IMP-2", "IMP-3"):
        assert len(_card_calls(stack, ids[ref])) == 1


def test_cards_post_refuses_a_status_without_cards(stack: Stack) -> None:
    result = stack.cli("cards", "post", "--status", "needs_objective")
    assert result.returncode == 2
    assert "cards are posted for proposals that are" in result.stderr
    assert "Traceback" not in result.stderr


def test_cards_post_names_what_it_needs_to_reach_slack(stack: Stack) -> None:
    env = {k: v for k, v in stack.env.items() if k not in ("SLACK_BOT_TOKEN",)}
    result = run_cli("cards", "post", env=env, cwd=stack.workdir)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "SLACK_BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr


def _start_cards_post(stack: Stack, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*csi_bot_command(), "cards", "post", *args],
        env=stack.env,
        cwd=stack.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cards_post_stopped_with_ctrl_c_posts_the_rest_when_run_again(
    stack: Stack, objective_id: int, tmp_path: Path
) -> None:
    rows = [(f"CTRLC-{n}", f"Interrupted import row {n}", "open") for n in range(6)]
    _import(stack, tmp_path, "ctrlc.csv", rows)
    ids = _ids_by_ref(stack, [r[0] for r in rows])

    def posted() -> int:
        return sum(1 for pid in ids.values() if _card_calls(stack, pid))

    run = _start_cards_post(stack, "--pace", "0.7")
    deadline = time.monotonic() + 30
    while posted() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 130, out + err
    assert "still to post; run the command again to post the rest." in out
    first = posted()
    assert 2 <= first < len(ids)

    rest = stack.cli("cards", "post", "--pace", "0.05")
    assert rest.returncode == 0, rest.stdout + rest.stderr
    assert f"Posted {len(ids) - first} cards; 0 failed." in rest.stdout
    for pid in ids.values():
        assert len(_card_calls(stack, pid)) == 1, pid


def test_two_cards_post_runs_at_once_post_each_card_once(
    stack: Stack, objective_id: int, tmp_path: Path
) -> None:
    rows = [(f"TWICE-{n}", f"Imported twice over {n}", "open") for n in range(8)]
    _import(stack, tmp_path, "twice.csv", rows)
    ids = _ids_by_ref(stack, [r[0] for r in rows])
    runs = [_start_cards_post(stack, "--pace", "0") for _ in range(2)]
    outputs = [run.communicate(timeout=60) for run in runs]
    for pid in ids.values():
        assert len(_card_calls(stack, pid)) == 1, (pid, outputs)
        assert _proposal(stack, pid).message_ts is not None
