"""What an upload is asked to do, what it plans, what it reports, and how it talks to its caller."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from planner.sas import SasUrl
from planner.telemetry import Snapshot

Overwrite = Literal["never", "if-different", "always"]

MiB = 1024 * 1024
SINGLE_PUT_MAX = 8 * MiB  # files up to this go up in one Put Blob when no cap forces smaller requests
BLOCK_SIZE = 8 * MiB  # uncapped block size for large files (videos); memory = workers x block size


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
    monthly_cap: str | None = None  # an ISP's monthly data allowance ("1TB"): the month's bytes stay under it
    polite: bool = False  # yield the link to other traffic (planner.polite), under any cap
    rtt_probe: Callable[[], float | None] | None = None  # polite mode's round-trip probe (None = TCP handshake)
    dry_run: bool = False
    follow_symlinks: bool = False
    max_attempts: int = 6  # per file and run, network outages not counted
    network_patience: float = 6 * 3600.0  # how long to wait for a link that is down before exit 4
    network_down_after: float = 20.0  # seconds of nothing but failures before the job says it is waiting
    home: Path | None = None
    reports: Sequence[Path | str] = ()  # report files/folders this run writes: never sent, even inside the set
    expected_md5: Mapping[str, str] | None = None  # a bag's manifest (rel path -> MD5): a file reading otherwise fails
    blob_names: Mapping[str, str] | None = None  # a bag's renamed files: rel path on the drive -> the original path


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
    state_before: str | None = None  # the job's state before this run (a dry run leaves it so)
    # files that cannot go up as they are named (Azure's rules, or two names that become one blob name):
    # how many, and a few (file shown safely, reason); the upload refuses to start while there are any
    bad_names: int = 0
    bad_name_examples: list[tuple[str, str]] = field(default_factory=list)
    polite_share: float | None = None  # --polite or polite hours: the share of rate_bps polite mode uses (estimate.POLITE_SHARE)


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
    bytes_of_files_sent: int = 0  # sizes of the files this run finished (the next run's "already sent")
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


def _quote(text: str) -> str:
    """Quote for a command line the user copies (double quotes work in cmd, PowerShell and sh)."""
    return '"' + text.replace('"', '\\"') + '"'


def resume_command(opts: UploadOptions) -> str:
    """The command that continues this job: the same folder and every option that shapes the job, only
    the URL left as a placeholder (it is a password and may have to be a new one)."""
    parts = ["mdplan", "upload", _quote(str(Path(opts.source).resolve())), "SAS_URL"]
    if opts.prefix:
        parts += ["--prefix", _quote(opts.prefix)]
    if opts.images_only:
        parts.append("--images-only")
    for g in opts.include:
        parts += ["--include", _quote(g)]
    for g in opts.exclude:
        parts += ["--exclude", _quote(g)]
    if opts.overwrite != "if-different":
        parts += ["--overwrite", opts.overwrite]
    if opts.workers:
        parts += ["--workers", str(opts.workers)]
    if opts.cap_mbps is not None:
        parts += ["--cap-mbps", f"{opts.cap_mbps:g}"]
    if opts.bwlimit is not None:
        parts += ["--bwlimit", _quote(opts.bwlimit)]
    if opts.monthly_cap is not None:
        parts += ["--monthly-cap", _quote(opts.monthly_cap)]
    if opts.polite:
        parts.append("--polite")
    return " ".join(parts)
