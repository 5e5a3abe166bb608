"""Measurements in: one reader for a CSV row and a JSON item, and the bulk store.

Both ways in check every value the same way; a batch is stored whole or not at all, and a
measurement already stored (same service, metric and moment) is counted as a duplicate.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlmodel import Session

from bot.drafts import one_line
from bot.errors import CsiError
from bot.sla.services import service_name_problem
from storage import sla_repository as repo
from storage.sla_tables import METRIC_MAX, service_key

COLUMNS = ("service", "metric", "timestamp", "value")
# Rows go to the database in chunks, so a million-row file never sits in memory whole.
CHUNK = 20_000
MAX_REPORTED = 100


class MeasurementIn(NamedTuple):
    """One checked measurement: names on one line, timestamp aware UTC, value finite."""

    service: str
    metric: str
    timestamp: datetime
    value: float


@dataclass(frozen=True)
class StoreResult:
    """How many measurements were stored and how many were already there (or repeated)."""

    stored: int
    duplicates: int


class BadMeasurements(CsiError):
    """Some measurements cannot be stored; `problems` says which and why; nothing was stored."""

    def __init__(self, problems: list[str], total: int) -> None:
        self.problems = problems
        self.total = total
        shown = problems[:MAX_REPORTED]
        more = total - len(shown)
        lines = [*shown] + ([f"... and {more} more problems."] if more > 0 else [])
        super().__init__(
            f"{total} problem{'' if total == 1 else 's'}; nothing was stored:\n" + "\n".join(lines)
        )


def parse_timestamp(raw: Any) -> datetime:
    """An ISO 8601 time with a zone as aware UTC; ValueError says what is wrong."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError("the timestamp is missing")
    text = raw.strip()
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"the timestamp {text[:40]!r} is not an ISO 8601 time") from None
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"the timestamp {text[:40]!r} has no time zone; add one, like Z or +02:00")
    try:
        return at.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+01:00 is a moment before the first one a datetime holds.
        raise ValueError(f"the timestamp {text[:40]!r} is out of range") from None


def parse_value(raw: Any) -> float:
    """A finite number from a JSON number or a CSV text; ValueError says what is wrong."""
    if isinstance(raw, bool) or raw is None:
        raise ValueError("the value is missing" if raw is None else "the value is not a number")
    if isinstance(raw, str):
        text = raw.strip()
        # float() also reads "1_000" and "  nan "; a measurement is written plainly.
        if not text or "_" in text:
            raise ValueError(
                f"the value {text[:40]!r} is not a number" if text else "the value is missing"
            )
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"the value {text[:40]!r} is not a number") from None
    elif isinstance(raw, (int, float)):
        try:
            value = float(raw)
        except OverflowError:
            raise ValueError("the value is too large") from None
    else:
        raise ValueError("the value is not a number")
    if not math.isfinite(value):
        raise ValueError("the value must be a finite number (not NaN or infinity)")
    return value


def parse_measurement(service: Any, metric: Any, timestamp: Any, value: Any) -> MeasurementIn:
    """Check one measurement's four fields; ValueError names every problem, joined by '; '."""
    problems: list[str] = []
    service_text = service if isinstance(service, str) else ""
    if service is None or (isinstance(service, str) and not service.strip()):
        problems.append("the service is missing")
    elif not isinstance(service, str):
        problems.append("the service is not text")
    else:
        problem = service_name_problem(service)
        if problem:
            problems.append(problem)
    metric_text = metric if isinstance(metric, str) else ""
    if metric is None or (isinstance(metric, str) and not metric.strip()):
        problems.append("the metric is missing")
    elif not isinstance(metric, str):
        problems.append("the metric is not text")
    elif len(one_line(metric)) > METRIC_MAX:
        problems.append(f"the metric name is over {METRIC_MAX} characters")
    else:
        problem = service_name_problem(metric)
        if problem:
            problems.append(problem.replace("service", "metric"))
    at = None
    try:
        at = parse_timestamp(timestamp)
    except ValueError as exc:
        problems.append(str(exc))
    number = 0.0
    try:
        number = parse_value(value)
    except ValueError as exc:
        problems.append(str(exc))
    if problems or at is None:
        raise ValueError("; ".join(problems))
    return MeasurementIn(one_line(service_text), one_line(metric_text), at, number)


def read_csv(path: Path) -> Iterator[tuple[int, MeasurementIn | str]]:
    """(line number, measurement or what is wrong with that row) for every data row."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise CsiError(f"Cannot read {path}: {exc.strerror}.") from exc
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise CsiError(f"{path} line 1: cannot read the header ({exc}).") from exc
        if header is None:
            raise CsiError(f"{path} is empty; expected the header {','.join(COLUMNS)}.")
        names = [name.strip().lower() for name in header]
        missing = [name for name in COLUMNS if name not in names]
        if missing:
            raise CsiError(
                f"{path} line 1: the header lacks {', '.join(missing)}; expected "
                f"{','.join(COLUMNS)}."
            )
        where = [names.index(name) for name in COLUMNS]
        width = len(names)
        try:
            for row in reader:
                line = reader.line_num
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != width:
                    yield line, f"expected {width} columns, found {len(row)}"
                    continue
                try:
                    yield line, parse_measurement(*(row[i] for i in where))
                except ValueError as exc:
                    yield line, str(exc)
        except UnicodeDecodeError as exc:
            raise CsiError(
                f"{path}: not UTF-8 text after line {reader.line_num} ({exc.reason})."
            ) from exc
        except csv.Error as exc:
            raise CsiError(f"{path} line {reader.line_num}: {exc}.") from exc


class _Services:
    """Service IDs by name, created on first sight within the unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._ids: dict[str, int] = {}

    def id_of(self, name: str) -> int:
        key = service_key(name)
        found = self._ids.get(key)
        if found is None:
            service = repo.ensure_service(session=self._session, name=name)
            assert service.id is not None
            found = self._ids[key] = service.id
        return found


def store(*, session: Session, measurements: Iterable[MeasurementIn]) -> StoreResult:
    """Store checked measurements in bulk (the caller's unit of work commits or rolls back)."""
    services = _Services(session)
    stored = total = 0
    chunk: list[repo.MeasurementRow] = []
    for item in measurements:
        chunk.append((services.id_of(item.service), item.metric, item.timestamp, item.value))
        if len(chunk) >= CHUNK:
            stored += repo.insert_measurements(session=session, rows=chunk)
            total += len(chunk)
            chunk = []
    stored += repo.insert_measurements(session=session, rows=chunk)
    total += len(chunk)
    return StoreResult(stored=stored, duplicates=total - stored)


def import_csv(*, session: Session, path: Path) -> StoreResult:
    """Store every measurement of the CSV file, or none when any row is bad (BadMeasurements
    lists each bad row by line number). Rows are stored as they are read; a bad row found
    later makes the caller's unit of work roll back."""
    problems: list[str] = []
    count = 0

    def good_rows() -> Iterator[MeasurementIn]:
        nonlocal count
        for line, item in read_csv(path):
            if isinstance(item, str):
                count += 1
                if len(problems) < MAX_REPORTED:
                    problems.append(f"line {line}: {item}")
            elif not count:
                yield item

    result = store(session=session, measurements=good_rows())
    if count:
        raise BadMeasurements(problems, count)
    return result
