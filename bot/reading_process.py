"""`python -m bot.reading_process`: a large register's first reading, in a process of its own.

Started by the bot (bot/first_reading.py), which sends what to do as JSON on standard input:
the database driver and its connection arguments, the query reading the register by id (SQL
made by the bot, storage/repositories.py), how many proposals there are, and the file to write.
The process reads the register in batches and indexes it a part at a time: each part (a
quarter of the register) becomes one segment of the index, written to the file and dropped,
so it holds one part's work at a time, not the whole index. At the end come what the segments
share and the version of every proposal read, in the file the bot keeps its index in between
runs (bot/kept_format.py). The bot then takes that file as at a restart, reading again what
changed while it was written. It prints one line of JSON (what it read, its peak memory).

Only numpy, the driver and the index are imported: this process's memory is held next to the
bot's for as long as it reads. Plain Python, no Slack, no SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import signal
import sys
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot import kept_format
from bot.allocator import release_free_memory, tune_allocator
from bot.similarity import document_text
from bot.similarity._lexical import LexicalIndex
from bot.similarity._segments import ROWS_IN_TWO_BYTES

log = logging.getLogger(__name__)

# The drivers this process can read with, by the name the bot gives.
DRIVERS = frozenset({"sqlite3", "psycopg"})
# Proposals read at a time.
READ_BATCH = 2000
# The process's nice value: when both cores are busy, the bot's requests get the processor.
NICENESS = 10

Document = tuple[int, str, str]


def main(argv: Sequence[str] | None = None) -> int:
    """Read the register as standard input's JSON says; 0 when the file was written."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if list(sys.argv[1:] if argv is None else argv):
        log.error("usage: python -m bot.reading_process (what to read as JSON on stdin)")
        return 2
    with contextlib.suppress(OSError, AttributeError):
        os.nice(NICENESS)
    # Asked to stop (the bot is stopping): unwind, so that no half-written file is left.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    try:
        job = json.loads(sys.stdin.read())
        read = read_register(job)
    except Exception:
        log.exception("reading the register into the similar-proposal index failed")
        return 1
    print(json.dumps(read), flush=True)
    return 0


def read_register(job: dict[str, Any]) -> dict[str, int]:
    """Write the index of the register `job` names to `job["path"]`; what was read."""
    if job["driver"] not in DRIVERS:
        raise ValueError(f"no reading with the driver {job['driver']!r}")
    tune_allocator()
    parent = os.getppid()
    driver = importlib.import_module(job["driver"])
    args, kwargs = job["connect"]
    connection = driver.connect(*args, **kwargs)
    ids, stamps = array("q"), array("q")
    not_offered = frozenset(job["not_offered"])

    def batches() -> Iterator[list[Document]]:
        for rows in _rows(connection, job["query"]):
            if os.getppid() != parent:  # the bot is gone: nobody will take the index
                raise SystemExit(3)
            ids.extend(row[0] for row in rows)
            stamps.extend(kept_format.version_us(row[5]) for row in rows)
            yield [
                (pid, title, document_text(description, outcome))
                for pid, title, description, outcome, status, _ in rows
                if status not in not_offered
            ]

    size = min(LexicalIndex.part_size(int(job["proposals"])), ROWS_IN_TWO_BYTES - READ_BATCH)
    try:
        with kept_format.ArraysFile(Path(job["path"])) as out:
            indexed = LexicalIndex.write_in_parts(_parts(batches(), size), out.write)
            out.write(kept_format.VERSION_IDS, np.frombuffer(ids, np.int64))
            out.write(kept_format.VERSION_US, np.frombuffer(stamps, np.int64))
            out.write(kept_format.META, kept_format.meta(job["database"]))
    finally:
        connection.close()
    return {"proposals": len(ids), "indexed": indexed, "peak_mb": _peak_mb()}


def _rows(connection: Any, query: dict[str, Any]) -> Iterator[list[tuple[Any, ...]]]:
    """The register in batches of READ_BATCH rows, by id."""
    after = 0
    while True:
        values = {**query["params"], "after_id": after, "limit": READ_BATCH}
        order = query["order"]
        cursor = connection.cursor()
        try:
            cursor.execute(query["sql"], [values[n] for n in order] if order else values)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def _parts(batches: Iterator[list[Document]], size: int) -> Iterator[Iterator[list[Document]]]:
    """The batches in parts of about `size` documents, each read only as it is indexed."""

    def part(first: list[Document]) -> Iterator[list[Document]]:
        taken = len(first)
        yield first
        while taken < size and (batch := next(batches, None)) is not None:
            taken += len(batch)
            yield batch

    while (first := next(batches, None)) is not None:
        yield part(first)
        release_free_memory()  # the part's segment is written and dropped: hand it back


def _peak_mb() -> int:
    """This process's peak resident memory in MB (0 where /proc is not there)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


if __name__ == "__main__":
    sys.exit(main())
