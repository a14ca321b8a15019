"""The report's input: plain dataclasses that the journal, the estimate or a test fill.

Nothing here knows the journal or the estimate model (`sources` builds these from them), so a report
can be drawn from a live job, a finished job's journal or synthetic data alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable


@dataclass(frozen=True)
class Totals:
    """Files and bytes of one upload job, by outcome.

    `planned` counts the files selected for upload (litter and excluded files are not in it);
    `done` were sent by mdplan; `skipped` were already in the container and not sent again;
    `failed` gave up after retries. Whatever is left (`files_left`) was not attempted yet.
    """

    files_planned: int
    bytes_planned: int
    files_done: int = 0
    bytes_done: int = 0
    files_skipped: int = 0
    bytes_skipped: int = 0
    files_failed: int = 0
    bytes_failed: int = 0

    @property
    def files_there(self) -> int:
        return self.files_done + self.files_skipped

    @property
    def bytes_there(self) -> int:
        return self.bytes_done + self.bytes_skipped

    @property
    def files_left(self) -> int:
        return max(0, self.files_planned - self.files_there - self.files_failed)

    @property
    def bytes_left(self) -> int:
        return max(0, self.bytes_planned - self.bytes_there - self.bytes_failed)


@dataclass(frozen=True)
class SiteRow:
    """One top-level folder of the source. `files_skipped`: not sent (already there or left out)."""

    site: str
    files_sent: int
    bytes_sent: int
    files_skipped: int
    files_failed: int


@dataclass(frozen=True)
class FailureRow:
    path: str
    reason: str
    attempts: int


@dataclass(frozen=True)
class ManifestRow:
    """One line of the CSV manifest. `note`: why a file was left out or failed, if it was."""

    rel_path: str
    blob_name: str
    bytes: int
    md5_hex: str | None
    state: str
    note: str | None = None


@dataclass(frozen=True)
class RunRow:
    """One run of the job (one `mdplan upload` until it ended). `start`/`end`: seconds since the job's
    first run started (the report's time axis); `end` is now for a run still going."""

    number: int
    start: float
    end: float
    outcome: str  # "finished", "interrupted", ... or "running"
    files_sent: int = 0
    bytes_sent: int = 0
    cap: str | None = None
    workers: str | None = None

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass
class UploadReportData:
    """Everything the upload report shows, for the whole job. Times in the series are seconds since
    `started` (the first run's start); `runs` says when each run went, the rest of the axis is the gaps
    between runs (nothing is sent there).

    throughput: (second, bytes whose upload completed in that second), as the journal's telemetry
      stores it; seconds with nothing completed may be left out.
    cap_series: (second, cap in bits/s or None for no cap) at each change of the cap, in time order.
    pauses: (start second, end second, reason), e.g. waiting for the network.
    predicted_seconds / predicted_progress: the estimate made before sending, if any: a total time,
      or points (second, cumulative bytes). With only a total, the prediction is a straight line to
      `run_bytes_planned` at `predicted_seconds`.
    run_bytes_planned: bytes this run set out to send (default: planned minus already there).
    measured_bps: the rate to quote for next time (default: the average while sending).
    rtt_series: (second, round trip in ms) that polite mode measured, one a second while it ran; with it,
      cap_series is the rate polite mode chose (under any cap).
    """

    job_id: str
    source: str
    destination: str  # "account/container[/prefix]", never a URL
    mdplan_version: str
    started: datetime
    finished: datetime | None  # None when the run was interrupted
    state: str  # "finished" | "finished with failures" | "stopped: SAS problem" | "interrupted" | ...
    totals: Totals
    litter_files: int = 0
    litter_bytes: int = 0
    excluded_files: int = 0
    excluded_bytes: int = 0
    retries: int = 0
    wall_seconds: float = 0.0
    cap: str | None = None  # e.g. "20 Mbit/s" or the timetable as typed
    cap_series: list[tuple[float, float | None]] = field(default_factory=list)
    rtt_series: list[tuple[float, float]] = field(default_factory=list)
    pauses: list[tuple[float, float, str]] = field(default_factory=list)
    throughput: list[tuple[float, int]] = field(default_factory=list)
    sites: list[SiteRow] = field(default_factory=list)
    failures: list[FailureRow] = field(default_factory=list)  # may be the first N of totals.files_failed
    predicted_seconds: float | None = None
    predicted_progress: list[tuple[float, int]] | None = None
    run_bytes_planned: int | None = None
    measured_bps: float | None = None
    workers: str | None = None  # e.g. "auto (12)"
    next_step: str | None = None  # e.g. the command that resumes the job
    runs: list[RunRow] = field(default_factory=list)  # every run of the job, on the time axis above
    prediction_start: float = 0.0  # where the prediction (made by the latest run) starts on the time axis
    log_path: str | None = None  # the job's log file
    live: bool = False  # a live report, rewritten while the upload runs
    live_every: float | None = None  # seconds between two versions of a live report
    written: datetime | None = None  # when this version of the page was drawn


@dataclass(frozen=True)
class ReportFiles:
    html: Path
    csv: Path


@dataclass(frozen=True)
class KindRow:
    """What is there, by type: kind is a plain word ("images", "videos", "litter", "other")."""

    kind: str
    files: int
    bytes: int


@dataclass(frozen=True)
class PlanSiteRow:
    site: str
    files: int
    bytes: int


@dataclass(frozen=True)
class SizeBin:
    """Files whose size is in [low, high) bytes."""

    low: int
    high: int
    files: int


@dataclass
class PlanReportData:
    """Everything the plan report (`mdplan estimate --report`) shows. Plain numbers and words only.

    crossover: (bits per second, upload seconds) points of the upload-time curve, any order; build
      them with `crossover_points(upload_seconds_for_bps)`.
    assumptions: (name, value) lines shown under the chart (efficiency, shipping days, ...).
    """

    source: str
    mdplan_version: str
    created: datetime
    total_files: int
    total_bytes: int
    recommendation: str  # one short sentence, e.g. "Upload it." or "Mail a drive."
    reasons: list[str] = field(default_factory=list)
    kinds: list[KindRow] = field(default_factory=list)
    sites: list[PlanSiteRow] = field(default_factory=list)
    size_bins: list[SizeBin] = field(default_factory=list)
    bandwidth_bps: float | None = None
    bandwidth_method: str | None = None  # how it was found: "measured to the container", "you said", ...
    bandwidth_note: str | None = None
    upload_seconds: float | None = None
    drive_seconds: float | None = None
    crossover: list[tuple[float, float]] = field(default_factory=list)
    assumptions: list[tuple[str, str]] = field(default_factory=list)
    destination: str | None = None


def _size_edge(size: int) -> int:
    """The lower edge of the 1-2-5 bin that holds `size`: 0 (below 1 kB), 1 kB, 2 kB, 5 kB, 10 kB, ..."""
    if size < 1000:
        return 0
    e = 10 ** (len(str(int(size))) - 1)
    m = size // e
    return e * (1 if m < 2 else 2 if m < 5 else 5)


def _next_edge(edge: int) -> int:
    if edge == 0:
        return 1000
    e = 10 ** (len(str(edge)) - 1)
    return {1: 2, 2: 5, 5: 10}[edge // e] * e


def size_histogram(sizes: Iterable[int]) -> list[SizeBin]:
    """Files counted in size bins of a 1-2-5 series (1 kB, 2 kB, 5 kB, 10 kB, ...), streamed: memory stays
    small however many files. Empty bins between the smallest and largest file are kept, so the bars
    stand where they belong."""
    counts: dict[int, int] = {}
    for size in sizes:
        edge = _size_edge(max(0, int(size)))
        counts[edge] = counts.get(edge, 0) + 1
    if not counts:
        return []
    bins, edge, last = [], min(counts), max(counts)
    while edge <= last:
        bins.append(SizeBin(edge, _next_edge(edge), counts.get(edge, 0)))
        edge = _next_edge(edge)
    return bins


def crossover_points(upload_seconds_for_bps: Callable[[float], float], *, low_bps: float = 1e5,
                     high_bps: float = 1e10, points: int = 61) -> list[tuple[float, float]]:
    """The upload-time curve sampled evenly on a log scale of bandwidth, for the crossover chart."""
    step = (math.log10(high_bps) - math.log10(low_bps)) / (points - 1)
    out = []
    for i in range(points):
        bps = 10 ** (math.log10(low_bps) + i * step)
        out.append((bps, float(upload_seconds_for_bps(bps))))
    return out
