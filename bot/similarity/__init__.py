"""Similar-proposal engine: find stored proposals that resemble a new one.

Pure domain code (no Slack, no database). Default method ``"lexical"``: BM25 over stemmed
words fused with BM25 over character 3-5 grams, title boosted (see ``docs/similarity.md``).
Optional method ``"semantic"`` (``pip install csi-bot[semantic]``) reranks the lexical
candidates with a sentence-embedding model.

Scores: higher is more similar. A score is about 1.0 when the stored text is as similar to
the query as the query is to itself and 0 when they share no term; it can slightly exceed 1.
``WARN_THRESHOLD`` is calibrated on this scale (for both methods).
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from bot.similarity._lexical import LexicalIndex

__all__ = ["METHODS", "WARN_THRESHOLD", "Match", "SimilarityIndex"]

# Warn about duplicates when the best match scores at least this much. Calibrated on real
# duplicate bug reports padded with unrelated texts; see docs/similarity.md for the
# precision/recall trade-off it gives.
WARN_THRESHOLD: float = 0.40

METHODS = ("lexical", "semantic")


@dataclass(frozen=True)
class Match:
    """One similar stored document: its id and similarity score (higher = more similar)."""

    doc_id: int
    score: float


class SimilarityIndex:
    """Thread-safe, incrementally updatable index of proposals (title + description)."""

    def __init__(self, method: str = "lexical") -> None:
        """Create an empty index using ``method`` ("lexical" or "semantic")."""
        if method not in METHODS:
            raise ValueError(f"unknown similarity method {method!r}; expected one of {METHODS}")
        self.method = method
        self._lock = threading.RLock()
        self._lexical = LexicalIndex()
        self._semantic = None
        if method == "semantic":
            # Imported lazily so the default install never needs the optional extra.
            from bot.similarity._semantic import SemanticReranker

            self._semantic = SemanticReranker()

    def add(self, doc_id: int, title: str, description: str = "") -> None:
        """Insert a document, or replace it if ``doc_id`` is already stored."""
        with self._lock:
            self._lexical.add(doc_id, title, description)
            if self._semantic is not None:
                self._semantic.add(doc_id, title, description)

    def add_many(self, docs: Iterable[tuple[int, str, str]]) -> None:
        """Insert or replace many ``(doc_id, title, description)`` documents at once."""
        batch = list(docs)
        with self._lock:
            self._lexical.add_many(batch)
            if self._semantic is not None:
                self._semantic.add_many(batch)

    def remove(self, doc_id: int) -> None:
        """Remove a document; removing an unknown id does nothing."""
        with self._lock:
            self._lexical.remove(doc_id)
            if self._semantic is not None:
                self._semantic.remove(doc_id)

    def __len__(self) -> int:
        with self._lock:
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
        with self._lock:
            if self._semantic is None:
                hits = self._lexical.search(title, description, limit, excluded)
            else:
                pool = self._lexical.search(
                    title, description, self._semantic.pool_size(limit), excluded
                )
                hits = self._semantic.rerank(title, description, pool, limit)
        return [Match(doc_id, score) for doc_id, score in hits]
