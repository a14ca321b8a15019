"""The drive copy's batches, overlapped: batch N+1 is copied while batch N is made durable in the
background, then N is read back; the pipeline never holds more than two batches.

    write(N+1)  ||  flush(N)        the copy pass and the drive's write-out overlap
    settle():       wait flush(N), read back and rename N, ask the OS for N+2's source files, start
                    flush(N+1)

Within a batch, reading threads read and hash whole files ahead of the writing threads (readahead.py), so
the source is read and hashed while a flush holds the drive up; the OS is asked for the next batch's files
before the flush starts, so those reads are not queued behind it where the source and the drive share a
disk (measured with and without: CHANGELOG, issue 16).

The safety rule is unchanged: a file is renamed into place and counted only after its whole batch was
flushed (copyfile._flush) and the file itself was read back from the drive and its MD5 matched.
Times: a batch's copy seconds are its write pass plus any wait for its flush that the next batch's
copy did not hide; its read-back seconds are the read-back pass alone.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from planner.drive import copyfile as cf
from planner.drive import readahead as ra
from planner.drive.flushing import flush_mode


@dataclass
class _Batch:
    written: list  # copyfile._Written or the file's own failure, one per pair
    copy_seconds: float
    flushing: Future | None = field(default=None)

    def parts(self) -> list[Path]:
        return [w.part for w in self.written if isinstance(w, cf._Written)]

    def discard(self) -> None:
        for part in self.parts():
            cf._remove(part)


def _write_one(pair: tuple[Path, Path], ahead: Future) -> object:
    try:
        return cf._guarded(cf._write_one, pair[0], pair[1], ahead)
    finally:
        ra.give_back(ahead)  # also when the write failed before it took the bytes: the next files wait for them


class Pipeline:
    """write() a batch, then settle(): the results of the batch before (None for the first); the one just
    written is flushed while the next is written. drain() settles what is left. A TargetError leaves no
    temporary files."""

    def __init__(self, fs_type: str = "unknown", driver: str | None = None, device: str | None = None) -> None:
        self.fs_type = fs_type
        self.device = device  # FUSE: the block device the driver writes through, dropped from the cache
        self.flush_mode = flush_mode(sys.platform, fs_type, driver)  # syncfs, one fsync, or an fsync a file
        self._pool = ThreadPoolExecutor(max_workers=cf.WORKERS)
        self._readers = ThreadPoolExecutor(max_workers=ra.READERS)
        self._budget: ra.ByteBudget | None = None
        self._bg = ThreadPoolExecutor(max_workers=1)
        self._flushing: _Batch | None = None
        self._fresh: _Batch | None = None

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def write(self, pairs: list[tuple[Path, Path]]) -> None:
        """The copy pass of a batch: read, hash and write each file to its temporary name."""
        if self._fresh is not None:
            raise RuntimeError("settle() the batch written before writing another")
        t0 = time.perf_counter()
        budget = self._budget = ra.ByteBudget(ra.READ_AHEAD_BYTES)
        ahead = [self._readers.submit(ra.read_ahead, src, i, budget) for i, (src, _dest) in enumerate(pairs)]
        written = list(self._pool.map(_write_one, pairs, ahead))
        batch = _Batch(written, time.perf_counter() - t0)
        error = next((w for w in written if isinstance(w, cf.TargetError)), None)
        if error is not None:
            batch.discard()
            raise error
        self._fresh = batch

    def settle(self, upcoming: list[Path] | None = None) -> list | None:
        """Read back the batch being flushed (after its flush) and start flushing the one written last.
        `upcoming`: the source files the next write() will likely copy; the OS is asked for them before the
        flush starts, so their reads are not queued behind it where the source and the drive share a disk."""
        done, self._flushing = self._flushing, None
        results = None
        if done is not None:
            try:
                results = self._verify(done)
            except cf.TargetError:
                if self._fresh is not None:
                    self._fresh.discard()
                    self._fresh = None
                raise
        if upcoming:
            ra.prefetch(upcoming)
        fresh, self._fresh = self._fresh, None
        if fresh is not None:
            fresh.flushing = self._bg.submit(cf._flush, fresh.parts(), self.flush_mode)
            self._flushing = fresh
        return results

    def drain(self) -> list[list]:
        """Settle every batch still in the pipeline; their results, oldest first."""
        out = []
        while self._flushing is not None or self._fresh is not None:
            got = self.settle()
            if got is not None:
                out.append(got)
        return out

    def _verify(self, b: _Batch) -> list:
        t0 = time.perf_counter()
        try:
            if b.flushing is not None:
                b.flushing.result()
        except OSError as e:
            b.discard()
            raise cf.TargetError(f"cannot make the files durable on the drive: {e.strerror or e}", e.errno) from e
        if self.device:
            cf.drop_device_cache(self.device)  # else the driver's reads may come from the computer's memory
        t1 = time.perf_counter()
        placed = list(self._pool.map(lambda w: cf._guarded(cf._verify_and_place, w) if isinstance(w, cf._Written)
                                     else w, b.written))
        t2 = time.perf_counter()
        error = next((p for p in placed if isinstance(p, cf.TargetError)), None)
        if error is not None:
            b.discard()  # files not renamed yet; those renamed are copied again by the next run
            raise error
        good = max(1, sum(w.size for w in b.written if isinstance(w, cf._Written)))
        copy_s, read_s = b.copy_seconds + (t1 - t0), t2 - t1
        out: list = []
        for w, p in zip(b.written, placed):
            if isinstance(w, cf._Written) and isinstance(p, float):  # the passes' wall time, shared out by size
                out.append(cf.Copied(w.md5, w.size, copy_s * w.size / good, read_s * w.size / good))
            else:
                out.append(p if isinstance(p, Exception) else w)
        return out

    def close(self) -> None:
        """Wait for the threads (a flush in the background, writes cut short by Ctrl-C); remove the temporary
        files of batches not read back."""
        if self._budget is not None:
            self._budget.close()  # a reader waiting for room gives up
        self._pool.shutdown(wait=True, cancel_futures=True)  # files not started yet are not started
        self._readers.shutdown(wait=True, cancel_futures=True)
        for b in (self._flushing, self._fresh):
            if b is not None:
                if b.flushing is not None:
                    try:
                        b.flushing.result()
                    except OSError:
                        pass
                b.discard()
        self._flushing = self._fresh = None
        self._bg.shutdown(wait=True)
