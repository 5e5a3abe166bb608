"""`POST /api/measurements`: measurements pushed by monitoring, checked whole, stored whole.

The body is `{"measurements": [{"service", "metric", "timestamp", "value"}, ...]}` with
`Authorization: Bearer <CSI_INGEST_TOKEN>`. Either every measurement is stored (those already
stored count as duplicates) or, when any is bad, none is and the answer says which and why.
"""

from __future__ import annotations

import hmac
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.sla.measurements import MeasurementIn, parse_measurement, store
from storage.db import session_scope

log = logging.getLogger(__name__)

PATH = "/api/measurements"
FIELDS = ("service", "metric", "timestamp", "value")
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Answer:
    """The HTTP status line and the JSON body to send."""

    status: str
    body: dict[str, Any]


def authorized(header: str | None, token: str) -> bool:
    """Whether the Authorization header carries the bearer token (compared in constant time)."""
    scheme, _, given = (header or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8", "replace"), token.encode())


def parse_body(body: bytes) -> list[MeasurementIn]:
    """The checked measurements of a request body; ValueError says every problem."""
    try:
        document = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("The body is not UTF-8 text.") from None
    except ValueError as exc:
        raise ValueError(f"The body is not valid JSON ({exc}).") from None
    except RecursionError:
        raise ValueError("The body nests JSON too deeply to read.") from None
    if not isinstance(document, dict) or "measurements" not in document:
        raise ValueError('Send a JSON object {"measurements": [...]}.')
    items = document["measurements"]
    if not isinstance(items, list):
        raise ValueError('"measurements" must be a list of objects.')
    checked: list[MeasurementIn] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise ValueError("not an object with " + ", ".join(FIELDS))
            checked.append(parse_measurement(*(item.get(name) for name in FIELDS)))
        except ValueError as exc:
            problems.append(f"measurements[{index}]: {exc}")
    if problems:
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"... and {len(problems) - MAX_PROBLEMS} more")
        raise ValueError(
            f"{len(problems)} of {len(items)} measurements cannot be stored, so none was: "
            + "; ".join(shown)
        )
    return checked


def receive(*, engine: Engine, body: bytes) -> Answer:
    """Check and store an authorized request's body."""
    try:
        items = parse_body(body)
    except ValueError as exc:
        log.warning("refused measurements: %.200s", exc)
        return Answer("400 Bad Request", {"error": str(exc)})
    try:
        with session_scope(engine) as session:
            result = store(session=session, measurements=items)
    except SQLAlchemyError as exc:
        log.error("measurements not stored: the database failed (%s)", type(exc).__name__)
        return Answer(
            "503 Service Unavailable",
            {"error": "The database did not answer; nothing was stored. Send them again."},
        )
    return Answer(
        "200 OK",
        {"received": len(items), "stored": result.stored, "duplicates": result.duplicates},
    )
