"""The journal's rows as values: file states, a job's summary, counts, one file, one scanned entry."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path


class State(str, Enum):
    PENDING = "pending"
    UPLOADING = "uploading"  # handed to a worker; after a crash it is re-checked, then re-sent if needed
    DONE = "done"  # acknowledged by the service with a matching MD5, or found there already
    FAILED = "failed"  # gave up for this run (reason in last_error); retried on the next run
    SKIPPED = "skipped"  # not sent on purpose: litter, filters, already there with --overwrite never
    CONFLICT = "conflict"  # another local file maps to the same blob name; needs the user's decision


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    path: Path
    source: str
    account_url: str
    account_name: str
    container: str
    prefix: str
    state: str
    created: float
    updated: float
    files_total: int = 0
    files_done: int = 0
    files_failed: int = 0
    bytes_total: int = 0
    bytes_done: int = 0

    @property
    def destination(self) -> str:
        return "/".join(p for p in (self.account_name, self.container, self.prefix) if p)


@dataclass
class Counts:
    """Files and bytes per state among the files selected for upload, plus what was left out."""

    files: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    excluded_files: dict[str, int] = field(default_factory=dict)  # reason -> count
    excluded_bytes: dict[str, int] = field(default_factory=dict)

    def n(self, state: State) -> int:
        return self.files.get(state.value, 0)

    def b(self, state: State) -> int:
        return self.bytes.get(state.value, 0)

    @property
    def total_files(self) -> int:
        return sum(self.files.values())

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes.values())


@dataclass(frozen=True)
class FileRow:
    id: int
    rel_path: str
    blob_name: str
    size: int
    mtime_ns: int
    md5: str | None
    state: str
    attempts: int
    last_error: str | None
    site: str


@dataclass(frozen=True)
class ScanRow:
    rel_path: str
    blob_name: str
    site: str
    kind: str
    size: int
    mtime_ns: int
    selected: bool
    reason: str | None
