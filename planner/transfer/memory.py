"""Giving the transfer's freed buffers back to the system once it is over (issue 14: cost per gigabyte).

Each worker reads a whole request (up to 8 MiB) into memory. glibc keeps such freed blocks in its per-thread
heaps for reuse, so after the transfer the process still holds tens of megabytes it no longer uses, and
whatever comes next (drawing the report: matplotlib, numpy) is stacked on top of them. `malloc_trim(0)`
returns the free pages at once. Elsewhere (Windows, macOS, musl) there is nothing to call: a no-op.
"""

from __future__ import annotations

import sys


def give_back_freed_memory() -> bool:
    """Return the heap's free pages to the system; True if some were returned. Never raises."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, ImportError):  # no ctypes, or a C library without malloc_trim (musl)
        return False
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return bool(trim(0))
