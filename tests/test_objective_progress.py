"""How far each objective got, over a known register on SQLite and PostgreSQL: steps by status,
value and effort, verified results, the KPI on its path from baseline to target (with a test
clock), neglected objectives; and setting an objective's measurable target."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot import objective_progress as progress
from bot import objectives
from bot.blocks.objective_progress import digest_section, objective_picture, objectives_list
from bot.blocks.objectives import objective_modal
from bot.command_text import AddObjective, Reason, Refused, ShowObjective, Word, parse
from bot.errors import InvalidInput
from bot.ids import ObjectiveBlockId
from bot.objective_target import PathState, judge_path
from bot.objectives import TargetInput, parse_target
from bot.sla import measurements, targets
from storage.db import make_engine, session_scope
from storage.db import upgrade as migrate
from storage.lifecycle_tables import BenefitCheck
from storage.models import Objective, Proposal
from tests.conftest import BACKENDS, _empty_database
from tests.fakeslack.validation import check_message, check_view

START = datetime(2026, 1, 1, tzinfo=UTC)
END_DATE = date(2026, 12, 31)  # the path ends at 2027-01-01 00:00 UTC: 365 days after START
HALF_WAY = START + timedelta(days=182.5)
KPI = "Major incidents per month"


@dataclass(frozen=True)
class Register:
    """The known register: which objective is which."""

    engine: Engine
    outages: int  # a KPI in words, 10 -> 4, and steps in every status
    licences: int  # an SLA target as its KPI; only work under way and done: neglected
    users: int  # no steps and no target: neglected
    retired: int  # retired with no steps: not called neglected


def _step(session: Session, objective_id: int, status: str, **fields: object) -> Proposal:
    proposal = Proposal(
        title=fields.pop("title", f"{status} step"),
        submitter="U1",
        status=status,
        objective_id=objective_id,
        **fields,
    )
    session.add(proposal)
    session.flush()
    return proposal


def _build(engine: Engine) -> Register:
    with session_scope(engine) as session:
        outages = objectives.add_objective(
            session=session,
            title="Fewer outages",
            weight=2,
            target=TargetInput(kpi=KPI, baseline=10, target=4, target_date=END_DATE),
            now=START,
        )
        email = targets.add(
            session=session,
            service="Email",
            metric="availability",
            aggregate="mean",
            comparator=">=",
            target=99.9,
            unit="%",
        )
        licences = objectives.add_objective(
            session=session,
            title="Cheaper licences",
            target=TargetInput(sla_target_id=email.id, baseline=99.0, target_date=END_DATE),
            now=START,
        )
        users = objectives.add_objective(session=session, title="Happier users")
        retired = objectives.add_objective(session=session, title="Paper forms")
        objectives.retire_objective(session=session, objective_id=retired.id or 0)
        o = outages.id or 0
        _step(session, o, "open", value=3, effort="M", effort_days=5)
        _step(session, o, "open", value=4, effort="S", effort_days=2)
        _step(session, o, "approved", value=5, effort="L", effort_days=15)
        _step(session, o, "in_progress", value=2)  # no effort: not fully estimated
        _step(session, o, "implemented", value=1, effort="XL", effort_days=40, kpi=KPI.upper())
        # Verified steps: one measured on the objective's KPI (answered in March), one imported
        # with its result (counted from when it last changed, in February), one with no KPI.
        answered = _step(
            session,
            o,
            "verified",
            title="Automate failover",
            value=4,
            effort="M",
            effort_days=5,
            kpi=" major  incidents per MONTH ",
            kpi_baseline=10,
            kpi_target=7,
            kpi_actual=6.5,
        )
        session.add(
            BenefitCheck(
                proposal_id=answered.id or 0,
                due_from=START,
                owner="U1",
                answered_at=datetime(2026, 3, 1, tzinfo=UTC),
                answered_by="U1",
                value=6.5,
                outcome="reached",
            )
        )
        _step(
            session,
            o,
            "verified",
            title="Patch monthly",
            value=2,
            effort="S",
            effort_days=2,
            kpi=KPI,
            kpi_baseline=10,
            kpi_target=8,
            kpi_actual=9,
            updated_at=datetime(2026, 2, 1, tzinfo=UTC),
        )
        _step(session, o, "verified", title="Write runbooks", value=3, effort="S", effort_days=2)
        _step(session, o, "rejected", value=5, effort="XL", effort_days=40)
        _step(session, o, "withdrawn", value=5, effort="XL", effort_days=40)
        lic = licences.id or 0
        _step(session, lic, "in_progress", value=3, effort="M", effort_days=5)
        _step(session, lic, "verified", value=2, effort="S", effort_days=2)
        _step(session, lic, "rejected", value=1, effort="S", effort_days=2)
        # The week before 2 July: Email's availability averages 99.5 %.
        week = [
            measurements.MeasurementIn(
                "Email", "availability", datetime(2026, 6, 25, 12, tzinfo=UTC) + timedelta(d), v
            )
            for d, v in enumerate([99.4, 99.6, 99.5, 99.5, 99.3, 99.7, 99.5])
        ]
        measurements.store(session=session, measurements=week)
        return Register(engine, o, lic, users.id or 0, retired.id or 0)


@pytest.fixture(scope="module", params=BACKENDS)
def register(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Register]:
    """The known register, built once per database backend for the module."""
    with _empty_database(request, tmp_path_factory.mktemp("progress")) as url:
        engine = make_engine(url)
        migrate(engine)
        try:
            yield _build(engine)
        finally:
            engine.dispose()


def _progress(register: Register, now: datetime) -> dict[int, progress.ObjectiveProgress]:
    with session_scope(register.engine) as session:
        rows = [
            session.get(Objective, i)
            for i in (register.outages, register.licences, register.users, register.retired)
        ]
        found = progress.progress(
            session=session, objectives=[r for r in rows if r is not None], now=now
        )
        return {p.objective.id or 0: p for p in found}


def test_steps_are_counted_by_status_and_their_value_and_effort_summed(register: Register) -> None:
    found = _progress(register, HALF_WAY)
    outages = found[register.outages]
    assert outages.steps == {
        "open": 2,
        "approved": 1,
        "in_progress": 1,
        "implemented": 1,
        "verified": 3,
        "rejected": 1,
    }
    # Rejected and withdrawn steps are not summed; one step has no effort estimate.
    assert (outages.value, outages.effort_days, outages.unestimated) == (24, 71.0, 1)
    assert found[register.licences].steps["in_progress"] == 1
    assert (found[register.licences].value, found[register.licences].effort_days) == (5, 7.0)
    assert found[register.users].total == 0 and found[register.users].value == 0


def test_verified_steps_carry_their_measured_results(register: Register) -> None:
    verified = _progress(register, HALF_WAY)[register.outages].verified
    assert [(s.title, s.target, s.actual, s.reached) for s in verified] == [
        ("Automate failover", 7, 6.5, True),
        ("Patch monthly", 8, 9, False),
        ("Write runbooks", None, None, None),
    ]


def test_objectives_with_no_open_or_approved_step_are_neglected(register: Register) -> None:
    found = _progress(register, HALF_WAY)
    assert not found[register.outages].neglected
    # Work under way and done, but nothing new on its way.
    assert found[register.licences].neglected
    assert found[register.users].neglected
    assert not found[register.retired].neglected


def test_a_kpi_in_words_is_judged_on_its_path_by_the_latest_step_result(
    register: Register,
) -> None:
    # Half way from 10 to 4 the path is at 7; the latest result (March) is 6.5: on track.
    target = _progress(register, HALF_WAY)[register.outages].target
    assert target is not None and target.latest is not None
    assert (target.latest.value, target.latest.source) == (6.5, "step")
    assert target.expected == pytest.approx(7.0)
    assert target.state is PathState.ON_TRACK
    # Three quarters of the way the path is at 5.5: 6.5 is behind.
    later = _progress(register, START + timedelta(days=273.75))[register.outages].target
    assert later is not None and later.expected == pytest.approx(5.5)
    assert later.state is PathState.BEHIND
    # The date passed and 4 was never reached: missed.
    after = _progress(register, datetime(2027, 1, 2, tzinfo=UTC))[register.outages].target
    assert after is not None and after.state is PathState.MISSED


def test_an_sla_target_is_judged_by_its_last_seven_days(register: Register) -> None:
    # 2 July: the week before averages 99.5; from 99.0 to the SLA's 99.9 the path is at 99.45.
    now = datetime(2026, 7, 2, 12, tzinfo=UTC)
    target = _progress(register, now)[register.licences].target
    assert target is not None and target.latest is not None
    assert target.target == 99.9 and target.unit == "%"
    assert target.latest.value == pytest.approx(99.5)
    assert target.latest.source == "sla"
    assert target.state is PathState.ON_TRACK
    # A week later there are too few measurements to judge by.
    quiet = _progress(register, now + timedelta(days=7))[register.licences].target
    assert quiet is not None and quiet.latest is None
    assert quiet.state is PathState.NO_MEASUREMENT


def test_the_json_carries_the_same_figures(register: Register) -> None:
    found = _progress(register, HALF_WAY)[register.outages]
    data = progress.progress_json(found)
    assert data["steps"]["verified"] == 3 and data["value"] == 24 and data["effort_days"] == 71
    assert data["neglected"] is False
    assert data["target"]["state"] == "on_track"
    assert data["target"]["latest"] == 6.5 and data["target"]["expected"] == 7
    assert data["target"]["target_date"] == "2026-12-31"
    assert [v["actual"] for v in data["verified"]] == [6.5, 9, None]


@pytest.mark.parametrize(
    ("latest", "now", "state"),
    [
        (None, HALF_WAY, PathState.NO_MEASUREMENT),
        (95.0, HALF_WAY, PathState.ON_TRACK),  # the path is at 95 half way from 90 to 100
        (94.9, HALF_WAY, PathState.BEHIND),
        (100.0, HALF_WAY, PathState.REACHED),
        (90.0, START - timedelta(days=1), PathState.ON_TRACK),  # before the start: at baseline
        (99.0, datetime(2027, 1, 1, tzinfo=UTC), PathState.MISSED),
        (101.0, datetime(2027, 3, 1, tzinfo=UTC), PathState.REACHED),
    ],
)
def test_the_path_runs_straight_from_baseline_to_target(
    latest: float | None, now: datetime, state: PathState
) -> None:
    found, _ = judge_path(
        baseline=90, target=100, since=START, target_date=END_DATE, latest=latest, now=now
    )
    assert found is state


def test_a_path_without_baseline_or_date_is_not_judged_but_reached_is_reached() -> None:
    common = {"target": 100.0, "since": START, "now": HALF_WAY}
    assert judge_path(baseline=None, target_date=END_DATE, latest=50, **common)[0] is (
        PathState.NOT_JUDGED
    )
    assert judge_path(baseline=90, target_date=None, latest=95, **common)[0] is (
        PathState.NOT_JUDGED
    )
    # The SLA's comparator says which way is better even without a baseline.
    assert judge_path(baseline=None, target_date=None, latest=100.5, upward=True, **common) == (
        PathState.REACHED,
        None,
    )


def test_setting_a_target_checks_it_and_the_path_restarts_when_it_changes(
    register: Register,
) -> None:
    with session_scope(register.engine) as session:
        with pytest.raises(InvalidInput) as missing:
            objectives.add_objective(
                session=session, title="Faster changes", target=TargetInput(target=5), now=START
            )
        assert "Name the KPI" in missing.value.errors["kpi"]
        with pytest.raises(InvalidInput) as past:
            objectives.add_objective(
                session=session,
                title="Faster changes",
                target=TargetInput(kpi="Lead time", target_date=date(2025, 12, 31)),
                now=START,
            )
        assert "after today" in past.value.errors["target_date"]
        objective = objectives.add_objective(
            session=session,
            title="Faster changes",
            target=TargetInput(kpi=" Lead  time ", baseline=20, target=5, target_date=END_DATE),
            now=START,
        )
        assert (objective.kpi, objective.kpi_since) == ("Lead time", START)
        later = START + timedelta(days=30)
        # A new date moves only the end of the path.
        moved = TargetInput(kpi="Lead time", baseline=20, target=5, target_date=date(2027, 6, 30))
        _, changed = objectives.edit_objective(
            session=session, objective_id=objective.id or 0, target=moved, now=later
        )
        assert changed and objective.kpi_since == START
        _, again = objectives.edit_objective(
            session=session, objective_id=objective.id or 0, target=moved, now=later
        )
        assert not again
        # A new baseline starts it again.
        rebased = TargetInput(kpi="Lead time", baseline=15, target=5, target_date=END_DATE)
        objectives.edit_objective(
            session=session, objective_id=objective.id or 0, target=rebased, now=later
        )
        assert objective.kpi_since == later
        objectives.edit_objective(
            session=session, objective_id=objective.id or 0, target=TargetInput(), now=later
        )
        assert (objective.kpi, objective.kpi_target, objective.kpi_since) == (None, None, None)


def test_removing_its_sla_target_leaves_the_kpi_named(register: Register) -> None:
    with session_scope(register.engine) as session:
        view = targets.add(
            session=session,
            service="Service desk",
            metric="first call resolution",
            aggregate="mean",
            comparator=">=",
            target=80,
        )
        objective = objectives.add_objective(
            session=session,
            title="Resolve at first call",
            target=TargetInput(sla_target_id=view.id, baseline=60),
            now=START,
        )
        objective_id = objective.id
        assert objective.kpi == "Service desk first call resolution: mean >= 80"
    with session_scope(register.engine) as session:
        targets.remove(session=session, target_id=view.id)
    with session_scope(register.engine) as session:
        stored = session.get(Objective, objective_id)
        assert stored is not None and stored.kpi_sla_target_id is None
        assert stored.kpi == "Service desk first call resolution: mean >= 80"


def test_the_picture_the_list_and_the_digest_section_are_messages_slack_accepts(
    register: Register,
) -> None:
    found = _progress(register, HALF_WAY)
    text, blocks = objective_picture(found[register.outages])
    assert check_message({"text": text, "blocks": blocks}) is None
    shown = json.dumps(blocks, ensure_ascii=False)
    assert "Open: 2" in shown and "Verified: 3" in shown and "Rejected: 1" in shown
    assert "*Expected value*: 24 · *effort*: 71 person-days (1 step not estimated)" in shown
    assert "*Latest value*: 6.5" in shown and "*Where the path is today*: 7" in shown
    assert "10 → 6.5 (target 7) :white_check_mark:" in shown
    _, neglected = objective_picture(found[register.licences])
    assert "*Neglected*" in json.dumps(neglected)
    listed = objectives_list(list(found.values()))
    assert "KPI 6.5 (path 7, target 4 by 2026-12-31): :large_green_circle: on track" in listed
    text, blocks = digest_section([found[register.outages], found[register.users]])
    assert check_message({"text": text, "blocks": blocks}) is None
    lines = blocks[0]["text"]["text"].splitlines()
    # The neglected objective comes first, and the heading counts it.
    assert "1 objective with no open or approved step" in lines[0]
    assert "Happier users" in lines[1] and "Fewer outages" in lines[2]


def test_the_form_reads_numbers_and_dates_and_names_each_bad_field() -> None:
    entered = parse_target(
        kpi=" Lead time ", sla_target="none", baseline="1,200", target="5", target_date="2027-06-30"
    )
    assert entered == TargetInput(
        kpi="Lead time", baseline=1200, target=5, target_date=date(2027, 6, 30)
    )
    assert parse_target(kpi=None, sla_target="7", baseline=None, target=None, target_date=None) == (
        TargetInput(sla_target_id=7)
    )
    with pytest.raises(InvalidInput) as bad:
        parse_target(kpi="x", sla_target="x1", baseline="soon", target="", target_date="30/06")
    assert set(bad.value.errors) == {"sla_target", "baseline", "target_date"}


def test_objective_number_is_its_own_command() -> None:
    assert parse("objective 3") == ShowObjective(3)
    assert parse("objective #12") == ShowObjective(12)
    assert parse("objective 3 4") == Refused(Word.OBJECTIVE, Reason.EXTRA)
    assert parse("objective add Fewer outages") == AddObjective("Fewer outages")


def test_the_objective_form_offers_the_target_fields_and_slack_accepts_it(
    register: Register,
) -> None:
    with session_scope(register.engine) as session:
        offered = targets.list_all(session=session)
        licences = session.get(Objective, register.licences)
        outages = session.get(Objective, register.outages)
    assert licences is not None and outages is not None
    for form in (
        objective_modal(sla_targets=offered),
        objective_modal(licences, sla_targets=offered),
    ):
        assert check_view(form) is None
    edit = objective_modal(licences, sla_targets=offered)
    blocks = {b["block_id"]: b for b in edit["blocks"]}
    chosen = blocks[ObjectiveBlockId.SLA_TARGET]["element"]["initial_option"]
    assert chosen["value"] == str(licences.kpi_sla_target_id)
    assert blocks[ObjectiveBlockId.BASELINE]["element"]["initial_value"] == "99"
    words = {b["block_id"]: b for b in objective_modal(outages)["blocks"]}
    assert words[ObjectiveBlockId.KPI]["element"]["initial_value"] == KPI
    assert words[ObjectiveBlockId.TARGET_DATE]["element"]["initial_value"] == "2026-12-31"
    assert ObjectiveBlockId.SLA_TARGET not in words  # no SLA targets offered: no select
