"""The source files of a batch read and hashed ahead of the drive's writes (issue 16, copy speed).

A batch's flush stalls the drive for a while: exfat-fuse runs the whole device's fsync while every other
write waits, and a flush can hold up reading the source too where both share a disk (measured: a source
read waiting 80 ms, as long as the flush beside it). Writing threads that read, hash and write each file
in turn all sit in a blocked write then, so the flush adds its whole length to the copy. Here reading
threads read whole files (up to READ_AHEAD_FILE) and hash them while the drive is busy, within
READ_AHEAD_BYTES held in memory; the writing threads then only write. `prefetch` asks the OS to read the
next batch's files before the flush of the batch before starts, so their reads are queued ahead of it.
Larger files (videos) are streamed by the writing thread as before.
"""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

READ_AHEAD_BYTES = 64 * 1024 * 1024  # source bytes held in memory at most, read and hashed, not yet written
READ_AHEAD_FILE = 16 * 1024 * 1024  # a larger file is streamed by its writing thread instead
READERS = 2  # reading threads: the source's reads and the MD5 (hashlib lets go of the GIL) overlap


class ByteBudget:
    """The bytes read ahead and not yet written, handed out in the files' order: file i waits for files
    0..i-1 to have their share. The writers free bytes in that order too, so a reader cannot wait for a
    writer that waits for it. A file larger than the whole budget waits until nothing else is held."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0
        self.peak = 0
        self._next = 0
        self._closed = False
        self._cond = threading.Condition()

    def take(self, ticket: int, n: int) -> bool:
        """False when the budget was closed (the run stops) while waiting."""
        n = min(n, self.limit)
        with self._cond:
            while not self._closed and (ticket != self._next or self.held + n > self.limit):
                self._cond.wait()
            if self._closed:
                return False
            self._next += 1
            self.held += n
            self.peak = max(self.peak, self.held)
            self._cond.notify_all()
            return True

    def give(self, n: int) -> None:
        with self._cond:
            self.held -= min(n, self.limit)
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


@dataclass
class Ahead:
    """A source file read ahead: its bytes and MD5 (data None: too large, the writer streams it)."""

    data: memoryview | None
    md5: str
    before: os.stat_result
    held: int
    budget: ByteBudget

    def release(self) -> None:
        self.budget.give(self.held)
        self.held = 0
        self.data = None


def _slurp(f, size: int) -> tuple[memoryview, str]:
    buf = bytearray(size + 1)  # one byte more: a file that grew while read is seen (the writer checks the size)
    view = memoryview(buf)
    n = 0
    while n < len(buf):
        k = f.readinto(view[n:])
        if not k:
            break
        n += k
    return view[:n], hashlib.md5(view[:n]).hexdigest()


def read_ahead(src: Path, ticket: int, budget: ByteBudget) -> Ahead:
    """Read and hash `src` once its turn (`ticket`) and room in the budget come. OSError: the source could
    not be read (the file's own failure); its turn is given up either way."""
    taken = False
    try:
        with open(src, "rb", buffering=0) as f:
            before = os.fstat(f.fileno())
            big = before.st_size > READ_AHEAD_FILE
            held = 0 if big else before.st_size
            taken = True
            if not budget.take(ticket, held):
                raise OSError(errno.ECANCELED, "the copy was stopped")
            if big:
                return Ahead(None, "", before, 0, budget)
            try:
                data, md5 = _slurp(f, before.st_size)
            except BaseException:
                budget.give(held)
                raise
            return Ahead(data, md5, before, held, budget)
    finally:
        if not taken:
            budget.take(ticket, 0)


def give_back(ahead: Future) -> None:
    """Free a file's share of the budget once its read is over (a second call does nothing)."""
    try:
        got = ahead.result()
    except BaseException:  # the read failed (its share is back already) or was cancelled
        return
    got.release()


def prefetch(sources: list[Path]) -> None:
    """Ask the OS to start reading these files (those small enough to be read ahead, up to the budget) into
    its cache, without waiting. Where the OS has no posix_fadvise this does nothing."""
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    total = 0
    for src in sources:
        try:
            fd = os.open(src, os.O_RDONLY)
        except OSError:
            continue  # the reader reports it
        try:
            size = os.fstat(fd).st_size
            if size <= READ_AHEAD_FILE and total + size <= READ_AHEAD_BYTES:
                total += size
                advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass
        finally:
            os.close(fd)
