"""The file the similar-proposal index is kept in between runs: its format, and a writer that
adds arrays to it one at a time. Light on purpose (numpy and the standard library): the
process that reads a large register for the bot writes the same file (bot/reading_process.py),
and every module it imports is memory it holds next to the bot's. Reading the file back and
bringing it up to date is bot/kept_index.py.

The file is a zip of `.npy` arrays, as `numpy.savez` writes and `numpy.load` reads: the lexical
index's arrays, the version of every proposal it holds (`kept_version_ids`, `kept_version_us`)
and a JSON note (`kept_meta`): the format, the text analysis's fingerprint, the database it
belongs to and when it was kept.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from bot.similarity import analysis_fingerprint

# Raised whenever what the file holds changes meaning; a file of another format is set aside,
# and so is one whose text analysis differs from this version's (`analysis_fingerprint`).
FORMAT = 1
META, VERSION_IDS, VERSION_US = "kept_meta", "kept_version_ids", "kept_version_us"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def version_us(stamp: datetime | str) -> int:
    """A proposal's version (its `updated_at`, UTC; SQLite's driver gives it as text) as
    microseconds since 1970: how versions are kept in the file and compared."""
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp)
    aware = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


def meta(database: str) -> np.ndarray:
    """The note written with the arrays, for the database identified by `database`."""
    note = {
        "format": FORMAT,
        "analysis": analysis_fingerprint(),
        "database": database,
        "kept_at": datetime.now(UTC).isoformat(),
    }
    return np.array(json.dumps(note))


class ArraysFile:
    """A new file of arrays written one at a time, put in place of `path` only once complete
    (a temporary file next to it, then a rename): a crash or an error leaves the previous file,
    and no temporary one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._temporary: str | None = None
        self._file: Any = None
        self._zip: zipfile.ZipFile | None = None

    def __enter__(self) -> ArraysFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, self._temporary = tempfile.mkstemp(
            prefix=f".{self.path.name}.", dir=self.path.parent
        )
        self._file = os.fdopen(handle, "wb")
        self._zip = zipfile.ZipFile(self._file, "w", zipfile.ZIP_STORED)
        return self

    def write(self, name: str, array: Any) -> None:
        """Add one array (no pickles: what is read back is arrays and nothing else)."""
        assert self._zip is not None, "write inside `with`"
        with self._zip.open(f"{name}.npy", "w", force_zip64=True) as out:
            np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._zip is not None and self._temporary is not None
        try:
            try:
                self._zip.close()  # the zip's directory, at the end of the file
            finally:
                self._file.close()
            if kind is None:
                os.replace(self._temporary, self.path)
                return
        except BaseException:
            if kind is None:
                self._discard()
                raise
        self._discard()  # what went wrong inside `with` goes on

    def _discard(self) -> None:
        if self._temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._temporary)
