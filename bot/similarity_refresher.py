"""Keeps the similar-proposal index current from the database on a thread of its own.

No Slack request waits for the index: at start the refresher takes the index its last run kept
in a file and reads again what changed since (bot/kept_index.py), or else reads the register
(the bot serves meanwhile; a large register is read by a process of its own,
bot/first_reading.py); then every second it reads the proposals changed since, by any replica,
and merges the index's segments, and every few minutes it keeps the index in its file again. A
request uses the index as it stands. Plain Python over storage."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from pathlib import Path

from bot import kept_index
from bot.allocator import release_free_memory, tune_allocator
from bot.first_reading import ReadElsewhere, read_in_own_process
from bot.kept_index import Taken
from bot.similar_proposals import SimilarProposals
from storage.db import make_engine, session_scope

log = logging.getLogger(__name__)

INTERVAL_S = 1.0
RETRY_S = 5.0
# The semantic method's embeddings are written to their file at most this often (and at stop).
SAVE_EVERY_S = 60.0
# Memory freed by the requests' work (search arrays, request bodies) is handed back at least
# this often, not only after merges (see ``release_free_memory``; a trim took 0.2 to 10 ms under
# 50 people, and the bot held 10 to 30 MB less for it).
TRIM_EVERY_S = 10.0
# A refresh that takes in this many proposals (an import) is logged, like the first one.
LOG_FROM = 1000
# Between two batches of a large refresh the thread steps aside for a moment.
PAUSE_S = 0.002
# A request thread waits at most this long for the interpreter while the refresher analyses
# text (Python's default is 5 ms, which a request with a dozen database round trips would pay
# a dozen times).
SWITCH_INTERVAL_S = 0.001
# The thread's nice value: on a busy machine, a request thread gets the processor first.
NICENESS = 10
# The index is kept in its file (bot/kept_index.py) once the register has been read, then at
# most this often when something changed, and when the bot stops. Only a head start: a file a
# few minutes old costs the reading of the proposals changed since, at the next start.
KEEP_EVERY_S = 300.0


class SimilarityRefresher:
    """A daemon thread refreshing `similar` from the database at `database_url`."""

    def __init__(
        self,
        similar: SimilarProposals,
        database_url: str,
        *,
        interval: float = INTERVAL_S,
        kept_file: Path | None = None,
    ) -> None:
        self.similar = similar
        self.interval = interval
        # Where the index is kept between runs (None: read the register at every start).
        self.kept_file = kept_file
        self._database = kept_index.database_identity(database_url)
        self._kept_changes: int | None = None
        self._next_keep = 0.0
        # Its own engine, with the bulk timeouts: reading the register may take seconds.
        self._engine = make_engine(database_url)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next_save = 0.0
        self._next_trim = 0.0

    def start(self) -> SimilarityRefresher:
        """Start refreshing; merges of the index are left to this thread from now on."""
        self.similar.index.background = True
        tune_allocator()
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
        self._thread = threading.Thread(target=self._run, name="csi-similar-refresh", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current batch; the index stays usable."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self.similar.index.background = False
        try:
            self.similar.index.save()
        except OSError:
            log.exception("the similar-proposal embeddings could not be written")
        self.keep(due=False)
        self._engine.dispose()

    def keep(self, *, due: bool = True) -> None:
        """Write the index to its file if it changed since it was last kept (with `due`: and
        KEEP_EVERY_S have passed). A failure is logged: the file is only a head start."""
        if self.kept_file is None or self.similar.changes == self._kept_changes:
            return
        if due and time.monotonic() < self._next_keep:
            return
        started = time.perf_counter()
        try:
            kept = kept_index.keep(self.similar, self._engine, self.kept_file, self._database)
        except Exception:
            log.exception("the similar-proposal index could not be kept in %s", self.kept_file)
            self._next_keep = time.monotonic() + KEEP_EVERY_S
            return
        if kept is None:
            return
        self._kept_changes, self._next_keep = kept.changes, time.monotonic() + KEEP_EVERY_S
        log.info(
            "similar-proposal index kept in %s: %d proposals, %.0f MB, in %.2f s",
            self.kept_file,
            kept.proposals,
            kept.size_mb,
            time.perf_counter() - started,
        )

    def _take_kept(self) -> Taken | None:
        """The index kept by an earlier run, brought up to date; None: read the register."""
        if self.kept_file is None:
            return None
        taken = kept_index.take(self.similar, self._engine, self.kept_file, self._database)
        if taken is not None:
            self._taken(taken)
        return taken

    def _read_elsewhere(self) -> ReadElsewhere | None:
        """A large register read by a process of its own, into the kept file (if any) and
        taken from it; None: read the register here."""
        elsewhere = read_in_own_process(
            self.similar, self._engine, self._stop, into=self.kept_file, database=self._database
        )
        if elsewhere is not None and self.kept_file is not None:
            self._taken(elsewhere.taken)
        return elsewhere

    def _taken(self, taken: Taken) -> None:
        # The file is as good as new: written again in due time, if anything changed.
        self._kept_changes = None if taken.changed else self.similar.changes
        self._next_keep = time.monotonic() + KEEP_EVERY_S

    def refresh_now(self) -> int:
        """One refresh and the index maintenance it calls for; how many proposals changed."""
        with session_scope(self._engine) as session:
            changed = self.similar.refresh(session=session, pause=self._pause)
        merged = False
        while not self._stop.is_set() and self.similar.index.maintain(idle=not changed):
            merged = True
            time.sleep(PAUSE_S)
        if merged or changed > 1000 or time.monotonic() >= self._next_trim:
            self._next_trim = time.monotonic() + TRIM_EVERY_S
            release_free_memory()
        if changed and time.monotonic() >= self._next_save:
            self._next_save = time.monotonic() + SAVE_EVERY_S
            self.similar.index.save()
        return changed

    def _pause(self) -> None:
        # Between batches of a long refresh: merge as it goes (so a register read at start is
        # not left in dozens of small segments). Freed memory is given back once the refresh
        # is over (``refresh_now``): a trim walks every heap holding its lock, which a request
        # allocating meanwhile would wait for.
        self.similar.index.maintain()
        time.sleep(PAUSE_S)

    def _run(self) -> None:
        with contextlib.suppress(OSError, AttributeError):  # Linux: a thread has its own
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        first, asked_elsewhere = True, False
        elsewhere: ReadElsewhere | None = None
        taken: Taken | None = None
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                if not asked_elsewhere:
                    asked_elsewhere = True
                    # The index kept by the last run; else a large register's first reading,
                    # by a process of its own.
                    taken = self._take_kept()
                    if taken is None:
                        elsewhere = self._read_elsewhere()
                changed = self.refresh_now()
            except Exception:
                log.exception("refreshing the similar-proposal index failed; retrying")
                self._stop.wait(RETRY_S)
                continue
            if first and taken is not None:
                log.info(
                    "similar-proposal index (%s): %d proposals in %.2f s, taken from %s; "
                    "proposals changed since it was kept, read again: %d",
                    self.similar.index.method,
                    taken.proposals,
                    time.perf_counter() - started,
                    self.kept_file,
                    taken.changed + changed,
                )
                first = False
            elif first and elsewhere is not None:
                log.info(
                    "similar-proposal index (%s): %d proposals in %.2f s, read by a process of "
                    "its own (its peak memory %d MB)%s; proposals changed meanwhile, read "
                    "again: %d",
                    self.similar.index.method,
                    elsewhere.taken.proposals,
                    time.perf_counter() - started,
                    elsewhere.peak_mb,
                    f" and kept in {self.kept_file}" if self.kept_file is not None else "",
                    elsewhere.taken.changed + changed,
                )
                first = False
            elif first or changed >= LOG_FROM:
                log.info(
                    "similar-proposal index (%s): %d proposals in %.2f s",
                    self.similar.index.method,
                    changed,
                    time.perf_counter() - started,
                )
                first = False
            self.keep()
            self._stop.wait(self.interval)
