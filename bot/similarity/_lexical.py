"""Incremental BM25 index over two signals (word stems and character n-grams).

Score of a stored document ``d`` for a query ``q``::

    score = WORD_WEIGHT * bm25_word(q, d) / bm25_word(q, q)
          + CHAR_WEIGHT * bm25_char(q, d) / bm25_char(q, q)

Each BM25 is divided by the query's score against itself, so every signal lies on a
comparable scale where about 1.0 means "as similar as the text is to itself"; this is what
makes one warning threshold meaningful for short and long proposals alike.

Storage, Lucene style, small enough for a register of 100,000 proposals: documents live in
immutable *segments* (``_segments.py``) of term-major postings (per term, the rows of the
documents holding it, two bytes each in a segment of up to 65,536 rows, and its count in
each, one byte: 3 bytes a posting), plus a small *buffer* of documents added one by one.
Removing a document clears its row's live flag.
Document frequencies, the number of documents and the average lengths are exact after every
change; IDF is computed at query time, so scores never depend on how the segments are cut.

Maintenance (the buffer becomes a segment, segments of one size class merge, removed rows are
dropped) runs in three steps so that searches never wait for it: ``plan_maintenance`` (under
the caller's lock: a snapshot), ``build_plan`` (no lock: reads only immutable arrays),
``finish_maintenance`` (under the lock: swap in, re-applying removals made meanwhile).

Search, per segment: the postings of the query's terms (rarest first, within a budget) give
exact partial scores of all rows; the best candidates then get the rest of their score from the
frequent terms left out, by binary search in those terms' postings. Buffer documents are scored
exactly. Not thread-safe on its own: ``SimilarityIndex`` serialises calls with a lock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import numpy as np

from bot.similarity._segments import (
    ROWS_IN_TWO_BYTES,
    Analysed,
    Encoded,
    Plan,
    Segment,
    Staged,
    Vocabulary,
    analyse_docs,
    build_plan,
    build_segment,
    concat,
    exact_counts,
    lower_bound,
    merge_segments,
    postings,
    ranges,
)
from bot.similarity._text import KINDS, analyse

__all__ = ["LexicalIndex", "analyse_docs", "build_plan", "build_segment"]

K1 = 1.2
B = 0.75
# Fusion weights, chosen on held-out duplicate-report data: character n-grams carry most of
# the signal (robust to wording), stems add exact-vocabulary evidence.
WORD_WEIGHT = 0.2
CHAR_WEIGHT = 0.8
_WEIGHTS = np.array([WORD_WEIGHT, CHAR_WEIGHT])

# Candidates per segment that get their exact score (rescoring one costs microseconds).
MIN_CANDIDATES = 128
# Candidate generation reads at most this many postings per query (bounds the latency).
STAGE1_POSTINGS = 300_000
# ... and at least this many in each segment (a small segment is cheap to read whole).
STAGE1_MIN_POSTINGS = 20_000
# Buffered documents that make a segment of their own.
MIN_BUFFER = 256
# This many segments of one size class merge into one; a segment with this share of removed
# rows is rewritten without them.
MERGE_FACTOR = 4
DEAD_SHARE = 0.25
# A merge copies what it merges, so the index briefly needs that much more memory: no merge
# makes a segment of more than this share of the index (or MERGED_MIN documents, whichever is
# more). Merging everything into one segment took the bot 100 MB above its resident size at
# 100,000 proposals; a few segments cost searches little.
MERGED_SHARE = 0.25
MERGED_MIN = 4096


_NO_DOCUMENTS = Encoded(
    np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(1, np.int64), np.zeros(0, np.int32),
    np.zeros(0, np.uint16), np.zeros((0, 2), np.float32), 0,
)  # fmt: skip


class LexicalIndex:
    """BM25 word + char n-gram index with incremental add/remove; see module docstring."""

    def __init__(self, min_buffer: int = MIN_BUFFER) -> None:
        """Create an empty index; ``min_buffer`` buffered documents make a segment."""
        self._min_buffer = min_buffer
        self.vocabulary = Vocabulary()
        self._kind = np.zeros(1024, np.int8)  # term id -> WORD / CHAR
        self._df = np.zeros(1024, np.int32)  # term id -> live documents containing it
        self._n = 0
        self._dl_sum = np.zeros(2)
        self._segments: list[Segment] = []
        self._buf: list[Encoded] = []  # one document each
        self._buf_alive: list[bool] = []
        self._buf_pos: dict[int, int] = {}  # doc id -> buffer position (live only)
        self._buf_cache: tuple[np.ndarray, ...] | None = None
        self._plan: Plan | None = None

    @property
    def maintaining(self) -> bool:
        """Whether a maintenance step is under way (planned, not yet finished)."""
        return self._plan is not None

    # ----------------------------------------------------------------- mutation
    def __len__(self) -> int:
        return self._n

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, int | np.integer):
            return False
        if doc_id in self._buf_pos:
            return True
        wanted = np.array([doc_id], np.int64)
        return any(len(seg.live_rows(wanted)[0]) for seg in self._segments)

    def add(self, doc_id: int, title: str, description: str) -> None:
        """Insert or replace one document (maintenance runs inline)."""
        self.insert(self.encode(analyse_docs([(doc_id, title, description)])))
        self.maintain()

    def add_many(self, docs: list[tuple[int, str, str]]) -> None:
        """Insert or replace many documents (maintenance runs inline)."""
        latest = list({d[0]: d for d in docs}.values())
        for start in range(0, len(latest), 5000):
            encoded = self.encode(analyse_docs(latest[start : start + 5000]))
            self.insert(
                encoded, build_segment(encoded) if len(encoded) >= self._min_buffer else None
            )
            self.maintain()

    def remove(self, doc_id: int) -> None:
        """Remove a document; unknown ids are ignored."""
        self.remove_many(np.array([doc_id], np.int64))
        self.maintain()

    def maintain(self) -> None:
        """Run every pending maintenance step now (callers without a background thread)."""
        while (plan := self.plan_maintenance()) is not None:
            self.finish_maintenance(plan, *build_plan(plan))

    def compact(self) -> None:
        """Merge everything into one segment without removed documents."""
        plan = self.plan_maintenance(everything=True)
        if plan is not None:
            self.finish_maintenance(plan, *build_plan(plan))

    def arrays(self) -> dict[str, np.ndarray]:
        """The whole index as named arrays (``restore`` makes it again, in any process: terms
        are stable hashes). Call under the lock, with no maintenance step under way. What
        later updates change in place is copied (a few MB), the rest is shared: the arrays
        stay as they are while they are written elsewhere, without the lock."""
        assert self._plan is None, "a maintenance step is under way"
        out: dict[str, np.ndarray] = {
            "n": np.array([self._n, len(self._segments), self._min_buffer], np.int64),
            "dl_sum": self._dl_sum.copy(),
            "kind": self._kind.copy(),
            "df": self._df.copy(),
        }
        for i, table in enumerate(self.vocabulary.tables):
            out[f"vocabulary_{i}"] = table
        for i, seg in enumerate(self._segments):
            arrays = seg.arrays()
            arrays["alive"] = arrays["alive"].copy()  # a removal marks its row dead in place
            out.update((f"segment_{i}_{name}", array) for name, array in arrays.items())
        live = [doc for doc, alive in zip(self._buf, self._buf_alive, strict=True) if alive]
        buffered = concat(live, len(self.vocabulary)) if live else _NO_DOCUMENTS
        for name in ("doc_ids", "text_keys", "ptr", "terms", "tf", "dl"):
            out[f"buffer_{name}"] = getattr(buffered, name)
        return out

    @staticmethod
    def part_size(documents: int) -> int:
        """How many documents ``write_in_parts`` should make one segment of, for an index of
        about ``documents``: segments that maintenance will not merge again (each a quarter of
        the index), within the rows two bytes name."""
        return min(max(math.ceil(MERGED_SHARE * documents), MERGED_MIN), ROWS_IN_TWO_BYTES)

    @classmethod
    def write_in_parts(
        cls,
        parts: Iterable[Iterable[list[tuple[int, str, str]]]],
        write: Callable[[str, np.ndarray], None],
    ) -> int:
        """Index documents without holding more of them than one part: each part (batches of
        ``(id, title, description)``, every id at most once in all, none removed) becomes one
        segment, handed to ``write(name, array)`` and dropped; then what the segments share
        (vocabulary, document frequencies, lengths). What is written is what ``arrays`` of the
        whole index would give, and ``restore`` takes it. Returns how many documents were
        indexed."""
        index = cls()
        written = 0
        for part in parts:
            # A small segment for each batch (little work memory), merged into one a block of
            # postings at a time: the most held at once is about twice the part's segment.
            pieces: list[Segment] = []
            for batch in part:
                if batch:
                    docs = index.encode(analyse_docs(batch))
                    index.insert(docs, build_segment(docs))
                    pieces.append(index._segments.pop())  # only its counts stay
            if not pieces:
                continue
            segment = pieces[0]
            if len(pieces) > 1:
                segment, _ = merge_segments(
                    [(piece, piece.alive) for piece in pieces], len(index.vocabulary)
                )
            del pieces
            for name, array in segment.arrays().items():
                write(f"segment_{written}_{name}", array)
            written += 1
            del segment
        shared = index.arrays()
        shared["n"][1] = written
        for name, array in shared.items():
            write(name, array)
        return len(index)

    @classmethod
    def restore(cls, arrays: Mapping[str, np.ndarray]) -> LexicalIndex:
        """The index ``arrays`` gave."""
        n, segments, min_buffer = (int(v) for v in arrays["n"])
        index = cls(min_buffer)
        index.vocabulary = Vocabulary.restore(
            tuple(arrays[f"vocabulary_{i}"] for i in range(4))  # type: ignore[arg-type]
        )
        index._kind, index._df = arrays["kind"], arrays["df"]
        index._n, index._dl_sum = n, arrays["dl_sum"]
        for i in range(segments):
            prefix = f"segment_{i}_"
            index._segments.append(
                Segment.restore(
                    {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
                )
            )
        buffered = Encoded(
            *(arrays[f"buffer_{name}"] for name in ("doc_ids", "text_keys", "ptr", "terms")),
            arrays["buffer_tf"],
            arrays["buffer_dl"],
            len(index.vocabulary),
        )
        for i in range(len(buffered)):
            one = buffered.subset(np.array([i]))
            index._buf_pos[int(one.doc_ids[0])] = len(index._buf)
            index._buf.append(one)
            index._buf_alive.append(True)
        return index

    def encode(
        self, docs: Analysed, known: np.ndarray | None = None, staged: Staged | None = None
    ) -> Encoded:
        """Give the batch's terms their ids, growing the vocabulary (call under the lock).
        ``known`` is ``vocabulary.lookup(docs.hashes)`` and ``staged`` the vocabulary's
        ``stage`` of the unknown ones, when done before taking the lock."""
        ids = self.vocabulary.lookup(docs.hashes) if known is None else known.copy()
        unknown = np.flatnonzero(ids < 0)
        if len(unknown):
            ids[unknown] = self.vocabulary.lookup(docs.hashes[unknown])
            unknown = unknown[ids[unknown] < 0]
        if len(unknown):
            fresh, first, inverse = np.unique(
                docs.hashes[unknown], return_index=True, return_inverse=True
            )
            new = self.vocabulary.add(fresh, staged)
            ids[unknown] = new[inverse]
            self._grow_terms(len(self.vocabulary))
            self._kind[new] = docs.kinds[unknown[first]]
        return Encoded(
            docs.doc_ids, docs.text_keys, docs.ptr, ids.astype(np.int32), docs.tf, docs.dl,
            len(self.vocabulary),
        )  # fmt: skip

    def insert(self, docs: Encoded, segment: Segment | None = None) -> int:
        """Make encoded documents searchable, replacing older versions; unchanged ones are
        skipped. ``segment`` is ``build_segment(docs)`` when built already. Returns how many
        documents changed."""
        unchanged = self._unchanged(docs)
        if unchanged.any():
            if unchanged.all():
                return 0
            docs, segment = docs.subset(np.flatnonzero(~unchanged)), None
        self.remove_many(docs.doc_ids)
        if segment is None and len(docs) >= self._min_buffer:
            segment = build_segment(docs)
        if segment is not None:
            self._segments.append(segment)
            self._df[: segment.n_terms] += np.diff(segment.ptr)
        else:
            added: list[Encoded] = []
            for i in range(len(docs)):
                one = docs.subset(np.array([i]))
                self._buf_pos[int(one.doc_ids[0])] = len(self._buf)
                self._buf.append(one)
                self._buf_alive.append(True)
                self._df[one.terms] += 1
                added.append(one)
            if self._buf_cache is not None:  # the buffer's arrays grow; nothing is re-read
                self._buf_cache = _buffer_arrays(added, self._buf_cache)
        self._n += len(docs)
        self._dl_sum += docs.dl.sum(axis=0, dtype=np.float64)
        return len(docs)

    def _unchanged(self, docs: Encoded) -> np.ndarray:
        """Which documents are stored already with the same text."""
        same = np.zeros(len(docs), bool)
        for seg in self._segments:
            pos, rows = seg.live_rows(docs.doc_ids)
            same[pos] |= seg.keys[rows] == docs.text_keys[pos]
        for i, doc_id in enumerate(docs.doc_ids.tolist()):
            at = self._buf_pos.get(doc_id)
            if at is not None and self._buf[at].text_keys[0] == docs.text_keys[i]:
                same[i] = True
        return same

    def remove_many(self, doc_ids: np.ndarray) -> int:
        """Remove documents; unknown ids are ignored. Returns how many were removed."""
        removed = 0
        for doc_id in doc_ids.tolist():
            at = self._buf_pos.pop(doc_id, None)
            if at is not None:
                one = self._buf[at]
                self._buf_alive[at] = False
                self._df[one.terms] -= 1
                self._dl_sum -= one.dl[0]
                self._buf_cache = None
                removed += 1
                if self._plan is not None:
                    self._plan.removed.append((None, at))
        for seg in self._segments:
            _, rows = seg.live_rows(doc_ids)
            if len(rows) == 0:
                continue
            seg.alive[rows] = False
            seg.dead += len(rows)
            terms = seg.terms_of_rows(rows)
            self._df[: seg.n_terms] -= np.bincount(terms, minlength=seg.n_terms)
            self._dl_sum -= seg.dl_of[:, rows].sum(axis=1, dtype=np.float64)
            removed += len(rows)
            if self._plan is not None:
                self._plan.removed.extend((seg, r) for r in rows.tolist())
        self._n -= removed
        return removed

    def _grow_terms(self, n: int) -> None:
        if n > len(self._kind):
            size = max(n, 2 * len(self._kind))
            self._kind = np.concatenate([self._kind, np.zeros(size - len(self._kind), np.int8)])
            self._df = np.concatenate([self._df, np.zeros(size - len(self._df), np.int32)])

    # -------------------------------------------------------------- maintenance
    def plan_maintenance(self, *, everything: bool = False, idle: bool = False) -> Plan | None:
        """The next maintenance step, or None (call under the lock; one step at a time).

        ``idle``: nothing else is going on, so the large segments (an eighth of the index or
        more each) may merge into one: fewer segments, faster searches."""
        if self._plan is not None:
            return None
        chosen = list(self._segments) if everything else self._to_merge()
        if idle and not chosen:
            large = [seg for seg in self._segments if len(seg) - seg.dead >= self._n / 8]
            chosen = large if len(large) > 1 and self._within_cap(large) == large else []
        flush = everything or len(self._buf) >= self._min_buffer
        if not chosen and not (flush and self._buf):
            return None
        if everything and len(chosen) == 1 and not self._buf and not chosen[0].dead:
            return None
        buffered = None
        buffered_alive = np.zeros(0, bool)
        if flush and self._buf:
            buffered = concat(self._buf, len(self.vocabulary))
            buffered_alive = np.array(self._buf_alive, bool)
        self._plan = Plan(
            segments=chosen,
            alive=[seg.alive.copy() for seg in chosen],
            buffered=buffered,
            buffered_alive=buffered_alive,
            n_terms=len(self.vocabulary),
        )
        return self._plan

    def _to_merge(self) -> list[Segment]:
        for seg in self._segments:
            if seg.dead and seg.dead >= DEAD_SHARE * len(seg):
                return [seg]
        classes: dict[int, list[Segment]] = {}
        for seg in self._segments:
            size = max(len(seg) - seg.dead, 1)
            level = int(math.log(max(size / self._min_buffer, 1), MERGE_FACTOR))
            classes.setdefault(level, []).append(seg)
        for level in sorted(classes):
            if len(classes[level]) < MERGE_FACTOR:
                continue
            # The smallest of the class, as many as the size cap lets merge at once.
            chosen = self._within_cap(sorted(classes[level], key=lambda seg: len(seg) - seg.dead))
            if len(chosen) >= 2:
                return chosen
        return []

    def _within_cap(self, segments: list[Segment]) -> list[Segment]:
        """The longest prefix of ``segments`` whose merge stays within ``MERGED_SHARE`` of the
        index (``MERGED_MIN`` documents at least), and within the rows that two bytes name."""
        cap = min(max(MERGED_SHARE * self._n, MERGED_MIN), ROWS_IN_TWO_BYTES)
        live = 0
        for taken, seg in enumerate(segments):
            live += len(seg) - seg.dead
            if live > cap:
                return segments[:taken]
        return segments

    def abandon(self, plan: Plan) -> None:
        """Give up a planned step (its build failed); the index stays as it was."""
        if plan is self._plan:
            self._plan = None

    def finish_maintenance(self, plan: Plan, built: Segment, remaps: list[np.ndarray]) -> None:
        """Swap the built segment in for what it replaces (call under the lock)."""
        assert plan is self._plan
        self._plan = None
        merged = {id(seg): remap for seg, remap in zip(plan.segments, remaps, strict=False)}
        flushed = len(plan.buffered) if plan.buffered is not None else 0
        buffer_remap = remaps[-1] if flushed else None
        for source, row in plan.removed:  # removed while the segment was being built
            if source is None:
                new = buffer_remap[row] if buffer_remap is not None and row < flushed else -1
            else:
                remap = merged.get(id(source))
                new = remap[row] if remap is not None else -1
            if new >= 0 and built.alive[new]:
                built.alive[new] = False
                built.dead += 1
        replaced = set(merged)
        self._segments = [s for s in self._segments if id(s) not in replaced]
        if len(built):
            self._segments.append(built)
        if flushed:
            self._buf = self._buf[flushed:]
            self._buf_alive = self._buf_alive[flushed:]
            self._buf_pos = {
                int(doc.doc_ids[0]): i
                for i, (doc, alive) in enumerate(zip(self._buf, self._buf_alive, strict=True))
                if alive
            }
            self._buf_cache = None

    # -------------------------------------------------------------------- query
    def _avgdl(self) -> np.ndarray:
        return np.maximum(self._dl_sum / max(self._n, 1), 1e-9)

    def _query_weights(self, title: str, description: str) -> tuple[np.ndarray, ...]:
        """(term ids, weights, kinds) of a query: idf * qtf, each signal scaled by
        1/self-score."""
        n = self._n
        avgdl = self._avgdl()
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        for kind, counts in zip(KINDS, analyse(title, description), strict=True):
            if not counts:
                continue
            hashes = np.fromiter(counts, np.uint64, len(counts)).view(np.int64)  # term_hash
            tids = self.vocabulary.lookup(hashes)
            tf = np.fromiter(counts.values(), np.float64, len(counts))
            known = tids >= 0
            df = np.where(known, self._df[np.where(known, tids, 0)], 0)
            idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
            sat = tf * (K1 + 1) / (tf + K1 * (1 - B + B * tf.sum() / avgdl[kind]))
            # Unknown terms still count in the self-score: novel wording lowers similarity.
            self_score = float((idf * tf * sat).sum())
            use = df > 0
            weight = idf[use] * tf[use] * _WEIGHTS[kind] / max(self_score, 1e-12)
            parts.append((tids[use], weight, np.full(int(use.sum()), kind, np.int64)))
        if not parts:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))

    def _bm25(self, tf: np.ndarray, dl: np.ndarray, kinds: np.ndarray) -> np.ndarray:
        tf = tf.astype(np.float64)
        return tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / self._avgdl()[kinds]))

    def _norms(self, seg: Segment) -> tuple[np.ndarray, np.ndarray]:
        """Per row and signal, BM25's length term ``K1 * (1 - B + B * dl / avgdl)`` (float32),
        kept on the segment until the average lengths change."""
        avgdl = self._avgdl()
        key = (float(avgdl[0]), float(avgdl[1]))
        if seg.norm_cache is None or seg.norm_cache[0] != key:
            norm = tuple(K1 * (1 - B + B * seg.dl_of[k] / np.float32(avgdl[k])) for k in KINDS)
            seg.norm_cache = (key, norm)
        return seg.norm_cache[1]

    def _search_segment(
        self, seg: Segment, q: tuple[np.ndarray, ...], limit: int, exclude: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(doc ids, exact scores) of the segment's best candidates."""
        known = q[0] < seg.n_terms
        ids, weights, kinds = q[0][known], q[1][known], q[2][known]
        if len(ids) == 0 or seg.dead == len(seg):
            return np.zeros(0, np.int64), np.zeros(0)
        starts = seg.ptr[ids]
        lens = seg.ptr[ids + 1] - starts
        budget = max(STAGE1_POSTINGS * len(seg) // max(self._n, 1), STAGE1_MIN_POSTINGS)
        use = np.ones(len(ids), bool)
        if lens.sum() > budget:
            # The most frequent terms (a few common char grams) dominate the cost yet barely
            # move the ranking; the candidates still get their share below.
            order = np.argsort(lens, kind="stable")
            use[:] = False
            use[order[np.cumsum(lens[order]) <= budget]] = True
        norm = self._norms(seg)
        score = None
        for kind in KINDS:
            pick = np.flatnonzero(use & (kinds == kind))
            if not len(pick):
                continue
            rows, tf = postings(seg, ids[pick])
            wanted = np.repeat(weights[pick].astype(np.float32) * (K1 + 1), lens[pick])
            # part = wanted * tf / (tf + norm), the BM25 share of each posting, in place.
            denom = norm[kind][rows]
            denom += tf
            np.multiply(wanted, tf, out=tf)
            del wanted
            np.divide(tf, denom, out=tf)
            del denom
            # (An empty bincount is of integers: a segment may hold no posting of a query term.)
            part = np.bincount(rows, weights=tf, minlength=len(seg)).astype(float, copy=False)
            if score is None:
                score = part
            else:
                score += part
        if score is None:
            score = np.zeros(len(seg))
        if seg.dead:
            score[~seg.alive] = 0
        if len(exclude):
            score[seg.live_rows(exclude)[1]] = 0
        cand = np.flatnonzero(score)
        # The register's best MIN_CANDIDATES, shared out among the segments by size.
        want = max(4 * limit, -(-MIN_CANDIDATES * len(seg) // max(self._n, 1)))
        if len(cand) > want:
            cand = cand[np.argpartition(-score[cand], want - 1)[:want]]
        cand.sort()
        exact = score[cand]
        left_out = np.flatnonzero(~use)
        if len(left_out) and len(cand) > limit:
            # The left-out terms add at most this much: a candidate that even so cannot reach
            # the `limit`-th best partial score needs no exact score.
            bound = (K1 + 1) * float(weights[left_out].sum())
            kth = np.partition(exact, len(exact) - limit)[len(exact) - limit]
            close = exact >= kth - bound
            cand, exact = cand[close], exact[close]
        if len(left_out) and len(cand):
            exact += self._left_out_share(seg, cand, ids[left_out], weights[left_out],
                                          kinds[left_out], norm)  # fmt: skip
        return seg.doc_ids[cand], exact

    def _left_out_share(
        self,
        seg: Segment,
        cand: np.ndarray,
        ids: np.ndarray,
        weights: np.ndarray,
        kinds: np.ndarray,
        norm: tuple[np.ndarray, np.ndarray],
    ) -> np.ndarray:
        """What the terms left out of the first stage add to each candidate's score."""
        share = np.zeros(len(cand))
        pos = np.minimum(np.searchsorted(seg.top_terms, ids), max(len(seg.top_terms) - 1, 0))
        in_top = (seg.top_terms[pos] == ids) if len(seg.top_terms) else np.zeros(len(ids), bool)
        if in_top.any():
            # Frequent terms: read the candidates' own entries (document-major copy).
            code_weight = np.zeros(len(seg.top_terms))
            code_weight[pos[in_top]] = weights[in_top]
            code_kind = np.zeros(len(seg.top_terms), np.int64)
            code_kind[pos[in_top]] = kinds[in_top]
            lens = seg.top_ptr[cand + 1] - seg.top_ptr[cand]
            entry = ranges(seg.top_ptr[cand], lens)
            codes = seg.top_code[entry]
            hit = np.flatnonzero(code_weight[codes])
            of_cand = np.repeat(np.arange(len(cand)), lens)[hit]
            kind = code_kind[codes[hit]]
            read = entry[hit]
            tf = exact_counts(seg.top_tf[read], seg.top_big, lambda hot: read[hot])
            nrm = np.where(kind == 0, norm[0][cand[of_cand]], norm[1][cand[of_cand]])
            part = code_weight[codes[hit]] * (K1 + 1) * tf / (tf + nrm)
            share += np.bincount(of_cand, weights=part, minlength=len(cand))
        rest = np.flatnonzero(~in_top)
        if len(rest):
            # The rest: each (term, candidate) pair looks the candidate up in the term's
            # postings, all pairs in one vectorised binary search.
            lo = np.repeat(seg.ptr[ids[rest]].astype(np.int64), len(cand))
            end = np.repeat(seg.ptr[ids[rest] + 1].astype(np.int64), len(cand))
            target = np.tile(cand, len(rest)).astype(np.int32)
            at = lower_bound(seg.rows, lo, end, target)
            found = np.flatnonzero(seg.rows[np.minimum(at, len(seg.rows) - 1)] == target)
            found = found[at[found] < end[found]]
            of_term = rest[found // len(cand)]
            of_cand = found % len(cand)
            read = at[found]
            tf = exact_counts(seg.tf[read], seg.big, lambda hot: read[hot])
            nrm = np.where(kinds[of_term] == 0, norm[0][cand[of_cand]], norm[1][cand[of_cand]])
            part = weights[of_term] * (K1 + 1) * tf / (tf + nrm)
            share += np.bincount(of_cand, weights=part, minlength=len(cand))
        return share

    def _search_buffer(
        self, q: tuple[np.ndarray, ...], exclude: set[int]
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._buf_cache is None:
            live = [doc for doc, alive in zip(self._buf, self._buf_alive, strict=True) if alive]
            self._buf_cache = _buffer_arrays(live)
        doc_ids, terms, tf, dl, row_of = self._buf_cache
        if not len(doc_ids):
            return np.zeros(0, np.int64), np.zeros(0)
        # The query's weight of each buffered entry (0: not a query term), found by looking
        # each entry's term up among the query's few terms (a term given twice: its last weight).
        query_terms, last = np.unique(q[0][::-1], return_index=True)
        query_weights = q[1][::-1][last]
        pos = np.minimum(np.searchsorted(query_terms, terms), len(query_terms) - 1)
        weight_of_entry = np.where(query_terms[pos] == terms, query_weights[pos], 0.0)
        entry = np.flatnonzero(weight_of_entry)
        weight = weight_of_entry[entry]
        kinds = self._kind[terms[entry]].astype(np.int64)
        part = self._bm25(tf[entry], dl[row_of[entry], kinds], kinds) * weight
        scores = np.bincount(row_of[entry], weights=part, minlength=len(doc_ids))
        if exclude:
            scores[np.isin(doc_ids, list(exclude))] = 0
        return doc_ids, scores

    def search(
        self, title: str, description: str, limit: int, exclude: set[int]
    ) -> list[tuple[int, float]]:
        """Top ``limit`` (doc id, score) pairs with score > 0, best first."""
        if not self._n or limit <= 0:
            return []
        q = self._query_weights(title, description)
        if len(q[0]) == 0:
            return []
        excluded = np.array(sorted(exclude), np.int64)
        ids_parts: list[np.ndarray] = []
        score_parts: list[np.ndarray] = []
        for seg in self._segments:
            found, scores = self._search_segment(seg, q, limit, excluded)
            ids_parts.append(found)
            score_parts.append(scores)
        if self._buf:
            found, scores = self._search_buffer(q, exclude)
            ids_parts.append(found)
            score_parts.append(scores)
        if not ids_parts:
            return []
        doc = np.concatenate(ids_parts)
        scores = np.concatenate(score_parts)
        pos = scores > 0
        doc, scores = doc[pos], scores[pos]
        # Ties broken by doc id so results are deterministic whatever the storage layout.
        order = np.lexsort((doc, -np.round(scores, 9)))[:limit]
        return [(int(doc[i]), float(scores[i])) for i in order]


def _buffer_arrays(
    docs: list[Encoded], before: tuple[np.ndarray, ...] | None = None
) -> tuple[np.ndarray, ...]:
    """The buffered documents' entries as flat arrays (doc ids, terms, tf, lengths, and each
    entry's row), `docs` appended to `before` when given. One document each, as buffered."""
    rows = len(before[0]) if before is not None else 0
    lens = np.fromiter((len(d.terms) for d in docs), np.int64, len(docs))
    parts = [
        [d.doc_ids for d in docs],
        [d.terms for d in docs],
        [d.tf for d in docs],
        [d.dl for d in docs],
        [np.repeat(np.arange(rows, rows + len(docs)), lens)],
    ]
    if before is not None:
        parts = [[old, *new] for old, new in zip(before, parts, strict=True)]
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros(0), np.zeros((0, len(KINDS))),
             np.zeros(0, np.int64))  # fmt: skip
    return tuple(
        np.concatenate(arrays) if arrays else blank
        for arrays, blank in zip(parts, empty, strict=True)
    )
