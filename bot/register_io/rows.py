"""One row of an import file checked: every problem of the row named by its column."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.drafts import ProposalDraft, one_line, parse_number, parse_whole, text_problem
from bot.errors import InvalidInput
from bot.lifecycle import LABELS, Status
from bot.register_io.columns import TEXT_COLUMNS, status_value, unneutralise
from bot.register_io.reading import Row
from storage.models import SHORT_MAX, TITLE_MAX, Objective

IMPORT_SUBMITTER = "import"
# The columns the import reads, in the order a row's problems are listed.
CHECK_ORDER = (
    "title",
    "description",
    "outcome",
    "objective",
    "service",
    "benefit",
    "value",
    "effort",
    "kpi",
    "kpi_baseline",
    "kpi_target",
    "status",
    "merged_into",
    "kpi_actual",
    "submitter",
    "owner",
    "ref",
    "id",
    "created_at",
)
CHECKED = frozenset(CHECK_ORDER)
# Columns whose cells repeat from row to row in a register.
REPEATING = frozenset(
    {
        "objective",
        "service",
        "benefit",
        "value",
        "effort",
        "kpi",
        "kpi_baseline",
        "kpi_target",
        "kpi_actual",
        "status",
        "submitter",
        "owner",
    }
)
# Fields of the draft that are checked one by one (title and texts are checked per row).
DRAFT_FIELDS = frozenset(
    {"service", "benefit", "value", "effort", "kpi", "kpi_baseline", "kpi_target"}
)
# The draft's own texts: checked once per row, by the draft.
DRAFT_TEXTS = frozenset({"title", "description", "outcome"})
# One-line columns kept to the short limit.
SHORT_LIMITED = {"submitter": SHORT_MAX, "owner": SHORT_MAX, "ref": SHORT_MAX}
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


@dataclass(eq=False)  # rows are told apart by identity; merge targets may form a circle
class PlannedRow:
    """A row that passed validation, with everything needed to store it."""

    line: int
    number: int  # the row's place among the file's proposals, from 1
    where: str  # how messages name the row
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
    target: PlannedRow | int | None = None  # merged into a row of the file, or a stored ID
    proposal_id: int | None = None  # once stored


def shown(text: str) -> str:
    """A value as quoted back in a message: long ones cut short."""
    return text if len(text) <= 60 else text[:57] + "…"


class RowChecker:
    """Turns one row into a `PlannedRow`, or raises InvalidInput with a message per column.

    A register repeats itself: status, objective, service, effort and the like take a few
    values across thousands of rows. Each distinct cell of such a column is judged once and
    remembered, which is what makes a file of 100,000 rows quick to check.
    """

    def __init__(self, *, objectives: dict[str, Objective], create: bool, from_csv: bool) -> None:
        self.objectives = objectives
        self.active = {o.id for o in objectives.values() if o.active and o.id is not None}
        self.create = create
        self.from_csv = from_csv
        self.to_create: dict[str, str] = {}  # lower-case title -> title as the file writes it
        # column -> cell -> (what the column stores, the problem or None)
        self._judged: dict[str, dict[str, tuple[Any, str | None]]] = {n: {} for n in REPEATING}
        self._statuses: dict[tuple[str, bool, bool], tuple[Status, dict[str, str]]] = {}

    def check(self, row: Row) -> PlannedRow:
        """The row as it will be stored; InvalidInput names every bad column of it."""
        errors: dict[str, str] = {}
        got: dict[str, Any] = {}
        for name, raw in row.values.items():
            if raw is None or raw == "" or name not in CHECKED:
                continue
            if name in DRAFT_TEXTS and isinstance(raw, str):
                # Checked with the whole draft below, the way the form checks them.
                got[name] = unneutralise(raw) if self.from_csv else raw
                continue
            judged = self._judged.get(name)
            if judged is not None and isinstance(raw, str):
                known = judged.get(raw)
                if known is None:
                    known = judged[raw] = self._judge(name, raw)
            else:
                known = self._judge(name, raw)
            value, problem = known
            if problem:
                errors[name] = problem
            else:
                got[name] = value
        draft = ProposalDraft(
            title=got.get("title", ""),
            description=got.get("description", ""),
            outcome=got.get("outcome", ""),
        )
        try:
            draft.validate(active_objective_ids=self.active, require_objective=False)
        except InvalidInput as exc:
            for name, message in exc.errors.items():
                errors.setdefault(name, message)
        objective_id, objective_key = got.get("objective", (None, None))
        draft.objective_id = objective_id
        draft.service = got.get("service")
        draft.benefit = got.get("benefit")
        draft.value = got.get("value")
        draft.effort, draft.effort_days = got.get("effort", (None, None))
        draft.kpi = got.get("kpi")
        draft.kpi_baseline, draft.baseline = got.get("kpi_baseline", (None, None))
        draft.kpi_target, draft.target = got.get("kpi_target", (None, None))
        has_objective = objective_id is not None or objective_key is not None
        merged_into = got.get("merged_into", "")
        status, status_errors = self._status_of(
            got.get("status", ""), bool(merged_into), has_objective
        )
        for name, message in status_errors.items():
            if name not in errors:
                errors[name] = message
        created_at = parse_created_at(got.get("created_at", ""), errors)
        if errors:
            raise InvalidInput({name: errors[name] for name in CHECK_ORDER if name in errors})
        return PlannedRow(
            line=row.line,
            number=row.number,
            where=row.where,
            draft=draft,
            status=status,
            submitter=got.get("submitter") or IMPORT_SUBMITTER,
            owner=got.get("owner") or None,
            ref=got.get("ref") or None,
            file_id=got.get("id") or None,
            objective_key=objective_key,
            merged_into=merged_into or None,
            kpi_actual=got.get("kpi_actual"),
            created_at=created_at,
        )

    def _judge(self, name: str, raw: object) -> tuple[Any, str | None]:
        """One cell: what its column stores from it, or the problem with it."""
        if isinstance(raw, (bool, list, dict)):
            return None, "Give text or a number here, not a list, object or true/false."
        text = str(raw)
        if self.from_csv and name in TEXT_COLUMNS:
            text = unneutralise(text)
        limit = SHORT_LIMITED.get(name)
        problem = text_problem(text)
        text = text.strip() if limit is None else one_line(text)
        problem = problem or (text_problem(text, limit=limit) if limit else None)
        if problem:
            return None, problem
        if name in DRAFT_FIELDS:
            return self._draft_field(name, text)
        if name == "objective":
            errors: dict[str, str] = {}
            found = self._objective(text, errors)
            return (found, errors.get("objective"))
        if name == "kpi_actual":
            if not text:
                return None, None
            try:
                return parse_number(text, "The measured KPI"), None
            except ValueError as exc:
                return None, str(exc)
        return text, None

    def _draft_field(self, name: str, text: str) -> tuple[Any, str | None]:
        """A field of the draft checked the way the form checks it (each field on its own)."""
        errors: dict[str, str] = {}
        draft = ProposalDraft(title="-")
        if name == "value":
            draft.value = self._value(text, errors)
        else:
            setattr(draft, name, text or None)
        try:
            draft.validate(active_objective_ids=self.active, require_objective=False)
        except InvalidInput as exc:
            errors = {**exc.errors, **errors}
        if errors:
            return None, errors.get(name) or next(iter(errors.values()))
        if name == "effort":
            return (draft.effort, draft.effort_days), None
        if name == "kpi_baseline":
            return (draft.kpi_baseline, draft.baseline), None
        if name == "kpi_target":
            return (draft.kpi_target, draft.target), None
        return getattr(draft, name), None

    def _status_of(
        self, raw: str, merged: bool, has_objective: bool
    ) -> tuple[Status, dict[str, str]]:
        key = (raw, merged, has_objective)
        known = self._statuses.get(key)
        if known is None:
            errors: dict[str, str] = {}
            status = self._status(raw, "-" if merged else "", has_objective, errors)
            known = self._statuses[key] = (status, errors)
        return known

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
                f"No objective is called “{shown(title)}”. Add it first "
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
            errors["value"] = f"Value must be a whole number from 1 to 5, not “{shown(raw)}”."
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


def parse_created_at(raw: str, errors: dict[str, str]) -> datetime | None:
    """An ISO 8601 moment with a time zone, in UTC; a problem goes into `errors`."""
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
