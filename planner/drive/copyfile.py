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
    """Source to the temporary name, hashed as read; flushed to the OS (made durable by _sync)."""
    h = hashlib.md5()
    n = 0
    with open(src, "rb") as fin:
        before = os.fstat(fin.fileno())
        try:
            fout = open(part, "wb")
        except OSError as e:
            raise TargetError(f"cannot create {part}: {e.strerror or e}", e.errno) from e
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
            except OSError as e:
                fout.close()
                _remove(part)
                raise TargetError(f"cannot write {part}: {e.strerror or e}", e.errno) from e
    return h.hexdigest(), n, before


def _sync(part: Path) -> None:
    """fsync, then drop the file's pages from the cache so the read-back reads the drive."""
    try:
        fd = os.open(part, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            os.fsync(fd)
            _drop_cache(fd)
        finally:
            os.close(fd)
    except OSError as e:
        _remove(part)
        raise TargetError(f"cannot write {part}: {e.strerror or e}", e.errno) from e


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


@dataclass
class _Written:
    src: Path
    dest: Path
    part: Path
    md5: str
    size: int
    write_seconds: float


def _write_one(src: Path, dest: Path) -> _Written:
    part = part_name(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TargetError(f"cannot create the folder {dest.parent}: {e.strerror or e}", e.errno) from e
    t0 = time.perf_counter()
    md5, n, before = _write(src, part)
    after = os.stat(src)
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or n != after.st_size:
        _remove(part)
        raise SourceChanged(f"{src} changed while it was copied")
    return _Written(src, dest, part, md5, n, time.perf_counter() - t0)


def _verify_and_place(w: _Written) -> float:
    t0 = time.perf_counter()
    back = _read_back(w.part)
    if back != w.md5:
        _remove(w.part)
        raise ReadBackMismatch(f"the drive gave back other bytes for {w.dest.name} (MD5 {back}, written {w.md5})")
    try:
        os.replace(w.part, w.dest)
    except OSError as e:
        raise TargetError(f"cannot rename {w.part.name} into place: {e.strerror or e}", e.errno) from e
    return time.perf_counter() - t0


WORKERS = 4  # files in flight within a batch: reading, hashing (GIL released) and writing overlap


def _guarded(fn, *args):
    try:
        return fn(*args)
    except (TargetError, SourceChanged, ReadBackMismatch, OSError) as e:
        return e


def copy_batch(pairs: list[tuple[Path, Path]]) -> list[Copied | Exception]:
    """Copy a batch of (source, destination) files: write them all, fsync them all (one journal commit
    on most file systems instead of one per file), then read each back from the drive and rename it into
    place. One result per pair: Copied, or the file's own failure (SourceChanged, ReadBackMismatch,
    OSError reading the source). A TargetError (the drive) is raised: the batch's files not yet renamed
    are left as temporary names, removed by this or the next run."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        t0 = time.perf_counter()
        written = list(pool.map(lambda p: _guarded(_write_one, *p), pairs))
        drive_error = next((w for w in written if isinstance(w, TargetError)), None)
        synced = list(pool.map(lambda w: _guarded(_sync, w.part) if isinstance(w, _Written) else None, written))
        drive_error = drive_error or next((e for e in synced if isinstance(e, TargetError)), None)
        if drive_error is not None:
            for w in written:
                if isinstance(w, _Written):
                    _remove(w.part)
            raise drive_error
        t1 = time.perf_counter()
        placed = list(pool.map(lambda w: _guarded(_verify_and_place, w) if isinstance(w, _Written) else w, written))
        t2 = time.perf_counter()
    good = max(1, sum(w.size for w in written if isinstance(w, _Written)))
    out: list[Copied | Exception] = []
    for w, p in zip(written, placed):
        if isinstance(p, TargetError):
            raise p
        if isinstance(w, _Written) and isinstance(p, float):  # the phases' wall time, shared out by size
            out.append(Copied(w.md5, w.size, (t1 - t0) * w.size / good, (t2 - t1) * w.size / good))
        else:
            out.append(p if isinstance(p, Exception) else w)  # type: ignore[arg-type]
    return out


def copy_verified(src: Path, dest: Path) -> Copied:
    """One file: copy through a temporary name, fsync, read back from the drive, rename into place."""
    result = copy_batch([(src, dest)])[0]
    if isinstance(result, Exception):
        raise result
    return result


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
