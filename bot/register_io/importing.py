"""Importing a register: every row checked in one pass, repeats skipped, all or nothing stored."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bot import proposals
from bot.drafts import ProposalDraft, one_line, parse_number, parse_whole, text_problem
from bot.errors import InvalidInput
from bot.lifecycle import LABELS, Status
from bot.register_io.columns import TEXT_COLUMNS, status_value, unneutralise
from bot.register_io.reading import RegisterImportError, Row, Sheet, read_sheet
from storage import repositories as repo
from storage.models import SHORT_MAX, TITLE_MAX, Objective, Proposal
from storage.types import utcnow

IMPORT_SUBMITTER = "import"
# A proposal reaches these statuses only once it serves an objective.
NEEDS_AN_OBJECTIVE = frozenset(
    {
        Status.OPEN,
        Status.APPROVED,
        Status.REJECTED,
        Status.IN_PROGRESS,
        Status.IMPLEMENTED,
        Status.VERIFIED,
    }
)


@dataclass(frozen=True)
class Skipped:
    """A row left out because the register already holds it."""

    line: int
    proposal_id: int
    title: str


@dataclass
class ImportResult:
    """What an import did: the new proposals, the rows skipped, the objectives created."""

    stored: list[Proposal]
    skipped: list[Skipped]
    created_objectives: list[Objective]
    ignored_columns: list[str]


@dataclass
class _Planned:
    """A row that passed validation, with everything needed to store it."""

    line: int
    draft: ProposalDraft
    status: Status
    submitter: str
    owner: str | None
    ref: str | None
    file_id: str | None
    objective_key: str | None  # an objective to create (lower-case title)
    merged_into: str | None
    kpi_actual: float | None
    created_at: datetime | None
    existing_id: int | None = None  # already in the register: skipped
    target: _Planned | int | None = None  # merged into a row of the file, or a stored ID
    proposal: Proposal | None = field(default=None, repr=False)


def import_file(*, session: Session, path: Path, create_objectives: bool = False) -> ImportResult:
    """Add every proposal of a CSV or JSON file, or none when any row has a problem."""
    return import_sheet(
        session=session, sheet=read_sheet(path), create_objectives=create_objectives
    )


def import_sheet(
    *, session: Session, sheet: Sheet, create_objectives: bool = False
) -> ImportResult:
    """Check every row, skip the ones already stored, then store the rest in one go."""
    objectives = {
        o.title.lower(): o for o in repo.list_objectives(session=session, include_retired=True)
    }
    checker = _RowChecker(objectives=objectives, create=create_objectives, from_csv=sheet.from_csv)
    problems: list[str] = []
    planned: list[_Planned] = []
    for row in sheet.rows:
        if row.problems:
            problems.extend(row.problems)
            continue
        try:
            planned.append(checker.check(row))
        except InvalidInput as exc:
            problems.extend(f"line {row.line}: {name}: {msg}" for name, msg in exc.errors.items())
    if not sheet.rows:
        problems.append("The file has no proposals, only a header.")
    problems.extend(_repeated_refs(planned))
    skipped, conflicts = _already_stored(session=session, planned=planned)
    problems.extend(conflicts)
    problems.extend(_resolve_merges(session=session, sheet=sheet, planned=planned))
    if problems:
        problems.sort(key=_line_of)
        raise RegisterImportError(problems, skipped=len(skipped))
    created = [
        proposals.add_objective(session=session, title=title, actor=IMPORT_SUBMITTER)
        for title in checker.to_create.values()
    ]
    objectives.update({o.title.lower(): o for o in created})
    stored = _store(session=session, planned=planned, objectives=objectives)
    return ImportResult(
        stored=stored,
        skipped=skipped,
        created_objectives=created,
        ignored_columns=sheet.ignored_columns,
    )


def _line_of(problem: str) -> int:
    head = problem.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 0


def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "…"


class _RowChecker:
    """Turns one row into a `_Planned`, or raises InvalidInput with a message per column."""

    def __init__(self, *, objectives: dict[str, Objective], create: bool, from_csv: bool) -> None:
        self.objectives = objectives
        self.active = {o.id for o in objectives.values() if o.active and o.id is not None}
        self.create = create
        self.from_csv = from_csv
        self.to_create: dict[str, str] = {}  # lower-case title -> title as the file writes it

    def check(self, row: Row) -> _Planned:
        errors: dict[str, str] = {}

        def text(name: str, limit: int | None = None) -> str:
            raw = row.values.get(name)
            if raw is None:
                return ""
            if isinstance(raw, (bool, list, dict)):
                errors[name] = "Give text or a number here, not a list, object or true/false."
                return ""
            value = unneutralise(raw) if self.from_csv and name in TEXT_COLUMNS else str(raw)
            problem = text_problem(value)
            value = value.strip() if limit is None else one_line(value)
            problem = problem or (text_problem(value, limit=limit) if limit else None)
            if problem:
                errors[name] = problem
                return ""
            return value

        objective_id, objective_key = self._objective(text("objective"), errors)
        draft = ProposalDraft(
            title=text("title"),
            description=text("description"),
            outcome=text("outcome"),
            objective_id=objective_id,
            service=text("service"),
            benefit=text("benefit") or None,
            value=self._value(text("value"), errors),
            effort=text("effort") or None,
            kpi=text("kpi"),
            kpi_baseline=text("kpi_baseline") or None,
            kpi_target=text("kpi_target") or None,
        )
        try:
            draft.validate(active_objective_ids=self.active, require_objective=False)
        except InvalidInput as exc:
            errors = {**exc.errors, **errors}
        has_objective = objective_id is not None or objective_key is not None
        status = self._status(text("status"), text("merged_into"), has_objective, errors)
        kpi_actual = None
        if text("kpi_actual"):
            try:
                kpi_actual = parse_number(text("kpi_actual"), "The measured KPI")
            except ValueError as exc:
                errors["kpi_actual"] = str(exc)
        planned = _Planned(
            line=row.line,
            draft=draft,
            status=status,
            submitter=text("submitter", SHORT_MAX) or IMPORT_SUBMITTER,
            owner=text("owner", SHORT_MAX) or None,
            ref=text("ref", SHORT_MAX) or None,
            file_id=text("id") or None,
            objective_key=objective_key,
            merged_into=text("merged_into") or None,
            kpi_actual=kpi_actual,
            created_at=_created_at(text("created_at"), errors),
        )
        if errors:
            raise InvalidInput(errors)
        return planned

    def _objective(self, title: str, errors: dict[str, str]) -> tuple[int | None, str | None]:
        """The stored objective's ID, or the key of one to create."""
        title = one_line(title)
        if not title:
            return None, None
        objective = self.objectives.get(title.lower())
        if objective is not None and objective.active:
            return objective.id, None
        if objective is not None:
            errors["objective"] = f"The objective “{objective.title}” was retired; name another."
        elif not self.create:
            errors["objective"] = (
                f"No objective is called “{_shown(title)}”. Add it first "
                "(csi-bot objective add), or import with --create-objectives."
            )
        elif len(title) > TITLE_MAX:
            errors["objective"] = f"An objective's title is at most {TITLE_MAX} characters."
        else:
            self.to_create.setdefault(title.lower(), title)
            return None, title.lower()
        return None, None

    @staticmethod
    def _value(raw: str, errors: dict[str, str]) -> int | None:
        if not raw:
            return None
        try:
            return parse_whole(raw, "Value")
        except ValueError:
            errors["value"] = f"Value must be a whole number from 1 to 5, not “{_shown(raw)}”."
            return None

    @staticmethod
    def _status(raw: str, merged_into: str, has_objective: bool, errors: dict[str, str]) -> Status:
        status = Status.OPEN if has_objective else Status.NEEDS_OBJECTIVE
        if raw:
            try:
                status = status_value(raw)
            except ValueError as exc:
                errors["status"] = str(exc)
                return status
        if status == Status.NEEDS_OBJECTIVE and has_objective:
            errors["status"] = (
                "A proposal that needs an objective cannot name one: leave the objective "
                "empty, or give another status (such as open)."
            )
        elif status in NEEDS_AN_OBJECTIVE and not has_objective and "objective" not in errors:
            errors["objective"] = f"A proposal that is {LABELS[status].lower()} needs an objective."
        if status == Status.MERGED and not merged_into:
            errors["merged_into"] = (
                "A merged proposal names the proposal it was merged into: give that row's id "
                "or ref."
            )
        elif merged_into and status != Status.MERGED:
            errors["merged_into"] = (
                "Only a merged proposal names merged_into: set the status to merged, or leave "
                "merged_into empty."
            )
        return status


def _created_at(raw: str, errors: dict[str, str]) -> datetime | None:
    if not raw:
        return None
    example = "such as 2025-01-31T09:00:00+00:00"
    try:
        created = datetime.fromisoformat(raw)
        if created.tzinfo is None:
            errors["created_at"] = f"Give a time zone, {example}."
            return None
        return created.astimezone(UTC)
    except (ValueError, OverflowError):
        errors["created_at"] = f"Give an ISO 8601 date and time, {example}."
        return None


def _repeated_refs(planned: list[_Planned]) -> list[str]:
    first: dict[str, int] = {}
    problems = []
    for plan in planned:
        if plan.ref is None:
            continue
        if plan.ref in first:
            problems.append(
                f"line {plan.line}: ref: “{plan.ref}” is repeated in this file "
                f"(first on line {first[plan.ref]}); each ref names one proposal."
            )
        else:
            first[plan.ref] = plan.line
    return problems


def _already_stored(
    *, session: Session, planned: list[_Planned]
) -> tuple[list[Skipped], list[str]]:
    """Rows the register holds already (skipped), and refs it holds for another proposal."""
    by_ref: dict[str, tuple[int, str]] = {}
    by_text: dict[tuple[str, str, str], tuple[int, str]] = {}
    for pid, ref, title, submitter, description in repo.proposal_identities(session=session):
        if ref is not None:
            by_ref[ref] = (pid, title)
        else:
            by_text.setdefault((title, submitter, description), (pid, title))
    skipped, conflicts = [], []
    for plan in planned:
        if plan.ref is not None:
            found = by_ref.get(plan.ref)
            if found is not None and found[1] != plan.draft.title:
                conflicts.append(
                    f"line {plan.line}: ref: “{plan.ref}” is already in the register as "
                    f"#{found[0]} “{_shown(found[1])}”, with another title; give this row "
                    "another ref, or remove it."
                )
                continue
        else:
            found = by_text.get((plan.draft.title, plan.submitter, plan.draft.description))
        if found is not None:
            plan.existing_id = found[0]
            skipped.append(Skipped(line=plan.line, proposal_id=found[0], title=found[1]))
    return skipped, conflicts


def _resolve_merges(*, session: Session, sheet: Sheet, planned: list[_Planned]) -> list[str]:
    """Point each merged row at its target: a row of the file, or a stored proposal."""
    by_name: dict[str, _Planned | None] = {}
    # Rows with problems are named too (as None), so a reference to one adds no second problem.
    planned_at = {plan.line: plan for plan in planned}
    for row in sheet.rows:
        for column in ("id", "ref"):
            value = row.values.get(column)
            if value is not None and str(value).strip():
                by_name.setdefault(str(value).strip(), planned_at.get(row.line))
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
                    f"line {plan.line}: merged_into: a proposal cannot merge into itself."
                )
            elif target is not None:
                plan.target = target
            continue
        stored = repo.proposal_by_ref(session=session, ref=name)
        if stored is None and name.isdigit() and len(name) < 19:
            stored = repo.get_proposal(session=session, proposal_id=int(name))
        if stored is None or stored.id is None:
            problems.append(
                f"line {plan.line}: merged_into: no row of this file and no proposal in the "
                f"register is “{_shown(plan.merged_into)}”."
            )
        else:
            plan.target = stored.id
    problems.extend(_merge_circles(planned))
    return problems


def _merge_circles(planned: list[_Planned]) -> list[str]:
    problems = []
    for plan in planned:
        seen = [plan]
        step = plan.target
        while isinstance(step, _Planned) and step not in seen:
            seen.append(step)
            step = step.target
        if step is plan and plan.line == min(p.line for p in seen):
            lines = ", ".join(str(p.line) for p in seen)
            problems.append(
                f"line {plan.line}: merged_into: rows merge into each other in a circle "
                f"(lines {lines})."
            )
    return problems


def _store(
    *, session: Session, planned: list[_Planned], objectives: dict[str, Objective]
) -> list[Proposal]:
    now = utcnow()
    new = [plan for plan in planned if plan.existing_id is None]
    # Where each proposal came from; also lets the rows be matched to what the database returns.
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
                "source_key": f"{batch}{plan.line}",
                "created_at": plan.created_at or now,
                "updated_at": now,
            }
        )
    by_key = repo.add_proposals(session=session, rows=rows)
    for plan in new:
        plan.proposal = by_key[f"{batch}{plan.line}"]
    entries = []
    for plan in new:
        assert plan.proposal is not None and plan.proposal.id is not None
        target = plan.target
        if isinstance(target, _Planned):
            target = target.existing_id or (target.proposal.id if target.proposal else None)
        if target is not None:
            plan.proposal.merged_into_id = target
            session.add(plan.proposal)
            repo.link_related(session=session, proposal_id=plan.proposal.id, related_id=target)
        detail: dict[str, Any] = {"line": plan.line}
        if plan.ref:
            detail["ref"] = plan.ref
        entries.append(
            {
                "proposal_id": plan.proposal.id,
                "at": now,
                "actor": IMPORT_SUBMITTER,
                "action": "imported",
                "from_status": None,
                "to_status": plan.status.value,
                "detail": detail,
            }
        )
    repo.add_audit_entries(session=session, entries=entries)
    session.flush()
    return [plan.proposal for plan in new if plan.proposal is not None]


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
            f"line {item.line}: skipped, already in the register as "
            f"#{item.proposal_id} “{_shown(item.title)}”."
        )
    if len(result.skipped) > most:
        lines.append(f"… and {len(result.skipped) - most} more rows already in the register.")
    count = len(result.stored)
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
