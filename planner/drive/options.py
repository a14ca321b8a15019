"""What a drive copy is asked to do and what it reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from planner.drive.names import NameProblem


@dataclass
class DriveOptions:
    source: Path
    target: Path
    images_only: bool = False
    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    home: Path | None = None
    fs_type: str | None = None  # override the detected file system (tests, or a system mdplan cannot read)
    map_names: bool = False  # give names the drive cannot hold a safe one, recorded in the bag (mdplan-names.txt)
    reserve_bytes: int = 1024 * 1024  # kept free for the bag's tag files beyond the manifest's own size

    def selection(self) -> list[str]:
        return [f"images_only={self.images_only}", *(f"+{g}" for g in self.include), *(f"-{g}" for g in self.exclude)]


@dataclass
class Progress:
    files_done: int
    files_total: int
    bytes_done: int
    bytes_total: int
    bytes_per_second: float
    eta_seconds: float | None


ProgressFn = Callable[[Progress], None]


@dataclass
class DriveResult:
    job_id: str
    journal_path: str
    outcome: str  # finished | drive full | refused | interrupted | drive error | finished with failures
    exit_code: int
    target: str
    fs_type: str
    drive_no: int | None
    files_copied: int = 0
    bytes_copied: int = 0
    files_on_drive: int = 0
    bytes_on_drive: int = 0
    files_total: int = 0
    bytes_total: int = 0
    files_done_total: int = 0
    drives_used: int = 0
    seconds: float = 0.0
    write_bytes_per_second: float | None = None
    read_bytes_per_second: float | None = None
    copy_bytes_per_second: float | None = None
    problems: list[NameProblem] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    message: str = ""
    report_path: str | None = None
    manifest_path: str | None = None
