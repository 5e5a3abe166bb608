"""Importing a register: every row checked in one pass, repeats skipped, all or nothing stored."""

from __future__ import annotations

import gc
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bot import proposals
from bot.errors import InvalidInput
from bot.register_io.reading import RegisterImportError, Sheet, read_sheet
from bot.register_io.rows import IMPORT_SUBMITTER, PlannedRow, RowChecker, shown
from storage import repositories as repo
from storage.models import Objective, Proposal
from storage.types import utcnow


@dataclass(frozen=True)
class Skipped:
    """A row left out because the register already holds it."""

    line: int
    where: str
    proposal_id: int
    title: str


@dataclass
class ImportResult:
    """What an import did: the new proposals, the rows skipped, the objectives created."""

    rows: list[dict[str, Any]]  # the new proposals' columns as stored, IDs included
    skipped: list[Skipped]
    created_objectives: list[Objective]
    ignored_columns: list[str]

    @property
    def count(self) -> int:
        """How many proposals were added."""
        return len(self.rows)

    @property
    def stored(self) -> list[Proposal]:
        """The new proposals, in the order of the file (built on demand: a large import only
        needs the count)."""
        return [Proposal(**row) for row in self.rows]


@contextmanager
def _without_cycle_collection() -> Iterator[None]:
    """Reading and checking a large file makes millions of small objects, none in a cycle; the
    collector's passes over them would cost a fifth of the import."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@_without_cycle_collection()
def import_file(*, session: Session, path: Path, create_objectives: bool = False) -> ImportResult:
    """Add every proposal of a CSV or JSON file, or none when any row has a problem."""
    return import_sheet(
        session=session, sheet=read_sheet(path), create_objectives=create_objectives
    )


@_without_cycle_collection()
def import_sheet(
    *, session: Session, sheet: Sheet, create_objectives: bool = False
) -> ImportResult:
    """Check every row, skip the ones already stored, then store the rest in one go."""
    objectives = {
        o.title.lower(): o for o in repo.list_objectives(session=session, include_retired=True)
    }
    checker = RowChecker(objectives=objectives, create=create_objectives, from_csv=sheet.from_csv)
    # (row number, message): listed in the order of the file.
    problems: list[tuple[int, str]] = []
    planned: list[PlannedRow] = []
    for row in sheet.rows:
        if row.problems:
            problems.extend((row.number, f"{row.where}: {p}") for p in row.problems)
            continue
        try:
            planned.append(checker.check(row))
        except InvalidInput as exc:
            problems.extend(
                (row.number, f"{row.where}: {name}: {msg}") for name, msg in exc.errors.items()
            )
    if not sheet.rows:
        problems.append((0, "The file has no proposals, only a header."))
    problems.extend(_repeated_refs(planned))
    skipped, conflicts = _already_stored(session=session, planned=planned)
    problems.extend(conflicts)
    problems.extend(_resolve_merges(session=session, sheet=sheet, planned=planned))
    if problems:
        problems.sort(key=lambda problem: problem[0])
        raise RegisterImportError([text for _, text in problems], skipped=len(skipped))
    created = [
        proposals.add_objective(session=session, title=title, actor=IMPORT_SUBMITTER)
        for title in checker.to_create.values()
    ]
    objectives.update({o.title.lower(): o for o in created})
    stored = _store(session=session, planned=planned, objectives=objectives)
    return ImportResult(
        rows=stored,
        skipped=skipped,
        created_objectives=created,
        ignored_columns=sheet.ignored_columns,
    )


def _repeated_refs(planned: list[PlannedRow]) -> list[tuple[int, str]]:
    first: dict[str, str] = {}
    problems = []
    for plan in planned:
        if plan.ref is None:
            continue
        if plan.ref in first:
            problems.append(
                (
                    plan.number,
                    f"{plan.where}: ref: “{plan.ref}” is repeated in this file "
                    f"(first on {first[plan.ref]}); each ref names one proposal.",
                )
            )
        else:
            first[plan.ref] = plan.where
    return problems


def _already_stored(
    *, session: Session, planned: list[PlannedRow]
) -> tuple[list[Skipped], list[tuple[int, str]]]:
    """Rows the register holds already (skipped), and refs it holds for another proposal."""
    by_ref: dict[str, tuple[int, str]] = {}
    by_text: dict[tuple[str, str, str], tuple[int, str]] = {}
    for pid, ref, title, submitter, description in repo.proposal_identities(session=session):
        if ref is not None:
            by_ref[ref] = (pid, title)
        by_text.setdefault((title, submitter, description), (pid, title))
    skipped: list[Skipped] = []
    conflicts: list[tuple[int, str]] = []
    for plan in planned:
        if plan.ref is not None:
            found = by_ref.get(plan.ref)
            if found is not None and found[1] != plan.draft.title:
                conflicts.append(
                    (
                        plan.number,
                        f"{plan.where}: ref: “{plan.ref}” is already in the register as "
                        f"#{found[0]} “{shown(found[1])}”, with another title; give this row "
                        "another ref, or remove it.",
                    )
                )
                continue
        else:
            found = by_text.get((plan.draft.title, plan.submitter, plan.draft.description))
        if found is not None:
            plan.existing_id = found[0]
            skipped.append(
                Skipped(line=plan.line, where=plan.where, proposal_id=found[0], title=found[1])
            )
    return skipped, conflicts


def _resolve_merges(
    *, session: Session, sheet: Sheet, planned: list[PlannedRow]
) -> list[tuple[int, str]]:
    """Point each merged row at its target: a row of the file, or a stored proposal."""
    by_name: dict[str, PlannedRow | None] = {}
    planned_at = {plan.number: plan for plan in planned}
    for row in sheet.rows:
        plan = planned_at.get(row.number)
        if plan is not None:
            names = [plan.file_id, plan.ref]
        else:
            # A row with problems is named too (as None): a reference to it adds no problem.
            names = [str(row.values.get(column) or "").strip() for column in ("id", "ref")]
        for name in names:
            if name:
                by_name.setdefault(name, plan)
    problems = []
    for plan in planned:
        if plan.merged_into is None:
            continue
        name = plan.merged_into
        if name not in by_name and name.startswith("#"):
            name = name[1:].strip()
        if name in by_name:
            target = by_name[name]
            if target is plan:
                problems.append(
                    (
                        plan.number,
                        f"{plan.where}: merged_into: a proposal cannot merge into itself.",
                    )
                )
            elif target is not None:
                plan.target = target
            continue
        stored = repo.proposal_by_ref(session=session, ref=name)
        if stored is None and name.isdigit() and len(name) < 19:
            stored = repo.get_proposal(session=session, proposal_id=int(name))
        if stored is None or stored.id is None:
            problems.append(
                (
                    plan.number,
                    f"{plan.where}: merged_into: no row of this file and no proposal in the "
                    f"register is “{shown(plan.merged_into)}”.",
                )
            )
        else:
            plan.target = stored.id
    problems.extend(_merge_circles(planned))
    return problems


def _merge_circles(planned: list[PlannedRow]) -> list[tuple[int, str]]:
    problems = []
    for plan in planned:
        seen = [plan]
        step = plan.target
        while isinstance(step, PlannedRow) and step not in seen:
            seen.append(step)
            step = step.target
        if step is plan and plan.number == min(p.number for p in seen):
            rows = ", ".join(p.where for p in seen)
            problems.append(
                (
                    plan.number,
                    f"{plan.where}: merged_into: rows merge into each other in a circle ({rows}).",
                )
            )
    return problems


def _store(
    *, session: Session, planned: list[PlannedRow], objectives: dict[str, Objective]
) -> list[dict[str, Any]]:
    """Insert the new rows in bulk, then their merges and history; the rows as stored."""
    now = utcnow()
    new = [plan for plan in planned if plan.existing_id is None]
    # Where each proposal came from; also lets the rows be matched to the IDs they were given.
    batch = f"import:{secrets.token_hex(8)}:"
    rows = []
    for plan in new:
        draft = plan.draft
        objective_id = draft.objective_id
        if plan.objective_key is not None:
            objective_id = objectives[plan.objective_key].id
        rows.append(
            {
                "ref": plan.ref,
                "title": draft.title,
                "description": draft.description,
                "outcome": draft.outcome,
                "objective_id": objective_id,
                "service": draft.service,
                "benefit": draft.benefit,
                "value": draft.value,
                "effort": draft.effort,
                "effort_days": draft.effort_days,
                "kpi": draft.kpi,
                "kpi_baseline": draft.baseline,
                "kpi_target": draft.target,
                "kpi_actual": plan.kpi_actual,
                "submitter": plan.submitter,
                "owner": plan.owner,
                "status": plan.status.value,
                "source_key": f"{batch}{plan.number}",
                "created_at": plan.created_at or now,
                "updated_at": now,
            }
        )
    ids = repo.add_proposals(session=session, rows=rows, key_prefix=batch)
    for plan, row in zip(new, rows, strict=True):
        plan.proposal_id = row["id"] = ids[str(row["source_key"])]
    merged: dict[int, int] = {}
    entries = []
    for plan, row in zip(new, rows, strict=True):
        assert plan.proposal_id is not None
        target = plan.target
        if isinstance(target, PlannedRow):
            target = target.existing_id or target.proposal_id
        row["merged_into_id"] = target
        if target is not None:
            merged[plan.proposal_id] = target
        detail: dict[str, Any] = {"line": plan.line, "proposal": plan.number}
        if plan.ref:
            detail["ref"] = plan.ref
        entries.append(
            {
                "proposal_id": plan.proposal_id,
                "at": now,
                "actor": IMPORT_SUBMITTER,
                "action": "imported",
                "from_status": None,
                "to_status": plan.status.value,
                "detail": detail,
            }
        )
    repo.link_merged(session=session, merged=merged)
    repo.add_audit_entries(session=session, entries=entries)
    return rows


def report(result: ImportResult, *, most: int = 20) -> list[str]:
    """What the import did, as lines for the person who ran it."""
    lines = []
    if result.ignored_columns:
        names = ", ".join(f"“{c}”" for c in result.ignored_columns)
        lines.append(f"Ignored the columns the register does not have: {names}.")
    if result.created_objectives:
        titles = ", ".join(f"“{o.title}”" for o in result.created_objectives)
        count = len(result.created_objectives)
        noun = "objective" if count == 1 else "objectives"
        lines.append(f"Created {count} {noun} the file names, with weight 1: {titles}.")
    for item in result.skipped[:most]:
        lines.append(
            f"{item.where}: skipped, already in the register as "
            f"#{item.proposal_id} “{shown(item.title)}”."
        )
    if len(result.skipped) > most:
        lines.append(f"… and {len(result.skipped) - most} more rows already in the register.")
    count = result.count
    summary = f"Imported {_proposals(count)}"
    if result.skipped:
        summary += f"; skipped {len(result.skipped)} already in the register"
    lines.append(summary + ".")
    if count:
        they, them = ("It has", "it") if count == 1 else ("They have", "them")
        lines.append(
            f"{they} no card in the proposals channel yet; csi-bot cards post posts {them}."
        )
    return lines


def _proposals(count: int) -> str:
    if count == 0:
        return "no proposals"
    return "1 proposal" if count == 1 else f"{count} proposals"
