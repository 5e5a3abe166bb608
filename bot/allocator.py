"""Memory of a long-running process: glibc's allocator, set for a process holding large numpy
arrays beside many small objects (the bot with its similar-proposal index, and the process
reading a large register into it; both calls do nothing where the C library is not glibc), and
the garbage collector's full passes kept off what start-up made."""

from __future__ import annotations

import contextlib
import ctypes
import gc

# glibc's allocator (see ``tune_allocator``): at most this many heaps; blocks from this size on
# get their own mapping, handed back to the system as soon as they are freed (a search's
# temporary arrays too: with 4 MB, under 50 people the heaps held some 20 MB more); and free
# memory at the top of a heap is kept up to this much between two trims.
ARENA_MAX = 2
MMAP_THRESHOLD = 1 << 20
TRIM_THRESHOLD = 32 << 20


def tune_allocator() -> None:
    """Keep the index's large arrays from fragmenting the heap; no-op outside glibc.

    By default glibc raises its mmap threshold to the size of any mapped block freed (up to
    32 MB), so after the first merge the segments' arrays come from the heaps, interleaved with
    small objects that outlive them: an import of 100,000 proposals left tens of MB that
    ``malloc_trim`` could not hand back. A fixed threshold keeps large arrays mapped (freed at
    once), and fewer heaps (one per thread by default, up to 8 per core) waste less. A fixed
    threshold also fixes the trim threshold, at 128 KB by default: the heap would then shrink
    and grow again at every large temporary array (start and indexing took twice as long), so
    it is raised, and ``release_free_memory`` trims after merges and every few seconds
    instead (the refresher; the first reading after each batch)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, ARENA_MAX)
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)


# mallopt's parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def release_free_memory() -> None:
    """Hand freed heap memory back to the system (glibc keeps it otherwise); no-op elsewhere."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def set_start_up_aside() -> int:
    """Keep every object alive now (modules, the app, its listeners: some 150,000 in the bot)
    out of the garbage collector's passes; how many that is.

    A full pass walks every object it tracks while holding the interpreter, so every request
    waits for it: 70 to 110 ms in a bot taking in an import of 100,000 proposals, where the
    objects made at start-up were most of what it walked (and 7 to 26 ms once set aside). They
    live as long as the process anyway. Called once, when start-up is done; what start-up left
    as garbage is collected first, so that none of it is kept for good."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
