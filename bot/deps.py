"""What every handler and job needs: the settings, the database and the steering check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.settings import Settings
from storage.db import session_scope


@dataclass
class Deps:
    """Shared services, built once by the app factory and handed to each `register(app, deps)`."""

    settings: Settings
    engine: Engine
    extras: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error."""
        with session_scope(self.engine) as session:
            yield session
