"""Storage of the lexical index: documents analysed into hashed terms, and immutable segments
of term-major postings (per term: the rows of the documents holding it, two bytes in a segment
of up to 65,536 rows and four beyond, and its count in each, one byte: a count of
``SATURATED`` or more is kept exactly in a small side table). Plain numpy; ``_lexical.py``
keeps the statistics and scores.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bot.similarity._text import analyse, term_hash

# The terms with the most postings in a segment also get a document-major copy (two bytes name
# the term); a term with fewer postings than TOP_MIN_POSTINGS never does.
TOP_TERMS = 1024
TOP_MIN_POSTINGS = 64
# Merges copy postings in blocks of about this many, so their extra memory stays small.
BLOCK_POSTINGS = 500_000
# A segment of at most this many rows names them in two bytes a posting instead of four (the
# postings of 100,000 proposals: 29 MB less).
ROWS_IN_TWO_BYTES = 1 << 16
_TF_MAX = np.iinfo(np.uint16).max
# A segment stores counts in one byte; this value means "look the count up in the side table"
# (counts that high are rare: a word repeated hundreds of times in one proposal).
SATURATED = 255
# (positions, exact counts) of the saturated entries of an array of counts, positions ascending.
Overflow = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Analysed:
    """Documents as hashed terms, ready for the index to give the terms ids (no lock needed).

    Terms are kept as 64-bit hashes, never as strings: the vocabulary is then two numpy arrays
    instead of hundreds of thousands of Python objects (two distinct terms of a register share
    a hash with a probability of about 1e-9)."""

    doc_ids: np.ndarray  # int64
    text_keys: np.ndarray  # int64: hash of the analysed text (an unchanged text is skipped)
    ptr: np.ndarray  # int64: entries of document i are [ptr[i], ptr[i + 1])
    hashes: np.ndarray  # int64 per entry
    kinds: np.ndarray  # int8 per entry: WORD / CHAR
    tf: np.ndarray  # uint16
    dl: np.ndarray  # float32 (n, 2): length per signal


# Documents analysed between two calls of ``analyse_docs``'s ``step_aside`` (a few ms of work:
# a request that arrives meanwhile waits no longer than that for the background update).
STEP = 5


def analyse_docs(
    docs: Iterable[tuple[int, str, str]], step_aside: Callable[[], None] | None = None
) -> Analysed:
    """Analyse ``(doc_id, title, description)`` documents into compact arrays; ``step_aside``
    runs every few documents (a background caller lets searches go first)."""
    hashes = array("Q")  # read as int64: the same bits (see ``term_hash``)
    kinds = array("b")
    tf = array("i")
    lengths = array("q")
    dls = array("f")
    ids = array("q")
    keys = array("Q")
    for doc_id, title, description in docs:
        words, chars = analyse(title, description)
        hashes.extend(words)
        hashes.extend(chars)
        kinds.extend(bytes(len(words)))
        kinds.extend(b"\x01" * len(chars))
        tf.extend(words.values())
        tf.extend(chars.values())
        lengths.append(len(words) + len(chars))
        dls.append(sum(words.values()))
        dls.append(sum(chars.values()))
        ids.append(doc_id)
        keys.append(term_hash(f"{title}\x00{description}"))
        if step_aside is not None and len(ids) % STEP == 0:
            step_aside()
    ptr = np.zeros(len(ids) + 1, np.int64)
    if len(ids):
        np.cumsum(np.frombuffer(lengths, np.int64), out=ptr[1:])

    def arr(values: array[Any], dtype: Any) -> np.ndarray:
        return np.frombuffer(values, dtype).copy() if len(values) else np.zeros(0, dtype)

    return Analysed(
        doc_ids=arr(ids, np.int64),
        text_keys=arr(keys, np.int64),
        ptr=ptr,
        hashes=arr(hashes, np.int64),
        kinds=arr(kinds, np.int8),
        tf=np.minimum(arr(tf, np.int32), _TF_MAX).astype(np.uint16),
        dl=arr(dls, np.float32).reshape(-1, 2),
    )


# New terms go into a small table first, merged into the large one once it holds this many: a
# proposal with a few new words then copies at most this table (under 1 MB), not the whole
# vocabulary (millions of terms at 100,000 proposals, copied by every capture before).
SMALL_TABLE_MAX = 1 << 16

# A vocabulary's tables: term hashes sorted, with their ids; the large one, then the small one.
Tables = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class Vocabulary:
    """Term hash -> term id, as two pairs of arrays sorted by hash (12 bytes a term): a large
    table and a small one of the latest terms (see ``SMALL_TABLE_MAX``)."""

    def __init__(self) -> None:
        # One tuple, replaced whole: a reader without the lock always sees consistent tables.
        self._tables: Tables = (
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
        )
        self.size = 0

    def __len__(self) -> int:
        return self.size

    @property
    def tables(self) -> Tables:
        """(hashes, ids) of the large table, then of the small one."""
        return self._tables

    @classmethod
    def restore(cls, tables: Tables) -> Vocabulary:
        """The vocabulary whose ``tables`` these are."""
        vocabulary = cls()
        vocabulary._tables = tables
        vocabulary.size = len(tables[0]) + len(tables[2])
        return vocabulary

    def lookup(self, hashes: np.ndarray) -> np.ndarray:
        """Term ids (int64), -1 for unknown terms. Safe without the lock (a term added
        meanwhile is reported unknown, and ``encode`` looks again under the lock)."""
        keys, ids, small_keys, small_ids = self._tables
        out = _found(keys, ids, hashes)
        if len(small_keys):
            missing = out < 0
            if missing.any():
                out[missing] = _found(small_keys, small_ids, hashes[missing])
        return out

    def add(self, hashes: np.ndarray, staged: Staged | None = None) -> np.ndarray:
        """Ids for new, distinct, sorted hashes (call under the lock). ``staged``: the same
        addition prepared by ``stage`` (taken if nothing was added since)."""
        new = np.arange(self.size, self.size + len(hashes), dtype=np.int64)
        if (
            staged is not None
            and staged.base is self._tables
            and staged.size == self.size
            and np.array_equal(staged.fresh, hashes)
        ):
            self._tables = staged.tables
        else:
            self._tables = _added(self._tables, hashes, new)
        self.size += len(hashes)
        return new

    def stage(self, hashes: np.ndarray) -> Staged:
        """The tables with the unknown ``hashes`` (from ``lookup``) added, built without the
        lock: copying millions of entries then no longer keeps searches waiting."""
        base, size = self._tables, self.size  # ``add`` checks both (one may be newer)
        fresh = np.unique(hashes)
        new = np.arange(size, size + len(fresh), dtype=np.int64)
        return Staged(base, size, fresh, _added(base, fresh, new))


@dataclass(frozen=True)
class Staged:
    """Vocabulary tables prepared by ``Vocabulary.stage`` from the tables ``base``."""

    base: Tables
    size: int
    fresh: np.ndarray
    tables: Tables


def _found(keys: np.ndarray, ids: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    out = np.full(len(hashes), -1, np.int64)
    if len(keys):
        pos = np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)
        hit = keys[pos] == hashes
        out[hit] = ids[pos[hit]]
    return out


def _added(tables: Tables, hashes: np.ndarray, new: np.ndarray) -> Tables:
    """``tables`` with the sorted new ``hashes`` (ids ``new``): in the small table while it
    stays small, else the small table and these merged into the large one."""
    keys, ids, small_keys, small_ids = tables
    small_keys, small_ids = _inserted(small_keys, small_ids, hashes, new)
    if len(small_keys) <= SMALL_TABLE_MAX:
        return keys, ids, small_keys, small_ids
    keys, ids = _inserted(keys, ids, small_keys, small_ids)
    return keys, ids, np.zeros(0, np.int64), np.zeros(0, np.int32)


def _inserted(
    keys: np.ndarray, ids: np.ndarray, hashes: np.ndarray, new: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    at = np.searchsorted(keys, hashes)
    return np.insert(keys, at, hashes), np.insert(ids, at, new.astype(np.int32))


@dataclass(frozen=True)
class Encoded:
    """Documents with global term ids: ready to become a segment or to join the buffer."""

    doc_ids: np.ndarray
    text_keys: np.ndarray
    ptr: np.ndarray
    terms: np.ndarray  # int32 global term ids
    tf: np.ndarray
    dl: np.ndarray
    n_terms: int  # vocabulary size when encoded

    def __len__(self) -> int:
        return len(self.doc_ids)

    def subset(self, keep: np.ndarray) -> Encoded:
        """Only the documents at the positions ``keep``."""
        lens = np.diff(self.ptr)[keep]
        starts = self.ptr[:-1][keep]
        idx = ranges(starts, lens)
        ptr = np.zeros(len(keep) + 1, np.int64)
        np.cumsum(lens, out=ptr[1:])
        return Encoded(
            self.doc_ids[keep], self.text_keys[keep], ptr, self.terms[idx], self.tf[idx],
            self.dl[keep], self.n_terms,
        )  # fmt: skip


def ranges(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Concatenated ``range(start, start + len)`` for each pair, as one index array."""
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(starts - (np.cumsum(lens) - lens), lens)
    return offsets + np.arange(total, dtype=np.int64)


def saturate(counts: np.ndarray) -> tuple[np.ndarray, Overflow]:
    """Counts as one byte each, and the side table of those that do not fit."""
    big = np.flatnonzero(counts >= SATURATED)
    return np.minimum(counts, SATURATED).astype(np.uint8), (big, counts[big].astype(np.uint16))


def exact_counts(
    stored: np.ndarray, overflow: Overflow, positions: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Float32 counts of entries read from a saturated array; ``positions`` gives the array
    positions of the entries at the given indices (asked only for saturated ones)."""
    counts = stored.astype(np.float32)
    if len(overflow[0]):
        hot = np.flatnonzero(stored == SATURATED)
        if len(hot):
            counts[hot] = overflow[1][np.searchsorted(overflow[0], positions(hot))]
    return counts


def postings(seg: Segment, terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, float32 counts) of every posting of ``terms`` in ``seg``, term after term."""
    starts = seg.ptr[terms]
    entry = ranges(starts, seg.ptr[terms + 1] - starts)
    return seg.rows[entry], exact_counts(seg.tf[entry], seg.big, lambda hot: entry[hot])


def row_type(n_rows: int) -> type[np.unsignedinteger[Any]] | type[np.signedinteger[Any]]:
    """The dtype of a segment's rows: two bytes while they fit (segments are cut to stay
    within ``ROWS_IN_TWO_BYTES`` rows), four beyond."""
    return np.uint16 if n_rows <= ROWS_IN_TWO_BYTES else np.int32


def offsets(counts: np.ndarray) -> np.ndarray:
    """``ptr`` of lists of these lengths: int32 while the total allows, int64 beyond."""
    total = int(counts.sum())
    ptr = np.zeros(len(counts) + 1, np.int32 if total < 2**31 else np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr


def lower_bound(
    values: np.ndarray, lo: np.ndarray, hi: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """Per element, the first position in ``values[lo:hi]`` (ascending) holding at least
    ``target`` (``hi`` when none): many binary searches at once."""
    lo, hi = lo.copy(), hi.copy()
    if len(lo) == 0 or len(values) == 0:
        return lo
    last = len(values) - 1
    for _ in range(int((hi - lo).max()).bit_length()):
        mid = (lo + hi) >> 1
        right = (lo < hi) & (values[np.minimum(mid, last)] < target)
        lo = np.where(right, mid + 1, lo)
        hi = np.where(right, hi, mid)
    return lo


class Segment:
    """Term-major postings of a set of documents; only the live flags ever change."""

    __slots__ = (
        "alive", "big", "dead", "dl_of", "doc_ids", "keys", "norm_cache", "order", "ptr",
        "rows", "sorted_ids", "tf", "top_big", "top_code", "top_ptr", "top_terms", "top_tf",
    )  # fmt: skip

    def __init__(
        self,
        ptr: np.ndarray,
        rows: np.ndarray,
        tf: np.ndarray,
        big: Overflow,
        doc_ids: np.ndarray,
        keys: np.ndarray,
        dl: np.ndarray,
        step_aside: Callable[[], None] | None = None,
    ) -> None:
        self.ptr = ptr  # int32 or int64 (terms known when built + 1)
        self.rows = rows  # row_type(rows): uint16 or int32, ascending within each term
        self.tf = tf  # uint8, SATURATED: see big
        self.big = big  # the exact counts of the saturated postings
        self.doc_ids = doc_ids  # int64 per row
        self.keys = keys  # int64 text key per row
        self.dl_of = np.ascontiguousarray(dl.T)  # float32 (2, rows): the lengths per signal
        self.order = np.argsort(doc_ids, kind="stable").astype(row_type(len(doc_ids)))
        self.sorted_ids = doc_ids[self.order]
        self.alive = np.ones(len(doc_ids), bool)
        self.dead = 0
        # (average lengths, BM25 length terms per signal) of the last search; see _lexical.
        self.norm_cache: tuple[tuple[float, float], tuple[np.ndarray, np.ndarray]] | None = None
        self._index_top_terms(step_aside)

    def _index_top_terms(self, step_aside: Callable[[], None] | None) -> None:
        """A document-major copy of the postings of the segment's most frequent terms: a search
        leaves those out of its first stage, and this gives its candidates their share without
        reading those long postings lists. About two fifths of the postings, at 3 bytes each."""
        lens = np.diff(self.ptr)
        k = min(TOP_TERMS, len(lens))
        top = np.argpartition(-lens, k - 1)[:k] if k else np.zeros(0, np.int64)
        top = np.sort(top[lens[top] >= TOP_MIN_POSTINGS])
        n = len(self.doc_ids)
        per_row = np.zeros(n, np.int64)
        for term in top.tolist():
            per_row[self.rows[self.ptr[term] : self.ptr[term + 1]]] += 1
        self.top_ptr = offsets(per_row)
        total = int(self.top_ptr[-1])
        self.top_code = np.empty(total, np.uint16)
        self.top_tf = np.empty(total, np.uint8)
        big_at: list[np.ndarray] = []
        big_tf: list[np.ndarray] = []
        # Term by term (a term's rows are distinct): no sort, and little extra memory.
        fill = self.top_ptr[:-1].copy()
        for code, term in enumerate(top.tolist()):
            lo, hi = self.ptr[term], self.ptr[term + 1]
            rows = self.rows[lo:hi]
            at = fill[rows]
            self.top_code[at] = code
            self.top_tf[at] = self.tf[lo:hi]
            fill[rows] += 1
            a, b = np.searchsorted(self.big[0], [lo, hi])
            if b > a:  # saturated counts: their side table follows them
                big_at.append(at[self.big[0][a:b] - lo])
                big_tf.append(self.big[1][a:b])
            if step_aside is not None and code % 16 == 15:
                step_aside()
        self.top_terms = top
        places = np.concatenate(big_at) if big_at else np.zeros(0, np.int64)
        order = np.argsort(places)
        counts = np.concatenate(big_tf) if big_tf else np.zeros(0, np.uint16)
        self.top_big = (places[order], counts[order])

    # The arrays a segment is made of, for ``arrays`` and ``restore`` (pairs: ``big``, ``top_big``).
    _STORED = (
        "alive", "dl_of", "doc_ids", "keys", "order", "ptr", "rows", "sorted_ids", "tf",
        "top_code", "top_ptr", "top_terms", "top_tf",
    )  # fmt: skip

    def arrays(self) -> dict[str, np.ndarray]:
        """Everything the segment holds, as named arrays (``restore`` makes it again)."""
        out = {name: getattr(self, name) for name in self._STORED}
        out["big_at"], out["big_tf"] = self.big
        out["top_big_at"], out["top_big_tf"] = self.top_big
        return out

    @classmethod
    def restore(cls, arrays: Mapping[str, np.ndarray]) -> Segment:
        """The segment ``arrays`` gave, without building anything again."""
        seg = cls.__new__(cls)
        for name in cls._STORED:
            setattr(seg, name, arrays[name])
        seg.big = (arrays["big_at"], arrays["big_tf"])
        seg.top_big = (arrays["top_big_at"], arrays["top_big_tf"])
        seg.dead = len(seg.alive) - int(np.count_nonzero(seg.alive))
        seg.norm_cache = None
        return seg

    def __len__(self) -> int:
        return len(self.doc_ids)

    @property
    def n_terms(self) -> int:
        return len(self.ptr) - 1

    def live_rows(self, doc_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(positions in ``doc_ids``, rows) of the documents live in this segment."""
        if len(self.doc_ids) == 0 or len(doc_ids) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pos = np.minimum(np.searchsorted(self.sorted_ids, doc_ids), len(self.sorted_ids) - 1)
        rows = self.order[pos]
        found = (self.sorted_ids[pos] == doc_ids) & self.alive[rows]
        return np.flatnonzero(found), rows[found]

    def terms_of_rows(self, rows: np.ndarray) -> np.ndarray:
        """Term ids of every posting of the given rows (one pass over the postings)."""
        mark = np.zeros(len(self.doc_ids), bool)
        mark[rows] = True
        entries = np.flatnonzero(mark[self.rows])
        return np.searchsorted(self.ptr, entries, side="right") - 1


def build_segment(docs: Encoded, step_aside: Callable[[], None] | None = None) -> Segment:
    """A segment holding ``docs`` (rows in their order)."""
    rows = np.repeat(np.arange(len(docs), dtype=row_type(len(docs))), np.diff(docs.ptr))
    order = np.argsort(docs.terms, kind="stable")  # stable: rows stay ascending per term
    ptr = offsets(np.bincount(docs.terms, minlength=docs.n_terms))
    tf, big = saturate(docs.tf[order])
    return Segment(ptr, rows[order], tf, big, docs.doc_ids, docs.text_keys, docs.dl, step_aside)


def merge_segments(
    parts: Sequence[tuple[Segment, np.ndarray]],
    n_terms: int,
    step_aside: Callable[[], None] | None = None,
) -> tuple[Segment, list[np.ndarray]]:
    """One segment of the rows live in ``alive`` of each part, in order; old row -> new row."""
    remaps: list[np.ndarray] = []
    offset = 0
    for seg, alive in parts:
        remap = np.full(len(seg), -1, np.int32)
        keep = np.flatnonzero(alive)
        remap[keep] = offset + np.arange(len(keep), dtype=np.int32)
        offset += len(keep)
        remaps.append(remap)
    total = np.zeros(n_terms, np.int64)  # live postings per term, all parts together
    for seg, alive in parts:
        total[: seg.n_terms] += np.diff(seg.ptr)
        dead = np.flatnonzero(~alive)
        if len(dead):
            total -= np.bincount(seg.terms_of_rows(dead), minlength=n_terms)[:n_terms]
    ptr = offsets(total)
    del total
    rows = np.empty(int(ptr[-1]), row_type(offset))
    tf = np.empty(int(ptr[-1]), np.uint8)
    big_at: list[np.ndarray] = []
    big_tf: list[np.ndarray] = []
    bounds = np.unique(np.searchsorted(ptr, np.arange(0, ptr[-1], BLOCK_POSTINGS), "right") - 1)
    bounds = np.append(bounds[bounds < n_terms], n_terms)
    for t0, t1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        before = np.zeros(t1 - t0, np.int64)  # postings of earlier parts, per term
        for (seg, alive), remap in zip(parts, remaps, strict=True):
            a, b = min(t0, seg.n_terms), min(t1, seg.n_terms)
            lo, hi = seg.ptr[a], seg.ptr[b]
            if step_aside is not None:
                step_aside()
            if hi > lo:
                kept = alive[seg.rows[lo:hi]]
                term = np.repeat(np.arange(a, b, dtype=np.int32), np.diff(seg.ptr[a : b + 1]))[kept]
                excl = np.cumsum(kept, dtype=np.int32) - kept
                excl = np.append(excl, excl[-1] + kept[-1])
                rank = excl[:-1][kept] - excl[seg.ptr[term] - lo]
                dest = ptr[term] + before[term - t0] + rank
                rows[dest] = remap[seg.rows[lo:hi][kept]]
                tf[dest] = seg.tf[lo:hi][kept]
                before += np.bincount(term - t0, minlength=t1 - t0)
                first, last = np.searchsorted(seg.big[0], [lo, hi])
                if last > first:  # saturated counts: their side table follows them
                    at = seg.big[0][first:last] - lo
                    moved = kept[at]
                    big_at.append(dest[excl[at[moved]]])
                    big_tf.append(seg.big[1][first:last][moved])
    ids = np.concatenate([seg.doc_ids[alive] for seg, alive in parts])
    keys = np.concatenate([seg.keys[alive] for seg, alive in parts])
    dl = np.concatenate([seg.dl_of[:, alive].T for seg, alive in parts])
    places = np.concatenate(big_at) if big_at else np.zeros(0, np.int64)
    order = np.argsort(places)
    counts = np.concatenate(big_tf) if big_tf else np.zeros(0, np.uint16)
    big = (places[order], counts[order])
    return Segment(ptr, rows, tf, big, ids, keys, dl, step_aside), remaps


@dataclass
class Plan:
    """A maintenance step: these segments and the first ``buffered`` buffer documents become
    one segment."""

    segments: list[Segment]
    alive: list[np.ndarray]  # live flags of each segment when planned
    buffered: Encoded | None
    buffered_alive: np.ndarray
    n_terms: int
    removed: list[tuple[object, int]] = field(default_factory=list)  # (segment or None, row)


def build_plan(
    plan: Plan, step_aside: Callable[[], None] | None = None
) -> tuple[Segment, list[np.ndarray]]:
    """The slow part of maintenance; reads only immutable arrays (run it without the lock).
    ``step_aside`` runs now and then (a background caller lets requests go first)."""
    parts = list(zip(plan.segments, plan.alive, strict=True))
    if plan.buffered is not None and len(plan.buffered):
        parts.append((build_segment(plan.buffered, step_aside), plan.buffered_alive))
    return merge_segments(parts, plan.n_terms, step_aside)


def concat(docs: Sequence[Encoded], n_terms: int) -> Encoded:
    """Many single- or multi-document batches as one."""
    lens = np.concatenate([np.diff(d.ptr) for d in docs])
    ptr = np.zeros(len(lens) + 1, np.int64)
    np.cumsum(lens, out=ptr[1:])
    return Encoded(
        np.concatenate([d.doc_ids for d in docs]),
        np.concatenate([d.text_keys for d in docs]),
        ptr,
        np.concatenate([d.terms for d in docs]),
        np.concatenate([d.tf for d in docs]),
        np.concatenate([d.dl for d in docs]),
        n_terms,
    )
