"""Similar and related proposals in the register: the similarity engine kept current from the
database. Plain Python over storage, no Slack."""

from __future__ import annotations

import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from bot import proposals
from bot.lifecycle import Status
from bot.proposals import ProposalSummary
from bot.similarity import SimilarityIndex, threshold_for
from bot.similarity.warning import POOL, Candidate, Proposed, WarningModel, decide, shipped_model
from storage import repositories as repo
from storage.models import Proposal
from storage.types import utcnow

# A transaction may commit a little after the time it stamped on its rows (a writer can wait up
# to SQLite's 5 s busy timeout), and replicas' clocks differ slightly: every refresh looks back
# this far so that no late commit is missed. Kept short because right after a bulk import every
# row of the window is compared on each refresh.
REFRESH_OVERLAP = timedelta(seconds=10)
# Merged proposals live on in the proposal they were merged into, and withdrawn ones were given
# up by their own authors: neither is offered again. Rejected and finished ones are, as history.
NOT_OFFERED = frozenset({Status.MERGED, Status.WITHDRAWN})
RELATED_STATUSES = (Status.OPEN, Status.APPROVED, Status.IN_PROGRESS, Status.NEEDS_OBJECTIVE)


@dataclass(frozen=True)
class SimilarMatch:
    """A stored proposal resembling the one being written."""

    summary: ProposalSummary
    score: float
    # Why the warning names it ("same title words", ...); empty when shown by a plain threshold.
    reasons: tuple[str, ...] = ()

    @property
    def proposal(self) -> Proposal:
        """The matching proposal."""
        return self.summary.proposal


def indexed_text(proposal: Proposal) -> tuple[str, str]:
    """What the index compares: the title, and the current state plus the desired outcome."""
    return proposal.title, f"{proposal.description}\n{proposal.outcome}".strip()


class SimilarProposals:
    """Answers "what in the register looks like this?" in milliseconds, on any database.

    The index lives in memory and follows the database: before each question it reads only the
    proposals changed since it last looked (an indexed query on `updated_at`), so inserts, edits
    and merges by any replica are seen without rescanning the register.
    """

    def __init__(
        self,
        *,
        method: str = "lexical",
        threshold: float | None = None,
        warning_model: WarningModel | None = None,
    ) -> None:
        self.index = SimilarityIndex(method)
        self.threshold = threshold_for(method) if threshold is None else threshold
        # The warning decision; None (no model for the method) falls back to `threshold`.
        self.warning_model = warning_model or shipped_model(method)
        self._lock = threading.Lock()
        self._refreshed_at: datetime | None = None
        self._versions: dict[int, datetime] = {}

    def refresh(self, *, session: Session) -> int:
        """Bring the index up to date; returns how many proposals were (re)indexed."""
        with self._lock:
            # Anything committed since the last refresh was stamped at most REFRESH_OVERLAP
            # before that refresh started: only that window needs looking at.
            started = utcnow()
            if self._refreshed_at is None:
                changed = repo.list_proposals(session=session)
            else:
                since = self._refreshed_at - REFRESH_OVERLAP
                fresh = [
                    pid
                    for pid, updated in repo.proposal_versions_since(session=session, since=since)
                    if self._versions.get(pid) != updated
                ]
                changed = repo.list_proposals(session=session, ids=fresh) if fresh else []
            first = self._refreshed_at is None
            self._refreshed_at = started
            if not changed:
                return 0
            keep = [p for p in changed if p.status not in NOT_OFFERED]
            for proposal in changed:
                if proposal.status in NOT_OFFERED and proposal.id in self.index:
                    self.index.remove(proposal.id or 0)
            if first:
                self.index.add_many((p.id or 0, *indexed_text(p)) for p in keep)
            else:
                for proposal in keep:
                    self.index.add(proposal.id or 0, *indexed_text(proposal))
            self._versions.update((p.id or 0, p.updated_at) for p in changed)
            return len(changed)

    def similar(
        self,
        *,
        session: Session,
        title: str,
        description: str = "",
        limit: int = 5,
        exclude: Collection[int] = (),
        threshold: float | None = None,
        service: str | None = None,
        objective_id: int | None = None,
    ) -> list[SimilarMatch]:
        """The stored proposals to warn about, best first, each with why; empty: no warning.

        The warning decision (`bot/similarity/warning.py`) judges the engine's best matches,
        using the service and objective when given; with `threshold`, every match scoring at
        least that much is returned instead, without reasons.
        """
        self.refresh(session=session)
        model = self.warning_model
        if threshold is not None or model is None:
            floor = self.threshold if threshold is None else threshold
            hits = self.index.search(title, description, limit=limit, exclude=exclude)
            chosen: dict[int, tuple[float, tuple[str, ...]]] = {
                m.doc_id: (m.score, ()) for m in hits if m.score >= floor
            }
            found = {p.id: p for p in repo.list_proposals(session=session, ids=list(chosen))}
        else:
            pool = self.index.search(title, description, limit=max(POOL, limit), exclude=exclude)
            ids = [m.doc_id for m in pool]
            found = {p.id: p for p in repo.list_proposals(session=session, ids=ids)}
            candidates = [
                Candidate(m.doc_id, m.score, p.title, p.service, p.objective_id)
                for m in pool
                if (p := found.get(m.doc_id)) is not None
            ]
            warning = decide(
                Proposed(title, description, service, objective_id),
                candidates,
                store_size=len(self.index),
                model=model,
                judged=limit,
            )
            chosen = {f.doc_id: (f.score, f.reasons) for f in warning.shown}
        ordered = [found[doc_id] for doc_id in chosen if doc_id in found]
        summaries = proposals.summarise(session=session, proposals=ordered)
        return [
            SimilarMatch(
                summary=s,
                score=round(chosen[s.proposal.id or 0][0], 4),
                reasons=chosen[s.proposal.id or 0][1],
            )
            for s in summaries
            if s.proposal.status not in NOT_OFFERED
        ]


def related(
    *,
    session: Session,
    service: str | None,
    objective_id: int | None,
    exclude: Collection[int] = (),
    limit: int = 5,
) -> list[ProposalSummary]:
    """Active proposals on the same service and objective: coordinate, whatever the words."""
    if not service or not objective_id:
        return []
    candidates = repo.proposals_on(
        session=session,
        service=service,
        objective_id=objective_id,
        statuses=[s.value for s in RELATED_STATUSES],
    )
    chosen = [p for p in candidates if p.id not in set(exclude)][:limit]
    return proposals.summarise(session=session, proposals=chosen)
