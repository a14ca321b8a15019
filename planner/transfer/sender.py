"""Sending one file, with retries: the only code that turns a journal row into storage requests.

Integrity: every byte is hashed as it is read, once. A file up to one request goes up in one Put Blob
whose transactional MD5 the service checks; a bigger one in blocks, each with its own transactional MD5
and an id derived from its bytes (so a block staged by an earlier attempt is reused only when it holds
the file's bytes now), committed with the MD5 of exactly the bytes read as the blob's Content-MD5. The
file is checked to be the same (size, mtime, inode) before and after the read; if it changed, it is
handed back to be sent again rather than committed as a mix of two versions.
"""

from __future__ import annotations

import hashlib
import mimetypes
import queue
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.clock import Clock
from planner.journal import FileRow
from planner.retry import Backoff, NetworkWait
from planner.redact import redact
from planner.storage import BlobStore, RemoteBlob, StoreError
from planner.transfer.files import (FileChanged, NotRegular, block_id, looks_network, open_source, read_exact,
                                    still_same)
from planner.transfer.messages import Kind, Msg
from planner.transfer.options import Overwrite, StopFlag

CLASH_TEXT = ("a different file with this name is already in the container, put there by another job or tool; "
              "not replaced (use --prefix to upload beside it, or --overwrite always to replace it)")


class Stopped(Exception):
    """The job is stopping now (second Ctrl-C, or Ctrl-C during a scheduled pause): hand the file back."""


class Mismatch(Exception):
    """The service holds something other than what we read: a failed attempt, retried."""


@dataclass
class SendPolicy:
    overwrite: Overwrite
    can_read: bool  # the URL may read: staged blocks can be listed and reused, sizes checked after commit
    max_attempts: int
    job_id: str  # written as blob metadata, so a later job can tell its own blobs from others'
    expected_md5: Mapping[str, str] | None = None  # a bag's manifest: what each file must read as


class ManifestMismatch(Exception):
    """The file reads other bytes than the bag's manifest says: it is not sent (committed) at all."""


@dataclass
class Link:
    """What the sender needs of the link: the throttle, time, backoff and the outage detector."""

    throttle: Any  # planner.throttle.Throttle (acquire(n, cancel) -> bool)
    clock: Clock
    network: NetworkWait
    backoff: Backoff
    chunk_size: Callable[[], int]


class Sender:
    """Sends files with retries. Shared by all worker threads (it holds no per-file state)."""

    def __init__(self, store: BlobStore, source: Path, *, link: Link, policy: SendPolicy,
                 remote: dict[str, RemoteBlob], results: "queue.Queue[Msg]", stop: StopFlag) -> None:
        self.store = store
        self.source = source
        self.link = link
        self.policy = policy
        self.remote = remote
        self.results = results
        self.stop = stop

    # One file, all attempts. Always ends with exactly one terminal message for the file.
    def send(self, row: FileRow) -> None:
        attempts = retries = 0
        last_error = ""  # this file's own: the sender is shared by every worker thread
        while True:
            if self.stop.hard.is_set() or (self.stop.soft.is_set() and attempts == 0 and retries == 0):
                self.results.put(Msg(Kind.RELEASED, row.id))
                return
            attempts += 1
            started = self.link.clock.monotonic()
            try:
                msg = self._attempt(row)
            except Exception as e:  # noqa: BLE001 - sorted by _failure
                verdict = self._failure(row, e, attempts, started)
                if verdict is not None:
                    self.results.put(verdict)
                    return
                last_error, answered = _error_text(e)[:200], _answered(e)
            else:
                self.link.network.success()
                self.results.put(msg)
                return
            paused = self.link.network.failure()
            if paused or not answered:
                attempts -= 1  # an outage, or a request the service never answered, is not the file's fault
            if paused and self.link.network.gave_up():
                self.results.put(Msg(Kind.NETWORK_DOWN, row.id, text="gave up waiting"))
                self.results.put(Msg(Kind.RELEASED, row.id))
                return
            if not paused and attempts >= self.policy.max_attempts and self.link.network.streak < attempts:
                # (a streak as long as this file's attempts, with no success anywhere, is the link going
                # down before NetworkWait calls it a pause: keep trying rather than fail the file)
                self.results.put(Msg(Kind.FAIL, row.id, attempts=attempts,
                                     text=f"gave up after {attempts} attempts: {last_error}"))
                return
            retries += 1
            # cut short when the link comes back or the computer wakes from sleep: probe at once
            if not self.link.network.nap(self.link.backoff.delay(retries), self.stop.soft):
                self.results.put(Msg(Kind.RELEASED, row.id))
                return

    def _failure(self, row: FileRow, e: Exception, attempts: int, started: float) -> Msg | None:
        """The terminal message for a failed attempt, or None (after a RETRY message) to try again."""
        if isinstance(e, Stopped):
            return Msg(Kind.RELEASED, row.id)
        if isinstance(e, ManifestMismatch):
            return Msg(Kind.FAIL, row.id, attempts=attempts, text=str(e))
        if isinstance(e, FileChanged):
            return Msg(Kind.CHANGED, row.id, size=e.size, mtime_ns=e.mtime_ns, attempts=attempts)
        local = _local_failure(e)
        if local is not None:
            return Msg(Kind.FAIL, row.id, attempts=attempts, text=local)
        if isinstance(e, StoreError):
            # others got through while this one stalled (its second half): the link is crowded, not dead,
            # and the tuner backs off; an outage says nothing about how many requests to keep in flight
            if e.timeout and self.link.network.succeeded_since((started + self.link.clock.monotonic()) / 2):
                self.results.put(Msg(Kind.TIMEOUT, row.id))
            if e.kind == "sas":
                return Msg(Kind.FATAL, row.id, error=e.error)
            if e.kind == "exists":
                if self.policy.overwrite == "never":
                    return Msg(Kind.SKIP, row.id, attempts=attempts,
                               text="already in the container; not replaced (--overwrite never)")
                return Msg(Kind.CLASH, row.id, attempts=attempts, text=CLASH_TEXT)
            if not e.retryable:
                return Msg(Kind.FAIL, row.id, attempts=attempts, text=redact(str(e.error)))
        elif not isinstance(e, (Mismatch, OSError)):
            raise e  # a bug in mdplan, not a failure of the link: the worker records it
        self.results.put(Msg(Kind.RETRY, row.id, text=_error_text(e)))
        return None

    # -- one attempt -----------------------------------------------------------------------------
    def _attempt(self, row: FileRow) -> Msg:
        content_type = mimetypes.guess_type(row.rel_path)[0] or "application/octet-stream"
        chunk = self.link.chunk_size()
        remote = self.remote.get(row.blob_name)
        if row.size <= chunk:
            return self._put_whole(row, content_type, remote)
        if remote is not None:  # large file with a same-named blob: hash first, maybe nothing to send
            md5_hex = self._md5_of(row)
            self._check_manifest(row, md5_hex)
            decided = self._decide_existing(row, remote, md5_hex)
            if decided:
                return decided
        return self._put_blocks(row, content_type, max(chunk, -(-row.size // 50_000)))  # 50,000 blocks a blob

    def _put_whole(self, row: FileRow, content_type: str, remote: RemoteBlob | None) -> Msg:
        f, opened = open_source(self.source, row.rel_path, row.size, row.mtime_ns)
        with f:
            data = read_exact(f, row.size + 1)
            still_same(f, opened, len(data))
        digest = hashlib.md5(data).digest()
        self._check_manifest(row, digest.hex())
        if remote is not None:
            decided = self._decide_existing(row, remote, digest.hex())
            if decided:
                return decided
        self._pay(len(data))
        self.store.put_blob(row.blob_name, data, content_md5=digest, content_type=content_type,
                            overwrite=self.policy.overwrite != "never", job=self.policy.job_id)
        self.results.put(Msg(Kind.BYTES, row.id, n=len(data)))
        return Msg(Kind.DONE, row.id, md5=digest.hex(), size=len(data))

    def _put_blocks(self, row: FileRow, content_type: str, chunk: int) -> Msg:
        staged = self._staged(row.blob_name)
        whole = hashlib.md5()
        ids: list[str] = []
        sent = 0
        f, opened = open_source(self.source, row.rel_path, row.size, row.mtime_ns)
        with f:
            while True:
                if self.stop.hard.is_set():
                    raise Stopped()
                data = read_exact(f, chunk)
                if not data:
                    break
                whole.update(data)  # the whole file is read: its MD5 covers the reused blocks too
                block_md5 = hashlib.md5(data).digest()
                bid = block_id(len(ids), block_md5)
                if staged.get(bid) != len(data):
                    self._pay(len(data))
                    self.store.stage_block(row.blob_name, bid, data, md5=block_md5)
                    self.results.put(Msg(Kind.BYTES, row.id, n=len(data)))
                ids.append(bid)
                sent += len(data)
            still_same(f, opened, sent)
        digest = whole.digest()
        self._check_manifest(row, digest.hex())
        self.store.commit_blocks(row.blob_name, ids, content_md5=digest, content_type=content_type,
                                 overwrite=self.policy.overwrite != "never", job=self.policy.job_id)
        if self.policy.can_read:
            held = self.store.properties(row.blob_name)
            if held.size != sent:
                raise Mismatch(f"the service holds {held.size} bytes for {row.rel_path}, expected {sent}")
        return Msg(Kind.DONE, row.id, md5=digest.hex(), size=sent)

    def _check_manifest(self, row: FileRow, md5_hex: str) -> None:
        want = (self.policy.expected_md5 or {}).get(row.rel_path)
        if want is not None and want.lower() != md5_hex:
            raise ManifestMismatch(f"the file's MD5 ({md5_hex}) differs from the bag's manifest ({want.lower()}): "
                                   "changed or damaged on the drive; not sent")

    def _staged(self, name: str) -> dict[str, int]:
        """Uncommitted blocks already in the service for this blob: id -> size ({} if none or not allowed).

        Azure keeps them for a week. Listing them needs read permission: an upload-only URL simply
        sends the whole file again."""
        if not self.policy.can_read:
            return {}
        try:
            return {b.block_id: b.size for b in self.store.staged_blocks(name)}
        except StoreError as e:
            if e.retryable:
                raise
            return {}  # no such blob yet (404), or the URL may not read (403)

    def _md5_of(self, row: FileRow) -> str:
        f, opened = open_source(self.source, row.rel_path, row.size, row.mtime_ns)
        h = hashlib.md5()
        got = 0
        with f:
            for piece in iter(lambda: f.read(1024 * 1024), b""):
                h.update(piece)
                got += len(piece)
            still_same(f, opened, got)
        return h.hexdigest()

    def _pay(self, n: int) -> None:
        # a Ctrl-C during a scheduled pause must not wait for the pause to end: abandon the file
        if not self.link.throttle.acquire(n, self.stop.soft):
            raise Stopped()

    def _decide_existing(self, row: FileRow, remote: RemoteBlob, md5_hex: str) -> Msg | None:
        if remote.size == row.size and remote.md5 is not None and remote.md5 == md5_hex:
            return Msg(Kind.ALREADY, row.id, md5=md5_hex)
        if self.policy.overwrite == "never":
            return Msg(Kind.SKIP, row.id, md5=md5_hex,
                       text="a different blob with this name is already in the container (--overwrite never)")
        if self.policy.overwrite != "always" and not self._ours(row, remote):
            return Msg(Kind.CLASH, row.id, md5=md5_hex, text=CLASH_TEXT)
        return None

    def _ours(self, row: FileRow, remote: RemoteBlob) -> bool:
        return remote.job == self.policy.job_id


def _error_text(e: Exception) -> str:
    return redact(str(e.error if isinstance(e, StoreError) else e))[:300]


def _answered(e: Exception) -> bool:
    """Did the service answer this failed attempt? Only then can the failure be about the file; a timeout,
    a reset, a black-holed or garbled reply says nothing about it and is never charged to its attempts."""
    return e.answered if isinstance(e, StoreError) else True


def _local_failure(e: Exception) -> str | None:
    """The reason a file cannot be sent because of the file itself (not the link), or None."""
    if isinstance(e, NotRegular):
        return str(e)
    if isinstance(e, FileNotFoundError):
        return "the file disappeared from the source folder before it was sent"
    if isinstance(e, PermissionError):
        return f"cannot read the file (permission denied: {e.strerror or e})"
    if isinstance(e, IsADirectoryError):
        return "is now a folder, not a file"
    if isinstance(e, OSError) and getattr(e, "winerror", None) is None and not looks_network(e):
        return f"cannot read the file ({e.strerror or e})"
    return None
