"""The benefit check's domain: the direction from baseline to target, the first measurement as
baseline, the yes/no of a proposal without a KPI target, who may answer, and answers recorded
once; on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine

from bot import benefit, proposals
from bot.benefit import Outcome, judge, parse_value
from bot.drafts import ProposalDraft
from bot.errors import InvalidInput, PermissionDenied
from bot.lifecycle import Status
from storage import repositories as repo
from storage.db import session_scope
from storage.types import utcnow

DAYS = timedelta(days=30)


@pytest.mark.parametrize(
    ("baseline", "target", "value", "outcome", "shortfall"),
    [
        (6.0, 2.0, 1.5, Outcome.REACHED, None),  # down is better: below the target
        (6.0, 2.0, 2.0, Outcome.REACHED, None),
        (6.0, 2.0, 3.0, Outcome.MISSED, 1.0),
        (60.0, 80.0, 85.0, Outcome.REACHED, None),  # up is better: above the target
        (60.0, 80.0, 72.0, Outcome.MISSED, 8.0),
        (99.9, 99.9, 99.8, Outcome.MISSED, pytest.approx(0.1)),  # keep it there or better
        (None, 80.0, 72.0, Outcome.BASELINE, None),
    ],
)
def test_the_direction_is_taken_from_baseline_to_target(
    baseline: float | None, target: float, value: float, outcome: Outcome, shortfall: object
) -> None:
    assert judge(baseline=baseline, target=target, value=value) == (outcome, shortfall)


@pytest.mark.parametrize("typed", ["", "  ", "fast", "inf", "-inf", "nan", "1e400", "1e16"])
def test_a_measured_value_must_be_a_finite_number(typed: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_value(typed)
    assert "measured" in caught.value.errors


def test_a_measured_value_may_carry_thousands_separators() -> None:
    assert parse_value(" 1,250.5 ") == 1250.5


def _implemented(engine: Engine, *, kpi: bool, baseline: float | None = None) -> int:
    with session_scope(engine) as session:
        objective = proposals.add_objective(session=session, title=f"Objective {utcnow()}")
        draft = ProposalDraft(
            title="Shorten the patch window",
            objective_id=objective.id,
            kpi="Patch window (h)" if kpi else None,
            kpi_baseline=None if baseline is None else str(baseline),
            kpi_target="4" if kpi else None,
        )
        proposal, _ = proposals.capture(session=session, draft=draft, submitter="U1OWNER")
        proposal_id = proposal.id or 0
        for status in (Status.APPROVED, Status.IN_PROGRESS, Status.IMPLEMENTED):
            proposals.transition(session=session, proposal_id=proposal_id, to=status, actor="U1")
    return proposal_id


def _ask(engine: Engine, *, at: timedelta = DAYS) -> list[int]:
    now = utcnow() + at + timedelta(minutes=1)
    with session_scope(engine) as session:
        asked = [
            p.id or 0
            for p, since in benefit.due(session=session, now=now, delay=DAYS)
            if benefit.ask(session=session, proposal=p, due_from=since, now=now)
        ]
    return asked


def test_a_kpi_without_baseline_takes_the_first_measurement_and_asks_again(engine: Engine) -> None:
    proposal_id = _implemented(engine, kpi=True)
    assert _ask(engine, at=timedelta(days=29)) == []
    assert _ask(engine) == [proposal_id]
    assert _ask(engine) == []  # asked once
    with session_scope(engine) as session:
        answer = benefit.record(session=session, proposal_id=proposal_id, actor="U1OWNER", value=9)
    assert answer.outcome is Outcome.BASELINE
    with session_scope(engine) as session:
        proposal = repo.get_proposal(session=session, proposal_id=proposal_id)
        assert proposal is not None
        assert (proposal.kpi_baseline, proposal.status) == (9.0, Status.IMPLEMENTED)
    # Asked again a delay after the answer, and now judged against that baseline.
    assert _ask(engine, at=DAYS * 2) == [proposal_id]
    with session_scope(engine) as session:
        answer = benefit.record(session=session, proposal_id=proposal_id, actor="U1OWNER", value=4)
    assert answer.outcome is Outcome.REACHED and answer.proposal.status == Status.VERIFIED


def test_without_a_kpi_target_the_owner_says_whether_the_benefit_was_realised(
    engine: Engine,
) -> None:
    proposal_id = _implemented(engine, kpi=False)
    assert _ask(engine) == [proposal_id]
    with session_scope(engine) as session, pytest.raises(InvalidInput):
        benefit.record(session=session, proposal_id=proposal_id, actor="U1OWNER")
    with session_scope(engine) as session:
        answer = benefit.record(
            session=session, proposal_id=proposal_id, actor="U1OWNER", realised=True
        )
    assert answer.outcome is Outcome.REALISED and answer.proposal.status == Status.VERIFIED


def test_only_the_owner_answers_and_a_repeated_answer_changes_nothing(engine: Engine) -> None:
    proposal_id = _implemented(engine, kpi=True, baseline=8.0)
    with session_scope(engine) as session, pytest.raises(InvalidInput):
        # Nothing is asked yet.
        benefit.record(session=session, proposal_id=proposal_id, actor="U1OWNER", value=5)
    _ask(engine)
    with session_scope(engine) as session, pytest.raises(PermissionDenied):
        benefit.record(session=session, proposal_id=proposal_id, actor="U1OTHER", value=5)
    with session_scope(engine) as session:
        first = benefit.record(session=session, proposal_id=proposal_id, actor="U1OWNER", value=5)
    with session_scope(engine) as session:
        again = benefit.record(session=session, proposal_id=proposal_id, actor="U1OWNER", value=5)
    assert (first.outcome, first.shortfall, first.already) == (Outcome.MISSED, 1.0, False)
    assert (again.outcome, again.shortfall, again.already) == (Outcome.MISSED, 1.0, True)
    with session_scope(engine) as session:
        entries = repo.history(session=session, proposal_id=proposal_id)
    assert [e.action for e in entries].count("benefit") == 1
