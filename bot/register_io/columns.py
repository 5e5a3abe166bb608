"""The register's columns: what the export writes and what the import accepts, in one table."""

from __future__ import annotations

import functools
import re
import textwrap
from dataclasses import dataclass

from bot.drafts import BENEFIT_LABELS, MAX_EFFORT_DAYS
from bot.lifecycle import LABELS, Status
from storage.models import SHORT_MAX, TEXT_MAX, TITLE_MAX


@dataclass(frozen=True)
class Column:
    """One column of the export; `accepts` says in words what the import takes (None: ignored)."""

    name: str
    accepts: str | None
    numeric: bool = False


_STATUSES = ", ".join(s.value for s in Status)
_BENEFITS = ", ".join(b.value for b in BENEFIT_LABELS)

COLUMNS = [
    Column("id", "not imported (the new register numbers its own); `merged_into` may name it"),
    Column("ref", f"your register's own reference, unique, up to {SHORT_MAX} characters"),
    Column("title", f"required; up to {TITLE_MAX} characters"),
    Column("description", f"problem / current state; up to {TEXT_MAX:,} characters"),
    Column("outcome", f"desired outcome; up to {TEXT_MAX:,} characters"),
    Column(
        "status",
        f"{_STATUSES}, or the labels (`Open`, `In progress`, `Needs an objective`); "
        "default open with an objective, needs_objective without",
    ),
    Column(
        "merged_into",
        "for a merged proposal: the id or ref of the row it was merged into, "
        "or the ref or number of a proposal already in the register",
    ),
    Column("objective", "an objective's title (any case); see --create-objectives"),
    Column("service", f"up to {SHORT_MAX} characters"),
    Column("benefit", f"{_BENEFITS}, or the labels (`Customer satisfaction`)"),
    Column("value", "a whole number from 1 to 5", numeric=True),
    Column(
        "effort",
        f"S, M, L, XL (or Small, Medium, Large, Extra large) or person-days such as 3d, "
        f"up to {MAX_EFFORT_DAYS:,.0f}",
    ),
    Column("effort_days", None, numeric=True),
    Column("kpi", f"the KPI's name; up to {TITLE_MAX} characters"),
    Column("kpi_baseline", "a number (6.5 or 6,5)", numeric=True),
    Column("kpi_target", "a number", numeric=True),
    Column("kpi_actual", "a number: the measured result", numeric=True),
    Column("submitter", f"Slack user ID or a name, up to {SHORT_MAX} characters; default `import`"),
    Column("owner", f"up to {SHORT_MAX} characters"),
    Column("votes", None, numeric=True),
    Column("priority", None, numeric=True),
    Column("permalink", None),
    Column("created_at", "ISO 8601 with a time zone (2025-01-31T09:00:00+00:00); default now"),
    Column("updated_at", None),
]
EXPORT_FIELDS = [c.name for c in COLUMNS]
KNOWN = frozenset(EXPORT_FIELDS)
# Columns a person writes words into: a spreadsheet could run them, so the CSV export
# neutralises them (numbers such as a KPI baseline of -5 stay numbers).
TEXT_COLUMNS = frozenset(c.name for c in COLUMNS if not c.numeric)

# A cell that a spreadsheet would evaluate (OWASP's list), possibly behind quotes we added.
_RUNNABLE = re.compile(r"'*[=+\-@\t\r]")


@functools.lru_cache(maxsize=1024)
def column_name(header: str) -> str:
    """'KPI baseline', ' kpi-baseline ', 'Kpi_Baseline' → 'kpi_baseline'."""
    return "_".join(re.split(r"[\s_-]+", header.strip().lower())).strip("_")


def status_value(raw: str) -> Status:
    """A status by value or label, in any case; ValueError names the accepted ones."""
    word = column_name(raw)
    for status in Status:
        if word in {status.value, column_name(LABELS[status])}:
            return status
    raise ValueError(f"“{raw.strip()}” is not a status; use one of {_STATUSES}.")


def neutralise(cell: str) -> str:
    """A text cell as a spreadsheet shows it as text: a leading quote before a runnable start.

    Cells that already start with quotes before such a character get one more, so that
    `unneutralise` can always strip exactly one and give back the original text.
    """
    return "'" + cell if _RUNNABLE.match(cell) else cell


def unneutralise(cell: str) -> str:
    """The original text of a cell `neutralise` wrote; any other cell is left alone."""
    return cell[1:] if cell.startswith("'") and _RUNNABLE.match(cell) else cell


def columns_help() -> str:
    """Every column and what the import accepts, for `csi-bot import --help`."""
    width = max(len(c.name) for c in COLUMNS) + 4
    lines = ["columns (a header row names them, in any case and order; only title is required):"]
    for column in COLUMNS:
        accepts = column.accepts or "written by the export; ignored by the import"
        lines.extend(
            textwrap.wrap(
                accepts,
                width=88,
                initial_indent=f"  {column.name:<{width - 2}}",
                subsequent_indent=" " * width,
            )
        )
    return "\n".join(lines)
