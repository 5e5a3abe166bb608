"""What every handler and job needs: the settings, the database and the steering check."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.settings import Settings
from bot.similar_proposals import SimilarProposals
from bot.steering import SteeringGroup
from storage.db import session_scope


@dataclass
class Deps:
    """Shared services, built once by the app factory and handed to each `register(app, deps)`."""

    settings: Settings
    engine: Engine
    steering: SteeringGroup
    _similar: SimilarProposals | None = field(default=None, init=False, repr=False)
    _similar_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def similar(self) -> SimilarProposals:
        """The similar-proposal index, built from the register on first use."""
        with self._similar_lock:
            if self._similar is None:
                self._similar = SimilarProposals(method=self.settings.similarity_method)
            return self._similar

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed on success, rolled back on error."""
        with session_scope(self.engine) as session:
            yield session
