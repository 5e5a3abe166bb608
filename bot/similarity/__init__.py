"""Similar-proposal engine: find stored proposals that resemble a new one.

Pure domain code (no Slack, no database). Default method ``"lexical"``: BM25 over stemmed
words fused with BM25 over character 3-5 grams, title boosted (see ``docs/similarity.md``).
Optional method ``"semantic"`` (``pip install "csi-bot[semantic]"``): a sentence-embedding
rerank of the lexical candidates, fused with their lexical scores (``_semantic.py``).

Scores: higher is more similar. A score is about 1.0 when the stored text is as similar to
the query as the query is to itself and 0 when they share no term; it can slightly exceed 1.
``WARN_THRESHOLD`` is calibrated on this scale.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bot.similarity._lexical import (
    MIN_BUFFER,
    LexicalIndex,
    analyse_docs,
    build_plan,
    build_segment,
)
from bot.similarity._text import analyse, term_hash

if TYPE_CHECKING:
    from bot.similarity._semantic import SemanticReranker

__all__ = [
    "METHODS",
    "WARN_THRESHOLD",
    "Match",
    "SimilarityIndex",
    "analysis_fingerprint",
    "document_text",
    "threshold_for",
]

# Warn about duplicates when the best match scores at least this much. Calibrated on real
# duplicate bug reports padded with unrelated texts; see docs/similarity.md for the
# precision/recall trade-off it gives.
WARN_THRESHOLD: float = 0.40

# The semantic method's fused scores spread differently; its own calibrated threshold.
SEMANTIC_WARN_THRESHOLD: float = 0.50

METHODS = ("lexical", "semantic")

# Documents analysed (and embedded) per step of a bulk add: each step holds the lock briefly.
CHUNK = 2000
# A background update waits at most this many milliseconds at a time for foreground work to
# finish (a capture during an import's catch-up takes a few dozen: it should finish alone).
STEP_ASIDE_MAX = 200
# ... and in all at most this many times the processor time it has had since it last waited:
# under a steady stream of requests one is always in flight, and an update that waited for
# every one (the register's first reading at start, under 50 people) never finished.
STEP_ASIDE_PER_WORK = 3.0


# A fixed text, analysed to tell whether an index was analysed the way this version analyses.
_PROBE = (
    "Printers jam on the 3rd floor after the firmware update",
    "VPN connections drop every hour; users re-authenticate (Outlook, Teams) — déjà vu",
)


def analysis_fingerprint() -> str:
    """What this version's text analysis (stemming, character grams, hashing, the title's
    weight) makes of a fixed text, as 16 hex digits: an index kept by a version that analysed
    otherwise has other terms, and must not be taken (``bot/kept_index.py``)."""
    words, chars = analyse(*_PROBE)
    return f"{term_hash(repr((sorted(words.items()), sorted(chars.items())))):016x}"


def document_text(description: str | None, outcome: str | None) -> str:
    """What the index compares of a proposal besides its title: the current state it
    describes, then the desired outcome."""
    return f"{description or ''}\n{outcome or ''}".strip()


def threshold_for(method: str) -> float:
    """The warning threshold calibrated for ``method``."""
    if method not in METHODS:
        raise ValueError(f"unknown similarity method {method!r}; expected one of {METHODS}")
    return SEMANTIC_WARN_THRESHOLD if method == "semantic" else WARN_THRESHOLD


@dataclass(frozen=True)
class Match:
    """One similar stored document: its id and similarity score (higher = more similar)."""

    doc_id: int
    score: float
    # The semantic method's cosine of the two embeddings (None for lexical): the warning
    # decision weighs it on its own.
    cosine: float | None = None


class SimilarityIndex:
    """Thread-safe, incrementally updatable index of proposals (title + description).

    Searches and updates hold the lock only for moments: text analysis and embedding happen
    before it is taken, and segment merges are built without it (``maintain``). With
    ``background=True`` merges wait for ``maintain`` calls (a refresher thread); otherwise every
    update runs them in the caller's thread.
    """

    def __init__(
        self,
        method: str = "lexical",
        *,
        background: bool = False,
        reranker: SemanticReranker | None = None,
    ) -> None:
        """Create an empty index using ``method`` ("lexical" or "semantic").

        "semantic" loads the embedding model (a few seconds; ``reranker`` supplies a ready
        one) and raises ``SemanticUnavailableError`` (an ``ImportError``) when its extra is not
        installed.
        """
        if method not in METHODS:
            raise ValueError(f"unknown similarity method {method!r}; expected one of {METHODS}")
        self.method = method
        self.background = background
        self._lock = threading.RLock()
        self._waiting = 0  # foreground work under way (see ``foreground``)
        self._waiting_lock = threading.Lock()
        # Set while no foreground work runs: a background update blocks on it instead of
        # polling (every poll took the interpreter back from the request for a moment).
        self._no_foreground = threading.Event()
        self._no_foreground.set()
        # Per updating thread: its processor time when it last stepped aside.
        self._aside = threading.local()
        self._lexical = LexicalIndex()
        self._semantic: SemanticReranker | None = None
        if method == "semantic":
            from bot.similarity._semantic import SemanticReranker

            self._semantic = reranker if reranker is not None else SemanticReranker()

    @property
    def semantic(self) -> SemanticReranker | None:
        """The embedding side of the semantic method (None for lexical)."""
        return self._semantic

    def add(self, doc_id: int, title: str, description: str = "") -> None:
        """Insert a document, or replace it if ``doc_id`` is already stored."""
        self.add_many([(doc_id, title, description)])

    def add_many(self, docs: Iterable[tuple[int, str, str]]) -> int:
        """Insert or replace many ``(doc_id, title, description)`` documents; returns how
        many changed (an unchanged text is not indexed again)."""
        latest = list({d[0]: d for d in docs}.values())
        changed = 0
        for start in range(0, len(latest), CHUNK):
            chunk = latest[start : start + CHUNK]
            # The slow part: outside the lock, and in the background behind any search.
            analysed = analyse_docs(chunk, self._step_aside if self.background else None)
            semantic = self._semantic
            embedded = semantic.embed_for_index(chunk) if semantic is not None else None
            vocabulary = self._lexical.vocabulary  # no lock needed for these two
            known = vocabulary.lookup(analysed.hashes)
            staged = vocabulary.stage(analysed.hashes[known < 0])
            with self._lock:
                encoded = self._lexical.encode(analysed, known, staged)
            aside = self._step_aside if self.background else None
            segment = build_segment(encoded, aside) if len(chunk) >= MIN_BUFFER else None
            with self._lock:
                changed += self._lexical.insert(encoded, segment)
                if self._semantic is not None and embedded is not None:
                    stale, keys, vecs = embedded
                    self._semantic.put([chunk[i][0] for i in stale], vecs, keys)
            if not self.background:
                while self.maintain():
                    pass
        return changed

    def remove(self, doc_id: int) -> None:
        """Remove a document; removing an unknown id does nothing."""
        self.remove_many([doc_id])

    def remove_many(self, doc_ids: Collection[int]) -> int:
        """Remove documents; unknown ids are ignored. Returns how many were stored."""
        if not doc_ids:
            return 0
        with self._lock:
            removed = self._lexical.remove_many(np.array(sorted(doc_ids), np.int64))
            if self._semantic is not None:
                for doc_id in doc_ids:
                    self._semantic.remove(doc_id)
        if not self.background:
            while self.maintain():
                pass
        return removed

    def maintain(self, *, idle: bool = False) -> bool:
        """One maintenance step (merge segments, drop removed rows), built without the lock so
        that searches go on meanwhile; False when there was nothing to do. ``idle``: also merge
        the large segments into one (worth it when no update is under way)."""
        with self._lock:
            plan = self._lexical.plan_maintenance(idle=idle)
        if plan is None:
            return False
        try:
            built = build_plan(plan, self._step_aside if self.background else None)
        except BaseException:
            with self._lock:
                self._lexical.abandon(plan)
            raise
        with self._lock:
            self._lexical.finish_maintenance(plan, *built)
        return True

    def lexical_arrays(self) -> dict[str, np.ndarray]:
        """The lexical index as named arrays, for another process (``adopt_lexical``)."""
        with self._lock:
            return self._lexical.arrays()

    def adopt_lexical(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Take the lexical index ``lexical_arrays`` gave (in this process or another) in place
        of this one's; searches meanwhile use the one they started with."""
        if self._semantic is not None:
            raise ValueError("the semantic method embeds the documents it holds: adopt nothing")
        lexical = LexicalIndex.restore(arrays)
        with self._lock:
            if self._lexical.maintaining:
                raise RuntimeError("a maintenance step is under way")
            self._lexical = lexical

    def save(self) -> bool:
        """Write what the index keeps between runs (the semantic method's embeddings, see
        ``SemanticReranker.persist_to``); False when there is nothing to write."""
        if self._semantic is None:
            return False
        with self._lock:
            snapshot = self._semantic.snapshot()
        if snapshot is None:
            return False
        self._semantic.write(snapshot)  # the slow part: outside the lock
        return True

    def __len__(self) -> int:
        # One attribute read, without the lock: a search asking for the size does not queue
        # behind the searches and updates that hold it (a count a moment old is as good).
        return len(self._lexical)

    def __contains__(self, doc_id: object) -> bool:
        with self._lock:
            return doc_id in self._lexical

    def search(
        self,
        title: str,
        description: str = "",
        *,
        limit: int = 5,
        exclude: Collection[int] = (),
    ) -> list[Match]:
        """The ``limit`` stored documents most similar to the text, best first.

        Documents in ``exclude`` are skipped; documents sharing nothing score 0 and are omitted.
        """
        excluded = set(exclude)
        with self.foreground():
            if self._semantic is not None:
                return self._search_semantic(title, description, limit, excluded)
            with self._lock:
                hits = self._lexical.search(title, description, limit, excluded)
            return [Match(doc_id, score) for doc_id, score in hits]

    @contextmanager
    def foreground(self) -> Iterator[None]:
        """Work someone waits for (a search, a Slack request before its answer): a background
        update of the index steps aside meanwhile."""
        with self._waiting_lock:
            self._waiting += 1
            self._no_foreground.clear()
        try:
            yield
        finally:
            with self._waiting_lock:
                self._waiting -= 1
                if self._waiting == 0:
                    self._no_foreground.set()

    def _step_aside(self) -> None:
        """In a background update: while foreground work runs, wait (briefly) instead of
        competing with it for the interpreter; but never more than `STEP_ASIDE_PER_WORK` times
        the work done since the last wait, so that the update goes on under any load."""
        worked = time.thread_time()
        if self._waiting > 0:
            since = worked - getattr(self._aside, "worked", 0.0)
            self._no_foreground.wait(min(STEP_ASIDE_MAX / 1000, since * STEP_ASIDE_PER_WORK))
        self._aside.worked = worked

    def _search_semantic(
        self, title: str, description: str, limit: int, excluded: set[int]
    ) -> list[Match]:
        """Lexical candidates reranked by the embedding model; see ``_semantic.py``."""
        semantic = self._semantic
        assert semantic is not None
        if limit <= 0:
            return []
        query_vec = semantic.embed_query(title, description)  # slow part: outside the lock
        with self._lock:
            pool = self._lexical.search(title, description, semantic.pool_size(limit), excluded)
            hits = semantic.rerank(title, description, pool, limit, query_vec=query_vec)
        return [Match(doc_id, score, cosine) for doc_id, score, cosine in hits]
