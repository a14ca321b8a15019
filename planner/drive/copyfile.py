"""Copying one file to the drive so that what is recorded is what the drive holds.

The file goes to a temporary name beside its final one, hashed (MD5) as it is read from the source,
flushed and fsync'ed; then its pages are dropped from the cache (posix_fadvise DONTNEED, where the OS has
it) and it is read back from the drive and hashed again. Only when both hashes agree is it renamed into
place. A file whose source changed during the copy (size or mtime) is reported, not recorded.
"""

from __future__ import annotations

import errno
import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024
PART_SUFFIX = ".mdplan-part"


class ReadBackMismatch(Exception):
    """The drive gave back other bytes than were written."""


class SourceChanged(Exception):
    """The source file changed while it was copied."""


class TargetError(Exception):
    """Writing to the drive failed (full, pulled out, read-only): the run stops."""

    def __init__(self, message: str, errno_: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno_

    @property
    def full(self) -> bool:
        return self.errno in (errno.ENOSPC, getattr(errno, "EFBIG", -1))


@dataclass
class Copied:
    md5: str
    size: int
    write_seconds: float
    read_seconds: float


def _drop_cache(fd: int) -> None:
    if hasattr(os, "posix_fadvise"):
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except OSError:
            pass  # some file systems (FUSE) do not take the advice; the read-back still reads the file


def _write(src: Path, part: Path) -> tuple[str, int, os.stat_result]:
    h = hashlib.md5()
    n = 0
    with open(src, "rb") as fin:
        before = os.fstat(fin.fileno())
        try:
            fout = open(part, "wb")
        except OSError as e:
            raise TargetError(f"cannot create {part}: {e.strerror or e}") from e
        with fout:
            try:
                while True:
                    buf = fin.read(CHUNK)
                    if not buf:
                        break
                    h.update(buf)
                    fout.write(buf)
                    n += len(buf)
                fout.flush()
                os.fsync(fout.fileno())
                _drop_cache(fout.fileno())
            except OSError as e:
                fout.close()
                _remove(part)
                raise TargetError(f"cannot write {part}: {e.strerror or e}", e.errno) from e
    return h.hexdigest(), n, before


def _read_back(part: Path) -> str:
    h = hashlib.md5()
    try:
        fd = os.open(part, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError as e:
        raise TargetError(f"cannot read back {part}: {e.strerror or e}") from e
    try:
        _drop_cache(fd)
        with os.fdopen(fd, "rb", closefd=False) as f:
            for buf in iter(lambda: f.read(CHUNK), b""):
                h.update(buf)
    except OSError as e:
        raise TargetError(f"cannot read back {part}: {e.strerror or e}") from e
    finally:
        os.close(fd)
    return h.hexdigest()


def part_name(dest: Path) -> Path:
    """A short temporary name beside dest (dest's own name may already be at the length limit)."""
    return dest.with_name("~" + hashlib.md5(dest.name.encode("utf-8", "surrogateescape")).hexdigest()[:16] + PART_SUFFIX)


def copy_verified(src: Path, dest: Path) -> Copied:
    """Copy src to dest through a temporary name, read back from the drive, then rename into place."""
    part = part_name(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TargetError(f"cannot create the folder {dest.parent}: {e.strerror or e}") from e
    t0 = time.perf_counter()
    md5, n, before = _write(src, part)
    t1 = time.perf_counter()
    after = os.stat(src)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or n != after.st_size:
        _remove(part)
        raise SourceChanged(f"{src} changed while it was copied")
    back = _read_back(part)
    t2 = time.perf_counter()
    if back != md5:
        _remove(part)
        raise ReadBackMismatch(f"the drive gave back other bytes for {dest.name} (MD5 {back}, written {md5})")
    try:
        os.replace(part, dest)
    except OSError as e:
        raise TargetError(f"cannot rename {part.name} into place: {e.strerror or e}") from e
    return Copied(md5, n, t1 - t0, t2 - t1)


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
