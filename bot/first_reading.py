"""The register's first reading into the similar-proposal index, by a process of its own.

Reading 100,000 proposals into the index is minutes of Python work for the interpreter that
also answers Slack; done there, every request waited its turn behind it, and the objects it
made and dropped left the bot's heap larger for good. A large register is therefore read by a
child process (bot/reading_process.py), on the other core, at a lower priority. It writes the
file the bot keeps its index in between runs (bot/kept_format.py; a temporary one where none is
kept), a part of the index at a time, and the bot takes that file as at a restart: every
proposal changed while it was written, the bot's own writes included, is read again. Until
then the bot serves as it does while its own reading runs (the index is not ready: a capture's
matches follow by response_url).

The child is started only where it can help and work: the default (lexical) method, a database
another process can open with a driver the child knows, and a register of at least
`OWN_PROCESS_FROM` proposals. Whatever goes wrong with it (it cannot start, fails, is killed),
the bot reads the register itself, as before. Plain Python over storage, no Slack.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from bot import kept_index
from bot.kept_index import Taken
from bot.reading_process import DRIVERS
from bot.similar_proposals import NOT_OFFERED, SimilarProposals
from storage import repositories as repo
from storage.db import driver_connect_args, session_scope

log = logging.getLogger(__name__)

# Under this many proposals the bot reads the register itself: a few seconds of work, less
# than starting a process costs in memory. The same as the most a kept index may lack before
# the register is read instead: such a reading is then done here.
OWN_PROCESS_FROM = kept_index.MOST_CHANGED
# How often the bot looks whether the child has finished (or it is itself stopping).
POLL_S = 0.2
# How long a child asked to stop (the bot is stopping) gets before it is killed.
STOP_WAIT_S = 5.0
# The child's command (bot/reading_process.py).
CHILD = (sys.executable, "-m", "bot.reading_process")
# The driver module the child reads with, by SQLAlchemy's name of the engine's driver.
_DRIVER_MODULES = {"pysqlite": "sqlite3", "psycopg": "psycopg"}


def worth_own_process(similar: SimilarProposals, engine: Engine, proposals: int) -> bool:
    """Whether the first reading of a register of `proposals` should be done by a child."""
    url = engine.url
    shared = url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:")
    readable = _DRIVER_MODULES.get(engine.dialect.driver) in DRIVERS
    return similar.index.semantic is None and shared and readable and proposals >= OWN_PROCESS_FROM


@dataclass(frozen=True)
class ReadElsewhere:
    """What the child read (the proposals, its peak resident memory) and how the bot took it:
    the proposals then read again because they changed meanwhile."""

    proposals: int
    peak_mb: int
    taken: Taken


def read_in_own_process(
    similar: SimilarProposals,
    engine: Engine,
    stop: threading.Event,
    *,
    into: Path | None,
    database: str,
) -> ReadElsewhere | None:
    """Have a child process read the register into a kept-index file (`into`, else a temporary
    one) and take that file, which brings the index up to date. None when that was not worth
    it or could not be done: the caller then reads the register itself."""
    with session_scope(engine) as session:
        proposals = repo.proposal_count(session=session)
    if not worth_own_process(similar, engine, proposals):
        return None
    with tempfile.TemporaryDirectory(prefix="csi-first-reading-") as tmp:
        path = into or Path(tmp) / "index.npz"
        try:
            child = subprocess.Popen(CHILD, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError:
            log.exception("could not start a process to read the register; reading it here")
            return None
        assert child.stdin is not None and child.stdout is not None
        # By a pipe, not the command line: other users may see a command line.
        job = _job(engine, proposals, path, database)
        with contextlib.suppress(OSError):
            child.stdin.write(json.dumps(job).encode())
        with contextlib.suppress(OSError):
            child.stdin.close()
        while child.poll() is None:
            if stop.wait(POLL_S):
                _stop(child)
                return None  # stopping: the caller's refresh sees the stop too
        if child.returncode != 0:
            log.warning(
                "the process reading the register ended with status %s; reading it here",
                child.returncode,
            )
            return None
        try:
            read = json.loads(child.stdout.read())
        except ValueError:
            read = {}
        taken = kept_index.take(similar, engine, path, database, most_changed=None)
    if taken is None:  # said why; the register is read here
        return None
    return ReadElsewhere(int(read.get("proposals", 0)), int(read.get("peak_mb", 0)), taken)


def _job(engine: Engine, proposals: int, path: Path, database: str) -> dict[str, Any]:
    """What the child is to do: the driver, how to connect, what to read, where to write."""
    query = repo.proposal_texts_query(engine.dialect)
    return {
        "driver": _DRIVER_MODULES[engine.dialect.driver],
        "connect": driver_connect_args(engine),
        "query": {"sql": query.sql, "params": query.params, "order": query.order},
        "not_offered": sorted(NOT_OFFERED),
        "proposals": proposals,
        "database": database,
        "path": str(path),
    }


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
