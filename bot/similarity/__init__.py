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
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.similarity._lexical import LexicalIndex

if TYPE_CHECKING:
    from bot.similarity._semantic import SemanticReranker

__all__ = ["METHODS", "WARN_THRESHOLD", "Match", "SimilarityIndex", "threshold_for"]

# Warn about duplicates when the best match scores at least this much. Calibrated on real
# duplicate bug reports padded with unrelated texts; see docs/similarity.md for the
# precision/recall trade-off it gives.
WARN_THRESHOLD: float = 0.40

# The semantic method's fused scores spread differently; its own calibrated threshold.
SEMANTIC_WARN_THRESHOLD: float = 0.50

METHODS = ("lexical", "semantic")


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


class SimilarityIndex:
    """Thread-safe, incrementally updatable index of proposals (title + description)."""

    def __init__(self, method: str = "lexical") -> None:
        """Create an empty index using ``method`` ("lexical" or "semantic").

        "semantic" loads the embedding model (a few seconds) and raises
        ``SemanticUnavailableError`` (an ``ImportError``) when its extra is not installed.
        """
        if method not in METHODS:
            raise ValueError(f"unknown similarity method {method!r}; expected one of {METHODS}")
        self.method = method
        self._lock = threading.RLock()
        self._lexical = LexicalIndex()
        self._semantic: SemanticReranker | None = None
        if method == "semantic":
            from bot.similarity._semantic import SemanticReranker

            self._semantic = SemanticReranker()

    def add(self, doc_id: int, title: str, description: str = "") -> None:
        """Insert a document, or replace it if ``doc_id`` is already stored."""
        if self._semantic is not None:
            self._add_semantic([(doc_id, title, description)])
            return
        with self._lock:
            self._lexical.add(doc_id, title, description)

    def add_many(self, docs: Iterable[tuple[int, str, str]]) -> None:
        """Insert or replace many ``(doc_id, title, description)`` documents at once."""
        batch = list(docs)
        if self._semantic is not None:
            self._add_semantic(batch)
            return
        with self._lock:
            self._lexical.add_many(batch)

    def _add_semantic(self, batch: list[tuple[int, str, str]]) -> None:
        """Embed outside the lock (the slow part), then update both indexes together."""
        assert self._semantic is not None
        vecs = self._semantic.embed_docs(batch)
        with self._lock:
            if len(batch) == 1:
                self._lexical.add(*batch[0])
            else:
                self._lexical.add_many(batch)
            self._semantic.put([d[0] for d in batch], vecs)

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
        if self._semantic is not None:
            return self._search_semantic(title, description, limit, excluded)
        with self._lock:
            hits = self._lexical.search(title, description, limit, excluded)
        return [Match(doc_id, score) for doc_id, score in hits]

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
        return [Match(doc_id, score) for doc_id, score in hits]
