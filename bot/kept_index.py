"""The similar-proposal index kept in a file between runs, so that a restart does not read the
register again.

Reading 100,000 proposals into the index is tens of seconds of work and, while it runs, a
second process's memory (bot/first_reading.py). What it produces is a few dozen arrays (83 MB
at 100,000 proposals), written in a tenth of a second and read back in as little. The bot keeps
them in a file (`CSI_SIMILARITY_INDEX`) once the register has been read, every few minutes
after that when something changed, and when it stops; at start it takes the file instead of
reading the register.

The file is only ever a head start, never the truth: it holds, next to the index, the version
(`updated_at`) of every proposal as the index holds it. At start every proposal's version in
the database is compared with it; what differs or is new is read again and what is gone is
dropped (`SimilarProposals.take`). A file from an older backup, another database or a bot that
was killed mid-way therefore gives the same answers as a reading would; one too far behind to
be worth it (more than `MOST_CHANGED` proposals to read again), one kept for another database,
of another format or damaged is set aside, and the register is read. Plain Python over
storage, no Slack.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine, make_url

from bot.kept_format import FORMAT, META, VERSION_IDS, VERSION_US, ArraysFile, meta, version_us
from bot.similar_proposals import REFRESH_OVERLAP, SimilarProposals
from bot.similarity import analysis_fingerprint
from storage import repositories as repo
from storage.db import normalise_url, session_scope

log = logging.getLogger(__name__)

# More proposals than this to read again (an import while the bot was stopped, another
# database): the register is read instead (by a process of its own: it is large).
MOST_CHANGED = 20_000


@dataclass(frozen=True)
class Kept:
    """What `keep` wrote: how many proposals' versions, the file's size, and the index's
    change count at the snapshot (written again only once it moved)."""

    proposals: int
    size_mb: float
    changes: int


@dataclass(frozen=True)
class Taken:
    """What `take` took: the proposals the index holds, and how many were read again or
    dropped because the database differed from the file."""

    proposals: int
    changed: int


def database_identity(database_url: str) -> str:
    """The database a kept index belongs to, without user or password: the backend, host,
    port and database name, or a SQLite file's full path."""
    url = make_url(normalise_url(database_url))
    backend = url.get_backend_name()
    if backend == "sqlite":
        return f"sqlite:{Path(url.database or '').resolve()}"
    return f"{backend}://{url.host or ''}:{url.port or ''}/{url.database or ''}"


def keep(similar: SimilarProposals, engine: Engine, path: Path, database: str) -> Kept | None:
    """Write the index and the versions it holds to `path` (atomically: a crash leaves the
    previous file). None when there is nothing to keep yet (the register is still being read,
    the semantic method) or the index is busy being refreshed."""
    snapshot = similar.snapshot()
    if snapshot is None:
        return None
    # Every proposal stamped before the look-back window of the refresh the snapshot reflects
    # is in it as the database has it (see REFRESH_OVERLAP); for those inside the window, the
    # versions that refresh saw. A proposal changed since then differs at start and is read.
    horizon = version_us(snapshot.refreshed_at - REFRESH_OVERLAP)
    with session_scope(engine) as session:
        stored = repo.proposal_versions_since(session=session, since=None)
    ids = np.fromiter((pid for pid, _ in stored), np.int64, len(stored))
    stamps = np.fromiter((version_us(v) for _, v in stored), np.int64, len(stored))
    del stored
    older = stamps < horizon
    window = snapshot.window
    ids = np.concatenate([ids[older], np.fromiter(window, np.int64, len(window))])
    stamps = np.concatenate(
        [stamps[older], np.fromiter(map(version_us, window.values()), np.int64, len(window))]
    )
    ids, first = np.unique(ids[::-1], return_index=True)  # one version each: the window's
    stamps = stamps[::-1][first]
    with ArraysFile(path) as out:
        for name, array in snapshot.arrays.items():
            out.write(name, array)
        out.write(VERSION_IDS, ids)
        out.write(VERSION_US, stamps)
        out.write(META, meta(database))
    return Kept(len(ids), path.stat().st_size / 1e6, snapshot.changes)


def take(
    similar: SimilarProposals,
    engine: Engine,
    path: Path,
    database: str,
    *,
    most_changed: int | None = MOST_CHANGED,
) -> Taken | None:
    """Take the index kept in `path` and bring it up to date with the database; None when
    there is none to take (no file, another database or format, a damaged file, more than
    `most_changed` proposals changed, the semantic method): the register is then read."""
    if similar.index.semantic is not None or not path.exists():
        return None
    try:
        if not zipfile.is_zipfile(path):  # np.load would take it for a pickle, and say so
            raise ValueError("not a file of arrays")
        with np.load(path, allow_pickle=False) as stored:
            arrays = {name: stored[name] for name in stored.files}
        note = json.loads(str(arrays.pop(META)))
        ids, stamps = arrays.pop(VERSION_IDS), arrays.pop(VERSION_US)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("the similar-proposal index kept in %s could not be read (%s); reading "
                    "the register instead", path, _why(exc))  # fmt: skip
        return None
    if note.get("format") != FORMAT or note.get("analysis") != analysis_fingerprint():
        log.info("the similar-proposal index kept in %s is of another version of the bot; "
                 "reading the register instead", path)  # fmt: skip
        return None
    if note.get("database") != database:
        log.warning("the similar-proposal index kept in %s belongs to another database (%s); "
                    "reading the register instead", path, note.get("database"))  # fmt: skip
        return None
    try:
        with session_scope(engine) as session:
            changed = similar.take(arrays, ids, stamps, session=session, most_changed=most_changed)
    except (ValueError, KeyError, IndexError, RuntimeError) as exc:
        log.warning("the similar-proposal index kept in %s could not be taken (%s); reading "
                    "the register instead", path, _why(exc))  # fmt: skip
        return None
    if changed is None:
        log.info("over %d proposals changed since the similar-proposal index was kept in %s; "
                 "reading the register instead", most_changed, path)  # fmt: skip
        return None
    return Taken(len(similar.index), changed)


def _why(exc: BaseException) -> str:
    """One line on what was wrong with the file (no trace: the file is the problem)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
