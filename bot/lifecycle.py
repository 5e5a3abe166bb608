"""The statuses a proposal moves through, and which moves are allowed."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Where a proposal stands in the register."""

    NEEDS_OBJECTIVE = "needs_objective"
    OPEN = "open"
    APPROVED = "approved"
    REJECTED = "rejected"
    DEFERRED = "deferred"
    IN_PROGRESS = "in_progress"
    IMPLEMENTED = "implemented"
    VERIFIED = "verified"
    MERGED = "merged"
    WITHDRAWN = "withdrawn"


# Statuses in which a proposal is still work to coordinate (shown as similar, counted as open).
ACTIVE = frozenset(
    {Status.NEEDS_OBJECTIVE, Status.OPEN, Status.APPROVED, Status.IN_PROGRESS, Status.IMPLEMENTED}
)

# Statuses in which a vote still means something (the work is not decided against or done); a
# deferred proposal keeps collecting support for the day it is reopened.
VOTABLE = frozenset(
    {Status.NEEDS_OBJECTIVE, Status.OPEN, Status.DEFERRED, Status.APPROVED, Status.IN_PROGRESS}
)

# The steering group's decisions on an open proposal.
DECISIONS = frozenset({Status.APPROVED, Status.REJECTED, Status.DEFERRED})

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEEDS_OBJECTIVE: frozenset({Status.OPEN, Status.WITHDRAWN, Status.MERGED}),
    Status.OPEN: frozenset(
        {Status.APPROVED, Status.REJECTED, Status.DEFERRED, Status.WITHDRAWN, Status.MERGED}
    ),
    Status.APPROVED: frozenset({Status.IN_PROGRESS, Status.WITHDRAWN, Status.MERGED}),
    Status.REJECTED: frozenset({Status.OPEN}),
    Status.DEFERRED: frozenset({Status.OPEN, Status.WITHDRAWN, Status.MERGED}),
    Status.IN_PROGRESS: frozenset({Status.IMPLEMENTED, Status.WITHDRAWN}),
    Status.IMPLEMENTED: frozenset({Status.VERIFIED, Status.IN_PROGRESS}),
    Status.VERIFIED: frozenset(),
    Status.MERGED: frozenset(),
    Status.WITHDRAWN: frozenset({Status.OPEN}),
}

LABELS: dict[Status, str] = {
    Status.NEEDS_OBJECTIVE: "Needs an objective",
    Status.OPEN: "Open",
    Status.APPROVED: "Approved",
    Status.REJECTED: "Rejected",
    Status.DEFERRED: "Deferred",
    Status.IN_PROGRESS: "In progress",
    Status.IMPLEMENTED: "Implemented",
    Status.VERIFIED: "Verified",
    Status.MERGED: "Merged",
    Status.WITHDRAWN: "Withdrawn",
}


# How a proposal's status reads after its number: "#7 was withdrawn", "#7 is in progress".
_STATE_PHRASES: dict[Status, str] = {
    Status.NEEDS_OBJECTIVE: "still needs an objective",
    Status.OPEN: "is open",
    Status.APPROVED: "is approved",
    Status.REJECTED: "was rejected",
    Status.DEFERRED: "was deferred",
    Status.IN_PROGRESS: "is in progress",
    Status.IMPLEMENTED: "is implemented",
    Status.VERIFIED: "is implemented and verified",
    Status.MERGED: "was merged into another proposal",
    Status.WITHDRAWN: "was withdrawn",
}

# What moving to a status is called in a sentence: "it cannot be reopened".
_MOVE_WORDS: dict[Status, str] = {
    Status.NEEDS_OBJECTIVE: "sent back for an objective",
    Status.OPEN: "reopened",
    Status.APPROVED: "approved",
    Status.REJECTED: "rejected",
    Status.DEFERRED: "deferred",
    Status.IN_PROGRESS: "started",
    Status.IMPLEMENTED: "marked implemented",
    Status.VERIFIED: "marked verified",
    Status.MERGED: "merged",
    Status.WITHDRAWN: "withdrawn",
}


def state_phrase(status: str, *, merged_into: int | None = None) -> str:
    """The present state as it follows a proposal's number ("was withdrawn")."""
    if status == Status.MERGED and merged_into is not None:
        return f"was merged into #{merged_into}"
    try:
        return _STATE_PHRASES[Status(status)]
    except ValueError:
        return f"is {status}"


def move_word(status: str) -> str:
    """Moving to `status`, as a past participle ("reopened")."""
    try:
        return _MOVE_WORDS[Status(status)]
    except ValueError:
        return f"moved to {status}"


def can_move(current: str, target: str) -> bool:
    """True when a proposal in `current` may move to `target`."""
    return Status(target) in TRANSITIONS[Status(current)]


def label(status: str) -> str:
    """The status as people read it."""
    try:
        return LABELS[Status(status)]
    except ValueError:
        return status
