"""The similar-proposal index is kept in a file between runs: a restarted bot takes it instead
of reading the register, then reads again only what changed meanwhile, so that it answers as a
reading would, whatever happened to the database. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from bot import kept_index, proposals
from bot.drafts import ProposalDraft
from bot.kept_format import ArraysFile
from bot.similar_proposals import SimilarProposals
from bot.similarity_refresher import SimilarityRefresher
from storage.db import make_engine, session_scope, upgrade

SUBJECTS = ["printer", "laptop", "vpn", "mailbox", "backup", "firewall", "badge", "wiki"]
TROUBLES = ["jams", "overheats", "drops", "fills", "fails", "blocks", "expires", "times out"]


def _title(n: int) -> str:
    return f"{SUBJECTS[n % 8]} {TROUBLES[(n // 8) % 8]} in building {n // 64} floor {n % 7}"


def _fill(
    engine: Engine, count: int, title: Callable[[int], str] = _title
) -> tuple[int, list[int]]:
    """An objective and `count` proposals with varied titles; their ids."""
    with session_scope(engine) as session:
        objective = proposals.add_objective(session=session, title="Stable services").id or 0
        ids = []
        for n in range(count):
            proposal, _ = proposals.capture(
                session=session,
                submitter="U1",
                draft=ProposalDraft(title=title(n), objective_id=objective),
            )
            ids.append(proposal.id or 0)
    return objective, ids


def _read(engine: Engine) -> SimilarProposals:
    similar = SimilarProposals()
    with session_scope(engine) as session:
        similar.refresh(session=session)
    return similar


def _found(similar: SimilarProposals, engine: Engine, title: str) -> list[int]:
    with session_scope(engine) as session:
        return [m.proposal.id or 0 for m in similar.similar(session=session, title=title)]


def _retitle(engine: Engine, proposal_id: int, objective: int, title: str) -> None:
    with session_scope(engine) as session:
        proposals.update_details(
            session=session,
            proposal_id=proposal_id,
            actor="U1",
            draft=ProposalDraft(title=title, objective_id=objective),
        )


def _kept(similar: SimilarProposals, engine: Engine, path: Path, database: str) -> None:
    assert kept_index.keep(similar, engine, path, database) is not None


def test_a_kept_index_is_taken_as_it_was(database_url: str, engine: Engine, tmp_path: Path) -> None:
    _, ids = _fill(engine, 200)
    before = _read(engine)
    path, database = tmp_path / "kept.npz", kept_index.database_identity(database_url)
    _kept(before, engine, path, database)

    again = SimilarProposals()
    taken = kept_index.take(again, engine, path, database)

    assert taken == kept_index.Taken(proposals=200, changed=0)  # nothing read again
    assert again.ready
    for n in (0, 77, 199):
        assert _found(again, engine, _title(n)) == _found(before, engine, _title(n))
        assert _found(again, engine, _title(n))[:1] == [ids[n]]


def test_what_changed_while_the_bot_was_stopped_is_read_again(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    objective, ids = _fill(engine, 150)
    path, database = tmp_path / "kept.npz", kept_index.database_identity(database_url)
    _kept(_read(engine), engine, path, database)
    # While no bot ran: one new, one retitled, one merged into another.
    with session_scope(engine) as session:
        new, _ = proposals.capture(
            session=session,
            submitter="U2",
            draft=ProposalDraft(title="Coffee machine descales daily", objective_id=objective),
        )
    _retitle(engine, ids[10], objective, "Mailbox quota warnings arrive too late")
    with session_scope(engine) as session:
        proposals.merge(session=session, duplicate_id=ids[20], into_id=ids[21], actor="USTEER")

    again = SimilarProposals()
    taken = kept_index.take(again, engine, path, database)

    assert taken is not None and taken.changed == 3
    assert _found(again, engine, "coffee machine descales daily")[:1] == [new.id]
    assert _found(again, engine, "mailbox quota warnings arrive too late")[:1] == [ids[10]]
    assert ids[10] not in _found(again, engine, _title(10))  # its old title is gone
    assert ids[20] not in _found(again, engine, _title(20))  # merged: not offered again
    assert len(again.index) == 150  # 150 + 1 new - 1 merged


def test_a_file_whose_proposals_differ_from_the_database_answers_as_the_database(
    tmp_path: Path,
) -> None:
    # The same database path, its contents replaced (a backup restored, a file copied over):
    # the same ids, other texts. Each version differs, so each one is read again.
    first = make_engine(f"sqlite:///{tmp_path / 'first.db'}")
    second = make_engine(f"sqlite:///{tmp_path / 'second.db'}")
    for engine in (first, second):
        upgrade(engine)
    _fill(first, 60)
    _, ids = _fill(second, 40, title=lambda n: f"{_title(n)} again, otherwise")
    path = tmp_path / "kept.npz"
    _kept(_read(first), first, path, "the same")

    again = SimilarProposals()
    taken = kept_index.take(again, second, path, "the same")

    assert taken is not None and taken.changed == 60  # 40 read again, 20 gone
    assert len(again.index) == 40
    assert _found(again, second, f"{_title(5)} again, otherwise")[:1] == [ids[5]]
    assert _found(again, second, _title(50)) == []  # only in the first database
    for engine in (first, second):
        engine.dispose()


def test_a_file_it_cannot_use_is_set_aside(
    database_url: str,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    objective, ids = _fill(engine, 30)
    path, database = tmp_path / "kept.npz", kept_index.database_identity(database_url)
    _kept(_read(engine), engine, path, database)
    caplog.set_level(logging.INFO, logger="bot.kept_index")

    # Kept for another database.
    elsewhere = "postgresql://elsewhere:5432/x"
    assert kept_index.take(SimilarProposals(), engine, path, elsewhere) is None
    assert "belongs to another database" in caplog.text
    # Kept by a version that analysed text otherwise (its terms would not be this one's).
    with monkeypatch.context() as patched:
        patched.setattr(kept_index, "analysis_fingerprint", lambda: "another analysis")
        assert kept_index.take(SimilarProposals(), engine, path, database) is None
    assert "is of another version of the bot" in caplog.text
    # Too much changed since: reading the register is the cheaper way.
    for n in range(3):
        _retitle(engine, ids[n], objective, f"Renamed proposal number {n}")
    similar = SimilarProposals()
    assert kept_index.take(similar, engine, path, database, most_changed=2) is None
    assert "over 2 proposals changed" in caplog.text
    assert len(similar.index) == 0 and not similar.ready  # nothing taken
    # Damaged.
    path.write_bytes(path.read_bytes()[:1000])
    assert kept_index.take(SimilarProposals(), engine, path, database) is None
    assert "could not be read" in caplog.text
    # Missing.
    assert kept_index.take(SimilarProposals(), engine, tmp_path / "none.npz", database) is None


def test_nothing_is_kept_before_the_register_has_been_read(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    _fill(engine, 5)
    path = tmp_path / "kept.npz"
    assert kept_index.keep(SimilarProposals(), engine, path, "db") is None
    assert not path.exists()


def _wait_for(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while text not in caplog.text:
        assert time.monotonic() < deadline, f"never logged: {text!r}"
        time.sleep(0.05)


def test_a_restarted_refresher_takes_the_index_its_last_run_kept(
    database_url: str, engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    objective, ids = _fill(engine, 120)
    path = tmp_path / "csi.db.index.npz"
    caplog.set_level(logging.INFO, logger="bot.similarity_refresher")
    first = SimilarityRefresher(SimilarProposals(), database_url, kept_file=path).start()
    try:
        assert first.similar.wait_ready(30)
        _wait_for(caplog, "similar-proposal index kept in")  # once the register is read
        kept_at = path.stat().st_mtime_ns
        # Written while it runs, by this bot: kept when it stops.
        with session_scope(engine) as session:
            first.similar.track(session)
            later, _ = proposals.capture(
                session=session,
                submitter="U2",
                draft=ProposalDraft(title="Wiki pages go stale", objective_id=objective),
            )
    finally:
        first.stop()
    assert path.stat().st_mtime_ns != kept_at
    caplog.clear()

    second = SimilarityRefresher(SimilarProposals(), database_url, kept_file=path).start()
    try:
        assert second.similar.wait_ready(30)
        _wait_for(caplog, "taken from")
        assert "121 proposals" in caplog.text and "read again: 0" in caplog.text
        assert _found(second.similar, engine, "wiki pages go stale")[:1] == [later.id]
        assert _found(second.similar, engine, _title(99))[:1] == [ids[99]]
        # Stopped without a change: the file is not written again.
        kept_at = path.stat().st_mtime_ns
    finally:
        second.stop()
    assert path.stat().st_mtime_ns == kept_at


def test_a_refresher_with_a_damaged_file_reads_the_register(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    _, ids = _fill(engine, 40)
    path = tmp_path / "csi.db.index.npz"
    path.write_bytes(b"not an index")
    refresher = SimilarityRefresher(SimilarProposals(), database_url, kept_file=path).start()
    try:
        assert refresher.similar.wait_ready(30)
        assert _found(refresher.similar, engine, _title(33))[:1] == [ids[33]]
    finally:
        refresher.stop()
    # ... and keeps it in place of the damaged one.
    again = SimilarProposals()
    taken = kept_index.take(again, engine, path, kept_index.database_identity(database_url))
    assert taken is not None and taken.proposals == 40


def test_where_the_index_is_kept() -> None:
    from bot.deps import index_file
    from bot.settings import Settings

    def where(database_url: str, **overrides: str) -> Path | None:
        settings = Settings(database_url=database_url, **overrides)  # type: ignore[arg-type]
        return index_file(settings)

    assert where("sqlite:////data/csi.db") == Path("/data/csi.db.index.npz")
    assert where("postgresql+psycopg://bot@db/csi") is None
    kept = where("postgresql+psycopg://bot@db/csi", similarity_index="/data/i.npz")
    assert kept == Path("/data/i.npz")
    assert where("sqlite:///:memory:") is None
    assert where("sqlite:////data/csi.db", similarity_method="semantic") is None


def test_csi_bot_similar_takes_the_kept_index(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    from tests.botproc import bot_env, free_port, run_cli

    objective, ids = _fill(engine, 80)
    path = tmp_path / "kept.npz"
    _kept(_read(engine), engine, path, kept_index.database_identity(database_url))
    _retitle(engine, ids[7], objective, "Badge readers reject new hires")  # after it was kept
    env = bot_env(api_url="http://127.0.0.1:9/", database_url=database_url, port=free_port()) | {
        "CSI_SIMILARITY_INDEX": str(path)
    }

    found = run_cli("similar", "badge readers reject new hires", "--format", "json", env=env,
                    cwd=tmp_path)  # fmt: skip

    assert found.returncode == 0, found.stderr
    assert [m["id"] for m in json.loads(found.stdout)][:1] == [ids[7]]
    assert found.stderr == ""
    # A file it cannot use is said on standard error; the answer is the same.
    path.write_bytes(b"damaged")
    again = run_cli("similar", "badge readers reject new hires", "--format", "json", env=env,
                    cwd=tmp_path)  # fmt: skip
    assert again.returncode == 0 and again.stdout == found.stdout
    assert "could not be read (ValueError: not a file of arrays)" in again.stderr
    assert "Traceback" not in again.stderr


def test_a_file_interrupted_while_written_leaves_the_previous_one(tmp_path: Path) -> None:
    path = tmp_path / "kept.npz"
    with ArraysFile(path) as out:
        out.write("numbers", np.arange(3))
    with pytest.raises(KeyboardInterrupt), ArraysFile(path) as out:
        out.write("numbers", np.arange(5))
        raise KeyboardInterrupt  # a stop half-way through (the reading process, at SIGTERM)
    assert [p.name for p in tmp_path.iterdir()] == ["kept.npz"]  # no temporary file left
    with np.load(path) as stored:
        assert stored["numbers"].tolist() == [0, 1, 2]
