"""One row of an import file checked: every problem of the row named by its column."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.drafts import ProposalDraft, one_line, parse_number, parse_whole, text_problem
from bot.errors import InvalidInput
from bot.lifecycle import LABELS, Status
from bot.register_io.columns import TEXT_COLUMNS, status_value, unneutralise
from bot.register_io.reading import Row
from storage.models import SHORT_MAX, TITLE_MAX, Objective, Proposal

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
    proposal: Proposal | None = field(default=None, repr=False)


def shown(text: str) -> str:
    """A value as quoted back in a message: long ones cut short."""
    return text if len(text) <= 60 else text[:57] + "…"


class RowChecker:
    """Turns one row into a `PlannedRow`, or raises InvalidInput with a message per column."""

    def __init__(self, *, objectives: dict[str, Objective], create: bool, from_csv: bool) -> None:
        self.objectives = objectives
        self.active = {o.id for o in objectives.values() if o.active and o.id is not None}
        self.create = create
        self.from_csv = from_csv
        self.to_create: dict[str, str] = {}  # lower-case title -> title as the file writes it

    def check(self, row: Row) -> PlannedRow:
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
        planned = PlannedRow(
            line=row.line,
            number=row.number,
            where=row.where,
            draft=draft,
            status=status,
            submitter=text("submitter", SHORT_MAX) or IMPORT_SUBMITTER,
            owner=text("owner", SHORT_MAX) or None,
            ref=text("ref", SHORT_MAX) or None,
            file_id=text("id") or None,
            objective_key=objective_key,
            merged_into=text("merged_into") or None,
            kpi_actual=kpi_actual,
            created_at=parse_created_at(text("created_at"), errors),
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
