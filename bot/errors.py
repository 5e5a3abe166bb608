"""Typed failures that carry the message the user should see."""

from __future__ import annotations


class CsiError(Exception):
    """Something the user can act on; `str(error)` is shown to them as is."""


class NotFound(CsiError):
    """The proposal or objective asked for does not exist."""


class PermissionDenied(CsiError):
    """The user may not do this (e.g. only the steering group may)."""


class BadPayload(CsiError):
    """A Slack request whose content cannot be read (a missing, ill-typed or out-of-range value);
    `str(error)` says what, in words fit for the person who sent it."""


class InvalidInput(CsiError):
    """Input failed validation; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors.values()))
