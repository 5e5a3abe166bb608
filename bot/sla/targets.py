"""SLA targets: what a service should achieve on one metric over a period."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlmodel import Session

from bot.drafts import one_line, text_problem
from bot.errors import InvalidInput, NotFound
from bot.sla.services import ensure, service_name_problem
from storage import sla_repository as repo
from storage.sla_tables import METRIC_MAX, UNIT_MAX

AGGREGATES = ("mean", "min", "max", "p95", "sum", "count")
COMPARATORS = (">=", "<=", ">", "<")


@dataclass(frozen=True)
class TargetView:
    """A stored target with its service's name."""

    id: int
    service: str
    metric: str
    aggregate: str
    comparator: str
    target: float
    unit: str | None


def describe(view: TargetView) -> str:
    """The target in words, e.g. 'Email availability: mean >= 99.9 %'."""
    unit = f" {view.unit}" if view.unit else ""
    return f"{view.service} {view.metric}: {view.aggregate} {view.comparator} {view.target:g}{unit}"


def add(
    *,
    session: Session,
    service: str,
    metric: str,
    aggregate: str,
    comparator: str,
    target: float,
    unit: str | None = None,
) -> TargetView:
    """Define a target; InvalidInput names each bad field, or the same target already defined."""
    errors: dict[str, str] = {}
    problem = service_name_problem(service)
    if problem:
        errors["service"] = problem
    metric = one_line(metric)
    if not metric:
        errors["metric"] = "the metric is empty"
    elif len(metric) > METRIC_MAX or text_problem(metric):
        errors["metric"] = text_problem(metric) or f"keep the metric to {METRIC_MAX} characters"
    if aggregate not in AGGREGATES:
        errors["aggregate"] = f"the aggregate is one of {', '.join(AGGREGATES)}"
    if comparator not in COMPARATORS:
        errors["comparator"] = f"the comparator is one of {' '.join(COMPARATORS)}"
    if not math.isfinite(target):
        errors["target"] = "the target must be a finite number"
    unit = one_line(unit) or None
    if unit and (len(unit) > UNIT_MAX or text_problem(unit)):
        errors["unit"] = text_problem(unit) or f"keep the unit to {UNIT_MAX} characters"
    if errors:
        raise InvalidInput(errors)
    row = ensure(session=session, name=service)
    assert row.id is not None
    existing = repo.find_target(
        session=session,
        service_id=row.id,
        metric=metric,
        aggregate=aggregate,
        comparator=comparator,
    )
    if existing is not None:
        raise InvalidInput(
            {
                "target": f"{row.name} {metric} already has the target {existing.id} "
                f"({aggregate} {comparator} {existing.target:g}); remove it first to change it"
            }
        )
    stored = repo.add_target(
        session=session,
        service_id=row.id,
        metric=metric,
        aggregate=aggregate,
        comparator=comparator,
        target=target,
        unit=unit,
    )
    assert stored.id is not None
    return TargetView(stored.id, row.name, metric, aggregate, comparator, target, unit)


def list_all(*, session: Session) -> list[TargetView]:
    """Every target, by service and metric."""
    return [
        TargetView(
            target.id or 0,
            service.name,
            target.metric,
            target.aggregate,
            target.comparator,
            target.target,
            target.unit,
        )
        for target, service in repo.list_targets(session=session)
    ]


def remove(*, session: Session, target_id: int) -> None:
    """Delete a target (its measurements stay); NotFound when there is none."""
    if not repo.remove_target(session=session, target_id=target_id):
        raise NotFound(f"There is no target {target_id}; see csi-bot sla target list.")
