"""A proposal as typed by a person, and its validation. Knows nothing of Slack."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from enum import StrEnum
from typing import Any

from bot.errors import InvalidInput
from storage.models import SHORT_MAX, TEXT_MAX, TITLE_MAX


class Benefit(StrEnum):
    """The kind of benefit a proposal expects (quality, efficiency, cost, satisfaction)."""

    QUALITY = "quality"
    EFFICIENCY = "efficiency"
    COST = "cost"
    CUSTOMER_SATISFACTION = "customer_satisfaction"


BENEFIT_LABELS = {
    Benefit.QUALITY: "Quality",
    Benefit.EFFICIENCY: "Efficiency",
    Benefit.COST: "Cost",
    Benefit.CUSTOMER_SATISFACTION: "Customer satisfaction",
}

# T-shirt sizes in person-days, so that sizes and numbers rank on one scale.
EFFORT_SIZES = {"S": 2.0, "M": 5.0, "L": 15.0, "XL": 40.0}
MAX_EFFORT_DAYS = 10_000.0

_DAYS = re.compile(r"^(\d+(?:[.,]\d+)?)\s*(?:d|days?|pd|person[- ]?days?)?$", re.IGNORECASE)


def parse_effort(raw: str) -> tuple[str, float]:
    """Turn 'M', 'xl', '3', '3d' or '2.5 person-days' into (label, person-days)."""
    text = raw.strip()
    size = text.upper()
    if size in EFFORT_SIZES:
        return size, EFFORT_SIZES[size]
    match = _DAYS.match(text)
    if not match:
        raise ValueError("Effort is a size (S, M, L, XL) or a number of person-days, like 3d.")
    days = float(match.group(1).replace(",", "."))
    if not 0 < days <= MAX_EFFORT_DAYS:
        raise ValueError(f"Effort in person-days must be between 0 and {MAX_EFFORT_DAYS:g}.")
    return f"{days:g}d", days


def parse_number(raw: str, what: str) -> float:
    """A decimal number typed by a person ('1,5' is accepted as 1.5)."""
    try:
        return float(raw.strip().replace(",", "."))
    except ValueError as exc:
        raise ValueError(f"{what} must be a number.") from exc


@dataclass
class ProposalDraft:
    """The register fields as entered; validate() checks and normalises them."""

    title: str
    description: str = ""
    outcome: str = ""
    objective_id: int | None = None
    service: str | None = None
    benefit: str | None = None
    value: int | None = None
    effort: str | None = None
    kpi: str | None = None
    kpi_baseline: str | None = None
    kpi_target: str | None = None
    effort_days: float | None = field(default=None, init=False)
    baseline: float | None = field(default=None, init=False)
    target: float | None = field(default=None, init=False)

    def fields(self) -> dict[str, Any]:
        """The fields as entered (before validation), to rebuild the draft later."""
        return {f.name: getattr(self, f.name) for f in dataclass_fields(self) if f.init}

    def validate(self, *, active_objective_ids: set[int], require_objective: bool) -> None:
        """Normalise the fields in place; raise InvalidInput with a message per bad field."""
        errors: dict[str, str] = {}
        self.title = " ".join((self.title or "").split())
        if not self.title:
            errors["title"] = "Give the proposal a title."
        elif len(self.title) > TITLE_MAX:
            errors["title"] = (
                f"The title is {len(self.title)} characters; keep it to {TITLE_MAX} "
                "and put the rest in the current state."
            )
        for name in ("description", "outcome"):
            text = (getattr(self, name) or "").strip()
            setattr(self, name, text)
            if len(text) > TEXT_MAX:
                errors[name] = f"This is {len(text)} characters; the limit is {TEXT_MAX}."
        if self.objective_id is None:
            if require_objective:
                errors["objective"] = "Choose the objective this proposal serves."
        elif self.objective_id not in active_objective_ids:
            errors["objective"] = "That objective does not exist or was retired; choose another."
        self.service = (self.service or "").strip() or None
        if self.service and len(self.service) > SHORT_MAX:
            errors["service"] = f"Keep the service name to {SHORT_MAX} characters."
        if self.benefit:
            try:
                self.benefit = Benefit(self.benefit).value
            except ValueError:
                errors["benefit"] = "Choose quality, efficiency, cost or customer satisfaction."
        if self.value is not None and not 1 <= self.value <= 5:
            errors["value"] = "Value is rated from 1 (low) to 5 (high)."
        if self.effort and self.effort.strip():
            try:
                self.effort, self.effort_days = parse_effort(self.effort)
            except ValueError as exc:
                errors["effort"] = str(exc)
        else:
            self.effort = None
        self.kpi = (self.kpi or "").strip() or None
        if self.kpi and len(self.kpi) > TITLE_MAX:
            errors["kpi"] = f"Keep the KPI name to {TITLE_MAX} characters."
        for raw_name, parsed_name, what in (
            ("kpi_baseline", "baseline", "The KPI baseline"),
            ("kpi_target", "target", "The KPI target"),
        ):
            raw = getattr(self, raw_name)
            if raw is not None and str(raw).strip():
                try:
                    setattr(self, parsed_name, parse_number(str(raw), what))
                except ValueError as exc:
                    errors[raw_name] = str(exc)
        if errors:
            raise InvalidInput(errors)
