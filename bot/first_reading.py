"""The register's first reading into the similar-proposal index, by a process of its own.

Reading 100,000 proposals into the index is minutes of Python work for the interpreter that
also answers Slack; done there, every request waited its turn behind it, and the objects it
made and dropped left the bot's heap larger for good. A large register is therefore read by a
child process (`python -m bot.first_reading`), on the other core, at a lower priority; the bot
takes the finished index from a file and then reads what changed since that reading started,
its own writes meanwhile included. Until then the bot serves as it does while its own reading
runs (the index is not ready: a capture's matches follow by response_url).

The child is started only where it can help and work: the default (lexical) method, a database
another process can open, and a register of at least `OWN_PROCESS_FROM` proposals. Whatever
goes wrong with it (it cannot start, fails, is killed), the bot reads the register itself, as
before. Plain Python over storage, no Slack.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy.engine import Engine, make_url

from bot.allocator import release_free_memory, tune_allocator
from bot.similar_proposals import SimilarProposals, version_us, versions_from_us
from storage import repositories as repo
from storage.db import make_engine, normalise_url, session_scope

log = logging.getLogger(__name__)

# Under this many proposals the bot reads the register itself: a few seconds of work, less
# than starting a process costs in memory.
OWN_PROCESS_FROM = 20_000
# The child's nice value: when both cores are busy, the bot's requests get the processor first.
NICENESS = 10
# After its reading the process reads what changed meanwhile, up to this many times, until
# fewer than this many proposals changed.
CATCH_UP_ROUNDS = 3
CAUGHT_UP = 100
# How often the bot looks whether the child has finished (or it is itself stopping).
POLL_S = 0.2
# How long a child asked to stop (the bot is stopping) gets before it is killed.
STOP_WAIT_S = 5.0
_ARRAYS, _STATE = "index.npz", "state.json"
# Next to the index's arrays: the versions the reading saw (proposal ids, microseconds).
_VERSION_IDS, _VERSION_US = "reading_version_ids", "reading_version_us"
# The child's command, the folder it leaves its work in added.
CHILD = (sys.executable, "-m", "bot.first_reading")


def worth_own_process(similar: SimilarProposals, database_url: str, proposals: int) -> bool:
    """Whether the first reading of a register of `proposals` should be done by a child."""
    url = make_url(normalise_url(database_url))
    shared = url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:")
    return similar.index.semantic is None and shared and proposals >= OWN_PROCESS_FROM


@dataclass(frozen=True)
class ReadElsewhere:
    """What the child read: the proposals, and its peak resident memory."""

    proposals: int
    peak_mb: int


def read_in_own_process(
    similar: SimilarProposals, database_url: str, engine: Engine, stop: threading.Event
) -> ReadElsewhere | None:
    """Have a child process read the register, and adopt its index (ready once the caller's
    next refresh has read what changed since). None when that was not worth it or could not
    be done: the caller then reads the register itself."""
    with session_scope(engine) as session:
        proposals = repo.proposal_count(session=session)
    if not worth_own_process(similar, database_url, proposals):
        return None
    with tempfile.TemporaryDirectory(prefix="csi-first-reading-") as tmp:
        folder = Path(tmp)
        try:
            child = subprocess.Popen(
                [*CHILD, str(folder)],
                stdin=subprocess.PIPE,
            )
        except OSError:
            log.exception("could not start a process to read the register; reading it here")
            return None
        # The URL goes by a pipe, not the command line: other users may see a command line.
        assert child.stdin is not None
        with contextlib.suppress(OSError):
            child.stdin.write(json.dumps({"database_url": database_url}).encode())
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
            state = json.loads((folder / _STATE).read_text(encoding="utf-8"))
            with np.load(folder / _ARRAYS) as stored:
                arrays = {name: stored[name] for name in stored.files}
            versions = versions_from_us(arrays.pop(_VERSION_IDS), arrays.pop(_VERSION_US))
            similar.adopt(
                arrays,
                refreshed_at=datetime.fromisoformat(state["refreshed_at"]),
                versions=versions,
            )
        except (OSError, ValueError, KeyError, RuntimeError):
            log.exception("the index read by another process could not be taken; reading here")
            return None
    return ReadElsewhere(proposals=int(state["proposals"]), peak_mb=int(state["peak_mb"]))


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _read(database_url: str, folder: Path) -> None:
    """The child's work: read the register as the bot's first refresh would, merge it into
    few segments, and leave the index and the reading's state in `folder`."""
    parent = os.getppid()
    tune_allocator()

    def between_batches() -> None:
        if os.getppid() != parent:  # the bot is gone: nobody will take the index
            raise SystemExit(3)
        release_free_memory()  # what the batch's merges freed: a lower peak

    similar = SimilarProposals(method="lexical")
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            proposals = similar.refresh(session=session, pause=between_batches)
        # What changed while it read (a storm of captures, an import just before) is read here
        # too, so that the bot has little left to read on the interpreter that answers Slack,
        # and the versions handed over are only those of the last seconds.
        for _ in range(CATCH_UP_ROUNDS):
            with session_scope(engine) as session:
                if similar.refresh(session=session, pause=between_batches) < CAUGHT_UP:
                    break
    finally:
        engine.dispose()
    while similar.index.maintain(idle=True):
        between_batches()
    read = similar.read_once
    assert read is not None
    refreshed_at, versions = read
    # The versions as two arrays, not JSON: right after an import they are the whole register.
    ids = np.fromiter(versions, np.int64, len(versions))
    stamps = np.fromiter(map(version_us, versions.values()), np.int64, len(versions))
    np.savez(
        folder / _ARRAYS,
        **similar.index.lexical_arrays(),
        **{_VERSION_IDS: ids, _VERSION_US: stamps},
    )
    state = {
        "refreshed_at": refreshed_at.isoformat(),
        "proposals": proposals,
        "peak_mb": _peak_mb(),
    }
    (folder / _STATE).write_text(json.dumps(state), encoding="utf-8")


def _peak_mb() -> int:
    """This process's peak resident memory in MB (0 where /proc is not there)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m bot.first_reading FOLDER`, the database URL as JSON on standard input."""
    args = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICENESS)
    if len(args) != 1:
        log.error("usage: python -m bot.first_reading FOLDER (database URL as JSON on stdin)")
        return 2
    try:
        database_url = json.loads(sys.stdin.read())["database_url"]
        _read(database_url, Path(args[0]))
    except Exception:
        log.exception("reading the register into the similar-proposal index failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
