"""A proposal as typed by a person, and its validation. Knows nothing of Slack."""

from __future__ import annotations

import math
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
EFFORT_WORDS = {"small": "S", "medium": "M", "large": "L", "extra_large": "XL", "x_large": "XL"}
MAX_EFFORT_DAYS = 10_000.0

# ASCII digits only: float() would also take '٣', '1_000', 'inf', 'nan' and 'Infinity'.
_DAYS = re.compile(
    r"^(\d+(?:[.,]\d+)?)\s*(?:d|days?|pd|person[- ]?days?)?$", re.IGNORECASE | re.ASCII
)
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?$", re.ASCII)
_NOT_FINITE = {"inf", "infinity", "nan", "∞"}
_WHOLE = re.compile(r"^[+-]?\d+(?:\.0*)?$", re.ASCII)
# PostgreSQL refuses NUL in text and every driver refuses lone surrogates (not valid UTF-8);
# the other C0 controls are invisible and break CSV and Slack display. Tab and line breaks stay.
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


def _normalise_word(raw: str) -> str:
    """'Customer satisfaction', 'customer-satisfaction' → 'customer_satisfaction'."""
    return "_".join(re.split(r"[\s_-]+", raw.strip().lower())).strip("_")


def parse_effort(raw: str) -> tuple[str, float]:
    """Turn 'M', 'xl', 'Medium', '3', '3d' or '2.5 person-days' into (label, person-days)."""
    text = raw.strip()
    size = EFFORT_WORDS.get(_normalise_word(text), text.upper())
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
    """A finite decimal number typed by a person ('1,5' is accepted as 1.5)."""
    text = raw.strip()
    if not _NUMBER.match(text):
        if text.lower().lstrip("+-") in _NOT_FINITE:
            raise ValueError(f"{what} must be an ordinary number, like 6.5 (not infinity or NaN).")
        raise ValueError(f"{what} must be a number, like 6.5.")
    number = float(text.replace(",", "."))
    if not math.isfinite(number):
        raise ValueError(f"{what} is too large: give an ordinary number, like 6.5.")
    return number


def parse_whole(raw: str, what: str) -> int:
    """A whole number ('4' or '4.0'); '4.6' is refused, never rounded."""
    text = raw.strip()
    if not _WHOLE.match(text):
        raise ValueError(f"{what} must be a whole number.")
    return int(text.split(".")[0])


def parse_benefit(raw: str) -> str:
    """A benefit by its value or its label, in any case ('Customer satisfaction')."""
    word = _normalise_word(raw)
    for benefit, label in BENEFIT_LABELS.items():
        if word in {benefit.value, _normalise_word(label)}:
            return benefit.value
    raise ValueError("Choose quality, efficiency, cost or customer satisfaction.")


def text_problem(text: str, *, limit: int | None = None) -> str | None:
    """Why this text cannot be stored (a control character, over `limit`), or None."""
    bad = _UNSTORABLE.search(text)
    if bad is not None:
        char = bad.group()
        name = f"the control character U+{ord(char):04X}"
        if char == "\x00":
            name = "a NUL character (U+0000)"
        elif "\ud800" <= char <= "\udfff":
            name = f"the invalid character U+{ord(char):04X}"
        return f"Remove {name} at position {bad.start() + 1}: it cannot be stored."
    if limit is not None and len(text) > limit:
        return f"This is {len(text)} characters; the limit is {limit}."
    return None


def one_line(text: str | None) -> str:
    """The text on one line with single spaces, as titles and names are kept."""
    return " ".join((text or "").split())


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
        for name in ("title", "description", "outcome", "service", "benefit", "effort", "kpi"):
            problem = text_problem(str(getattr(self, name) or ""))
            if problem:
                errors[name] = problem
        self.title = one_line(self.title)
        if not self.title:
            errors["title"] = "Give the proposal a title."
        elif len(self.title) > TITLE_MAX and "title" not in errors:
            errors["title"] = (
                f"The title is {len(self.title)} characters; keep it to {TITLE_MAX} "
                "and put the rest in the current state."
            )
        for name in ("description", "outcome"):
            text = (getattr(self, name) or "").strip()
            setattr(self, name, text)
            if len(text) > TEXT_MAX and name not in errors:
                errors[name] = f"This is {len(text)} characters; the limit is {TEXT_MAX}."
        if self.objective_id is None:
            if require_objective:
                errors["objective"] = "Choose the objective this proposal serves."
        elif self.objective_id not in active_objective_ids:
            errors["objective"] = "That objective does not exist or was retired; choose another."
        self.service = one_line(self.service) or None
        if self.service and len(self.service) > SHORT_MAX and "service" not in errors:
            errors["service"] = f"Keep the service name to {SHORT_MAX} characters."
        if self.benefit and "benefit" not in errors:
            try:
                self.benefit = parse_benefit(self.benefit)
            except ValueError as exc:
                errors["benefit"] = str(exc)
        if self.value is not None and not 1 <= self.value <= 5:
            errors["value"] = "Value is rated from 1 (low) to 5 (high)."
        if self.effort and self.effort.strip() and "effort" not in errors:
            try:
                self.effort, self.effort_days = parse_effort(self.effort)
            except ValueError as exc:
                errors["effort"] = str(exc)
        elif not (self.effort and self.effort.strip()):
            self.effort = None
        self.kpi = one_line(self.kpi) or None
        if self.kpi and len(self.kpi) > TITLE_MAX and "kpi" not in errors:
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
