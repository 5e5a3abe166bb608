"""The similar-proposal index is kept current off the request path: a question never waits for
a refresh or a merge, this replica's own writes are found at once, other replicas' writes a
moment later, and the semantic method's embeddings survive a restart."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from bot import proposals
from bot import similarity_refresher as refresher_module
from bot.drafts import ProposalDraft
from bot.similar_proposals import SimilarProposals
from bot.similarity import SimilarityIndex
from bot.similarity._lexical import LexicalIndex, build_plan
from bot.similarity._semantic import DIM, SemanticReranker
from bot.similarity_refresher import SimilarityRefresher
from storage.db import session_scope

TEXTS = [
    ("Automate TLS certificate renewal", "certificates expire unnoticed"),
    ("Monitor disk space on file servers", "shares fill up at month end"),
    ("Self-service password reset", "the service desk resets passwords by hand"),
    ("Archive old mailboxes", "mail storage grows without limit"),
    ("Patch servers monthly", "patches are applied at random"),
]


@pytest.fixture
def objective_id(engine: Engine) -> int:
    with session_scope(engine) as session:
        return proposals.add_objective(session=session, title="Stable services").id or 0


def _capture(
    engine: Engine, title: str, objective_id: int, index: SimilarProposals | None = None
) -> int:
    with session_scope(engine) as session:
        if index is not None:
            index.track(session)  # as the bot's own unit of work does
        proposal, _ = proposals.capture(
            session=session,
            submitter="U1",
            draft=ProposalDraft(title=title, objective_id=objective_id),
        )
        return proposal.id or 0


def _found(index: SimilarProposals, engine: Engine, title: str) -> list[int]:
    with session_scope(engine) as session:
        return [m.proposal.id or 0 for m in index.similar(session=session, title=title)]


def _wait_for(check: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_own_writes_are_found_at_once_and_rolled_back_ones_never(
    engine: Engine, objective_id: int
) -> None:
    index = SimilarProposals()
    with session_scope(engine) as session:
        index.refresh(session=session)
    mine = _capture(engine, "Automate TLS certificate renewal", objective_id, index)
    # No refresh in between: the commit itself put it in the index.
    assert _found(index, engine, "automatic TLS certificate renewal") == [mine]
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        index.track(session)
        proposals.capture(
            session=session,
            submitter="U1",
            draft=ProposalDraft(title="Monitor disk space", objective_id=objective_id),
        )
        raise RuntimeError("the unit of work fails after the insert")
    assert "Monitor disk space" not in [
        m.proposal.title for m in index.similar(session=session, title="disk space monitoring")
    ]


def test_a_question_never_waits_for_a_refresh(engine: Engine, objective_id: int) -> None:
    index = SimilarProposals()
    first = _capture(engine, "Automate TLS certificate renewal", objective_id)
    with session_scope(engine) as session:
        index.refresh(session=session)
    _capture(engine, "Monitor disk space on file servers", objective_id)
    in_refresh, release = threading.Event(), threading.Event()

    def stalled_refresh() -> None:
        with session_scope(engine) as session:
            index.refresh(session=session, pause=lambda: (in_refresh.set(), release.wait(10)))

    refresher = threading.Thread(target=stalled_refresh)
    refresher.start()
    try:
        assert in_refresh.wait(10)
        started = time.perf_counter()
        assert _found(index, engine, "TLS certificate renewal automation") == [first]
        assert time.perf_counter() - started < 1.0  # the stalled refresh holds nothing it needs
    finally:
        release.set()
        refresher.join()


def test_the_refresher_follows_other_replicas(
    engine: Engine, objective_id: int, database_url: str
) -> None:
    existing = [_capture(engine, title, objective_id) for title, _ in TEXTS]
    index = SimilarProposals()
    refresher = SimilarityRefresher(index, database_url, interval=0.05).start()
    try:
        assert index.wait_ready(10)
        assert _found(index, engine, "password reset self-service") == [existing[2]]
        # Written by another replica: no commit hook here, the refresher reads it.
        other = _capture(engine, "Encrypt laptop disks", objective_id)
        assert _wait_for(lambda: _found(index, engine, "laptop disk encryption") == [other])
    finally:
        refresher.stop()


def test_searches_go_on_while_a_merge_is_built() -> None:
    docs = [(i, f"{TEXTS[i % 5][0]} {i}", TEXTS[i % 5][1]) for i in range(600)]
    index = LexicalIndex(min_buffer=16)
    for doc in docs[:400]:
        index.insert(index.encode(_analysed([doc])))
    plan = index.plan_maintenance()
    assert plan is not None
    # Meanwhile (the merge is being built without the lock): removals, replacements, additions.
    for doc_id in range(0, 400, 7):
        index.remove_many(np.array([doc_id]))
    for doc in docs[400:]:
        index.insert(index.encode(_analysed([doc])))
    index.insert(index.encode(_analysed([(3, "Brand new text about printers", "")])))
    before = index.search("printers brand new", "", 5, set())
    index.finish_maintenance(plan, *build_plan(plan))
    index.maintain()
    fresh = LexicalIndex()
    kept = [d for d in docs if d[0] % 7 or d[0] >= 400]
    fresh.add_many([(3, "Brand new text about printers", ""), *[d for d in kept if d[0] != 3]])
    assert len(index) == len(fresh)
    after = index.search("printers brand new", "", 5, set())
    assert [d for d, _ in after] == [d for d, _ in before]
    assert after[0][0] == 3
    assert [s for _, s in after] == pytest.approx([s for _, s in before])
    for _, title, description in docs[::37]:
        got = index.search(title, description, 5, set())
        want = fresh.search(title, description, 5, set())
        assert [d for d, _ in got] == [d for d, _ in want]
        assert [s for _, s in got] == pytest.approx([s for _, s in want])


def _analysed(docs: list[tuple[int, str, str]]):  # type: ignore[no-untyped-def]
    from bot.similarity._lexical import analyse_docs

    return analyse_docs(docs)


class CountingEmbedder:
    """Stands in for the sentence-embedding model: a fixed vector per text, and a count."""

    def __init__(self) -> None:
        self.embedded: list[str] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        rng = [np.random.default_rng(abs(hash(t)) % 2**32) for t in texts]
        return np.array([r.normal(size=DIM) for r in rng], np.float32)


def test_semantic_embeddings_survive_a_restart(tmp_path: Path) -> None:
    stored = tmp_path / "csi.db.embeddings.npz"
    docs = [(i + 1, title, description) for i, (title, description) in enumerate(TEXTS)]
    first_run = CountingEmbedder()
    index = SimilarityIndex("semantic", reranker=SemanticReranker(embedder=first_run))
    assert index.semantic is not None
    index.semantic.persist_to(stored)
    index.add_many(docs)
    assert len(first_run.embedded) == len(docs)
    assert index.save()
    assert not index.save()  # nothing changed since

    restarted = CountingEmbedder()
    again = SimilarityIndex("semantic", reranker=SemanticReranker(embedder=restarted))
    assert again.semantic is not None
    assert again.semantic.persist_to(stored) == len(docs)
    edited = (2, "Monitor free disk space on every server", "")
    again.add_many([*docs[:1], edited, *docs[2:]])
    # Only the proposal whose text changed while the bot was down is embedded again.
    assert restarted.embedded == ["Monitor free disk space on every server"]
    query = "Automate TLS certificate renewal", "certificates expire unnoticed"
    assert again.search(*query)[0].doc_id == index.search(*query)[0].doc_id == 1


def test_a_word_indexed_while_a_batch_was_prepared_keeps_its_own_match() -> None:
    # The background batch prepares its vocabulary off the lock; a proposal written meanwhile
    # (indexed at once by its request) must not have its words renumbered under it.
    index = SimilarityIndex(background=True)
    vocabulary = index._lexical.vocabulary
    real_stage = vocabulary.stage

    def stage_then_write(hashes: np.ndarray):  # type: ignore[no-untyped-def]
        staged = real_stage(hashes)
        vocabulary.stage = real_stage  # type: ignore[method-assign]
        index.add(999, "Quarantine phishing attachments", "zanzibar xylophone")
        return staged

    vocabulary.stage = stage_then_write  # type: ignore[method-assign]
    index.add_many([(i, title, body) for i, (title, body) in enumerate(TEXTS)])
    assert index.search("Quarantine phishing attachments", "zanzibar xylophone")[0].doc_id == 999
    assert index.search(*TEXTS[2])[0].doc_id == 2
    assert index.search("zanzibar xylophone")[0].doc_id == 999


def test_freed_memory_is_handed_back_now_and_then_even_with_nothing_to_index(
    engine: Engine, objective_id: int, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the requests' work frees (search arrays, request bodies) is given back to the
    # system on a schedule, not only after the index merged something.
    _capture(engine, TEXTS[0][0], objective_id)
    trims: list[float] = []
    monkeypatch.setattr(refresher_module, "TRIM_EVERY_S", 0.2)
    monkeypatch.setattr(
        refresher_module, "release_free_memory", lambda: trims.append(time.monotonic())
    )
    index = SimilarProposals()
    refresher = SimilarityRefresher(index, database_url, interval=0.05).start()
    try:
        assert index.wait_ready(10)
        settled = len(trims)
        time.sleep(1.2)
    finally:
        refresher.stop()
    assert 3 <= len(trims) - settled <= 8
