"""The lexical engine ranks and scores exactly as BM25 written out plainly does, whatever its
storage looks like (segments, buffer, merges, removals) and however a search is sped up."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from bot.similarity import SimilarityIndex, _lexical, _segments
from bot.similarity._lexical import CHAR_WEIGHT, K1, WORD_WEIGHT, B, LexicalIndex
from bot.similarity._text import analyse

Doc = tuple[int, str, str]


def bm25(q: Counter[int], c: Counter[int], idf: dict[int, float], avgdl: float) -> float:
    norm = K1 * (1 - B + B * sum(c.values()) / avgdl)
    return sum(idf[t] * qtf * c[t] * (K1 + 1) / (c[t] + norm) for t, qtf in q.items())


def reference(docs: dict[int, Doc], title: str, description: str) -> dict[int, float]:
    """Every stored document's score for the query, by the formula of the module docstring
    of ``_lexical``, in plain Python floats."""
    terms = {doc_id: analyse(t, d) for doc_id, (_, t, d) in docs.items()}
    query = analyse(title, description)
    n = len(docs)
    scores = dict.fromkeys(docs, 0.0)
    for kind, weight in ((0, WORD_WEIGHT), (1, CHAR_WEIGHT)):
        counts = {doc_id: both[kind] for doc_id, both in terms.items()}
        avgdl = max(sum(sum(c.values()) for c in counts.values()) / n, 1e-9)
        df = Counter(term for c in counts.values() for term in c)
        q = query[kind]
        if not q:
            continue
        idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in q}
        self_score = bm25(q, q, idf, avgdl)
        for doc_id, c in counts.items():
            scores[doc_id] += weight * bm25(q, c, idf, avgdl) / max(self_score, 1e-12)
    return scores


def best(scores: dict[int, float], limit: int, exclude: set[int]) -> list[tuple[int, float]]:
    kept = [(d, s) for d, s in scores.items() if s > 0 and d not in exclude]
    return sorted(kept, key=lambda hit: (-hit[1], hit[0]))[:limit]


def assert_same_ranking(
    hits: list[tuple[int, float]], scores: dict[int, float], limit: int, exclude: set[int]
) -> None:
    """Same best documents in the same order as the reference (documents whose scores tie
    within float32 rounding may swap), each with its reference score."""
    expected = best(scores, limit, exclude)
    assert len(hits) == len(expected)
    for (doc_id, score), (_, want) in zip(hits, expected, strict=True):
        assert doc_id not in exclude
        assert score == pytest.approx(scores[doc_id], rel=1e-5, abs=1e-9)
        assert scores[doc_id] == pytest.approx(want, rel=1e-5, abs=1e-9)


def corpus(n: int, seed: int, start: int = 0) -> list[Doc]:
    """Proposals over a small vocabulary with a few frequent words (like real text), some
    misspelt, some texts repeated."""
    rnd = random.Random(seed)
    stems = ["disk", "backup", "alert", "rota", "wiki", "login", "laptop", "mail", "deploy"]
    ends = ["", "s", "ing", "ed", "er", "ation"]
    vocab = [s + e for s in stems for e in ends] + [f"srv{i}" for i in range(40)]
    weights = [1 / (r + 1) for r in range(len(vocab))]

    def words(k: int) -> str:
        picked = rnd.choices(vocab, weights, k=k)
        return " ".join(w[:-1] if rnd.random() < 0.05 else w for w in picked)

    docs = [(start + i, words(rnd.randint(2, 7)), words(rnd.randint(0, 30))) for i in range(n)]
    for i in range(0, n, 17):  # exact repeats: ties broken by id
        docs[i] = (docs[i][0], docs[0][1], docs[0][2])
    return docs


def queries(docs: list[Doc], seed: int) -> list[tuple[str, str]]:
    rnd = random.Random(seed)
    picked = [(t, d) for _, t, d in rnd.sample(docs, 12)]
    others = [("deploying laptops", ""), ("srv3 srv7 wiki logins", "a mail alert"), ("", "x")]
    return [*picked, *others]


def check(index: LexicalIndex, stored: dict[int, Doc], seed: int, limit: int = 10) -> None:
    rnd = random.Random(seed)
    for title, description in queries(list(stored.values()), seed):
        scores = reference(stored, title, description)
        exclude = set(rnd.sample(sorted(stored), 3))
        for excluded in (set(), exclude):
            hits = index.search(title, description, limit, excluded)
            assert_same_ranking(hits, scores, limit, excluded)


def test_bulk_built_index_ranks_like_plain_bm25() -> None:
    docs = corpus(400, seed=1)
    index = LexicalIndex()
    index.add_many(docs)
    check(index, {d[0]: d for d in docs}, seed=2)


def test_segments_buffer_merges_and_removals_rank_like_plain_bm25() -> None:
    docs = corpus(300, seed=3)
    stored = {d[0]: d for d in docs}
    # A tiny buffer: many segments of several size classes, merges, and a buffer left over.
    index = LexicalIndex(min_buffer=8)
    for doc in docs:
        index.add(*doc)
    check(index, stored, seed=4)
    rnd = random.Random(5)
    for doc_id in rnd.sample(sorted(stored), 60):  # removals leave dead rows behind
        index.remove(doc_id)
        del stored[doc_id]
    for doc in corpus(40, seed=6, start=1000):  # new documents, replacements of old ones
        index.add(*doc)
        stored[doc[0]] = doc
    for doc_id in rnd.sample(sorted(stored), 30):
        replaced = (doc_id, f"replaced {doc_id} disk alert", "srv1 srv2 rota")
        index.add(*replaced)
        stored[doc_id] = replaced
    check(index, stored, seed=7)
    index.compact()
    check(index, stored, seed=8)


def test_removal_during_a_merge_is_kept() -> None:
    docs = corpus(120, seed=9)
    stored = {d[0]: d for d in docs}
    index = LexicalIndex(min_buffer=8)
    for doc in docs:
        index.insert(index.encode(_segments.analyse_docs([doc])))
    plan = index.plan_maintenance(everything=True)
    assert plan is not None
    built = _segments.build_plan(plan)
    for doc_id in (3, 50, 119):  # removed while the merged segment was being built
        index.remove_many(_lexical.np.array([doc_id]))
        del stored[doc_id]
    index.finish_maintenance(plan, *built)
    check(index, stored, seed=10)


def test_background_index_ranks_like_plain_bm25_after_idle_merges() -> None:
    docs = corpus(1200, seed=11)
    stored = {d[0]: d for d in docs}
    index = SimilarityIndex(background=True)
    for start in range(0, len(docs), 150):  # batches: segments of their own, and the buffer
        index.add_many(docs[start : start + 150])
        index.add_many(docs[start + 150 : start + 160])
        index.maintain()
    while index.maintain(idle=True):
        pass
    index.remove_many(range(0, 1200, 7))
    for doc_id in range(0, 1200, 7):
        del stored[doc_id]
    for title, description in queries(list(stored.values()), 12):
        scores = reference(stored, title, description)
        hits = [(m.doc_id, m.score) for m in index.search(title, description, limit=10)]
        assert_same_ranking(hits, scores, 10, set())


def test_frequent_terms_left_out_of_the_first_stage_still_count_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A register large enough that a search reads only its query's rarer terms first: the
    frequent ones (from the document-major copy, or looked up in their postings) still give
    every match its exact score."""
    monkeypatch.setattr(_lexical, "STAGE1_POSTINGS", 400)
    monkeypatch.setattr(_lexical, "STAGE1_MIN_POSTINGS", 400)
    monkeypatch.setattr(_segments, "TOP_TERMS", 12)  # others are looked up in the postings
    monkeypatch.setattr(_segments, "TOP_MIN_POSTINGS", 8)
    docs = corpus(500, seed=13)
    stored = {d[0]: d for d in docs}
    index = LexicalIndex(min_buffer=64)
    for start in range(0, len(docs), 100):
        index.add_many(docs[start : start + 100])
    assert len(index._segments) > 1
    for title, description in queries(docs, 14):
        scores = reference(stored, title, description)
        hits = index.search(title, description, 10, set())
        assert bool(hits) == any(scores.values())
        for doc_id, score in hits:
            assert score == pytest.approx(scores[doc_id], rel=1e-5, abs=1e-9)
        # The best match is found even though the first stage saw only part of the query.
        if hits:
            assert hits[0][1] == pytest.approx(best(scores, 1, set())[0][1], rel=1e-5)


@pytest.mark.parametrize("first_stage", ["whole", "rare terms only"])
def test_counts_beyond_one_byte_score_exactly(
    monkeypatch: pytest.MonkeyPatch, first_stage: str
) -> None:
    """Segments keep counts in one byte; a word repeated hundreds of times in one proposal
    (pasted logs) still counts in full, through merges and from every place a search reads."""
    if first_stage != "whole":
        monkeypatch.setattr(_lexical, "STAGE1_POSTINGS", 300)
        monkeypatch.setattr(_lexical, "STAGE1_MIN_POSTINGS", 300)
        monkeypatch.setattr(_segments, "TOP_TERMS", 6)
        monkeypatch.setattr(_segments, "TOP_MIN_POSTINGS", 8)
    docs = corpus(240, seed=15)
    docs[5] = (5, "disk disk", "disk " * 300 + "srv1 " * 256)
    docs[77] = (77, "Backup", "backup failed " * 700)
    docs[150] = (150, "rota", "disk " * 254)  # just below: stored as is
    stored = {d[0]: d for d in docs}
    index = LexicalIndex(min_buffer=16)
    for start in range(0, len(docs), 20):  # segments of 20, merged as they come
        index.add_many(docs[start : start + 20])
    index.remove(9)
    del stored[9]
    index.compact()
    for title, description in [("disk", ""), ("backup failed", "srv1"), *queries(docs, 16)]:
        scores = reference(stored, title, description)
        hits = index.search(title, description, 10, set())
        if first_stage == "whole":
            assert_same_ranking(hits, scores, 10, set())
        for doc_id, score in hits:
            assert score == pytest.approx(scores[doc_id], rel=1e-5, abs=1e-9)
    assert index.search("backup failed", "", 1, set())[0][0] == 77
