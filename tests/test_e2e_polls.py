"""End to end: a prioritisation poll opened, voted on and closed through the running bot, the
command line and the fake Slack, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import proposals, scoring
from bot.polls import poll_shares
from storage import poll_tables as tables
from storage.db import make_engine, session_scope
from tests.botproc import SIGNING_SECRET, BotProcess, bot_env, free_port, run_cli
from tests.conftest import BACKENDS, Stack, _empty_database
from tests.fakeslack import Call, FakeSlack, SlackDriver
from tests.fakeslack.webapi import BOT_USER_ID

pytestmark = pytest.mark.e2e

STEERING = "C0STEERING"
MEMBERS = ("USTEER1", "USTEER2", "USTEER3")
OUTSIDER = "UOUTSIDER"


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """`csi-bot serve` with a steering channel and three steering members."""
    workdir = tmp_path_factory.mktemp("bot")
    with _empty_database(request, workdir) as url, FakeSlack() as slack:
        env = bot_env(
            api_url=slack.api_url,
            database_url=url,
            port=free_port(),
            CSI_STEERING_CHANNEL=STEERING,
            CSI_STEERING_MEMBERS=",".join(MEMBERS),
        )
        with BotProcess(env, workdir) as bot:
            engine = make_engine(url)
            driver = SlackDriver(
                base_url=bot.url,
                signing_secret=SIGNING_SECRET,
                response_url_base=slack.response_url_base,
            )
            try:
                yield Stack(
                    slack=slack, driver=driver, bot=bot, env=env, workdir=workdir, engine=engine
                )
            finally:
                engine.dispose()


def _import(stack: Stack, tmp_path: Path) -> dict[str, int]:
    """Three open proposals whose values rank them A, B, C."""
    sheet = tmp_path / "register.csv"
    sheet.write_text(
        "ref,title,objective,status,value,effort\n"
        "POLL-A,Automate certificate renewal,Keep the lights on,open,5,M\n"
        "POLL-B,Self-service password reset,Keep the lights on,open,4,M\n"
        "POLL-C,Shared on-call calendar,Keep the lights on,open,3,M\n",
        encoding="utf-8",
    )
    done = stack.cli("import", str(sheet), "--create-objectives")
    assert done.returncode == 0, done.stdout + done.stderr
    with session_scope(stack.engine) as session:
        ranked = [s.proposal for s in proposals.ranked(session=session)]
    return {p.ref: p.id or 0 for p in ranked if p.ref}


def _poll_post(call: Call) -> bool:
    return call.params.get("channel") == STEERING and not call.params.get("thread_ts")


def _react(stack: Stack, user: str, emoji: str, ts: str, *, added: bool = True) -> None:
    """What Slack does: the reaction is on the message (reactions.get sees it), then the event."""
    if added:
        stack.slack.add_reaction(STEERING, ts, emoji, user)
        reply = stack.driver.reaction_added(user, emoji, STEERING, ts)
    else:
        stack.slack.remove_reaction(STEERING, ts, emoji, user)
        reply = stack.driver.reaction_removed(user, emoji, STEERING, ts)
    assert reply.status == 200


def test_closing_or_opening_with_nothing_to_do_says_so(stack: Stack) -> None:
    closing = stack.cli("poll", "close")
    assert closing.returncode == 1
    assert "No poll is open, so there is nothing to close." in closing.stderr
    opening = stack.cli("poll", "open")
    assert opening.returncode == 1
    assert "the register has no open or approved proposal to put to it" in opening.stderr
    assert stack.slack.calls("chat.postMessage") == []
    assert "Traceback" not in closing.stderr + opening.stderr
    without_token = {k: v for k, v in stack.env.items() if k != "SLACK_BOT_TOKEN"}
    unconfigured = run_cli("poll", "open", env=without_token, cwd=stack.workdir)
    assert unconfigured.returncode == 2
    assert "A prioritisation poll needs:\n  SLACK_BOT_TOKEN: " in unconfigured.stderr


def test_a_poll_is_opened_voted_and_closed_with_the_result_in_its_thread(
    stack: Stack, tmp_path: Path
) -> None:
    ids = _import(stack, tmp_path)
    a, b, c = ids["POLL-A"], ids["POLL-B"], ids["POLL-C"]

    opened = stack.cli("poll", "open")
    assert opened.returncode == 0, opened.stdout + opened.stderr
    assert opened.stdout.startswith("Opened poll 1 in C0STEERING with 3 candidates; it closes ")
    post = stack.slack.wait_for("chat.postMessage", _poll_post)
    ts = str(post.response["ts"])
    shown = json.dumps(post.params["blocks"])
    # The candidates, numbered in ranking order, listed in the order of their numbers.
    lines = [f":one: #{a} ", f":two: #{b} ", f":three: #{c} "]
    assert all(line in shown for line in lines)
    assert shown.index(lines[0]) < shown.index(lines[1]) < shown.index(lines[2])
    assert "Only the steering group's reactions count" in shown
    # The bot adds each number itself, as a convenience.
    added = [x.params["name"] for x in stack.slack.calls("reactions.add")]
    assert added == ["one", "two", "three"]

    again = stack.cli("poll", "open")
    assert again.returncode == 1
    assert "Poll 1 is already open in C0STEERING" in again.stderr
    assert len([x for x in stack.slack.calls("chat.postMessage") if _poll_post(x)]) == 1

    # Votes: several choices each; a non-member's, a withdrawn one, another emoji.
    _react(stack, "USTEER1", "three", ts)
    _react(stack, "USTEER1", "two", ts)
    _react(stack, "USTEER2", "three", ts)
    _react(stack, "USTEER2", "+1", ts)  # not a candidate's number
    _react(stack, "USTEER3", "one", ts)
    _react(stack, "USTEER3", "one", ts, added=False)  # withdrawn
    _react(stack, OUTSIDER, "one", ts)
    _react(stack, OUTSIDER, "two", ts)
    stack.driver.reaction_added(BOT_USER_ID, "one", STEERING, ts)  # the bot's own
    # Made while the bot was down: on the message, but no event ever reached the bot.
    stack.slack.add_reaction(STEERING, ts, "three", "USTEER3")

    # The non-member is told once, privately; nobody else is.
    notice = stack.slack.wait_for("chat.postEphemeral", lambda x: x.params["user"] == OUTSIDER)
    assert notice.params["channel"] == STEERING
    assert "Only the steering group's reactions count" in notice.params["text"]
    time.sleep(1.0)
    told = [x.params["user"] for x in stack.slack.calls("chat.postEphemeral")]
    assert told == [OUTSIDER]

    closed = stack.cli("poll", "close")
    assert closed.returncode == 0, closed.stdout + closed.stderr
    assert closed.stdout.strip() == (
        f"Closed poll 1: 3 steering members cast 4 votes; #{c} ranks first. The ranked result "
        "is posted in the poll's thread."
    )
    counted = stack.slack.calls("reactions.get")[-1].params
    assert counted["timestamp"] == ts and str(counted["full"]).lower() in ("1", "true")
    result = stack.slack.wait_for("chat.postMessage", lambda x: x.params.get("thread_ts") == ts)
    assert result.params["channel"] == STEERING
    sections = [b["text"]["text"] for b in result.params["blocks"] if b["type"] == "section"]
    assert sections == [
        "*Result of prioritisation poll 1*: 3 steering members voted.",
        f"1. :three: #{c} Shared on-call calendar · 3 votes",
        f"2. :two: #{b} Self-service password reset · 1 vote",
        f"3. :one: #{a} Automate certificate renewal · 0 votes",
    ]

    # The poll message no longer asks for votes.
    update = stack.slack.wait_for("chat.update", lambda x: x.params.get("ts") == ts)
    assert "reactions no longer count" in json.dumps(update.params["blocks"])
    assert f":three: #{c} " in json.dumps(update.params["blocks"])

    with session_scope(stack.engine) as session:
        assert tables.open_poll(session=session) is None
        stored = [
            (r.proposal_id, r.votes, r.rank) for r in tables.results(session=session, poll_id=1)
        ]
        assert stored == [(c, 3, 1), (b, 1, 2), (a, 0, 3)]
        # The documented term: the winner, chosen by every voter, scores twice what it did.
        shares = poll_shares(session=session)
        winner = proposals.summary(session=session, proposal_id=c)
    assert shares == {c: 1.0, b: pytest.approx(1 / 3), a: 0.0}
    before = scoring.priority(value=3, effort_days=5, votes=winner.votes)
    assert winner.priority == pytest.approx(2 * before, abs=0.002)
    # The score people see (card, /improve top, the export) carries the same term.
    exported = json.loads(stack.cli("export", "--format", "json").stdout)
    row = next(r for r in exported if r["id"] == c)
    assert row["priority"] == pytest.approx(2 * before, abs=0.01)

    closing_again = stack.cli("poll", "close")
    assert closing_again.returncode == 1
    assert "No poll is open" in closing_again.stderr


def test_a_poll_without_votes_closes_saying_so_and_keeps_the_last_result(stack: Stack) -> None:
    opened = stack.cli("poll", "open")
    assert opened.returncode == 0, opened.stdout + opened.stderr
    poll_id = int(opened.stdout.split()[2])
    post = [x for x in stack.slack.calls("chat.postMessage") if _poll_post(x)][-1]
    ts = str(post.response["ts"])
    _react(stack, OUTSIDER, "one", ts)  # not a member: no vote
    closed = stack.cli("poll", "close")
    assert closed.returncode == 0, closed.stdout + closed.stderr
    assert f"Closed poll {poll_id} with no votes from the steering group" in closed.stdout
    result = stack.slack.wait_for("chat.postMessage", lambda x: x.params.get("thread_ts") == ts)
    assert result.params["text"] == (
        f"Prioritisation poll {poll_id} closed with no votes from the steering group, so it "
        "changes no priority."
    )
    with session_scope(stack.engine) as session:
        assert max(poll_shares(session=session).values()) == 1.0  # poll 1 still counts
