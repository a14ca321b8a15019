"""`mdplan upload`: a throttled, parallel, resumable uploader that loses nothing.

Shape (after s3transfer and rclone): one coordinator thread owns the journal and decides; worker
threads only send files and report back through a queue. The flow per run:

  scan the folder into the journal -> plan (what, how much, ETA) -> send pending files -> telemetry

Decisions that matter, and why:
- Each request is charged to one global token bucket *before* it is sent, and no request is larger
  than a quarter of a second of the cap, so the cap holds over 1-second windows. (azure-storage-blob
  reads a whole blob of up to 64 MiB before sending it, so pacing the file stream would only delay
  request starts.)
- Every file's MD5 is computed while it is read, sent as the blob's Content-MD5, and checked against
  what the service returns (single Put Blob) or protected per block by a transactional MD5. A short
  read is caught by comparing the bytes read with the size on disk: the SDK would happily store a
  truncated blob otherwise.
- A file is marked done only after the service acknowledged it; the journal is committed every half
  second, so a `kill -9` costs at most the files finished in that half second, and those are found
  again (same size and MD5 in the container) rather than re-sent when the SAS can list.
- Workers are network-aware: start from the bandwidth-delay product when a rate is known, then add
  workers while the measured rate keeps rising, and halve on timeouts (AzCopy sizes by CPU count and
  times out slow uplinks).
"""

from __future__ import annotations

import fnmatch
import hashlib
import mimetypes
import os
import queue
import random
import sqlite3
import threading
import time
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Protocol

from planner.clock import Clock, SystemClock
from planner.errors import BadInput, ExitCode, Interrupted, MdplanError, SasProblem
from planner.retry import Backoff, NetworkWait, sleep_for
from planner.journal import (FileRow, Journal, ScanRow, State, blob_name_for, clean_prefix, last_rate, last_rtt_ms,
                             remember_rate)
from planner.journal import _journal_error
from planner.sas import SasUrl, redact
from planner.telemetry import Snapshot, Telemetry

Overwrite = Literal["never", "if-different", "always"]

MiB = 1024 * 1024
SINGLE_PUT_MAX = 8 * MiB  # files up to this go up in one Put Blob when no cap forces smaller requests
BLOCK_SIZE = 8 * MiB  # uncapped block size for large files (videos); memory = workers x block size
MAX_WORKERS = 32
MIN_WORKERS = 2


# ------------------------------------------------------------------------------------------------
# Options, plan and result
# ------------------------------------------------------------------------------------------------
@dataclass
class UploadOptions:
    source: Path
    sas: SasUrl
    prefix: str = ""
    images_only: bool = False
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    overwrite: Overwrite = "if-different"
    workers: int | None = None  # None = auto
    bwlimit: str | None = None  # rclone syntax incl. timetables
    cap_mbps: float | None = None  # AzCopy's --cap-mbps (megabits/s)
    dry_run: bool = False
    follow_symlinks: bool = False
    max_attempts: int = 6  # per file and run, network outages not counted
    network_patience: float = 6 * 3600.0  # how long to wait for a link that is down before exit 4
    network_down_after: float = 20.0  # seconds of nothing but failures before the job says it is waiting
    home: Path | None = None


@dataclass
class Plan:
    job_id: str
    journal_path: Path
    source: str
    destination: str
    files_to_send: int
    bytes_to_send: int
    files_done_before: int
    bytes_done_before: int
    excluded: dict[str, tuple[int, int]]  # reason -> (files, bytes)
    conflicts: int
    scan_problems: list[tuple[str, str]]
    resumed: bool
    rate_bps: float | None  # the rate the ETA is based on, when one is known
    rate_source: str | None
    eta_seconds: float | None
    cap: str | None
    sas_expiry: Any = None
    expires_before_finish: bool = False
    advice: str | None = None  # "drive" when the estimate model says mail a drive at this rate
    advice_reasons: list[str] = field(default_factory=list)


@dataclass
class UploadResult:
    job_id: str
    outcome: str  # finished | finished with failures | stopped: SAS problem | network down | interrupted
    exit_code: int
    files_sent: int
    bytes_sent: int
    files_already_there: int
    files_failed: int
    files_total: int
    bytes_total: int
    files_done_total: int
    seconds: float
    average_bits_per_second: float
    retries: int
    journal_path: str
    message: str = ""
    report_path: str | None = None
    manifest_path: str | None = None


class UploadUI(Protocol):
    def plan(self, plan: Plan) -> None: ...

    def confirm(self, question: str) -> bool: ...

    def progress(self, snap: Snapshot, *, files_total: int, bytes_total: int, failed: int,
                 waiting: str | None, workers: int) -> None: ...

    def message(self, text: str) -> None: ...


class QuietUI:
    """No output; confirms nothing. For library callers and tests."""

    def __init__(self, confirm: bool = False) -> None:
        self._confirm = confirm
        self.messages: list[str] = []

    def plan(self, plan: Plan) -> None:
        pass

    def confirm(self, question: str) -> bool:
        return self._confirm

    def progress(self, snap: Snapshot, **kw: Any) -> None:
        pass

    def message(self, text: str) -> None:
        self.messages.append(text)


class StopFlag:
    """Set once by Ctrl-C/SIGTERM (stop starting files), twice for 'stop now'."""

    def __init__(self) -> None:
        self.soft = threading.Event()
        self.hard = threading.Event()
        self.transferring = False  # before the transfer (scan, plan) a Ctrl-C simply stops the command

    def request(self) -> None:
        if self.soft.is_set():
            self.hard.set()
        self.soft.set()


# ------------------------------------------------------------------------------------------------
# Selection: what is sent
# ------------------------------------------------------------------------------------------------
class Selector:
    """Decides, per scanned file, whether it is sent and, if not, the reason shown to the user."""

    def __init__(self, images_only: bool, include: Sequence[str], exclude: Sequence[str]) -> None:
        for g in [*include, *exclude]:
            if not g or not g.strip():
                raise BadInput("An --include/--exclude pattern is empty; give one such as '*.jpg' or 'site1/*'.")
        self.images_only = images_only
        self.include = [g.strip().replace("\\", "/").lower() for g in include]
        self.exclude = [g.strip().replace("\\", "/").lower() for g in exclude]

    @staticmethod
    def _match(pattern: str, rel: str) -> bool:
        if "/" in pattern:
            return fnmatch.fnmatchcase(rel, pattern.lstrip("/"))
        return fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], pattern) or fnmatch.fnmatchcase(rel, pattern)

    def decide(self, rel_path: str, kind: str) -> tuple[bool, str | None]:
        if kind == "litter":
            return False, "drive litter (Thumbs.db, .DS_Store, recycle bin...)"
        if kind == "symlink":
            return False, "symbolic link (not followed)"
        rel = rel_path.lower()
        for g in self.exclude:
            if self._match(g, rel):
                return False, f"excluded by --exclude {g}"
        if self.include and not any(self._match(g, rel) for g in self.include):
            return False, "not matched by any --include"
        if self.images_only and kind != "image":
            return False, f"not an image (--images-only): {kind}"
        return True, None


# ------------------------------------------------------------------------------------------------
# Workers: how many
# ------------------------------------------------------------------------------------------------
def auto_workers(bits_per_second: float | None, rtt_ms: float | None, mean_file_bytes: float = 500_000) -> int:
    """Requests in flight needed to keep a link busy, from its rate and round-trip time.

    Each request spends about two round trips (request + acknowledgement) not sending; while one
    waits, others must be sending. N = 1 + bandwidth x 2 RTT / request size, doubled for variance,
    clamped to [2, 32] and, on slow links, to what keeps each request short (no AzCopy-style timeouts).
    """
    if not bits_per_second or bits_per_second <= 0:
        return 4
    rtt = max((rtt_ms or 20.0) / 1000.0, 0.001)
    bytes_per_s = bits_per_second / 8
    size = max(min(mean_file_bytes, BLOCK_SIZE), 16 * 1024)
    n = 2 * (1 + bytes_per_s * 2 * rtt / size)
    # keep the time a request shares the link under ~20 s: n * size / rate <= 20
    n = min(n, max(MIN_WORKERS, 20 * bytes_per_s / size))
    return int(max(MIN_WORKERS, min(MAX_WORKERS, round(n))))


class WorkerGate:
    """How many workers may be sending at once; the tuner moves the limit, workers wait at the gate."""

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition()
        self.limit = limit
        self.active = 0

    def enter(self, stop: threading.Event) -> bool:
        with self._cond:
            while self.active >= self.limit:
                if stop.is_set():
                    return False
                self._cond.wait(0.2)
            self.active += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self.active -= 1
            self._cond.notify()

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self.limit = limit
            self._cond.notify_all()


class Tuner:
    """Add workers while throughput keeps rising; halve them when requests time out.

    Like iperf's -P ramp with AzCopy bench's rule: the first window after each change is discarded
    (requests started under the old limit are still finishing), growth stops when a step gains less
    than `gain`, and then the limit goes back to the last step that did gain (same rate, fewer
    connections).
    """

    def __init__(self, start: int, maximum: int, *, window: float = 4.0, gain: float = 0.05) -> None:
        self.limit = start
        self.maximum = maximum
        self.window = window
        self.gain = gain
        self._last_rate: float | None = None
        self._previous = start
        self._settled = start >= maximum
        self._skip = False
        self._window_start: float | None = None
        self._window_bytes = 0

    def observe(self, now: float, bytes_acked: int, timeouts: int) -> int | None:
        """Feed acknowledged bytes; returns a new limit when it should change."""
        if timeouts:
            new = max(MIN_WORKERS, self.limit // 2)
            self._settled = True
            self._window_start, self._window_bytes = now, 0
            if new != self.limit:
                self.limit = new
                return new
            return None
        if self._settled:
            return None
        if self._window_start is None:
            self._window_start = now
            return None
        self._window_bytes += bytes_acked
        if now - self._window_start < self.window:
            return None
        rate = self._window_bytes / (now - self._window_start)
        self._window_start, self._window_bytes = now, 0
        if self._skip:
            self._skip = False
            return None
        if self._last_rate is not None and rate < self._last_rate * (1 + self.gain):
            self._settled = True
            if self._previous != self.limit:
                self.limit = self._previous
                return self.limit
            return None
        self._last_rate = rate
        new = min(self.maximum, max(self.limit + 2, int(self.limit * 1.5)))
        if new == self.limit:
            self._settled = True
            return None
        self._previous, self.limit = self.limit, new
        self._skip = True
        return new


# ------------------------------------------------------------------------------------------------
# Messages between workers and coordinator
# ------------------------------------------------------------------------------------------------
class Kind(Enum):
    BYTES = 1  # n bytes acknowledged by the service
    DONE = 2  # file sent and verified
    ALREADY = 3  # same file already in the container
    SKIP = 4  # not sent by policy (exists, --overwrite never)
    FAIL = 5  # gave up on this file for this run
    CHANGED = 6  # file changed on disk while read: re-queue with new stat
    RETRY = 7  # a transient failure, will retry
    FATAL = 8  # SAS/authorisation problem: stop the job
    NETWORK_DOWN = 9
    NETWORK_UP = 10
    TIMEOUT = 11
    RELEASED = 12  # handed back unsent because the job is stopping


@dataclass
class Msg:
    kind: Kind
    file_id: int = 0
    n: int = 0
    md5: str | None = None
    text: str | None = None
    attempts: int = 0
    size: int = 0
    mtime_ns: int = 0
    error: MdplanError | None = None


# ------------------------------------------------------------------------------------------------
# Sending one file
# ------------------------------------------------------------------------------------------------
class _Changed(Exception):
    def __init__(self, size: int, mtime_ns: int) -> None:
        self.size, self.mtime_ns = size, mtime_ns


class _Stopped(Exception):
    """The job is stopping now (second Ctrl-C): hand the file back unsent."""


class _Mismatch(Exception):
    """The service stored something other than what we read: a failed attempt, retried."""


def _read_exact(f: Any, n: int) -> bytes:
    """Read n bytes or up to EOF, looping over short reads (a short read must never truncate a blob)."""
    parts = []
    got = 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _block_id(key: bytes, i: int) -> str:
    """Block i of one version of a file cut at one block size (`key` = _blocks_key).

    The same file, unchanged and cut the same way, gets the same ids in every run, so blocks staged
    before a crash or a lost connection are recognised and not sent again; a changed file, or other
    block sizes, get other ids, so a stale block is never taken for a current one. Always 15 bytes
    (20 base64 characters): Azure wants every block id of a blob to have the same length.
    """
    return b64encode(b"md" + key + i.to_bytes(4, "big")).decode()


def _blocks_key(size: int, mtime_ns: int, chunk: int) -> bytes:
    return hashlib.sha256(f"{size}:{mtime_ns}:{chunk}".encode()).digest()[:9]


class Sender:
    """Sends files with retries. Shared by all worker threads (it holds no per-file state)."""

    def __init__(self, *, container: Any, source: Path, throttle: Any, clock: Clock, results: "queue.Queue[Msg]",
                 stop: StopFlag, overwrite: Overwrite, can_read: bool, remote: dict[str, tuple[int, str | None]],
                 max_attempts: int, network: NetworkWait, backoff: Backoff, chunk_size: Callable[[], int]) -> None:
        self.container = container
        self.source = source
        self.throttle = throttle
        self.clock = clock
        self.results = results
        self.stop = stop
        self.overwrite = overwrite
        self.can_read = can_read
        self.remote = remote
        self.max_attempts = max_attempts
        self.network = network
        self.backoff = backoff
        self.chunk_size = chunk_size

    # One file, all attempts. Always ends with exactly one terminal message for the file.
    def send(self, row: FileRow) -> None:
        from planner.destination import is_transient, map_azure_error

        attempts = 0
        delay_n = 0
        while True:
            if self.stop.hard.is_set() or (self.stop.soft.is_set() and attempts == 0 and delay_n == 0):
                self.results.put(Msg(Kind.RELEASED, row.id))
                return
            try:
                attempts += 1
                msg = self._attempt(row)
                self.network.success()
                self.results.put(msg)
                return
            except _Stopped:
                self.results.put(Msg(Kind.RELEASED, row.id))
                return
            except _Changed as c:
                self.results.put(Msg(Kind.CHANGED, row.id, size=c.size, mtime_ns=c.mtime_ns, attempts=attempts))
                return
            except FileNotFoundError:
                self.results.put(Msg(Kind.FAIL, row.id, attempts=attempts,
                                     text="the file disappeared from the source folder before it was sent"))
                return
            except PermissionError as e:
                self.results.put(Msg(Kind.FAIL, row.id, attempts=attempts,
                                     text=f"cannot read the file (permission denied: {e.strerror or e})"))
                return
            except IsADirectoryError:
                self.results.put(Msg(Kind.FAIL, row.id, attempts=attempts, text="is now a folder, not a file"))
                return
            except OSError as e:
                if getattr(e, "winerror", None) is None and not _looks_network(e):
                    self.results.put(Msg(Kind.FAIL, row.id, attempts=attempts,
                                         text=f"cannot read the file ({e.strerror or e})"))
                    return
                err: BaseException = e
            except _Mismatch as e:
                err = e
            except Exception as e:  # azure / transport errors
                err = e
            # -- decide what the failure means
            if isinstance(err, _Mismatch):
                transient = True
            elif self.overwrite == "never" and getattr(err, "status_code", None) in (409, 412):
                self.results.put(Msg(Kind.SKIP, row.id, attempts=attempts,
                                     text="already in the container; not replaced (--overwrite never)"))
                return
            else:
                mapped = map_azure_error(err, None)
                if isinstance(mapped, SasProblem):
                    self.results.put(Msg(Kind.FATAL, row.id, error=mapped))
                    return
                transient = is_transient(err)
                if _is_timeout(err):
                    self.results.put(Msg(Kind.TIMEOUT, row.id))
                if not transient:
                    self.results.put(Msg(Kind.FAIL, row.id, attempts=attempts, text=redact(f"{mapped}")))
                    return
            self.results.put(Msg(Kind.RETRY, row.id, text=redact(str(err))[:300]))
            if self.network.failure():
                attempts -= 1  # an outage is not the file's fault
                if self.network.gave_up():
                    self.results.put(Msg(Kind.NETWORK_DOWN, row.id, text="gave up waiting"))
                    self.results.put(Msg(Kind.RELEASED, row.id))
                    return
            elif attempts >= self.max_attempts and self.network.streak < attempts:
                # (a streak as long as this file's attempts, with no success anywhere, is the link going
                # down before NetworkWait calls it a pause: keep trying rather than fail the file)
                self.results.put(Msg(Kind.FAIL, row.id, attempts=attempts,
                                     text=f"gave up after {attempts} attempts: {redact(str(err))[:200]}"))
                return
            delay_n += 1
            if not sleep_for(self.clock, self.backoff.delay(delay_n), self.stop.soft):
                self.results.put(Msg(Kind.RELEASED, row.id))
                return

    def _attempt(self, row: FileRow) -> Msg:
        from azure.storage.blob import BlobBlock, ContentSettings

        path = self.source.joinpath(*row.rel_path.split("/"))
        st = os.stat(path, follow_symlinks=False)
        if st.st_size != row.size or st.st_mtime_ns != row.mtime_ns:
            raise _Changed(st.st_size, st.st_mtime_ns)
        blob = self.container.get_blob_client(row.blob_name)
        content_type = mimetypes.guess_type(row.rel_path)[0] or "application/octet-stream"
        remote = self.remote.get(row.blob_name)
        chunk = self.chunk_size()
        cond: dict[str, Any] = {}
        if self.overwrite == "never":
            cond["if_none_match"] = "*"
        md5 = hashlib.md5()

        if row.size <= chunk:
            with open(path, "rb") as f:
                data = _read_exact(f, row.size + 1)
            self._same_file(path, row, len(data))
            md5.update(data)
            digest = md5.digest()
            if remote is not None:
                decided = self._decide_existing(row, remote, digest.hex())
                if decided:
                    return decided
            self._pay(len(data))
            resp = blob.upload_blob(data, overwrite=self.overwrite != "never", length=len(data),
                                    content_settings=ContentSettings(content_type=content_type, content_md5=digest),
                                    max_concurrency=1, **cond)
            returned = resp.get("content_md5")
            if returned is not None and bytes(returned) != digest:
                raise _Mismatch(f"the service stored different bytes for {row.rel_path} (MD5 mismatch)")
            self.results.put(Msg(Kind.BYTES, row.id, n=len(data)))
            return Msg(Kind.DONE, row.id, md5=digest.hex(), size=len(data))

        if remote is not None:  # large file with a same-named blob: hash first, maybe nothing to send
            digest_hex = md5_file(path)
            decided = self._decide_existing(row, remote, digest_hex)
            if decided:
                return decided
        chunk = max(chunk, -(-row.size // 50_000))  # Azure allows 50,000 blocks per blob
        key = _blocks_key(row.size, row.mtime_ns, chunk)
        staged = self._staged_blocks(blob)  # from an earlier attempt or run: each was MD5-checked on arrival
        blocks = []
        sent = 0
        with open(path, "rb") as f:
            i = 0
            while True:
                if self.stop.hard.is_set():
                    raise _Stopped()
                data = _read_exact(f, chunk)
                if not data:
                    break
                md5.update(data)  # the whole file is still read: its MD5 covers the reused blocks too
                bid = _block_id(key, i)
                if staged.get(bid) != len(data):
                    self._pay(len(data))
                    blob.stage_block(bid, data, length=len(data), validate_content=True)
                    self.results.put(Msg(Kind.BYTES, row.id, n=len(data)))
                blocks.append(BlobBlock(block_id=bid))
                sent += len(data)
                i += 1
        self._same_file(path, row, sent)
        digest = md5.digest()
        blob.commit_block_list(blocks, content_settings=ContentSettings(content_type=content_type, content_md5=digest),
                               **cond)
        if self.can_read:
            props = blob.get_blob_properties()
            if props.size != sent:
                raise _Mismatch(f"the service holds {props.size} bytes for {row.rel_path}, expected {sent}")
        return Msg(Kind.DONE, row.id, md5=digest.hex(), size=sent)

    def _staged_blocks(self, blob: Any) -> dict[str, int]:
        """Uncommitted blocks already in the service for this blob: id -> size ({} if none or not allowed).

        Azure keeps them for a week. Listing them needs read permission: an upload-only URL simply
        sends the whole file again."""
        from azure.core.exceptions import HttpResponseError

        if not self.can_read:
            return {}
        try:
            _committed, uncommitted = blob.get_block_list("uncommitted")
        except HttpResponseError:  # no such blob yet (404), or the URL may not read (403)
            return {}
        return {b.id: b.size for b in uncommitted}

    def _pay(self, n: int) -> None:
        # a Ctrl-C during a scheduled pause must not wait for the pause to end: abandon the file
        if not self.throttle.acquire(n, self.stop.soft):
            raise _Stopped()

    def _same_file(self, path: Path, row: FileRow, bytes_read: int) -> None:
        st = os.stat(path, follow_symlinks=False)
        if bytes_read != row.size or st.st_size != row.size or st.st_mtime_ns != row.mtime_ns:
            raise _Changed(st.st_size, st.st_mtime_ns)

    def _decide_existing(self, row: FileRow, remote: tuple[int, str | None], md5_hex: str) -> Msg | None:
        size, rmd5 = remote
        same = size == row.size and rmd5 is not None and rmd5 == md5_hex
        if same:
            return Msg(Kind.ALREADY, row.id, md5=md5_hex)
        if self.overwrite == "never":
            return Msg(Kind.SKIP, row.id, md5=md5_hex,
                       text="a different blob with this name is already in the container (--overwrite never)")
        return None


def md5_file(path: Path) -> str:
    """Hex MD5 of a file, read in 1 MiB pieces (also used by verify)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def _looks_network(e: OSError) -> bool:
    import errno

    return e.errno in (errno.ECONNRESET, errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                       errno.ENETUNREACH, errno.EPIPE, errno.ECONNABORTED)


def _is_timeout(e: BaseException) -> bool:
    name = type(e).__name__.lower()
    return "timeout" in name or "timed out" in str(e).lower()


# ------------------------------------------------------------------------------------------------
# The job
# ------------------------------------------------------------------------------------------------
def build_timetable(cap_mbps: float | None, bwlimit: str | None) -> Any:
    """One Timetable from AzCopy's --cap-mbps or rclone's --bwlimit (not both)."""
    from planner.throttle import Timetable

    if cap_mbps is not None and bwlimit is not None:
        raise BadInput("Give either --cap-mbps or --bwlimit, not both.")
    if cap_mbps is not None:
        if not (cap_mbps > 0) or cap_mbps != cap_mbps or cap_mbps == float("inf"):
            raise BadInput("--cap-mbps takes a number of megabits per second above zero, such as 20.")
        return Timetable.from_cap_mbps(cap_mbps)
    if bwlimit is not None:
        return Timetable.parse(bwlimit)
    return None


def scan_into_journal(journal: Journal, source: Path, selector: Selector, prefix: str,
                      follow_symlinks: bool) -> None:
    from planner.scan import iter_files, site_of

    problems: list[tuple[str, str]] = []

    def on_problem(path: Any, reason: Any) -> None:
        problems.append((str(path), str(reason)))

    def rows():
        for e in iter_files(source, follow_symlinks=follow_symlinks, on_problem=on_problem):
            kind = getattr(e.kind, "value", str(e.kind)).lower()
            selected, reason = selector.decide(e.rel_path, kind)
            yield ScanRow(e.rel_path, blob_name_for(e.rel_path, prefix), site_of(e.rel_path), kind, e.size,
                          e.mtime_ns, selected, reason)

    journal.record_scan(rows())
    journal.mark_vanished()
    journal.record_problems(problems)


def prepare(opts: UploadOptions, ui: UploadUI, clock: Clock | None = None) -> tuple[Journal, Plan]:
    """Scan into the journal and build the plan. The caller closes the journal."""
    from planner.scan import source_folder

    source = source_folder(opts.source)
    sas = opts.sas
    prefix = clean_prefix(sas.prefix, opts.prefix)
    selector = Selector(opts.images_only, opts.include, opts.exclude)
    timetable = build_timetable(opts.cap_mbps, opts.bwlimit)
    journal = Journal.open(source, sas.account_url, sas.account_name, sas.container, prefix, home=opts.home)
    try:
        resumed = journal.scan_complete or bool(journal.runs())
        journal.begin_run(workers=str(opts.workers or "auto"), cap=timetable.describe() if timetable else None)
        journal.set_options({"images_only": opts.images_only, "include": list(opts.include),
                             "exclude": list(opts.exclude), "overwrite": opts.overwrite,
                             "cap": str(timetable) if timetable else None})
        journal.set_state("scanning")
        scan_into_journal(journal, source, selector, prefix, opts.follow_symlinks)
        journal.reset_for_run()
        plan = _make_plan(journal, opts, timetable, resumed, clock or SystemClock())
        journal.set_run_plan(files=plan.files_to_send, bytes_=plan.bytes_to_send, predicted_seconds=plan.eta_seconds)
        return journal, plan
    except sqlite3.Error as e:  # the journal's disk filled up or went read-only: say where, exit 2
        journal.close()
        raise _journal_error(journal.path, e) from None
    except BaseException:
        journal.close()
        raise


def _make_plan(journal: Journal, opts: UploadOptions, timetable: Any, resumed: bool, clock: Clock) -> Plan:
    c = journal.counts()
    info = journal.info()
    to_send_files = c.n(State.PENDING) + c.n(State.UPLOADING)
    to_send_bytes = c.b(State.PENDING) + c.b(State.UPLOADING)
    hint = last_rate(opts.sas.account_url, opts.sas.container, opts.home)
    rate = hint[0] if hint else None
    eta = None
    if rate:
        eta = _eta(to_send_bytes, rate / 8, timetable, clock)
    advice, reasons = None, []
    if rate and to_send_bytes:
        try:
            advice, reasons = _advice(to_send_files, to_send_bytes, rate)
        except Exception:  # advice is a courtesy; the plan stands without it
            advice, reasons = None, []
    expiry = opts.sas.expiry
    expires_first = False
    if expiry is not None and eta is not None:
        expires_first = expiry.timestamp() < time.time() + eta
    return Plan(
        job_id=info.job_id, journal_path=journal.path, source=str(Path(opts.source).resolve()),
        destination=info.destination, files_to_send=to_send_files, bytes_to_send=to_send_bytes,
        files_done_before=c.n(State.DONE), bytes_done_before=c.b(State.DONE),
        excluded={k: (v, c.excluded_bytes.get(k, 0)) for k, v in c.excluded_files.items()},
        conflicts=c.n(State.CONFLICT), scan_problems=journal.problems(), resumed=resumed,
        rate_bps=rate, rate_source=hint[1] if hint else None, eta_seconds=eta,
        cap=timetable.describe() if timetable else None, sas_expiry=expiry, expires_before_finish=expires_first,
        advice=advice, advice_reasons=reasons,
    )


def _eta(remaining_bytes: int, link_bytes_per_s: float, timetable: Any, clock: Clock) -> float:
    if timetable is None:
        return remaining_bytes / link_bytes_per_s
    from planner.throttle import eta_seconds

    return eta_seconds(remaining_bytes, link_bytes_per_s, timetable, clock.now())


def _advice(files: int, nbytes: int, bits_per_second: float) -> tuple[str | None, list[str]]:
    """The estimate model's verdict for what is left at this rate (upload vs mail a drive)."""
    from planner import estimate

    fn = getattr(estimate, "advise", None)
    if fn is None:
        return None, []
    rec = fn(files=files, nbytes=nbytes, bits_per_second=bits_per_second)
    return rec.recommendation, list(rec.reasons)


def run(opts: UploadOptions, ui: UploadUI | None = None, *, clock: Clock | None = None,
        stop: StopFlag | None = None, rng: random.Random | None = None, assume_yes: bool = False,
        interactive: bool = False, awake: Callable[[], Any] | None = None) -> tuple[UploadResult | None, Plan]:
    """Plan and, unless dry_run, carry out the upload. Returns (result or None for a dry run, plan).

    `awake`, if given, is a context manager factory held around the transfer itself (the CLI uses it
    to keep the computer from sleeping only while data is being sent).
    """
    ui = ui or QuietUI()
    clock = clock or SystemClock()
    stop = stop or StopFlag()
    journal, plan = prepare(opts, ui, clock)
    try:
        ui.plan(plan)
        if opts.dry_run:
            journal.end_run("planned (dry run)", 0)
            return None, plan
        if plan.advice == "drive" and not assume_yes:
            if not interactive:
                raise BadInput(
                    "At the measured rate, mailing a drive would be faster than uploading this set. Run "
                    "`mdplan estimate` to see why, or add --yes to upload anyway.")
            if not ui.confirm("Mailing a drive looks faster at this rate. Upload anyway?"):
                journal.end_run("not started (user chose not to)", int(ExitCode.INTERRUPTED))
                raise Interrupted("Not started. Nothing was sent; run the same command again when you are ready.")
        if awake is None:
            result = _transfer(journal, opts, plan, ui, clock, stop, rng or random.Random())
        else:
            with awake():
                result = _transfer(journal, opts, plan, ui, clock, stop, rng or random.Random())
        return result, plan
    except sqlite3.Error as e:  # the journal's disk filled up or went read-only mid-job: say where, exit 2
        raise _journal_error(journal.path, e) from None
    finally:
        journal.close()


def _transfer(journal: Journal, opts: UploadOptions, plan: Plan, ui: UploadUI, clock: Clock, stop: StopFlag,
              rng: random.Random) -> UploadResult:
    from planner.destination import container_client, map_azure_error

    sas = opts.sas
    timetable = build_timetable(opts.cap_mbps, opts.bwlimit)
    _preflight(sas)
    telemetry = Telemetry(clock, time.time())
    from planner.throttle import Throttle

    throttle = Throttle(timetable, clock)

    def chunk_size() -> int:
        return min(SINGLE_PUT_MAX, throttle.chunk_size()) if timetable is not None else SINGLE_PUT_MAX

    container = container_client(sas, transport=_transport(MAX_WORKERS + 4))
    stop.transferring = True
    journal.event("run", f"run {journal.run_id} started")
    started = clock.monotonic()

    # What is already in the container, so a re-run after a crash finds instead of re-sends.
    remote: dict[str, tuple[int, str | None]] = {}
    can_read = sas.can("r") is not False
    if opts.overwrite != "always" and plan.files_to_send and sas.can("l") is not False:
        remote = _list_remote(container, clean_prefix(sas.prefix, opts.prefix), journal, map_azure_error,
                              Backoff(max_attempts=opts.max_attempts, rng=rng, clock=clock))

    results: queue.Queue[Msg] = queue.Queue()
    tasks: queue.Queue[FileRow | None] = queue.Queue()
    network = NetworkWait(clock, seconds=opts.network_down_after, patience=opts.network_patience)
    hint_rtt = last_rtt_ms(sas.account_url, sas.container, opts.home)
    start_workers = opts.workers or auto_workers(plan.rate_bps, hint_rtt)
    max_workers = opts.workers or MAX_WORKERS
    gate = WorkerGate(start_workers)
    tuner = None if opts.workers else Tuner(start_workers, max_workers)
    sender = Sender(container=container, source=Path(opts.source), throttle=throttle, clock=clock, results=results,
                    stop=stop, overwrite=opts.overwrite, can_read=can_read, remote=remote,
                    max_attempts=opts.max_attempts, network=network,
                    backoff=Backoff(max_attempts=opts.max_attempts, rng=rng, clock=clock), chunk_size=chunk_size)
    quit_workers = threading.Event()

    def worker() -> None:
        while not quit_workers.is_set():
            try:
                row = tasks.get(timeout=0.2)
            except queue.Empty:
                continue
            if row is None:
                return
            if not gate.enter(stop.hard):
                results.put(Msg(Kind.RELEASED, row.id))
                continue
            try:
                sender.send(row)
            except BaseException as e:  # never lose a file to a bug in a worker
                results.put(Msg(Kind.FAIL, row.id, attempts=1, text=f"internal error: {redact(e)}"))
            finally:
                gate.leave()

    threads = [threading.Thread(target=worker, name=f"mdplan-upload-{i}", daemon=True) for i in range(max_workers)]
    for t in threads:
        t.start()

    in_flight: set[int] = set()
    sizes: dict[int, int] = {}
    last_id = 0
    exhausted = False
    fatal: MdplanError | None = None
    network_gave_up = False
    failed = sent_files = already = 0
    sent_bytes = 0
    last_commit = clock.monotonic()
    last_ui = 0.0
    timeouts = 0
    waiting: str | None = None
    pause_started: float | None = None
    files_total = plan.files_to_send
    bytes_total = plan.bytes_to_send
    remaining_bytes = bytes_total

    def refill() -> None:
        nonlocal last_id, exhausted
        want = max(64, gate.limit * 4)
        if exhausted or len(in_flight) >= want or stop.soft.is_set() or fatal or network_gave_up:
            return
        rows = journal.take_batch(want - len(in_flight), last_id)
        if not rows:
            exhausted = True
            return
        for r in rows:
            in_flight.add(r.id)
            sizes[r.id] = r.size
            tasks.put(r)
        last_id = rows[-1].id

    try:
        refill()
        while in_flight:
            if stop.hard.is_set():
                break
            try:
                m = results.get(timeout=0.25)
            except queue.Empty:
                m = None
            if m is not None:
                k = m.kind
                if k is Kind.BYTES:
                    telemetry.add_bytes(m.n)
                    sent_bytes += m.n
                elif k is Kind.DONE:
                    journal.mark_done(m.file_id, m.md5 or "")
                    telemetry.add_file()
                    sent_files += 1
                    remaining_bytes -= sizes.get(m.file_id, 0)
                    in_flight.discard(m.file_id)
                elif k is Kind.ALREADY:
                    journal.mark_done(m.file_id, m.md5 or "", note="already in the container (same size and MD5)")
                    already += 1
                    remaining_bytes -= sizes.get(m.file_id, 0)
                    in_flight.discard(m.file_id)
                elif k is Kind.SKIP:
                    journal.mark(m.file_id, State.SKIPPED, m.text, md5=m.md5)
                    remaining_bytes -= sizes.get(m.file_id, 0)
                    in_flight.discard(m.file_id)
                elif k is Kind.FAIL:
                    journal.mark(m.file_id, State.FAILED, m.text, attempts=m.attempts)
                    failed += 1
                    remaining_bytes -= sizes.get(m.file_id, 0)
                    in_flight.discard(m.file_id)
                elif k is Kind.CHANGED:
                    # changed while read: new size/mtime recorded and re-queued at the end of this run
                    journal.update_stat(m.file_id, m.size, m.mtime_ns)
                    journal.mark(m.file_id, State.PENDING, "changed while being read; sent again")
                    remaining_bytes += m.size - sizes.get(m.file_id, 0)
                    in_flight.discard(m.file_id)
                    if m.attempts >= opts.max_attempts:
                        journal.mark(m.file_id, State.FAILED, "keeps changing while being read (is a camera or"
                                     " program still writing it?)", attempts=m.attempts)
                        failed += 1
                    else:
                        exhausted = False
                        last_id = min(last_id, m.file_id - 1)
                elif k is Kind.RELEASED:
                    journal.mark(m.file_id, State.PENDING, None)
                    in_flight.discard(m.file_id)
                elif k is Kind.RETRY:
                    telemetry.add_retry()
                elif k is Kind.TIMEOUT:
                    timeouts += 1
                elif k is Kind.FATAL:
                    if fatal is None:
                        fatal = m.error
                        journal.event("stop", str(m.error))
                        stop.soft.set()
                    journal.mark(m.file_id, State.PENDING, None)
                    in_flight.discard(m.file_id)
                elif k is Kind.NETWORK_DOWN:
                    network_gave_up = True
                    stop.soft.set()
            now = clock.monotonic()
            # network pause bookkeeping (shown to the user, shaded in the report)
            if network.paused and waiting is None:
                waiting = "waiting for network: the storage service cannot be reached; retrying by itself"
                pause_started = time.time()
                journal.event("pause", "network down")
                ui.message("Waiting for network: cannot reach the storage service. mdplan keeps trying and "
                           "carries on by itself; you do not need to do anything.")
            elif not network.paused and waiting is not None:
                waiting = None
                journal.event("resume", f"network back after {time.time() - (pause_started or time.time()):.0f} s")
                ui.message("Network is back; carrying on.")
            if timetable is not None:
                rate = timetable.rate_at(clock.now())
                telemetry.cap_bps = rate * 8 if rate is not None else None
            telemetry.workers = gate.limit
            if tuner is not None and m is not None:
                new = tuner.observe(now, m.n if m.kind is Kind.BYTES else 0, 1 if m.kind is Kind.TIMEOUT else 0)
                if new:
                    gate.set_limit(new)
            elif tuner is not None:
                new = tuner.observe(now, 0, 0)
                if new:
                    gate.set_limit(new)
            refill()
            if now - last_commit >= 0.5:
                journal.add_telemetry(telemetry.drain())
                journal.commit()
                last_commit = now
            if now - last_ui >= 0.5:
                last_ui = now
                eta_fn = (lambda b, r: _eta(b, r, timetable, clock)) if timetable is not None else None
                ui.progress(telemetry.snapshot(max(0, remaining_bytes), eta_fn=eta_fn), files_total=files_total,
                            bytes_total=bytes_total, failed=failed, waiting=waiting, workers=gate.limit)
            if stop.soft.is_set() and not in_flight:
                break
    finally:
        quit_workers.set()
        for _ in threads:
            tasks.put(None)
        journal.add_telemetry(telemetry.drain())
        journal.commit()
        # whatever a worker still held goes back to pending, never lost
        journal.release_uploading()
        if waiting is not None:
            journal.event("resume", "run ended while waiting for network")

    seconds = clock.monotonic() - started
    c = journal.counts()
    if telemetry.average_bps() > 0 and sent_bytes > 1_000_000:
        remember_rate(sas.account_url, sas.container, telemetry.average_bps(), "upload", opts.home)
    failed_now = c.n(State.FAILED) + c.n(State.CONFLICT)
    resume = f"mdplan upload \"{plan.source}\" SAS_URL"
    if fatal is not None:
        outcome, code = "stopped: SAS problem", ExitCode.SAS_PROBLEM
        message = f"{fatal} Sent so far is saved. To continue: {resume} (with a new URL if this one expired)."
    elif network_gave_up:
        outcome, code = "network down", ExitCode.NETWORK
        message = f"The storage service could not be reached for too long. Run `{resume}` when the link is back."
    elif stop.soft.is_set() or stop.hard.is_set():
        outcome, code = "interrupted", ExitCode.INTERRUPTED
        message = f"Stopped. Everything sent so far is saved. To carry on, run the same command again: {resume}"
    elif failed_now:
        outcome, code = "finished with failures", ExitCode.PARTIAL
        message = (f"{failed_now} file(s) could not be sent (see the report for why); everything else is there. "
                   f"Run the same command again to retry them.")
    else:
        outcome, code = "finished", ExitCode.OK
        message = "Every file is in the container, checked by MD5."
    journal.end_run(outcome, int(code))
    return UploadResult(
        job_id=plan.job_id, outcome=outcome, exit_code=int(code), files_sent=sent_files, bytes_sent=sent_bytes,
        files_already_there=already, files_failed=failed_now, files_total=c.total_files, bytes_total=c.total_bytes,
        files_done_total=c.n(State.DONE), seconds=seconds, average_bits_per_second=telemetry.average_bps(),
        retries=telemetry.retries, journal_path=str(journal.path), message=message,
    )


def _preflight(sas: SasUrl) -> None:
    """Refuse before any byte is sent when the URL itself says the upload cannot work."""
    from datetime import datetime, timezone

    if sas.expiry is not None and sas.expiry <= datetime.now(timezone.utc):
        raise SasProblem(f"This SAS URL expired on {sas.expiry:%Y-%m-%d %H:%M} UTC.",
                         hint="Ask the MegaDetector team for a new URL, then run the same command with it.")
    if sas.permissions is not None and not ({"w", "c"} & set(sas.permissions)):
        raise SasProblem("This SAS URL cannot write (it only allows: "
                         f"{sas.permissions}). Nothing was sent.",
                         hint="Ask the MegaDetector team for an upload (write) URL.")


def _list_remote(container: Any, prefix: str, journal: Journal, map_error: Callable,
                 backoff: Backoff | None = None) -> dict[str, tuple[int, str | None]]:
    """Blobs already under the prefix: name -> (size, md5 hex). Empty when the SAS may not list.

    Transient failures (503, reset, timeout) are retried with `backoff` like any upload request: one
    busy answer to the first request of a run must not end the job."""
    from azure.core.exceptions import HttpResponseError

    from planner.destination import is_transient

    attempt = 0
    while True:
        attempt += 1
        out: dict[str, tuple[int, str | None]] = {}
        try:
            for b in container.list_blobs(name_starts_with=f"{prefix}/" if prefix else None):
                md5 = b.content_settings.content_md5 if b.content_settings else None
                out[b.name] = (int(b.size or 0), bytes(md5).hex() if md5 else None)
            return out
        except HttpResponseError as e:
            code = str(getattr(e, "error_code", "") or "")
            if e.status_code == 403 and code == "AuthorizationPermissionMismatch":
                return {}  # a write-only intake URL: rely on the journal, never fail for lack of list permission
            failure: Exception = e
        except Exception as e:
            failure = e
        if backoff is None or not is_transient(failure) or not backoff.should_retry(attempt):
            raise map_error(failure, None) from None
        backoff.sleep(attempt)


def _transport(pool: int) -> Any:
    """requests' default pool keeps 10 connections; we keep one per worker so none is re-opened."""
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=True, connection_timeout=20, read_timeout=120)
