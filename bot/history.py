"""A proposal's audit history as plain data for display: who did what, and when.

Plain Python, no Slack: `bot.blocks.lifecycle` turns these into messages. `what` is fixed
wording (safe to show as is); `reason` is text a person typed and `person` a Slack user ID the
entry is about (the new owner), which the display escapes or mentions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from bot.lifecycle import Status, label, move_word
from storage import repositories as repo
from storage.models import AuditEntry


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a proposal, ready to be shown."""

    at: datetime
    actor: str
    what: str
    reason: str | None = None
    person: str | None = None


def entries(*, session: Session, proposal_id: int) -> list[HistoryEntry]:
    """Every recorded change of the proposal, oldest first."""
    return [describe(e) for e in repo.history(session=session, proposal_id=proposal_id)]


def describe(entry: AuditEntry) -> HistoryEntry:
    """One audit entry in words."""
    detail: dict[str, Any] = entry.detail if isinstance(entry.detail, dict) else {}
    reason = detail.get("reason")
    reason = str(reason) if reason else None
    what, person = _what(entry, detail)
    return HistoryEntry(at=entry.at, actor=entry.actor, what=what, reason=reason, person=person)


def _number(value: Any) -> str:
    return f"{float(value):g}" if isinstance(value, int | float) else "?"


def _moved(entry: AuditEntry) -> str:
    if entry.from_status and entry.to_status and entry.from_status != entry.to_status:
        return f"moved it from {label(entry.from_status)} to {label(entry.to_status)}"
    return ""


def _benefit(detail: dict[str, Any]) -> str:
    outcome = detail.get("outcome")
    value, target = _number(detail.get("value")), _number(detail.get("target"))
    if outcome == "reached":
        return f"measured {value} against a target of {target}: target reached, now verified"
    if outcome == "missed":
        short = _number(detail.get("shortfall"))
        return (
            f"measured {value} against a target of {target}: {short} short of the target, "
            "so it stays implemented"
        )
    if outcome == "baseline":
        return f"measured {value}, taken as the KPI's baseline (it had none)"
    if outcome == "realised":
        return "confirmed the expected benefit was realised: now verified"
    if outcome == "not_realised":
        return "said the expected benefit is not realised yet, so it stays implemented"
    return "recorded a measured result"


def _what(entry: AuditEntry, detail: dict[str, Any]) -> tuple[str, str | None]:
    action = entry.action
    if action == "created":
        waiting = " (without an objective yet)" if entry.to_status == Status.NEEDS_OBJECTIVE else ""
        return f"proposed it{waiting}", None
    if action == "imported":
        return "imported it into the register", None
    if action == "edited":
        return "edited its details", None
    if action == "objective_set":
        opened = " and it opened" if entry.from_status != entry.to_status else ""
        return f"chose its objective{opened}", None
    if action == "voted":
        return "voted for it", None
    if action == "unvoted":
        return "withdrew their vote", None
    if action == "merged_in":
        moved = detail.get("votes_moved")
        votes = f" ({moved} vote{'' if moved == 1 else 's'} moved over)" if moved else ""
        return f"merged #{detail.get('from', '?')} into it{votes}", None
    if action == "assign":
        owner = detail.get("owner")
        return "made {person} the owner", str(owner) if owner else None
    if action == "benefit":
        return _benefit(detail), None
    if action == "decision" and entry.to_status:
        return f"{move_word(entry.to_status)} it", None
    moved = _moved(entry)
    if moved:
        return moved, None
    return action.replace("_", " "), None
