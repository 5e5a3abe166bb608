"""Similar and related proposals in the register: the similarity engine kept current from the
database. Plain Python over storage, no Slack."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event, inspect
from sqlmodel import Session

from bot import proposals
from bot.kept_format import version_us
from bot.lifecycle import Status
from bot.proposals import ProposalSummary
from bot.similarity import SimilarityIndex, document_text, threshold_for
from bot.similarity.warning import POOL, Candidate, Proposed, WarningModel, decide, shipped_model
from storage import repositories as repo
from storage.models import Proposal
from storage.types import utcnow

log = logging.getLogger(__name__)

# A transaction may commit a little after the time it stamped on its rows (a writer can wait up
# to SQLite's 5 s busy timeout), and replicas' clocks differ slightly: every refresh looks back
# this far so that no late commit is missed. Kept short because right after a bulk import every
# row of the window is compared on each refresh.
REFRESH_OVERLAP = timedelta(seconds=10)
# Proposals read and indexed at a time by a refresh (each step holds the index lock briefly).
READ_BATCH = 2000
# Merged proposals live on in the proposal they were merged into, and withdrawn ones were given
# up by their own authors: neither is offered again. Rejected and finished ones are, as history.
NOT_OFFERED = frozenset({Status.MERGED, Status.WITHDRAWN})
# How long `snapshot` waits for a refresh under way (a stopping bot does not wait for more).
SNAPSHOT_WAIT_S = 1.0
# The columns whose change makes a proposal be indexed again.
INDEXED_FIELDS = ("title", "description", "outcome", "status")
_TRACKED = "csi_similar_proposals"
_WRITTEN = "csi_similar_proposals_written"
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


@dataclass(frozen=True)
class Snapshot:
    """The index at one moment, and what a later run needs to bring it up to date: when the
    refresh that it reflects started, and the versions that refresh saw of the rows updated
    shortly before (the only ones that may have changed without it seeing)."""

    arrays: dict[str, Any]
    refreshed_at: datetime
    window: dict[int, datetime]
    changes: int


def indexed_text(proposal: Proposal) -> tuple[str, str]:
    """What the index compares: the title, and the current state plus the desired outcome."""
    return proposal.title, document_text(proposal.description, proposal.outcome)


class SimilarProposals:
    """Answers "what in the register looks like this?" in milliseconds, on any database.

    The index lives in memory and follows the database: `refresh` reads only the proposals
    changed since it last looked (an indexed query on `updated_at`), so inserts, edits and
    merges by any replica are seen without rescanning the register. In the bot a background
    thread refreshes it (bot/similarity_refresher.py); a question never waits for that and uses
    the index as it stands, and this replica's own writes are indexed as they commit (`track`).
    """

    def __init__(
        self,
        *,
        method: str = "lexical",
        threshold: float | None = None,
        warning_model: WarningModel | None = None,
        background: bool = False,
        embeddings_file: Path | None = None,
    ) -> None:
        self.index = SimilarityIndex(method, background=background)
        if embeddings_file is not None and self.index.semantic is not None:
            self.index.semantic.persist_to(embeddings_file)
        self.threshold = threshold_for(method) if threshold is None else threshold
        # The warning decision; None (no model for the method) falls back to `threshold`.
        self.warning_model = warning_model or shipped_model(method)
        self._lock = threading.Lock()  # one refresh at a time; questions never take it
        self._refreshed_at: datetime | None = None
        # Versions of the rows updated inside the look-back window: only those can come back.
        self._versions: dict[int, datetime] = {}
        # Versions this replica indexed as it wrote them (`note`), for the next refresh to skip.
        self._noted: dict[int, datetime] = {}
        self._noted_lock = threading.Lock()
        # Raised when a kept index replaces this one (`take`): a write indexed into
        # the replaced one is then not noted as known, and the next refresh reads it again.
        self._generation = 0
        # Proposals indexed or dropped so far, by refreshes and by this replica's writes: the
        # kept index is written again only when this moved (bot/kept_index.py).
        self.changes = 0
        self._ready = threading.Event()
        self._when_ready: list[Callable[[], object]] = []
        self._when_ready_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        """Whether the whole register has been read into the index once."""
        return self._ready.is_set()

    def wait_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the first complete refresh."""
        return self._ready.wait(timeout)

    def when_ready(self, callback: Callable[[], object]) -> None:
        """Call `callback` once the whole register has been read into the index: now if it has
        been, else from the thread that finishes reading it (so: only hand work on from it).
        Nothing waits meanwhile, where a thread waiting would be one fewer to serve."""
        with self._when_ready_lock:
            if not self._ready.is_set():
                self._when_ready.append(callback)
                return
        callback()

    def _become_ready(self) -> None:
        with self._when_ready_lock:
            self._ready.set()
            waiting, self._when_ready = self._when_ready, []
        for callback in waiting:
            try:
                callback()
            except Exception:
                log.exception("work waiting for the similar-proposal index failed")

    def refresh(self, *, session: Session, pause: Callable[[], None] | None = None) -> int:
        """Bring the index up to date; returns how many proposals were read as changed.

        Reads in batches of plain rows; `pause` runs between batches (the refresher uses it to
        let requests have the processor)."""
        with self._lock:
            # Anything committed since the last refresh was stamped at most REFRESH_OVERLAP
            # before that refresh started: only that window needs looking at.
            started = utcnow()
            horizon = started - REFRESH_OVERLAP
            changed = 0
            with self._noted_lock:
                noted, self._noted = self._noted, {}
            self._versions.update(noted)
            if self._refreshed_at is None:
                after = 0
                while rows := repo.proposal_texts(
                    session=session, after_id=after, limit=READ_BATCH
                ):
                    changed += self._apply(rows, horizon)
                    after = rows[-1][0]
                    if pause is not None:
                        pause()
            else:
                since = self._refreshed_at - REFRESH_OVERLAP
                fresh = [
                    pid
                    for pid, updated in repo.proposal_versions_since(session=session, since=since)
                    if self._versions.get(pid) != updated
                ]
                for start in range(0, len(fresh), repo.ID_BATCH):
                    batch = fresh[start : start + repo.ID_BATCH]
                    changed += self._apply(repo.proposal_texts(session=session, ids=batch), horizon)
                    if pause is not None:
                        pause()
            self._refreshed_at = started
            self._versions = {pid: v for pid, v in self._versions.items() if v >= horizon}
            if not self._ready.is_set():
                self._become_ready()
            return changed

    def _apply(self, rows: Sequence[repo.ProposalText], horizon: datetime | None) -> int:
        """Index (or drop) the given rows; remember the versions newer than `horizon`."""
        gone = [row[0] for row in rows if row[4] in NOT_OFFERED]
        offered = [
            (pid, title, document_text(description, outcome))
            for pid, title, description, outcome, status, _ in rows
            if status not in NOT_OFFERED
        ]
        self.index.remove_many(gone)
        self.index.add_many(offered)
        self.changes += len(rows)
        if horizon is not None:
            self._versions.update((row[0], row[5]) for row in rows if row[5] >= horizon)
        return len(rows)

    def note(self, rows: Sequence[repo.ProposalText]) -> None:
        """Index proposals this replica has just written (one document each: cheap); the
        refresher then finds their versions known and does not read and index them again."""
        generation = self._generation
        self._apply(rows, None)
        with self._noted_lock:
            if generation == self._generation:
                self._noted.update((row[0], row[5]) for row in rows)

    def snapshot(self) -> Snapshot | None:
        """The index as arrays with what a later run needs to bring it up to date (None before
        the register has been read once, or with the semantic method)."""
        if self.index.semantic is not None or not self._lock.acquire(timeout=SNAPSHOT_WAIT_S):
            return None
        try:
            if self._refreshed_at is None or not self._ready.is_set():
                return None
            with self._noted_lock:  # in the index too, their versions not yet in `_versions`
                window = self._versions | self._noted
            return Snapshot(
                arrays=self.index.lexical_arrays(),
                refreshed_at=self._refreshed_at,
                window=window,
                changes=self.changes,
            )
        finally:
            self._lock.release()

    def take(
        self,
        arrays: Mapping[str, Any],
        kept_ids: np.ndarray,
        kept_us: np.ndarray,
        *,
        session: Session,
        most_changed: int | None,
    ) -> int | None:
        """Take an index kept from an earlier run (`snapshot`) and bring it up to date.

        `kept_ids` (sorted) and `kept_us` are the proposals it holds and the version it holds
        of each (`version_us`). Every proposal whose version in the database differs, or that
        it lacks, is read again, and those no longer in the database are dropped: whatever
        happened to the database meanwhile, the index answers as a reading now would. Returns
        how many proposals were read again or dropped; None, and nothing taken, when more than
        `most_changed` would be (reading the register is then the cheaper way; None: any
        number)."""
        with self._lock:
            started = utcnow()
            horizon = started - REFRESH_OVERLAP
            now = repo.proposal_versions_since(session=session, since=None)
            ids = np.fromiter((pid for pid, _ in now), np.int64, len(now))
            stamps = np.fromiter((version_us(v) for _, v in now), np.int64, len(now))
            at = np.minimum(np.searchsorted(kept_ids, ids), max(len(kept_ids) - 1, 0))
            same = (
                (kept_ids[at] == ids) & (kept_us[at] == stamps)
                if len(kept_ids)
                else np.zeros(len(ids), bool)
            )
            fresh = ids[~same].tolist()
            gone = np.setdiff1d(kept_ids, ids, assume_unique=True).tolist()
            if most_changed is not None and len(fresh) + len(gone) > most_changed:
                return None
            self.index.adopt_lexical(arrays)
            with self._noted_lock:
                self._noted = {}
                self._generation += 1
            self._versions = {pid: v for pid, v in now if v >= horizon}
            del now, ids, stamps, at, same
            try:
                self.index.remove_many(gone)
                for start in range(0, len(fresh), repo.ID_BATCH):
                    batch = fresh[start : start + repo.ID_BATCH]
                    self._apply(repo.proposal_texts(session=session, ids=batch), horizon)
            except BaseException:  # half brought up to date: start again from nothing
                self.index.adopt_lexical(SimilarityIndex().lexical_arrays())
                self._versions = {}
                raise
            self._refreshed_at = started
            if not self._ready.is_set():
                self._become_ready()
            return len(fresh) + len(gone)

    def track(self, session: Session) -> None:
        """Index the proposals `session` writes as soon as it commits, so that this replica's
        next question sees them without waiting for the refresher."""
        session.info[_TRACKED] = self

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
            heads = repo.proposal_heads(session=session, ids=[m.doc_id for m in pool])
            candidates = [
                Candidate(m.doc_id, m.score, *head, cosine=m.cosine)
                for m in pool
                if (head := heads.get(m.doc_id)) is not None
            ]
            warning = decide(
                Proposed(title, description, service, objective_id),
                candidates,
                store_size=len(self.index),
                model=model,
                judged=limit,
            )
            chosen = {f.doc_id: (f.score, f.reasons) for f in warning.shown}
            # Read whole only when shown (the usual answer shows none).
            wanted = list(chosen)
            found = (
                {p.id: p for p in repo.list_proposals(session=session, ids=wanted)}
                if wanted
                else {}
            )
        ordered = [found[doc_id] for doc_id in chosen if doc_id in found]
        if not ordered:  # the usual answer: nothing more to read
            return []
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


@event.listens_for(Session, "after_flush")
def _collect_written(session: Session, _context: Any) -> None:
    # Read now: after the commit the session can no longer load anything.
    if _TRACKED not in session.info:
        return
    written = session.info.setdefault(_WRITTEN, {})
    for obj in chain(session.new, session.dirty):
        if not isinstance(obj, Proposal) or obj.id is None:
            continue
        state = inspect(obj)
        if obj in session.new or any(
            state.attrs[name].history.has_changes() for name in INDEXED_FIELDS
        ):
            written[obj.id] = (
                obj.id, obj.title, obj.description or "", obj.outcome or "", obj.status,
                obj.updated_at,
            )  # fmt: skip


@event.listens_for(Session, "after_commit")
def _index_written(session: Session) -> None:
    written = session.info.pop(_WRITTEN, None)
    index = session.info.get(_TRACKED)
    if written and isinstance(index, SimilarProposals):
        try:
            index.note(list(written.values()))
        except Exception:  # the refresher indexes them a moment later anyway
            log.exception("indexing %d proposals written here failed", len(written))


@event.listens_for(Session, "after_rollback")
def _forget_written(session: Session) -> None:
    session.info.pop(_WRITTEN, None)
