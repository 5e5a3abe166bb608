"""Steering decisions and next steps in the domain (on SQLite and PostgreSQL), the card's buttons,
the weekly list of proposals without an objective, and the steering group's member cache."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy.engine import Engine

from bot import decisions, proposals
from bot.blocks import decisions as decision_blocks
from bot.blocks import proposal_card
from bot.decisions import AlreadyDecided, NotOwner, NotSteering, SelfDecision
from bot.deps import Deps
from bot.drafts import ProposalDraft
from bot.errors import InvalidInput
from bot.lifecycle import Status
from bot.settings import Settings
from bot.steering import SteeringGroup
from scheduler import objective_digest
from storage import repositories as repo
from storage.db import session_scope
from tests.fakeslack import FakeSlack
from tests.fakeslack.validation import check_message, check_view


def _open_proposal(
    engine: Engine, submitter: str = "U0SUB", title: str = "Automate backups"
) -> int:
    with session_scope(engine) as session:
        objective = repo.objective_by_title(session=session, title="Stability")
        if objective is None:
            objective = proposals.add_objective(session=session, title="Stability")
        proposal, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(title=title, objective_id=objective.id),
            submitter=submitter,
        )
        assert proposal.status == Status.OPEN
        return proposal.id or 0


def _decisions(engine: Engine, proposal_id: int) -> list[tuple[str, str | None, str | None]]:
    with session_scope(engine) as session:
        return [
            (e.actor, e.to_status, (e.detail or {}).get("reason"))
            for e in repo.history(session=session, proposal_id=proposal_id)
            if e.action == decisions.DECISION
        ]


def _decide(engine: Engine, proposal_id: int, decision: Status, actor: str, **kw: object) -> None:
    with session_scope(engine) as session:
        decisions.decide(
            session=session,
            proposal_id=proposal_id,
            decision=decision,
            actor=actor,
            is_steering=kw.pop("is_steering", True),  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )


def test_the_first_decision_stands_and_the_second_names_who_and_when(engine: Engine) -> None:
    proposal_id = _open_proposal(engine)
    _decide(engine, proposal_id, Status.REJECTED, "USTEER", reason="No budget this year")
    with pytest.raises(AlreadyDecided) as second:
        _decide(engine, proposal_id, Status.APPROVED, "USTEER2")
    assert second.value.by == "USTEER" and second.value.status == Status.REJECTED
    assert second.value.at is not None
    assert _decisions(engine, proposal_id) == [("USTEER", "rejected", "No budget this year")]
    text = decision_blocks.refusal_text(second.value)
    assert "<@USTEER>" in text and "already rejected" in text


def test_only_the_steering_group_decides_and_never_their_own(engine: Engine) -> None:
    proposal_id = _open_proposal(engine, submitter="USTEER")
    with pytest.raises(NotSteering):
        _decide(engine, proposal_id, Status.APPROVED, "UOTHER", is_steering=False)
    with pytest.raises(SelfDecision) as own:
        _decide(engine, proposal_id, Status.APPROVED, "USTEER")
    assert "governance" in str(own.value) and "CSI_ALLOW_SELF_DECISION" in str(own.value)
    assert _decisions(engine, proposal_id) == []
    _decide(engine, proposal_id, Status.APPROVED, "USTEER", allow_self_decision=True)
    assert _decisions(engine, proposal_id) == [("USTEER", "approved", None)]


def test_reject_and_defer_need_a_reason(engine: Engine) -> None:
    proposal_id = _open_proposal(engine)
    for decision in (Status.REJECTED, Status.DEFERRED):
        with pytest.raises(InvalidInput, match="reason"):
            _decide(engine, proposal_id, decision, "USTEER", reason="   ")
    assert _decisions(engine, proposal_id) == []


def test_the_owner_moves_it_through_the_work_and_steering_reopens(engine: Engine) -> None:
    proposal_id = _open_proposal(engine)
    _decide(engine, proposal_id, Status.APPROVED, "USTEER")
    with session_scope(engine) as session, pytest.raises(NotOwner):
        decisions.move(
            session=session,
            proposal_id=proposal_id,
            to=Status.IN_PROGRESS,
            actor="USTEER",
            is_steering=True,
        )
    with session_scope(engine) as session:
        decisions.assign(
            session=session,
            proposal_id=proposal_id,
            owner="UOWNER",
            actor="USTEER",
            is_steering=True,
        )
    for step in (Status.IN_PROGRESS, Status.IMPLEMENTED):
        with session_scope(engine) as session:
            change = decisions.move(
                session=session, proposal_id=proposal_id, to=step, actor="UOWNER", is_steering=False
            )
            assert change.after == step
    deferred = _open_proposal(engine, title="Retire the old wiki")
    _decide(engine, deferred, Status.DEFERRED, "USTEER", reason="After the migration")
    with session_scope(engine) as session, pytest.raises(NotSteering):
        decisions.move(
            session=session,
            proposal_id=deferred,
            to=Status.OPEN,
            actor="U0SUB",
            is_steering=False,
        )
    with session_scope(engine) as session:
        decisions.move(
            session=session, proposal_id=deferred, to=Status.OPEN, actor="USTEER", is_steering=True
        )
        assert repo.get_proposal(session=session, proposal_id=deferred).status == Status.OPEN  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("status", "buttons"),
    [
        (Status.OPEN, ["decision_approve", "decision_reject", "decision_defer"]),
        (Status.APPROVED, ["start_work"]),
        (Status.IN_PROGRESS, ["mark_implemented"]),
        (Status.DEFERRED, ["reopen_proposal"]),
        (Status.REJECTED, ["reopen_proposal"]),
        (Status.IMPLEMENTED, []),
        (Status.WITHDRAWN, []),
    ],
)
def test_the_card_offers_the_next_steps_buttons(
    sqlite_engine: Engine, status: Status, buttons: list[str]
) -> None:
    proposal_id = _open_proposal(sqlite_engine)
    with session_scope(sqlite_engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None
        proposal.status = status
        session.add(proposal)
        session.flush()
        summary = proposals.summary(session=session, proposal_id=proposal_id)
        text, card = proposal_card(summary, vote_emoji="+1")
    actions = [e["action_id"] for b in card if b["type"] == "actions" for e in b["elements"]]
    assert actions == buttons
    assert check_message({"text": text, "blocks": card}) is None


def test_the_card_says_who_decided_when_and_why(sqlite_engine: Engine) -> None:
    proposal_id = _open_proposal(sqlite_engine)
    _decide(sqlite_engine, proposal_id, Status.DEFERRED, "USTEER", reason="Wait for <Q3> & budget")
    with session_scope(sqlite_engine) as session:
        summary = proposals.summary(session=session, proposal_id=proposal_id)
        decision = decisions.last_decision(session=session, proposal_id=proposal_id)
        _, card = proposal_card(summary, vote_emoji="+1", decision=decision)
    shown = json.dumps(card)
    assert "Deferred by <@USTEER> on " in shown
    assert "Wait for &lt;Q3&gt; &amp; budget" in shown


def _deps(engine: Engine, **env: str) -> Deps:
    settings = Settings.from_mapping({"CSI_PROPOSALS_CHANNEL": "C1", **env})
    steering = SteeringGroup(settings, WebClient(token="xoxb-test-token"))
    return Deps(settings=settings, engine=engine, steering=steering)


def test_the_weekly_objective_list_posts_once_per_week(engine: Engine) -> None:
    now = datetime(2026, 5, 4, 9, 25, tzinfo=UTC)  # a Monday
    with session_scope(engine) as session:
        old, _ = proposals.capture(
            session=session, draft=ProposalDraft(title="Fix the flaky DNS"), submitter="U0OLD"
        )
        old.created_at = now - timedelta(days=9)
        young, _ = proposals.capture(
            session=session, draft=ProposalDraft(title="Tidy the wiki pages"), submitter="U0NEW"
        )
        young.created_at = now - timedelta(days=2)
        session.add_all([old, young])
    deps = _deps(engine, CSI_STEERING_CHANNEL="C0STEER")
    with FakeSlack() as slack:
        client = WebClient(token="xoxb-test-token", base_url=slack.api_url)
        first = objective_digest.post_objective_digest(deps=deps, client=client, now=now)
        # Another replica, and the next hour's try, in the same week: nothing more.
        again = objective_digest.post_objective_digest(
            deps=_deps(engine, CSI_STEERING_CHANNEL="C0STEER"),
            client=client,
            now=now + timedelta(hours=1),
        )
        next_week = objective_digest.post_objective_digest(
            deps=deps, client=client, now=now + timedelta(days=7)
        )
        posts = slack.calls("chat.postMessage")
    assert (first, again, next_week) == (1, 0, 2)
    assert [p.params["channel"] for p in posts] == ["C0STEER", "C0STEER"]
    listed = json.dumps(posts[0].params["blocks"])
    assert "Fix the flaky DNS" in listed and "Tidy the wiki" not in listed
    assert "<@U0OLD> 9 days ago" in listed
    assert not slack.refused()


def test_the_steering_user_group_is_read_in_the_background() -> None:
    settings = Settings.from_mapping({"CSI_STEERING_USERGROUP": "S0STEER"})
    with FakeSlack() as slack:
        slack.set_usergroup("S0STEER", ["UALICE"])
        group = SteeringGroup(settings, WebClient(token="xoxb-test-token", base_url=slack.api_url))
        assert group.is_member("UALICE")  # the first fill, started with the bot
        slack.set_usergroup("S0STEER", ["UBOB"])
        group._fetched_at -= SteeringGroup.CACHE_SECONDS  # the cache is now stale
        calls = len(slack.calls("usergroups.users.list"))
        # Answered from the members known, while Slack is asked again in the background.
        assert group.is_member("UALICE") and not group.is_member("UBOB")
        deadline = time.monotonic() + 5
        while not group.is_member("UBOB"):
            assert time.monotonic() < deadline, "the members were never refreshed"
            time.sleep(0.02)
        assert len(slack.calls("usergroups.users.list")) == calls + 1


def test_a_reopened_card_no_longer_shows_the_old_decision(sqlite_engine: Engine) -> None:
    proposal_id = _open_proposal(sqlite_engine)
    _decide(sqlite_engine, proposal_id, Status.DEFERRED, "USTEER", reason="Not now")
    with session_scope(sqlite_engine) as session:
        decisions.move(
            session=session,
            proposal_id=proposal_id,
            to=Status.OPEN,
            actor="USTEER2",
            is_steering=True,
        )
    with session_scope(sqlite_engine) as session:
        summary = proposals.summary(session=session, proposal_id=proposal_id)
        decision = decisions.last_decision(session=session, proposal_id=proposal_id)
        _, card = proposal_card(summary, vote_emoji="+1", decision=decision)
    shown = json.dumps(card)
    assert "Deferred by" not in shown and "decision_approve" in shown


def test_the_reason_form_and_the_messages_are_valid_at_the_longest_inputs(
    sqlite_engine: Engine,
) -> None:
    proposal_id = _open_proposal(sqlite_engine, title="W" * 150)
    with session_scope(sqlite_engine) as session:
        change = decisions.decide(
            session=session,
            proposal_id=proposal_id,
            decision=Status.REJECTED,
            actor="USTEER",
            is_steering=True,
            reason="<!channel> *why* " + "r" * (decisions.REASON_MAX - 17),
        )
        proposal = change.proposal
        proposal.id = 2_147_483_647  # the longest number a card can name
        for decision in (Status.REJECTED, Status.DEFERRED):
            assert check_view(decision_blocks.reason_modal(proposal, decision)) is None
        late = AlreadyDecided(proposal_id=proposal.id, status="rejected", by="USTEER", at=change.at)
        assert check_view(decision_blocks.refusal_view(late)) is None
        for text in (
            decision_blocks.thread_reply(change),
            decision_blocks.decision_dm(change, to_submitter=True),
            decision_blocks.decision_dm(change, to_submitter=False),
        ):
            assert check_message({"text": text}) is None
            assert "<!channel>" not in text and "&lt;!channel&gt;" in text
        session.rollback()


def test_the_approval_dm_tells_the_submitter_they_own_the_work_and_voters_who_does() -> None:
    from storage.models import Proposal

    proposal = Proposal(id=7, title="Rotate backup tapes", submitter="U0ALICE", status="approved")
    change = decisions.Change(
        proposal=proposal,
        action="decision",
        actor="USTEER",
        at=datetime.now(UTC),
        before=Status.OPEN,
        after=Status.APPROVED,
    )
    to_submitter = decision_blocks.decision_dm(change, to_submitter=True)
    to_voter = decision_blocks.decision_dm(change, to_submitter=False)
    assert "You own the work" in to_submitter and "<@U0ALICE> owns" not in to_submitter
    assert "which you voted for" in to_voter and "<@U0ALICE> owns the work." in to_voter
