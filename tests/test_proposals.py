"""The register's use cases on a real database: capture, objectives, votes, import/export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot import proposals, register_io
from bot.drafts import ProposalDraft, parse_effort
from bot.errors import InvalidInput, NotFound, PermissionDenied
from bot.lifecycle import Status
from storage import repositories as repo
from storage.db import session_scope
from storage.models import Objective


@pytest.fixture
def objective_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        return proposals.add_objective(session=session, title="Reduce downtime", weight=2).id or 0


def test_full_capture_is_open_and_audited(engine: Engine, objective_id: int) -> None:
    draft = ProposalDraft(
        title="  Automate   cert renewal ",
        description="Certs expire",
        outcome="No expiry outages",
        objective_id=objective_id,
        service="Web",
        benefit="quality",
        value=4,
        effort="m",
        kpi="Outages",
        kpi_baseline="3",
        kpi_target="0",
    )
    with session_scope(engine) as session:
        proposal, created = proposals.capture(
            session=session, draft=draft, submitter="U1", require_objective=True
        )
    assert created
    assert proposal.title == "Automate cert renewal"
    assert proposal.status == Status.OPEN
    assert (proposal.effort, proposal.effort_days) == ("M", 5.0)
    assert (proposal.kpi_baseline, proposal.kpi_target) == (3.0, 0.0)
    with session_scope(engine) as session:
        history = repo.history(session=session, proposal_id=proposal.id or 0)
    assert [(h.action, h.to_status) for h in history] == [("created", "open")]


def test_one_line_capture_waits_for_an_objective(engine: Engine, objective_id: int) -> None:
    with session_scope(engine) as session:
        proposal, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(title="Fix VPN"),
            submitter="U1",
            source_key="command:T1",
        )
        assert proposal.status == Status.NEEDS_OBJECTIVE
        proposals.choose_objective(
            session=session, proposal_id=proposal.id or 0, objective_id=objective_id, actor="U1"
        )
    with session_scope(engine) as session:
        stored = repo.get_proposal(session=session, proposal_id=proposal.id or 0)
        assert stored is not None and stored.status == Status.OPEN
        assert stored.objective_id == objective_id


def test_only_the_submitter_chooses_the_objective(engine: Engine, objective_id: int) -> None:
    with session_scope(engine) as session:
        proposal, _ = proposals.capture(
            session=session, draft=ProposalDraft(title="Fix VPN"), submitter="U1"
        )
    with pytest.raises(PermissionDenied), session_scope(engine) as session:
        proposals.choose_objective(
            session=session, proposal_id=proposal.id or 0, objective_id=objective_id, actor="U2"
        )


def test_same_request_twice_stores_one_proposal(engine: Engine) -> None:
    for _ in range(2):
        with session_scope(engine) as session:
            proposals.capture(
                session=session,
                draft=ProposalDraft(title="Fix VPN"),
                submitter="U1",
                source_key="view:V1",
            )
    with session_scope(engine) as session:
        assert len(repo.list_proposals(session=session)) == 1


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (ProposalDraft(title=""), "title"),
        (ProposalDraft(title="   "), "title"),
        (ProposalDraft(title="x" * 400), "title"),
        (ProposalDraft(title="ok", objective_id=999), "objective"),
        (ProposalDraft(title="ok", value=9), "value"),
        (ProposalDraft(title="ok", effort="huge"), "effort"),
        (ProposalDraft(title="ok", kpi_target="ten"), "kpi_target"),
        (ProposalDraft(title="ok", benefit="fun"), "benefit"),
    ],
)
def test_invalid_input_is_refused_and_nothing_stored(
    engine: Engine, draft: ProposalDraft, field: str
) -> None:
    with pytest.raises(InvalidInput) as caught, session_scope(engine) as session:
        proposals.capture(session=session, draft=draft, submitter="U1")
    assert field in caught.value.errors
    with session_scope(engine) as session:
        assert repo.list_proposals(session=session) == []


def test_long_title_message_says_the_limit() -> None:
    with pytest.raises(InvalidInput) as caught:
        ProposalDraft(title="x" * 400).validate(active_objective_ids=set(), require_objective=False)
    assert "400 characters" in caught.value.errors["title"]
    assert "150" in caught.value.errors["title"]


def test_modal_requires_an_objective() -> None:
    with pytest.raises(InvalidInput) as caught:
        ProposalDraft(title="ok").validate(active_objective_ids={1}, require_objective=True)
    assert "objective" in caught.value.errors


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("S", ("S", 2.0)),
        ("xl", ("XL", 40.0)),
        ("3", ("3d", 3.0)),
        ("2.5 days", ("2.5d", 2.5)),
        ("4pd", ("4d", 4.0)),
        ("1,5d", ("1.5d", 1.5)),
    ],
)
def test_effort_accepts_sizes_and_person_days(raw: str, expected: tuple[str, float]) -> None:
    assert parse_effort(raw) == expected


def test_duplicate_objective_title_is_refused(engine: Engine, objective_id: int) -> None:
    with pytest.raises(InvalidInput, match="already exists"), session_scope(engine) as session:
        proposals.add_objective(session=session, title="reduce DOWNTIME")


def test_votes_count_once_per_person(engine: Engine, objective_id: int) -> None:
    with session_scope(engine) as session:
        proposal, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(title="Fix VPN", objective_id=objective_id),
            submitter="U1",
        )
        pid = proposal.id or 0
        assert proposals.vote(session=session, proposal_id=pid, user_id="U2")
        assert not proposals.vote(session=session, proposal_id=pid, user_id="U2")
        assert proposals.summary(session=session, proposal_id=pid).votes == 1


def test_a_summary_reads_its_own_objective_and_votes(engine: Engine, objective_id: int) -> None:
    with session_scope(engine) as session:
        served = proposals.capture(
            session=session,
            draft=ProposalDraft(title="Fix VPN", objective_id=objective_id),
            submitter="U1",
        )[0].id
        waiting = proposals.capture(
            session=session, draft=ProposalDraft(title="Tidy the wiki"), submitter="U2"
        )[0].id
        assert served and waiting
        for voter in ("U3", "U4"):
            proposals.vote(session=session, proposal_id=served, user_id=voter)
        proposals.vote(session=session, proposal_id=waiting, user_id="U5")
    with session_scope(engine) as session:
        objective = session.get(Objective, objective_id)
        assert objective is not None
        objective.active = False  # a retired objective still shows on the proposals it named
    with session_scope(engine) as session:
        one = proposals.summary(session=session, proposal_id=served)
        other = proposals.summary(session=session, proposal_id=waiting)
        assert (one.proposal.title, one.votes) == ("Fix VPN", 2)
        assert one.objective is not None and one.objective.title == "Reduce downtime"
        assert (other.proposal.title, other.objective, other.votes) == ("Tidy the wiki", None, 1)
        with pytest.raises(NotFound, match="#999 does not exist"):
            proposals.summary(session=session, proposal_id=999)


def test_export_then_import_round_trips(engine: Engine, objective_id: int, tmp_path: Path) -> None:
    with session_scope(engine) as session:
        proposals.capture(
            session=session,
            draft=ProposalDraft(
                title="Fix <!channel> VPN",
                description="Drops, daily",
                objective_id=objective_id,
                service="VPN",
                value=5,
                effort="S",
            ),
            submitter="U1",
        )
        exported = json.loads(register_io.export_text(session=session, fmt="json"))
    row = exported[0]
    for key in (
        "id",
        "ref",
        "title",
        "description",
        "outcome",
        "status",
        "objective",
        "service",
        "submitter",
        "votes",
        "value",
        "effort",
        "priority",
        "created_at",
    ):
        assert key in row
    assert row["objective"] == "Reduce downtime" and row["priority"] > 0
    csv_file = tmp_path / "register.csv"
    with session_scope(engine) as session:
        csv_file.write_text(register_io.export_text(session=session, fmt="csv"))
    # The same rows come back in as new entries carrying their spreadsheet reference.
    csv_file.write_text(csv_file.read_text().replace(",,Fix", ",SHEET-1,Fix", 1))
    with session_scope(engine) as session:
        stored = register_io.import_file(session=session, path=csv_file).stored
    assert [(p.title, p.ref, p.status) for p in stored] == [
        ("Fix <!channel> VPN", "SHEET-1", "open")
    ]


def test_bad_import_row_names_its_line_and_imports_nothing(
    engine: Engine, objective_id: int, tmp_path: Path
) -> None:
    source = tmp_path / "sheet.csv"
    source.write_text(
        "title,objective,value\nGood one,Reduce downtime,3\n"
        ",Reduce downtime,2\nThird,No such objective,1\n"
    )
    with pytest.raises(register_io.RegisterImportError) as caught, session_scope(engine) as session:
        register_io.import_file(session=session, path=source)
    problems = "\n".join(caught.value.problems)
    assert "line 3: title" in problems
    assert "line 4: objective" in problems
    with session_scope(engine) as session:
        assert repo.list_proposals(session=session) == []


def test_json_import_reports_the_line_of_the_bad_object(
    engine: Engine, objective_id: int, tmp_path: Path
) -> None:
    source = tmp_path / "register.json"
    source.write_text('[\n  {"title": "Fine"},\n  {"title": "Bad", "value": 12}\n]\n')
    with (
        pytest.raises(register_io.RegisterImportError, match="line 3: value"),
        session_scope(engine) as session,
    ):
        register_io.import_file(session=session, path=source)


def test_ranking_puts_value_for_effort_first(engine: Engine, objective_id: int) -> None:
    with session_scope(engine) as session:
        for title, value, effort in [
            ("Big rewrite", 5, "XL"),
            ("Quick win", 4, "S"),
            ("Meh", 1, "M"),
        ]:
            proposals.capture(
                session=session,
                draft=ProposalDraft(
                    title=title, objective_id=objective_id, value=value, effort=effort
                ),
                submitter="U1",
            )
        proposals.capture(
            session=session, draft=ProposalDraft(title="No objective yet"), submitter="U1"
        )
        titles = [s.proposal.title for s in proposals.ranked(session=session)]
    assert titles == ["Quick win", "Big rewrite", "Meh"]
