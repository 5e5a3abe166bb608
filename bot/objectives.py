"""The steering group's objectives: add, edit, retire, search. Plain Python over storage, no Slack.

Only the steering group may change objectives; the callers (the Slack handlers, the CLI run by
the operator) check who acts before they call these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from bot.errors import InvalidInput, NotFound
from bot.lifecycle import Status
from bot.sla.targets import TargetView, describe
from storage import repositories as repo
from storage.models import TITLE_MAX, Objective, Proposal
from storage.sla_tables import Service, SlaTarget
from storage.types import utcnow

WEIGHT_RULE = "The weight must be greater than 0 and at most 100."
# A select shows at most this many options at once (Slack's limit).
OPTIONS_MAX = 100
# Proposals of a retired objective whose submitter can still choose another one.
CHOOSE_AGAIN = (Status.OPEN,)
# A baseline or target beyond this is a typing slip, not a KPI.
NUMBER_LIMIT = 1e15


@dataclass(frozen=True)
class TargetInput:
    """An objective's measurable target as the steering group enters it: a KPI in words or one
    of the SLA targets, a baseline, a target value and a date. All empty: no target."""

    kpi: str | None = None
    sla_target_id: int | None = None
    baseline: float | None = None
    target: float | None = None
    target_date: date | None = None

    @property
    def empty(self) -> bool:
        """True when nothing of a target was entered."""
        return self == TargetInput()


NO_SLA_TARGET = "none"  # the SLA target select's "none" option


def parse_target(
    *,
    kpi: str | None,
    sla_target: str | None,
    baseline: str | None,
    target: str | None,
    target_date: str | None,
) -> TargetInput:
    """The target as typed into the objective form; InvalidInput names each field that is not
    a number or a date."""
    errors: dict[str, str] = {}
    numbers: dict[str, float | None] = {}
    for name, raw in (("baseline", baseline), ("target", target)):
        text = (raw or "").strip().replace(",", "")
        numbers[name] = None
        if text:
            try:
                numbers[name] = float(text)
            except ValueError:
                errors[name] = f"{text[:40]!r} is not a number, e.g. 42 or 97.5."
    when = None
    if (target_date or "").strip():
        try:
            when = date.fromisoformat((target_date or "").strip())
        except ValueError:
            errors["target_date"] = "Write the date as year-month-day, e.g. 2027-06-30."
    sla_id = None
    chosen = (sla_target or "").strip()
    if chosen and chosen != NO_SLA_TARGET:
        if not (chosen.isascii() and chosen.isdigit() and len(chosen) <= 9):
            errors["sla_target"] = "Choose one of the SLA targets."
        else:
            sla_id = int(chosen)
    if errors:
        raise InvalidInput(errors)
    return TargetInput(
        kpi=(kpi or "").strip() or None,
        sla_target_id=sla_id,
        baseline=numbers["baseline"],
        target=numbers["target"],
        target_date=when,
    )


def target_of(objective: Objective) -> TargetInput:
    """The objective's stored target, as it would be entered again."""
    return TargetInput(
        kpi=None if objective.kpi_sla_target_id else objective.kpi,
        sla_target_id=objective.kpi_sla_target_id,
        baseline=objective.kpi_baseline,
        target=objective.kpi_target,
        target_date=objective.kpi_target_date,
    )


def add_objective(
    *,
    session: Session,
    title: str,
    weight: float = 1.0,
    description: str = "",
    actor: str | None = None,
    target: TargetInput | None = None,
    now: datetime | None = None,
) -> Objective:
    """Create an objective, with its measurable target if given; a duplicate title, a bad weight
    or a bad target is refused with a reason."""
    title = _title(title)
    _check_weight(weight)
    if repo.objective_by_title(session=session, title=title) is not None:
        raise InvalidInput({"title": f"An objective called “{title}” already exists."})
    objective = Objective(title=title, weight=weight, description=description, created_by=actor)
    if target is not None:
        _set_target(session, objective, target, now=now or utcnow())
    session.add(objective)
    session.flush()
    return objective


def edit_objective(
    *,
    session: Session,
    objective_id: int,
    title: str | None = None,
    description: str | None = None,
    weight: float | None = None,
    target: TargetInput | None = None,
    now: datetime | None = None,
) -> tuple[Objective, bool]:
    """Change an active objective's title, description, weight or measurable target (None
    leaves a field as it is; an empty TargetInput removes the target); returns it and whether
    anything changed (a repeated edit changes nothing)."""
    objective = get(session=session, objective_id=objective_id)
    if not objective.active:
        raise InvalidInput({"title": f"Objective {objective_id} is retired; it cannot be edited."})
    before = (objective.title, objective.description, objective.weight, _stored(objective))
    if title is not None:
        title = _title(title)
        other = repo.objective_by_title(session=session, title=title)
        if other is not None and other.id != objective.id:
            raise InvalidInput({"title": f"An objective called “{title}” already exists."})
        objective.title = title
    if description is not None:
        objective.description = description.strip()
    if weight is not None:
        _check_weight(weight)
        objective.weight = weight
    if target is not None:
        _set_target(session, objective, target, now=now or utcnow())
    changed = (
        objective.title,
        objective.description,
        objective.weight,
        _stored(objective),
    ) != before
    if changed:
        session.add(objective)
        session.flush()
    return objective, changed


@dataclass(frozen=True)
class Retired:
    """An objective taken out of use, and the proposals whose submitters must choose again."""

    objective: Objective
    changed: bool
    to_choose_again: list[Proposal]


def retire_objective(*, session: Session, objective_id: int) -> Retired:
    """Retire an objective: no new proposal can serve it. Its open proposals are listed so that
    their submitters can choose another; retiring it again lists nothing (nobody is told twice).
    """
    objective = get(session=session, objective_id=objective_id)
    if not objective.active:
        return Retired(objective=objective, changed=False, to_choose_again=[])
    objective.active = False
    session.add(objective)
    session.flush()
    statement = (
        select(Proposal)
        .where(
            Proposal.objective_id == objective_id,
            col(Proposal.status).in_(list(CHOOSE_AGAIN)),
        )
        .order_by(col(Proposal.submitter), col(Proposal.id))
    )
    return Retired(objective=objective, changed=True, to_choose_again=list(session.exec(statement)))


def get(*, session: Session, objective_id: int) -> Objective:
    """The objective with this number; NotFound says so when there is none."""
    objective = repo.get_objective(session=session, objective_id=objective_id)
    if objective is None:
        raise NotFound(f"Objective {objective_id} does not exist.")
    return objective


def count_active(*, session: Session) -> int:
    """How many objectives a proposal may serve."""
    statement = select(func.count()).select_from(Objective).where(col(Objective.active).is_(True))
    return int(session.exec(statement).one())


def search(*, session: Session, query: str, limit: int = OPTIONS_MAX) -> list[Objective]:
    """Active objectives whose title contains the typed text (any case), or whose number it is;
    by title, at most `limit`."""
    typed = " ".join(query.split())
    statement = select(Objective).where(col(Objective.active).is_(True))
    if typed:
        # LIKE's wildcards in typed text are meant literally.
        pattern = "%" + typed.lower().replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")
        wanted: Any = func.lower(Objective.title).like(pattern + "%", escape="\\")
        number = typed.removeprefix("#")
        if number.isascii() and number.isdigit() and len(number) <= 9:
            wanted = or_(wanted, col(Objective.id) == int(number))
        statement = statement.where(wanted)
    statement = statement.order_by(col(Objective.title)).limit(limit)
    return list(session.exec(statement))


def _title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise InvalidInput({"title": "Give the objective a title."})
    if len(title) > TITLE_MAX:
        raise InvalidInput({"title": f"Keep the objective's title to {TITLE_MAX} characters."})
    return title


def _check_weight(weight: float) -> None:
    if not 0 < weight <= 100:
        raise InvalidInput({"weight": WEIGHT_RULE})


def _stored(objective: Objective) -> tuple[Any, ...]:
    return (
        objective.kpi,
        objective.kpi_sla_target_id,
        objective.kpi_baseline,
        objective.kpi_target,
        objective.kpi_target_date,
    )


def _set_target(
    session: Session, objective: Objective, wanted: TargetInput, *, now: datetime
) -> None:
    """Check the target entered and store it. The path to the target starts when its KPI,
    baseline or target value changes (`kpi_since`); a new date alone moves only its end."""
    errors: dict[str, str] = {}
    kpi = " ".join((wanted.kpi or "").split()) or None
    if wanted.sla_target_id is not None:
        if kpi is not None:
            errors["kpi"] = "Name the KPI in words or choose an SLA target, not both."
        described = sla_target_words(session=session, target_id=wanted.sla_target_id)
        if described is None:
            errors["sla_target"] = f"There is no SLA target {wanted.sla_target_id}."
        else:
            kpi = described
    elif kpi is not None and len(kpi) > TITLE_MAX:
        errors["kpi"] = f"Keep the KPI to {TITLE_MAX} characters."
    for name, number in (("baseline", wanted.baseline), ("target", wanted.target)):
        if number is not None and (not math.isfinite(number) or abs(number) >= NUMBER_LIMIT):
            errors[name] = f"The {name} must be a finite number, e.g. 42 or 97.5."
    numbers = (wanted.baseline, wanted.target, wanted.target_date)
    if kpi is None and wanted.sla_target_id is None and any(n is not None for n in numbers):
        errors["kpi"] = (
            "Name the KPI (or choose an SLA target) that the baseline, target and date are about."
        )
    if (
        wanted.target_date is not None
        and wanted.target_date != objective.kpi_target_date
        and wanted.target_date <= now.date()
    ):
        errors["target_date"] = "The target date must be after today."
    if errors:
        raise InvalidInput(errors)
    path = (kpi, wanted.sla_target_id, wanted.baseline, wanted.target)
    restarted = path != (
        objective.kpi,
        objective.kpi_sla_target_id,
        objective.kpi_baseline,
        objective.kpi_target,
    )
    objective.kpi, objective.kpi_sla_target_id = kpi, wanted.sla_target_id
    objective.kpi_baseline, objective.kpi_target = wanted.baseline, wanted.target
    objective.kpi_target_date = wanted.target_date
    if kpi is None:
        objective.kpi_since = None
    elif restarted or objective.kpi_since is None:
        objective.kpi_since = now


def sla_target_words(*, session: Session, target_id: int) -> str | None:
    """An SLA target in words ('Email availability: mean >= 99.9 %'), or None when none."""
    target = session.get(SlaTarget, target_id)
    service = None if target is None else session.get(Service, target.service_id)
    if target is None or service is None:
        return None
    view = TargetView(
        target_id,
        service.name,
        target.metric,
        target.aggregate,
        target.comparator,
        target.target,
        target.unit,
    )
    return describe(view)[:TITLE_MAX]
