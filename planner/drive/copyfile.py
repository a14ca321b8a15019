"""Copying files to the drive so that what is recorded is what the drive holds.

A batch of files goes to temporary names beside their final ones, each hashed (MD5) as it is read from the
source: up to 16 MiB a file by reading threads ahead of the writes (readahead.py, within 64 MiB held), larger
files in the same pass as they are written (one reused buffer a thread); reading, hashing and writing of
several files overlap (hashlib lets go of the GIL for large buffers). Each file's write-out is started as soon as it is
written (posix_fadvise DONTNEED, where the OS has it), then the whole batch is made durable: one syncfs(2)
on Linux for a kernel file system (one journal commit instead of one a file); one fsync of the batch's last
file through a FUSE driver that flushes its whole device on fsync (exfat-fuse, ntfs-3g: flushing.py says
why), which syncfs does not reach; one sync(2) through fusefat, whose fsync reaches nothing; an fsync of
every file elsewhere (other FUSE drivers, Windows, macOS).
Only then are the files' pages dropped from the cache (through FUSE also the cached pages of the block
device the driver writes through, where mdplan may open it) and each file read back from the drive and hashed
again; only when both hashes agree is it renamed into place. A file whose source changed during the
copy (size or mtime) is reported, not recorded.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import sys
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from planner.drive.flushing import LAST, SYNC, SYNCFS

CHUNK = 1024 * 1024
PART_SUFFIX = ".mdplan-part"
_local = threading.local()


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


def _buffer() -> memoryview:
    """This thread's copy buffer, made once (a fresh CHUNK-sized buffer a file costs a memset each)."""
    buf = getattr(_local, "buf", None)
    if buf is None or len(buf) != CHUNK:
        buf = _local.buf = memoryview(bytearray(CHUNK))
    return buf


def _advise(fd: int, advice_name: str) -> None:
    advice = getattr(os, advice_name, None)
    if hasattr(os, "posix_fadvise") and advice is not None:
        try:
            os.posix_fadvise(fd, 0, 0, advice)
        except OSError:
            pass  # some file systems (FUSE) do not take the advice; the read-back still reads the file


def _drop_cache(fd: int) -> None:
    _advise(fd, "POSIX_FADV_DONTNEED")


def _write_all(f, data: memoryview) -> None:
    """A raw write may take fewer bytes than given: carry on until all are written."""
    while len(data):
        n = f.write(data)
        if not n:
            raise OSError(errno.EIO, "the drive took no bytes")
        data = data[n:]


def _create(part: Path):
    """The temporary file, opened for writing; TargetError when the drive will not take it."""
    try:
        return open(part, "wb", buffering=0)
    except OSError as e:
        raise TargetError(f"cannot create {part}: {e.strerror or e}", e.errno) from e


def _put(fout, part: Path, data: memoryview) -> None:
    """Write `data` to the temporary file; on failure it is closed and removed, and TargetError raised."""
    try:
        _write_all(fout, data)
    except OSError as e:
        fout.close()
        _remove(part)
        raise TargetError(f"cannot write {part}: {e.strerror or e}", e.errno) from e


def _write(src: Path, part: Path) -> tuple[str, int, os.stat_result]:
    """Source to the temporary name, hashed as read, its write-out started (made durable by _flush).
    OSError: the source could not be read; TargetError: the drive could not be written."""
    h = hashlib.md5()
    n = 0
    buf = _buffer()
    with open(src, "rb", buffering=0) as fin:
        before = os.fstat(fin.fileno())
        _advise(fin.fileno(), "POSIX_FADV_SEQUENTIAL")
        with _create(part) as fout:
            while True:
                try:
                    k = fin.readinto(buf)
                except OSError:
                    fout.close()
                    _remove(part)
                    raise
                if not k:
                    break
                h.update(buf[:k])
                _put(fout, part, buf[:k])
                n += k
            _drop_cache(fout.fileno())  # on Linux this starts the write-out while the next file is hashed
    return h.hexdigest(), n, before


@lru_cache(maxsize=1)
def _libc_syncfs():
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
    return fn


def _syncfs(path: Path) -> bool:
    """syncfs(2) on the file system holding path (every dirty page and the journal, waited for): True when
    done, False where the OS has no syncfs. OSError when the file system reports a write error."""
    fn = _libc_syncfs()
    if fn is None:
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        if fn(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)
    return True


def _sync_all() -> bool:
    """sync(2): every file system's and block device's cached writes (Unix only; reports no write error)."""
    if not hasattr(os, "sync"):
        return False
    os.sync()
    return True


def _fsync_file(part: Path) -> None:
    fd = os.open(part, os.O_RDWR | getattr(os, "O_BINARY", 0))  # Windows flushes only files open for writing
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _flush(parts: list[Path], mode: str) -> None:
    """Make a batch's files durable on the drive before any is read back; `mode` from flushing.flush_mode. The
    files are all written and closed when this runs."""
    if not parts:
        return
    if mode == SYNCFS and _syncfs(parts[0].parent):
        return
    if mode == LAST:  # the driver flushes its whole device on any fsync (flushing.py says where that is written)
        _fsync_file(parts[-1])
        return
    if mode == SYNC and _sync_all():  # fusefat: its fsync reaches nothing, sync(2) reaches its device
        return
    for part in parts:  # one after another: concurrent fsyncs through a FUSE driver queue up behind each other
        _fsync_file(part)


def drop_device_cache(device: str) -> bool:
    """Drop the cached pages of the block device a FUSE driver writes through (clean after the flush), so the
    read-back reads the drive rather than the computer's memory: dropping the file's own pages (_read_back)
    does not reach them. False where it cannot be done: no posix_fadvise, or no permission to open the device
    (only root or the `disk` group may): then the read-back may be answered from the cache."""
    if not hasattr(os, "posix_fadvise"):
        return False
    try:
        fd = os.open(device, os.O_RDONLY)
    except OSError:
        return False
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _read_back(part: Path) -> str:
    h = hashlib.md5()
    buf = _buffer()
    try:
        f = open(part, "rb", buffering=0)
    except OSError as e:
        raise TargetError(f"cannot read back {part}: {e.strerror or e}") from e
    with f:
        try:
            _drop_cache(f.fileno())  # the pages are clean now: the read comes from the drive
            _advise(f.fileno(), "POSIX_FADV_SEQUENTIAL")
            while k := f.readinto(buf):
                h.update(buf[:k])
        except OSError as e:
            raise TargetError(f"cannot read back {part}: {e.strerror or e}") from e
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


def _write_held(ahead, part: Path) -> tuple[str, int, os.stat_result]:
    """A source file read ahead (readahead.Ahead) to the temporary name, its write-out started."""
    with _create(part) as fout:
        _put(fout, part, ahead.data)
        _drop_cache(fout.fileno())
    return ahead.md5, len(ahead.data), ahead.before


def _write_one(src: Path, dest: Path, ahead: Future | None = None) -> _Written:
    """One file to its temporary name: from `ahead` (a Future of readahead.Ahead: the file read and hashed
    already) when given, else read, hashed and written in one pass."""
    part = part_name(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise TargetError(f"cannot create the folder {dest.parent}: {e.strerror or e}", e.errno) from e
    t0 = time.perf_counter()
    held = ahead.result() if ahead is not None else None  # OSError: the source could not be read
    try:
        streamed = held is None or held.data is None  # not read ahead: read, hashed and written in one pass
        md5, n, before = _write(src, part) if streamed else _write_held(held, part)
    finally:
        if held is not None:
            held.release()
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


def copy_batch(pairs: list[tuple[Path, Path]], fs_type: str = "unknown", driver: str | None = None,
               device: str | None = None) -> list[Copied | Exception]:
    """Copy one batch of (source, destination) files: write them all (hashing as read), make them durable
    together (_flush: one syncfs on Linux kernel file systems, one fsync through a FUSE driver that flushes its
    whole device, an fsync a file elsewhere), then read each back from the drive and rename it into place.
    `fs_type` is the target's real file system (from the OS, not an override), `driver` its FUSE driver when
    known, `device` the block device a FUSE driver serves it from (its cache is dropped before the
    read-back). One result per pair: Copied, or the file's own failure (SourceChanged, ReadBackMismatch, OSError
    reading the source). A TargetError (the drive) is raised, the batch's temporary files removed.
    A run of many batches uses pipeline.Pipeline, which overlaps one batch's flush with the next's copy."""
    from planner.drive.pipeline import Pipeline

    with Pipeline(fs_type, driver, device) as pipe:
        pipe.write(pairs)
        pipe.settle()
        return pipe.settle() or []


def copy_verified(src: Path, dest: Path, fs_type: str = "unknown", driver: str | None = None) -> Copied:
    """One file: copy through a temporary name, make durable, read back from the drive, rename into place."""
    result = copy_batch([(src, dest)], fs_type, driver)[0]
    if isinstance(result, Exception):
        raise result
    return result


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
