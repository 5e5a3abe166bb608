"""Incremental BM25 index over two signals (word stems and character n-grams).

Score of a stored document ``d`` for a query ``q``::

    score = WORD_WEIGHT * bm25_word(q, d) / bm25_word(q, q)
          + CHAR_WEIGHT * bm25_char(q, d) / bm25_char(q, q)

Each BM25 is divided by the query's score against itself, so every signal lies on a
comparable scale where about 1.0 means "as similar as the text is to itself"; this is what
makes one warning threshold meaningful for short and long proposals alike.

Storage, Lucene style: a *main* segment (sparse matrices, compacted occasionally) plus an
append *buffer* of recent documents, so adding one document is cheap. Document frequencies,
the number of documents and the average lengths are kept exact on every add/remove, and
IDF is computed at query time. Search is two-stage: a sparse product over the main
segment's postings (its length normalisation uses the average length of the last
compaction) selects candidates; candidates and buffer documents are then scored exactly
with the current statistics, so final scores do not depend on when compaction ran.

Not thread-safe on its own: ``SimilarityIndex`` serialises calls with a lock.
"""

from __future__ import annotations

import math
from collections import Counter
from itertools import chain

import numpy as np
import scipy.sparse as sp

from bot.similarity._text import CHAR, KINDS, WORD, analyse

K1 = 1.2
B = 0.75
# Fusion weights, chosen on held-out duplicate-report data: character n-grams carry most of
# the signal (robust to wording), stems add exact-vocabulary evidence.
WORD_WEIGHT = 0.2
CHAR_WEIGHT = 0.8
_WEIGHTS = np.array([WORD_WEIGHT, CHAR_WEIGHT])

# Exact rescoring pool from the first stage; generous because rescoring costs ~1 ms.
MIN_CANDIDATES = 128
# Candidate generation reads at most this many postings per query (bounds the latency).
STAGE1_POSTINGS = 300_000
# Buffer size that triggers compaction grows with sqrt(n): this balances the per-query
# cost of scoring buffer rows against the O(n) cost of a rebuild (amortised ms per add).
MIN_BUFFER = 256
_TF_MAX = np.iinfo(np.uint16).max

_Vec = tuple[np.ndarray, np.ndarray]  # (sorted term ids int32, term counts uint16)


def _csr(rows: list[_Vec], n_cols: int) -> sp.csr_matrix:
    """Doc-major CSR matrix of raw term counts from per-document vectors."""
    lengths = np.array([len(r[0]) for r in rows], dtype=np.int64)
    # int32 offsets while they fit: scipy then keeps 32-bit indices (half the memory, faster).
    big = lengths.sum() >= np.iinfo(np.int32).max
    indptr = np.zeros(len(rows) + 1, dtype=np.int64 if big else np.int32)
    if rows:
        np.cumsum(lengths, out=indptr[1:])
        indices = np.concatenate([r[0] for r in rows]).astype(np.int32, copy=False)
        data = np.concatenate([r[1] for r in rows]).astype(np.uint16, copy=False)
    else:
        indices = np.zeros(0, np.int32)
        data = np.zeros(0, np.uint16)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_cols))


class LexicalIndex:
    """BM25 word + char n-gram index with incremental add/remove; see module docstring."""

    def __init__(self, min_buffer: int = MIN_BUFFER) -> None:
        """Create an empty index; ``min_buffer`` is the smallest buffer that triggers compaction."""
        self._min_buffer = min_buffer
        self._vocab: dict[str, int] = {}
        self._kind = np.zeros(1024, np.int8)  # term id -> WORD / CHAR
        self._df = np.zeros(1024, np.int64)  # term id -> live documents containing it
        self._doc_ids: list[int] = []  # slot -> doc id
        self._slot: dict[int, int] = {}  # doc id -> slot (live documents only)
        self._alive = np.zeros(1024, bool)
        self._dl = np.zeros((1024, 2), np.float64)  # slot -> length per signal
        self._dl_sum = np.zeros(2)
        self._n_main = 0
        self._dead_main = 0
        self._main_doc = _csr([], 0)  # main docs x terms: raw counts (exact rescoring)
        self._main_term = _csr([], 0).T.tocsr()  # terms x main docs: BM25 tf weights
        self._buf: list[_Vec] = []  # vectors of slots n_main.. in order
        self._buf_mat: sp.csr_matrix | None = None  # lazily built from _buf

    # ----------------------------------------------------------------- mutation
    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._slot

    def add(self, doc_id: int, title: str, description: str) -> None:
        """Insert or replace one document."""
        self._append(doc_id, title, description)
        self._maybe_compact()

    def add_many(self, docs: list[tuple[int, str, str]]) -> None:
        """Insert or replace many documents, compacting at most once."""
        for doc_id, title, description in docs:
            self._append(doc_id, title, description)
        self._maybe_compact()

    def remove(self, doc_id: int) -> None:
        """Remove a document; unknown ids are ignored."""
        slot = self._slot.pop(doc_id, None)
        if slot is None:
            return
        if slot < self._n_main:
            lo, hi = self._main_doc.indptr[slot], self._main_doc.indptr[slot + 1]
            ids = self._main_doc.indices[lo:hi]
            self._dead_main += 1
        else:
            ids = self._buf[slot - self._n_main][0]
        self._df[ids] -= 1
        self._dl_sum -= self._dl[slot]
        self._alive[slot] = False
        self._maybe_compact()

    def _append(self, doc_id: int, title: str, description: str) -> None:
        if doc_id in self._slot:
            self.remove(doc_id)
        words, chars = analyse(title, description)
        ids, tfs = self._encode(words, chars)
        slot = len(self._doc_ids)
        self._grow_slots(slot + 1)
        self._doc_ids.append(doc_id)
        self._slot[doc_id] = slot
        self._alive[slot] = True
        self._dl[slot] = (sum(words.values()), sum(chars.values()))
        self._dl_sum += self._dl[slot]
        self._df[ids] += 1
        self._buf.append((ids, tfs))
        self._buf_mat = None

    def _encode(self, words: Counter[str], chars: Counter[str]) -> _Vec:
        """Map term counts to (sorted ids, counts), growing the vocabulary."""
        vocab = self._vocab
        terms = [*words, *chars]
        ids = [vocab.get(t, -1) for t in terms]  # list comprehension: the hot loop of a build
        if -1 in ids:
            n_words = len(words)
            for i, tid in enumerate(ids):
                if tid < 0:
                    tid = vocab.get(terms[i], -1)  # a term may repeat across the two kinds
                    if tid < 0:
                        tid = vocab[terms[i]] = len(vocab)
                        if tid >= len(self._kind):
                            self._kind = np.concatenate([self._kind, np.zeros(tid, np.int8)])
                            self._df = np.concatenate([self._df, np.zeros(tid, np.int64)])
                        self._kind[tid] = WORD if i < n_words else CHAR
                    ids[i] = tid
        id_arr = np.array(ids, np.int32)
        tfs = np.fromiter(chain(words.values(), chars.values()), np.int64, len(terms))
        order = np.argsort(id_arr, kind="stable")
        return id_arr[order], np.minimum(tfs[order], _TF_MAX).astype(np.uint16)

    def _grow_slots(self, n: int) -> None:
        if n > len(self._alive):
            size = max(n, 2 * len(self._alive))
            self._alive = np.concatenate([self._alive, np.zeros(size - len(self._alive), bool)])
            self._dl = np.concatenate([self._dl, np.zeros((size - len(self._dl), 2))])

    def _maybe_compact(self) -> None:
        limit = max(self._min_buffer, 4 * math.isqrt(self._n_main))
        if len(self._buf) > limit or self._dead_main > max(self._min_buffer, self._n_main // 8):
            self.compact()

    def compact(self) -> None:
        """Merge the buffer into the main segment, dropping removed documents."""
        n_vocab = len(self._vocab)
        keep = np.flatnonzero(self._alive[: self._n_main])
        main = self._main_doc[keep]
        buf_alive = [i for i in range(len(self._buf)) if self._alive[self._n_main + i]]
        buf = _csr([self._buf[i] for i in buf_alive], n_vocab)
        slots_old = np.concatenate([keep, self._n_main + np.array(buf_alive, np.int64)])
        main = sp.csr_matrix((main.data, main.indices, main.indptr), shape=(len(keep), n_vocab))
        self._main_doc = sp.vstack([main, buf], format="csr")
        n = self._main_doc.shape[0]
        self._doc_ids = [self._doc_ids[s] for s in slots_old.tolist()]
        self._slot = {d: i for i, d in enumerate(self._doc_ids)}
        dl = self._dl[slots_old.astype(np.int64)]
        self._alive = np.ones(max(n, 1024), bool)
        self._alive[n:] = False
        self._dl = np.zeros((len(self._alive), 2))
        self._dl[:n] = dl
        self._n_main = n
        self._dead_main = 0
        self._buf = []
        self._buf_mat = None
        # Stage-1 weights use the current average lengths; later drift is corrected by the
        # exact rescoring, so only the candidate pool (not the final scores) is approximate.
        weights = self._tf_weights(self._main_doc, np.arange(n), self._avgdl(), None)
        term = sp.csr_matrix(
            (weights.astype(np.float32), self._main_doc.indices, self._main_doc.indptr),
            shape=(n, n_vocab),
        )
        self._main_term = term.T.tocsr()

    # -------------------------------------------------------------------- query
    def _avgdl(self) -> np.ndarray:
        n = max(len(self._slot), 1)
        return np.maximum(self._dl_sum / n, 1e-9)

    def _tf_weights(
        self, rows: sp.csr_matrix, slots: np.ndarray, avgdl: np.ndarray, entry: np.ndarray | None
    ) -> np.ndarray:
        """BM25 saturation/length factor of each stored entry (optionally a subset)."""
        counts = np.diff(rows.indptr)
        row_of = np.repeat(np.arange(len(counts)), counts)
        terms = rows.indices
        tf = rows.data.astype(np.float64)
        if entry is not None:
            row_of, terms, tf = row_of[entry], terms[entry], tf[entry]
        kinds = self._kind[terms]
        dl = self._dl[slots[row_of], kinds]
        return tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / avgdl[kinds]))

    def _exact(self, rows: sp.csr_matrix, slots: np.ndarray, qdense: np.ndarray) -> np.ndarray:
        """Exact fused scores of the given document rows for the dense query weights."""
        q = qdense[rows.indices]
        entry = np.flatnonzero(q)
        if len(entry) == 0:
            return np.zeros(rows.shape[0])
        w = self._tf_weights(rows, slots, self._avgdl(), entry) * q[entry]
        row_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))[entry]
        return np.bincount(row_of, weights=w, minlength=rows.shape[0])

    def _query_weights(self, title: str, description: str) -> tuple[np.ndarray, np.ndarray]:
        """(term ids, weights) of a query: idf * qtf, each signal scaled by 1/self-score."""
        n = len(self._slot)
        avgdl = self._avgdl()
        id_parts: list[np.ndarray] = []
        weight_parts: list[np.ndarray] = []
        for kind, counts in zip(KINDS, analyse(title, description), strict=True):
            if not counts:
                continue
            get = self._vocab.get
            tids = np.fromiter((get(t, -1) for t in counts), np.int64, len(counts))
            tf = np.fromiter(counts.values(), np.float64, len(counts))
            known = tids >= 0
            df = np.where(known, self._df[np.where(known, tids, 0)], 0)
            idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
            sat = tf * (K1 + 1) / (tf + K1 * (1 - B + B * tf.sum() / avgdl[kind]))
            # Unknown terms still count in the self-score: novel wording lowers similarity.
            self_score = float((idf * tf * sat).sum())
            use = df > 0
            id_parts.append(tids[use])
            weight_parts.append(idf[use] * tf[use] * _WEIGHTS[kind] / max(self_score, 1e-12))
        if not id_parts:
            return np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(id_parts), np.concatenate(weight_parts)

    def _stage1_terms(self, ids: np.ndarray) -> np.ndarray:
        """Mask of query terms used for candidate generation (rarest first, within budget)."""
        n_terms = self._main_term.shape[0]
        mask = ids < n_terms
        postings = np.diff(self._main_term.indptr)[np.where(mask, ids, 0)] * mask
        if postings.sum() <= STAGE1_POSTINGS:
            return mask
        # The most frequent terms (a few common char grams) dominate the cost yet barely move
        # the ranking; they still count in the exact rescoring of the candidates.
        order = np.argsort(postings, kind="stable")
        keep = order[np.cumsum(postings[order]) <= STAGE1_POSTINGS]
        out = np.zeros(len(ids), bool)
        out[keep] = True
        return out & mask

    def _stage1(self, ids: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Approximate scores of all main-segment slots (dense) from the query's postings."""
        # Slice only the query terms' postings, then one transposed mat-vec in C. Weights are
        # cast to the matrix dtype: mixing dtypes would make scipy copy the whole matrix.
        sub = self._main_term[ids]
        return np.asarray(sub.T @ weights.astype(np.float32), dtype=np.float64)

    def search(
        self, title: str, description: str, limit: int, exclude: set[int]
    ) -> list[tuple[int, float]]:
        """Top ``limit`` (doc id, score) pairs with score > 0, best first."""
        if not self._slot or limit <= 0:
            return []
        ids, weights = self._query_weights(title, description)
        if len(ids) == 0:
            return []
        qdense = np.zeros(len(self._vocab))
        qdense[ids] = weights
        excluded = np.array([self._slot[d] for d in exclude if d in self._slot], np.int64)
        slots_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []
        if self._n_main:
            in_main = self._stage1_terms(ids)
            approx = self._stage1(ids[in_main], weights[in_main])
            approx[~self._alive[: self._n_main]] = 0
            approx[excluded[excluded < self._n_main]] = 0
            cand = np.flatnonzero(approx)
            approx = approx[cand]
            k = max(MIN_CANDIDATES, 4 * limit)
            if len(cand) > k:
                top = np.argpartition(-approx, k - 1)[:k]
                cand = cand[top]
            cand.sort()
            slots_parts.append(cand)
            score_parts.append(self._exact(self._main_doc[cand], cand, qdense))
        if self._buf:
            if self._buf_mat is None:
                self._buf_mat = _csr(self._buf, len(self._vocab))
            bslots = self._n_main + np.arange(len(self._buf))
            ok = self._alive[bslots] & ~np.isin(bslots, excluded)
            slots_parts.append(bslots[ok])
            score_parts.append(self._exact(self._buf_mat[np.flatnonzero(ok)], bslots[ok], qdense))
        slots = np.concatenate(slots_parts)
        scores = np.concatenate(score_parts)
        pos = scores > 0
        slots, scores = slots[pos], scores[pos]
        # Ties broken by doc id so results are deterministic whatever the storage layout.
        doc = np.array([self._doc_ids[s] for s in slots.tolist()], dtype=np.int64)
        order = np.lexsort((doc, -np.round(scores, 9)))[:limit]
        return [(int(doc[i]), float(scores[i])) for i in order]
