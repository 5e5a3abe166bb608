"""Similar-proposal engine: find stored proposals that resemble a new one.

Pure domain code (no Slack, no database). Default method ``"lexical"``: BM25 over stemmed
words fused with BM25 over character 3-5 grams, title boosted (see ``docs/similarity.md``).
A ``"semantic"`` method (embedding rerank of the lexical candidates) is planned but not
implemented yet; asking for it raises an error.

Scores: higher is more similar. A score is about 1.0 when the stored text is as similar to
the query as the query is to itself and 0 when they share no term; it can slightly exceed 1.
``WARN_THRESHOLD`` is calibrated on this scale.
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

METHODS = ("lexical",)


@dataclass(frozen=True)
class Match:
    """One similar stored document: its id and similarity score (higher = more similar)."""

    doc_id: int
    score: float


class SimilarityIndex:
    """Thread-safe, incrementally updatable index of proposals (title + description)."""

    def __init__(self, method: str = "lexical") -> None:
        """Create an empty index using ``method`` (only "lexical" for now)."""
        if method == "semantic":
            raise NotImplementedError(
                "similarity method 'semantic' is not implemented yet; use 'lexical'"
            )
        if method not in METHODS:
            raise ValueError(f"unknown similarity method {method!r}; expected one of {METHODS}")
        self.method = method
        self._lock = threading.RLock()
        self._lexical = LexicalIndex()

    def add(self, doc_id: int, title: str, description: str = "") -> None:
        """Insert a document, or replace it if ``doc_id`` is already stored."""
        with self._lock:
            self._lexical.add(doc_id, title, description)

    def add_many(self, docs: Iterable[tuple[int, str, str]]) -> None:
        """Insert or replace many ``(doc_id, title, description)`` documents at once."""
        batch = list(docs)
        with self._lock:
            self._lexical.add_many(batch)

    def remove(self, doc_id: int) -> None:
        """Remove a document; removing an unknown id does nothing."""
        with self._lock:
            self._lexical.remove(doc_id)

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
            hits = self._lexical.search(title, description, limit, excluded)
        return [Match(doc_id, score) for doc_id, score in hits]
