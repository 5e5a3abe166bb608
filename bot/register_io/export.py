"""Exporting the register as CSV (safe to open in a spreadsheet) or JSON (exact)."""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from sqlmodel import Session

from bot import proposals
from bot.errors import CsiError
from bot.register_io.columns import EXPORT_FIELDS, TEXT_COLUMNS, neutralise
from storage import repositories as repo

log = logging.getLogger(__name__)


def export_rows(*, session: Session) -> list[dict[str, Any]]:
    """Every proposal as a flat record with the export's keys."""
    summaries = proposals.summarise(session=session, proposals=repo.list_proposals(session=session))
    rows = []
    for item in summaries:
        p = item.proposal
        row = {
            "id": p.id,
            "ref": p.ref,
            "title": p.title,
            "description": p.description,
            "outcome": p.outcome,
            "status": p.status,
            "merged_into": p.merged_into_id,
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
        for key, value in row.items():
            if isinstance(value, float) and not math.isfinite(value):
                # Stored before such numbers were refused; no file format can carry it.
                log.warning(
                    "proposal #%s: %s is %s, not a number; exported empty", p.id, key, value
                )
                row[key] = None
        rows.append(row)
    return rows


def export_text(*, session: Session, fmt: str) -> str:
    """The register as a CSV or JSON document."""
    return _render(export_rows(session=session), fmt)


def _render(rows: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        # allow_nan=False: a non-finite number can never come out as Infinity or NaN (not JSON).
        return json.dumps(rows, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _cell(key, value) for key, value in row.items()})
    return out.getvalue()


def _cell(key: str, value: Any) -> Any:
    if value is None:
        return ""
    if key in TEXT_COLUMNS and isinstance(value, str):
        return neutralise(value)
    return value


def write_export(*, session: Session, fmt: str, output: Path) -> int:
    """Write the register to a file (replaced whole, never half-written); returns the rows."""
    rows = export_rows(session=session)
    text = _render(rows, fmt)
    # Excel reads a CSV as UTF-8 only when it starts with a byte order mark ("CSV UTF-8").
    encoding = "utf-8-sig" if fmt == "csv" else "utf-8"
    folder = output.parent if str(output.parent) else Path(".")
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{output.name}.", suffix=".tmp")
    except OSError as exc:
        raise CsiError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
    try:
        with os.fdopen(handle, "w", encoding=encoding, newline="") as file:
            file.write(text)
        os.replace(temporary, output)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise CsiError(f"Cannot write {output}: {exc.strerror or exc}.") from exc
    return len(rows)
