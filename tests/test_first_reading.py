"""A large register's first reading into the similar-proposal index is done by a process of its
own, a part of the index at a time, into the file the index is kept in: the bot takes that file
as at a restart, reading again what changed meanwhile, its own writes included; when the
process cannot do it, the bot reads the register itself. On SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from bot import first_reading, kept_index, proposals
from bot.drafts import ProposalDraft
from bot.similar_proposals import SimilarProposals
from bot.similarity._lexical import LexicalIndex
from bot.similarity._text import analyse
from bot.similarity_refresher import SimilarityRefresher
from storage.db import session_scope

SUBJECTS = ["printer", "laptop", "vpn", "mailbox", "backup", "firewall", "badge", "wiki"]
TROUBLES = ["jams", "overheats", "drops", "fills", "fails", "blocks", "expires", "times out"]


def _title(n: int) -> str:
    return f"{SUBJECTS[n % 8]} {TROUBLES[(n // 8) % 8]} in building {n // 64} floor {n % 7}"


def _fill(engine: Engine, count: int) -> tuple[int, list[int]]:
    """An objective and `count` proposals with varied titles; their ids."""
    with session_scope(engine) as session:
        objective = proposals.add_objective(session=session, title="Stable services").id or 0
        ids = []
        for n in range(count):
            proposal, _ = proposals.capture(
                session=session,
                submitter="U1",
                draft=ProposalDraft(title=_title(n), objective_id=objective),
            )
            ids.append(proposal.id or 0)
    return objective, ids


def _capture(engine: Engine, title: str, objective: int, similar: SimilarProposals) -> int:
    with session_scope(engine) as session:
        similar.track(session)  # as the bot's own unit of work does
        proposal, _ = proposals.capture(
            session=session,
            submitter="U2",
            draft=ProposalDraft(title=title, objective_id=objective),
        )
        return proposal.id or 0


def _read(
    similar: SimilarProposals,
    engine: Engine,
    database_url: str,
    stop: threading.Event | None = None,
    into: Path | None = None,
) -> first_reading.ReadElsewhere | None:
    return first_reading.read_in_own_process(
        similar,
        engine,
        stop or threading.Event(),
        into=into,
        database=kept_index.database_identity(database_url),
    )


def _found(similar: SimilarProposals, engine: Engine, title: str) -> list[int]:
    with session_scope(engine) as session:
        return [m.proposal.id or 0 for m in similar.similar(session=session, title=title)]


@pytest.fixture
def anything_is_large(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any register counts as large enough for a process of its own."""
    monkeypatch.setattr(first_reading, "OWN_PROCESS_FROM", 0)


def test_term_hashes_are_the_same_in_another_process() -> None:
    # Python's own string hash differs from process to process: an index read by a child with
    # it would find none of its terms in the bot.
    code = (
        "from bot.similarity._text import analyse; w, c = analyse('Printer jams', 'on floor 3');"
        "print(sorted(w.items()), sorted(c.items()))"
    )
    theirs = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    words, chars = analyse("Printer jams", "on floor 3")
    assert theirs == f"{sorted(words.items())} {sorted(chars.items())}"


def test_an_index_made_again_from_its_arrays_answers_the_same() -> None:
    index = LexicalIndex()
    docs = [
        (n, f"{SUBJECTS[n % 8]} {TROUBLES[n % 7]} {n}", f"floor {n % 5} {SUBJECTS[n % 3]}")
        for n in range(1, 1500)
    ]
    index.add_many(docs)
    for n in range(2000, 2010):  # a few in the buffer, one of them removed
        index.add(n, "vpn drops every hour", "the vpn drops at ten past")
    index.remove_many(np.array([3, 4, 2005]))
    again = LexicalIndex.restore(index.arrays())
    assert len(again) == len(index) and 2005 not in again and 3 not in again
    for query in ("vpn drops", "printer jams floor 2", "badge expires", "nothing alike"):
        assert again.search(query, "", 5, set()) == index.search(query, "", 5, set())
    # It goes on like any index: additions, removals, merges.
    again.add(5000, "vpn drops every hour", "")
    again.remove_many(np.array([2000]))
    again.maintain()
    hits = [doc for doc, _ in again.search("vpn drops every hour", "", 20, set())]
    assert 5000 in hits and 2000 not in hits


def test_an_index_written_a_part_at_a_time_answers_as_one_built_whole() -> None:
    docs = [
        (n, f"{SUBJECTS[n % 8]} {TROUBLES[n % 7]} {n}", f"floor {n % 5} {SUBJECTS[n % 3]}")
        for n in range(1, 2600)
    ]
    whole = LexicalIndex()
    whole.add_many(docs)
    written: dict[str, np.ndarray] = {}
    # Parts of 1,000 documents in batches of 300: three segments, each merged from pieces.
    batches = [docs[i : i + 300] for i in range(0, len(docs), 300)]
    parts = [batches[0:4], batches[4:8], batches[8:]]
    assert LexicalIndex.write_in_parts(parts, written.__setitem__) == len(docs)
    assert written["n"].tolist()[:2] == [len(docs), 3]
    again = LexicalIndex.restore(written)
    for query in ("vpn drops", "printer jams floor 2", "badge expires 17", "nothing alike"):
        assert again.search(query, "", 8, set()) == whole.search(query, "", 8, set())
    again.remove_many(np.array([5]))  # it goes on like any index
    again.add(9000, "wiki search returns stale pages", "")
    hits = [doc for doc, _ in again.search("wiki search returns stale pages", "", 5, set())]
    assert hits[:1] == [9000] and 5 not in again


def test_the_reading_process_imports_neither_sqlalchemy_nor_the_bot() -> None:
    # Its memory is held next to the bot's while it reads: only numpy, a driver and the index.
    code = (
        "import sys, bot.reading_process;"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'sqlmodel', "
        "'pydantic', 'slack_bolt', 'slack_sdk', 'storage'}))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_the_register_read_by_its_own_process_is_taken_and_caught_up(
    database_url: str, engine: Engine, anything_is_large: None
) -> None:
    objective, ids = _fill(engine, 300)
    similar = SimilarProposals()
    # Written by the bot itself before the reading is taken: found until then, and after.
    early = _capture(engine, "Badge readers reject new hires", objective, similar)
    assert _found(similar, engine, "badge readers reject new hires")[:1] == [early]
    with session_scope(engine) as session:  # merged away: in the register, not offered
        proposals.merge(session=session, duplicate_id=ids[7], into_id=ids[8], actor="U1")

    read = _read(similar, engine, database_url)

    assert read is not None and read.proposals == 301 and read.taken.changed == 0
    assert similar.ready and len(similar.index) == 300
    assert ids[7] not in similar.index
    # Changed after the child's reading: a new one, and an old one retitled.
    late = _capture(engine, "Wiki search returns stale pages", objective, similar)
    with session_scope(engine) as session:
        proposals.update_details(
            session=session,
            proposal_id=ids[5],
            actor="U1",
            draft=ProposalDraft(title="Coffee machine descales daily", objective_id=objective),
        )
    with session_scope(engine) as session:
        caught_up = similar.refresh(session=session)
    # Only the retitled one is read again: the new one was indexed as the bot wrote it, and the
    # versions in the child's file were compared as the bot took it (all 301 were written
    # within the look-back window, so without them every one would be read again).
    assert caught_up == 1
    assert _found(similar, engine, "badge readers reject new hires")[:1] == [early]
    assert _found(similar, engine, "wiki search returns stale pages")[:1] == [late]
    assert _found(similar, engine, "coffee machine descales daily")[:1] == [ids[5]]
    assert _found(similar, engine, _title(130))[:1] == [ids[130]]
    assert len(similar.index) == 301


def test_the_file_the_process_writes_is_the_kept_index_a_restart_takes(
    database_url: str, engine: Engine, anything_is_large: None, tmp_path: Path
) -> None:
    objective, ids = _fill(engine, 200)
    kept = tmp_path / "kept" / "index.npz"
    read = _read(SimilarProposals(), engine, database_url, into=kept)
    assert read is not None and read.taken.proposals == 200
    assert [p.name for p in kept.parent.iterdir()] == ["index.npz"]  # no temporary file left
    # Changed while the bot was stopped: read again at the restart, the rest taken as it was.
    with session_scope(engine) as session:
        proposals.update_details(
            session=session,
            proposal_id=ids[9],
            actor="U1",
            draft=ProposalDraft(
                title="Mailbox quota raised for shared desks", objective_id=objective
            ),
        )
    restarted = SimilarProposals()
    taken = kept_index.take(restarted, engine, kept, kept_index.database_identity(database_url))
    assert taken is not None and taken.proposals == 200 and taken.changed == 1
    assert _found(restarted, engine, "mailbox quota raised for shared desks")[:1] == [ids[9]]
    assert _found(restarted, engine, _title(150))[:1] == [ids[150]]


def test_the_refresher_has_a_large_register_read_elsewhere_and_keeps_it_current(
    database_url: str,
    engine: Engine,
    anything_is_large: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    objective, ids = _fill(engine, 120)
    similar = SimilarProposals()
    caplog.set_level(logging.INFO, logger="bot.similarity_refresher")
    refresher = SimilarityRefresher(similar, database_url).start()
    try:
        assert similar.wait_ready(60)
        deadline = time.monotonic() + 10  # logged right after the index becomes complete
        while "read by a process of its own" not in caplog.text:
            assert time.monotonic() < deadline, "the bot read the register itself"
            time.sleep(0.05)
        assert "120 proposals" in caplog.text
        assert _found(similar, engine, _title(77))[:1] == [ids[77]]
        # Written elsewhere (no tracking): the refresher finds it a moment later, as always.
        with session_scope(engine) as session:
            other, _ = proposals.capture(
                session=session,
                submitter="U3",
                draft=ProposalDraft(title="Firewall rules reviewed yearly", objective_id=objective),
            )
        deadline = time.monotonic() + 10
        while _found(similar, engine, "firewall rules reviewed yearly")[:1] != [other.id]:
            assert time.monotonic() < deadline, "a later write never reached the index"
            time.sleep(0.1)
    finally:
        refresher.stop()


def test_a_small_register_is_read_by_the_bot_itself(database_url: str, engine: Engine) -> None:
    _fill(engine, 20)
    similar = SimilarProposals()
    assert _read(similar, engine, database_url) is None
    assert len(similar.index) == 0  # nothing was taken: the caller reads the register


def test_when_the_process_fails_the_bot_reads_the_register_itself(
    database_url: str, engine: Engine, anything_is_large: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, ids = _fill(engine, 50)
    monkeypatch.setattr(first_reading, "CHILD", (sys.executable, "-c", "raise SystemExit(1)"))
    similar = SimilarProposals()
    refresher = SimilarityRefresher(similar, database_url).start()
    try:
        assert similar.wait_ready(30)
    finally:
        refresher.stop()
    assert len(similar.index) == 50
    assert _found(similar, engine, _title(33))[:1] == [ids[33]]


def test_a_stopping_bot_does_not_wait_for_the_process(
    database_url: str, engine: Engine, anything_is_large: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fill(engine, 5)
    monkeypatch.setattr(
        first_reading, "CHILD", (sys.executable, "-c", "import time; time.sleep(60)")
    )
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()
    assert _read(SimilarProposals(), engine, database_url, stop) is None
    assert time.monotonic() - started < first_reading.STOP_WAIT_S
