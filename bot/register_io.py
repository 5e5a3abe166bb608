"""Export the register as CSV or JSON, and import one (how a spreadsheet register moves in)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bot import proposals
from bot.drafts import ProposalDraft
from bot.errors import CsiError, InvalidInput
from bot.lifecycle import Status
from storage import repositories as repo
from storage.models import Proposal
from storage.types import utcnow

EXPORT_FIELDS = [
    "id",
    "ref",
    "title",
    "description",
    "outcome",
    "status",
    "objective",
    "service",
    "benefit",
    "value",
    "effort",
    "effort_days",
    "kpi",
    "kpi_baseline",
    "kpi_target",
    "kpi_actual",
    "submitter",
    "owner",
    "votes",
    "priority",
    "permalink",
    "created_at",
    "updated_at",
]
IMPORT_SUBMITTER = "import"


class RegisterImportError(CsiError):
    """The file has bad rows; nothing was imported. `problems` lists them by line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Nothing was imported:\n" + "\n".join(problems))


@dataclass(frozen=True)
class _Row:
    where: str
    values: dict[str, Any]


def export_rows(*, session: Session) -> list[dict[str, Any]]:
    """Every proposal as a flat record with the export's keys."""
    summaries = proposals.summarise(session=session, proposals=repo.list_proposals(session=session))
    rows = []
    for item in summaries:
        p = item.proposal
        rows.append(
            {
                "id": p.id,
                "ref": p.ref,
                "title": p.title,
                "description": p.description,
                "outcome": p.outcome,
                "status": p.status,
                "objective": item.objective.title if item.objective else None,
                "service": p.service,
                "benefit": p.benefit,
                "value": p.value,
                "effort": p.effort,
                "effort_days": p.effort_days,
                "kpi": p.kpi,
                "kpi_baseline": p.kpi_baseline,
                "kpi_target": p.kpi_target,
                "kpi_actual": p.kpi_actual,
                "submitter": p.submitter,
                "owner": p.owner,
                "votes": item.votes,
                "priority": item.priority,
                "permalink": p.permalink,
                "created_at": p.created_at.isoformat(),
                "updated_at": p.updated_at.isoformat(),
            }
        )
    return rows


def export_text(*, session: Session, fmt: str) -> str:
    """The register as a CSV or JSON document."""
    rows = export_rows(session=session)
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return out.getvalue()


def import_file(*, session: Session, path: Path) -> list[Proposal]:
    """Add every proposal of a CSV or JSON file, or none when any row is bad."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CsiError(f"Cannot read {path}: {exc}") from exc
    rows = _json_rows(text) if text.lstrip().startswith(("[", "{")) else _csv_rows(text)
    return import_rows(session=session, rows=rows)


def import_rows(*, session: Session, rows: list[_Row]) -> list[Proposal]:
    """Validate all rows first, then store them in one go."""
    problems: list[str] = []
    objectives = {o.title.lower(): o for o in repo.list_objectives(session=session)}
    active = {o.id for o in objectives.values() if o.id is not None}
    seen_refs: set[str] = set()
    prepared: list[tuple[ProposalDraft, dict[str, Any]]] = []
    for row in rows:
        values = {k.strip().lower(): v for k, v in row.values.items() if k}
        try:
            draft, extra = _draft(values, objectives, active)
        except InvalidInput as exc:
            problems.extend(f"{row.where}: {field}: {msg}" for field, msg in exc.errors.items())
            continue
        ref = extra["ref"]
        if ref:
            if ref in seen_refs or repo.proposal_by_ref(session=session, ref=ref) is not None:
                problems.append(f"{row.where}: ref: “{ref}” is already in the register.")
            seen_refs.add(ref)
        prepared.append((draft, extra))
    if not rows:
        problems.append("The file has no proposals.")
    if problems:
        raise RegisterImportError(problems)
    stored = []
    for draft, extra in prepared:
        proposal, _ = proposals.capture(session=session, draft=draft, submitter=extra["submitter"])
        proposal.ref = extra["ref"]
        proposal.owner = extra["owner"]
        proposal.created_at = extra["created_at"]
        if extra["status"] != proposal.status:
            assert proposal.id is not None
            repo.audit(
                session=session,
                proposal_id=proposal.id,
                actor=IMPORT_SUBMITTER,
                action="imported",
                from_status=proposal.status,
                to_status=extra["status"],
            )
            proposal.status = extra["status"]
        session.add(proposal)
        stored.append(proposal)
    session.flush()
    return stored


def _draft(
    values: dict[str, Any], objectives: dict[str, Any], active: set[int]
) -> tuple[ProposalDraft, dict[str, Any]]:
    def text(name: str) -> str:
        value = values.get(name)
        return "" if value is None else str(value).strip()

    errors: dict[str, str] = {}
    objective_id = None
    if text("objective"):
        objective = objectives.get(text("objective").lower())
        if objective is None:
            errors["objective"] = f"no active objective is called “{text('objective')}”."
        else:
            objective_id = objective.id
    value = None
    if text("value"):
        try:
            value = int(float(text("value")))
        except ValueError:
            errors["value"] = "must be a whole number from 1 to 5."
    status = text("status") or None
    if status:
        try:
            status = Status(status).value
        except ValueError:
            errors["status"] = f"“{status}” is not a status ({', '.join(s.value for s in Status)})."
    if status == Status.OPEN and objective_id is None and "objective" not in errors:
        errors["status"] = "an open proposal needs an objective."
    created_at = None
    if text("created_at"):
        try:
            created_at = datetime.fromisoformat(text("created_at"))
            if created_at.tzinfo is None:
                errors["created_at"] = "give a time zone (e.g. 2025-01-31T09:00:00+00:00)."
        except ValueError:
            errors["created_at"] = "must be an ISO 8601 date and time."
    draft = ProposalDraft(
        title=text("title"),
        description=text("description"),
        outcome=text("outcome"),
        objective_id=objective_id,
        service=text("service"),
        benefit=text("benefit") or None,
        value=value,
        effort=text("effort") or None,
        kpi=text("kpi"),
        kpi_baseline=text("kpi_baseline") or None,
        kpi_target=text("kpi_target") or None,
    )
    try:
        draft.validate(active_objective_ids=active, require_objective=False)
    except InvalidInput as exc:
        errors = {**exc.errors, **errors}
    if len(text("ref")) > 80:
        errors["ref"] = "keep the reference to 80 characters."
    if errors:
        raise InvalidInput(errors)
    extra = {
        "ref": text("ref") or None,
        "status": status or (Status.OPEN if objective_id else Status.NEEDS_OBJECTIVE),
        "submitter": text("submitter") or IMPORT_SUBMITTER,
        "owner": text("owner") or None,
        "created_at": created_at or utcnow(),
    }
    return draft, extra


def _csv_rows(text: str) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "title" not in [f.strip().lower() for f in reader.fieldnames]:
        raise RegisterImportError(["line 1: the header row must name a 'title' column."])
    rows = []
    start = 2
    for record in reader:
        rows.append(_Row(where=f"line {start}", values=dict(record)))
        start = reader.line_num + 1
    return rows


def _json_rows(text: str) -> list[_Row]:
    """The objects of a JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if not text.startswith("[", position):
        raise RegisterImportError(
            ["line 1: the JSON must be an array of proposals, shaped like the export."]
        )
    position = _skip_space(text, position + 1)
    rows: list[_Row] = []
    while not text.startswith("]", position):
        line = text.count("\n", 0, position) + 1
        try:
            item, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise RegisterImportError([f"line {exc.lineno}: not valid JSON ({exc.msg})."]) from exc
        if not isinstance(item, dict):
            raise RegisterImportError([f"line {line}: each proposal must be a JSON object."])
        rows.append(_Row(where=f"line {line}", values=item))
        position = _skip_space(text, position)
        if text.startswith(",", position):
            position = _skip_space(text, position + 1)
        elif not text.startswith("]", position):
            line = text.count("\n", 0, position) + 1
            raise RegisterImportError([f"line {line}: expected ',' or ']' in the JSON array."])
    return rows


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position
