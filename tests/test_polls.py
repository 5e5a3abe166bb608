"""Prioritisation polls without the bot process: the ballot, the count, the result message, the
one-open-poll rule in the database, the score term, and the schedule with a test clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot import poll_posting as service
from bot import proposals, scoring
from bot.blocks import polls as poll_blocks
from bot.deps import Deps
from bot.drafts import ProposalDraft
from bot.polls import poll_shares
from bot.polls.ballot import NUMBER_EMOJI, ballot, count, reactions_of
from bot.settings import Settings
from bot.steering import SteeringGroup
from scheduler import polls as poll_jobs
from storage import poll_tables as tables
from storage.db import session_scope
from tests.fakeslack import FakeSlack
from tests.fakeslack.validation import check_message
from tests.fakeslack.webapi import BOT_USER_ID

STEERING = "C0STEERING"
MEMBERS = {"USTEER1", "USTEER2", "USTEER3"}


def _candidates(n: int = 3) -> list[service.Candidate]:
    return ballot([(10 + i, f"Proposal {i}") for i in range(1, n + 1)])


def test_the_ballot_is_the_top_ten_numbered_one_to_keycap_ten() -> None:
    ranked = [(i, f"P{i}") for i in range(100, 115)]
    chosen = ballot(ranked)
    assert [c.number for c in chosen] == list(range(1, 11))
    assert [c.proposal_id for c in chosen] == list(range(100, 110))
    assert [c.emoji for c in chosen] == [
        "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "keycap_ten",
    ]  # fmt: skip
    assert len(NUMBER_EMOJI) == 10
    assert ballot([]) == []


def test_only_members_reactions_on_candidate_emoji_count_once_each() -> None:
    answer = {
        "ok": True,
        "message": {
            "reactions": [
                {"name": "one", "users": [BOT_USER_ID, "UOUTSIDER", "USTEER1"], "count": 3},
                {"name": "three", "users": ["USTEER1", "USTEER2", "USTEER3"], "count": 3},
                {"name": "two", "users": [BOT_USER_ID, "USTEER2"], "count": 2},
                {"name": "+1", "users": ["USTEER3"], "count": 1},  # not a candidate's emoji
                {"name": "seven", "users": ["USTEER3"], "count": 1},  # no seventh candidate
                "junk",
                {"name": 5, "users": "USTEER1"},
            ]
        },
    }
    result = count(
        _candidates(),
        reactions_of(answer),
        counts=lambda user: user != BOT_USER_ID and user in MEMBERS,
    )
    assert [(p.candidate.number, p.votes, p.rank) for p in result.places] == [
        (3, 3, 1),
        (1, 1, 2),
        (2, 1, 2),  # tied with candidate 1: the same rank, listed by number
    ]
    assert result.voters == 3 and result.votes == 5


def test_a_poll_without_member_reactions_has_no_voters() -> None:
    answer = {"message": {"reactions": [{"name": "one", "users": [BOT_USER_ID, "UOUTSIDER"]}]}}
    result = count(_candidates(), reactions_of(answer), counts=lambda user: user in MEMBERS)
    assert result.voters == 0 and {p.rank for p in result.places} == {1}
    assert reactions_of({"ok": False, "error": "message_not_found"}) == {}


def test_the_poll_message_lists_candidates_in_the_order_of_their_numbers() -> None:
    chosen = ballot([(7, "Fix <!channel> DNS"), (3, "Cut *cost*")])
    text, message = poll_blocks.poll_message(
        poll_id=4,
        candidates=list(reversed(chosen)),
        closes_at=datetime(2026, 12, 8, 10, tzinfo=UTC),
        timezone="Europe/Berlin",
    )
    assert check_message({"text": text, "blocks": message}) is None
    shown = json.dumps(message)
    assert shown.index(":one: #7") < shown.index(":two: #3")
    assert "<!channel>" not in shown and "*cost*" not in shown
    assert "Tue 08 Dec 2026 at 11:00 (Europe/Berlin)" in shown
    assert "Only the steering group's reactions count" in shown


def test_the_result_ranks_and_a_poll_without_votes_says_so() -> None:
    answer = {"message": {"reactions": [{"name": "two", "users": ["USTEER1", "USTEER2"]}]}}
    result = count(_candidates(), reactions_of(answer), counts=lambda user: user in MEMBERS)
    text, message = poll_blocks.poll_result(poll_id=2, result=result)
    assert check_message({"text": text, "blocks": message, "thread_ts": "1.2"}) is None
    lines = [b["text"]["text"] for b in message if b["type"] == "section"]
    assert lines[0] == "*Result of prioritisation poll 2*: 2 steering members voted."
    assert lines[1] == "1. :two: #12 Proposal 2 · 2 votes"
    assert lines[2:] == ["2. :one: #11 Proposal 1 · 0 votes", "2. :three: #13 Proposal 3 · 0 votes"]
    empty = count(_candidates(), {}, counts=lambda user: True)
    text, _ = poll_blocks.poll_result(poll_id=3, result=empty)
    assert text == (
        "Prioritisation poll 3 closed with no votes from the steering group, so it changes no "
        "priority."
    )


def test_the_poll_term_raises_the_score_by_the_share_of_voters() -> None:
    base = scoring.priority(value=4, effort_days=5, votes=2)
    assert scoring.priority(value=4, effort_days=5, votes=2, poll_share=1.0) == pytest.approx(
        2 * base, abs=0.002
    )
    third = scoring.priority(value=4, effort_days=5, votes=2, poll_share=1 / 3)
    assert third == pytest.approx(base * 4 / 3, abs=0.002)
    # A share outside 0..1 (a bad row) cannot run the score away.
    assert scoring.priority(value=4, effort_days=5, votes=2, poll_share=7) == pytest.approx(
        2 * base, abs=0.002
    )
    assert "poll share" in scoring.FORMULA
    names = [t.name for t in scoring.breakdown(value=4, effort_days=5, votes=2).terms]
    assert "prioritisation poll: 1 + share of its voters" in names


def _poll(session: object, opened_at: datetime) -> tables.Poll | None:
    return tables.add_poll(
        session=session,  # type: ignore[arg-type]
        channel_id=STEERING,
        opened_by="test",
        opened_at=opened_at,
        closes_at=opened_at + timedelta(days=7),
        candidates=[],
    )


def test_the_database_keeps_one_poll_open_at_a_time(engine: Engine) -> None:
    now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    with session_scope(engine) as session:
        first = _poll(session, now)
        assert first is not None and first.id is not None
        assert _poll(session, now) is None
    # Even a writer that skips the check cannot add a second open poll.
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(
            tables.Poll(channel_id=STEERING, opened_by="rogue", closes_at=now, opened_at=now)
        )
    with session_scope(engine) as session:
        tables.store_result(
            session=session, poll_id=first.id, closed_at=now, voters=0, result_ts=None, places=[]
        )
    with session_scope(engine) as session:
        assert _poll(session, now + timedelta(days=8)) is not None


def _deps(engine: Engine, slack: FakeSlack, **env: str) -> Deps:
    settings = Settings.from_mapping(
        {
            "CSI_PROPOSALS_CHANNEL": "C0PROPOSALS",
            "CSI_STEERING_CHANNEL": STEERING,
            "CSI_STEERING_MEMBERS": ",".join(sorted(MEMBERS)),
            "CSI_POLL_DAYS": "7",
            **env,
        }
    )
    client = WebClient(token="xoxb-test-token", base_url=slack.api_url)
    return Deps(settings=settings, engine=engine, steering=SteeringGroup(settings, client))


def _open_proposals(engine: Engine, *titles: str) -> list[int]:
    with session_scope(engine) as session:
        objective = proposals.add_objective(session=session, title="Keep the lights on")
        ids = []
        for value, title in zip(range(5, 0, -1), titles, strict=False):
            proposal, _ = proposals.capture(
                session=session,
                draft=ProposalDraft(title=title, objective_id=objective.id, value=value),
                submitter="U0SUBMIT",
            )
            ids.append(proposal.id or 0)
        return ids


def test_the_schedule_opens_and_closes_once_per_period_across_replicas(engine: Engine) -> None:
    ids = _open_proposals(engine, "Patch the VPN", "Automate backups")
    opening = datetime(2026, 12, 1, 10, tzinfo=UTC)
    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test-token", base_url=slack.api_url)
        replicas = [_deps(engine, slack), _deps(engine, slack)]
        opened = [
            poll_jobs.open_scheduled_poll(deps=d, client=client, now=opening) for d in replicas
        ]
        assert isinstance(opened[0], service.Opened) and opened[1] is None
        assert [c.proposal_id for c in opened[0].candidates] == ids
        assert len(slack.calls("chat.postMessage")) == 1
        poll_ts = opened[0].message_ts
        slack.add_reaction(STEERING, poll_ts, "two", "USTEER1")
        # Before CSI_POLL_DAYS have passed, the close check leaves the poll open.
        early = opening + timedelta(days=6, hours=23)
        assert poll_jobs.close_due_poll(deps=replicas[0], client=client, now=early) is None
        due = opening + timedelta(days=7, minutes=3)
        closed = [poll_jobs.close_due_poll(deps=d, client=client, now=due) for d in replicas]
        assert isinstance(closed[0], service.Closed) and closed[1] is None
        results = [c for c in slack.calls("chat.postMessage") if c.params.get("thread_ts")]
        assert len(results) == 1 and results[0].params["thread_ts"] == poll_ts
        # The next firing of CSI_POLL_CRON opens the next poll, once.
        later = opening + timedelta(days=31)
        again = [poll_jobs.open_scheduled_poll(deps=d, client=client, now=later) for d in replicas]
        assert isinstance(again[0], service.Opened) and again[1] is None
        assert again[0].poll_id != opened[0].poll_id
        for deps in replicas:
            deps.shutdown()
    with session_scope(engine) as session:
        assert poll_shares(session=session) == {ids[0]: 0.0, ids[1]: 1.0}


def test_a_poll_slack_refuses_leaves_nothing_open_and_the_day_free(engine: Engine) -> None:
    _open_proposals(engine, "Patch the VPN")
    now = datetime(2026, 12, 1, 10, tzinfo=UTC)
    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test-token", base_url=slack.api_url)
        deps = _deps(engine, slack)
        slack.fail_next("chat.postMessage", error="not_in_channel", status=200, retry_after=None)
        with pytest.raises(service.PollFailed, match="not_in_channel"):
            poll_jobs.open_scheduled_poll(deps=deps, client=client, now=now)
        with session_scope(engine) as session:
            assert tables.open_poll(session=session) is None
        retried = poll_jobs.open_scheduled_poll(deps=deps, client=client, now=now)
        assert isinstance(retried, service.Opened)
        deps.shutdown()
