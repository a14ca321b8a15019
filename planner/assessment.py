"""`mdplan estimate` put together: scan the folder, measure (or take) the upload speed, run the model.

This is the I/O around planner.estimate (which stays pure): the scan, the probe, the Wi-Fi check,
the SAS expiry against the clock. `EstimateSummary` is what `mdplan estimate --json` prints, field
for field; `email_summary` is the block people paste into an email.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from planner.clock import Clock, SystemClock
from planner.errors import BadInput
from planner.estimate import (Estimate, EstimateSettings, estimate, method_words, polite_estimate,
                              price_polite_hours)
from planner.units import format_bytes, format_duration

if TYPE_CHECKING:
    from planner.throttle.timetable import Timetable

NO_SPEED = ("The upload speed is missing: give the SAS URL to measure it to the real destination, "
            "or --bandwidth 20Mbps if you know it, or --speedtest for a rough figure.")


@dataclass
class Assessment:
    folder: str
    scan: Any  # planner.scan.ScanSummary
    upload_files: int
    upload_bytes: int
    images_only: bool
    measurement: Any  # planner.probe.Measurement
    estimate: Estimate
    sas_display: str | None = None
    sas_expiry: datetime | None = None
    sas_expiry_source: str | None = None  # "se" | "policy" | None
    expires_before_finish: bool = False
    on_wifi: bool | None = None
    started: datetime | None = None  # when it was assessed (the clock's wall time)
    # files that would be sent whose names cannot go up as they are (upload refuses to start until they
    # are renamed), and a few (rel_path, reason), reasons shown safely
    names_refused: int = 0
    names_refused_examples: list[tuple[str, str]] = field(default_factory=list)


def assess(folder, *, sas=None, bandwidth: str | None = None, speedtest: bool = False,
           seconds: float | None = None, max_bytes: int | str | None = None, images_only: bool = False, settings: EstimateSettings | None = None,
           cap: Timetable | None = None, clock: Clock | None = None,
           scan_progress=None, probe_progress=None, polite: bool = False) -> Assessment:
    """Scan the folder, measure (or take) the bandwidth, and run the model (with the speed cap, if any)."""
    from planner import options
    from planner.probe import measure, remember
    from planner.scan.kinds import Kind
    from planner.scan.parallel import scan
    from planner.scan.walk import source_folder

    clock = clock or SystemClock()
    root = source_folder(options.folder(str(folder)))
    if sas is None and bandwidth is None and not speedtest:
        raise BadInput(NO_SPEED)
    options.bandwidth(bandwidth)
    budget = max_bytes if isinstance(max_bytes, int) else options.probe_bytes(max_bytes)
    m = measure(sas=sas, speedtest=speedtest, bandwidth=bandwidth, seconds=options.probe_seconds(seconds),
                max_bytes=budget, progress=probe_progress)
    if sas is not None and m.method == "destination":
        remember(m, sas)
    summary = scan(root, progress=scan_progress)
    if images_only:
        files, nbytes = summary.kind(Kind.IMAGE).files, summary.kind(Kind.IMAGE).bytes
    else:
        files, nbytes = summary.upload_files, summary.upload_bytes
    if files == 0:
        what = "image files" if images_only else "files to upload (only drive litter, or nothing)"
        raise BadInput(f"There are no {what} in {root}. Check it is the folder that holds the images.")
    now = clock.now()
    if cap is not None and cap.has_polite and not cap.changes:  # --bwlimit polite alone is --polite
        polite, cap = True, None
    priced = cap if polite else price_polite_hours(cap)  # polite hours at the polite share (once)
    est = (polite_estimate if polite else estimate)(nbytes, files, m.to_figure(), settings, cap=priced, start=now)
    expiry = getattr(sas, "expiry", None) if sas is not None else None
    source = None if sas is None else ("se" if expiry is not None else ("policy" if sas.policy_id else None))
    before = bool(expiry is not None and expiry.timestamp() < now.timestamp() + est.upload_seconds)
    refused, refused_examples = summary.refused(images_only)
    return Assessment(folder=str(root.resolve()), scan=summary, upload_files=files, upload_bytes=nbytes,
                      images_only=images_only, measurement=m, estimate=est,
                      sas_display=sas.display if sas is not None else None, sas_expiry=expiry,
                      sas_expiry_source=source, expires_before_finish=before, on_wifi=default_route_is_wifi(),
                      started=now, names_refused=refused, names_refused_examples=refused_examples)


def default_route_is_wifi(route_table: str = "/proc/net/route", net_class: str = "/sys/class/net") -> bool | None:
    """True/False when the OS lets us tell whether the default route is wireless; None when it does not.

    Linux only: the default route with the lowest metric in /proc/net/route (destination and mask
    0.0.0.0, route up; with or without a gateway, so PPP and VPN links count), and whether
    /sys/class/net/IF/wireless exists. No shell-outs, so on Windows and macOS this says "unknown"
    rather than guess. The paths are parameters so tests can hand in a made-up table.
    """
    best: tuple[int, str] | None = None
    try:
        with open(route_table, encoding="ascii") as f:
            next(f)  # header
            for line in f:
                parts = line.split()
                if len(parts) < 8:
                    continue
                iface, dest, flags, metric, mask = parts[0], parts[1], int(parts[3], 16), int(parts[6]), parts[7]
                if dest == "00000000" and mask == "00000000" and flags & 1:  # RTF_UP
                    if best is None or metric < best[0]:
                        best = (metric, iface)
    except (OSError, StopIteration, ValueError, UnicodeDecodeError):
        return None
    if best is None:
        return None
    return os.path.isdir(os.path.join(net_class, best[1], "wireless"))


def email_summary(a: Assessment) -> str:
    """A plain-text block to paste into an email to the MegaDetector team."""
    s = a.scan
    e = a.estimate
    lines = [
        "Camera-trap image set - summary from mdplan",
        f"Images: {kind_count(s, 'image')[0]:,} ({format_bytes(kind_count(s, 'image')[1])})",
        f"Videos: {kind_count(s, 'video')[0]:,} ({format_bytes(kind_count(s, 'video')[1])})",
        f"To send: {a.upload_files:,} files, {format_bytes(e.bytes)}",
        f"Upload speed: {e.bandwidth.bits_per_second / 1e6:.1f} Mbit/s ({method_words(e.bandwidth.method)})",
    ]
    if e.cap:
        lines.append(f"Speed cap: {e.cap.removesuffix(' cap')} "
                     f"({e.rate_bits_per_second / 1e6:.1f} Mbit/s for the files)")
    lines += [
        f"Projected upload time: {format_duration(e.upload_seconds)}",
        f"Mailing a drive instead: {format_duration(e.drive_seconds)}, {e.drives} drive(s)",
        f"Plan: {'upload' if e.recommendation == 'upload' else 'mail a hard drive'}",
    ]
    if a.names_refused:
        lines.append(f"Names that cannot go up as they are: {a.names_refused:,} (to rename before the upload)")
    return "\n".join(lines)


def kind_count(summary: Any, kind: str) -> tuple[int, int]:
    """(files, bytes) of one kind ("image", "video", "litter", "other") in a scan summary."""
    k = getattr(summary, "kinds", {}).get(kind)
    return (k.files, k.bytes) if k else (0, 0)


# ------------------------------------------------------------------------------------------------
# `mdplan estimate --json`: the schema, as dataclasses (the CLI serialises them; fields in this order)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FileCounts:
    total: int
    images: int
    videos: int
    litter: int
    other: int
    upload: int


@dataclass(frozen=True)
class ByteCounts:
    total: int
    upload: int


@dataclass(frozen=True)
class SiteCount:
    site: str
    files: int
    bytes: int


@dataclass(frozen=True)
class SizeStats:
    median: float
    p95: float


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str


@dataclass(frozen=True)
class BandwidthInfo:
    bits_per_second: float
    method: str
    rtt_ms: float | None
    per_file_seconds: float | None
    note: str
    bytes_sent: int = 0  # what measuring cost the link (0 for --bandwidth)
    max_bytes: int | None = None  # the probe's byte budget (--max-bytes); None when nothing was measured


@dataclass(frozen=True)
class UploadInfo:
    seconds: float
    workers: int
    cap_months: float | None
    bits_per_second: float  # the rate the time counts with: the link's, held under the speed cap
    speed_cap: str | None  # the cap or timetable, in words (None: no cap)
    polite: bool = False  # counted with polite mode's share of the link (estimate --polite)


@dataclass(frozen=True)
class DriveInfo:
    seconds: float
    drives: int
    bytes_per_second: float | None = None  # the copy speed the drive time counts with
    speed_source: str | None = None  # given | remembered (the last drive copy here) | sampled | typical: DriveSpeed.how
    source_read_bytes_per_second: float | None = None  # how fast the read sample of the set went, if one was taken


@dataclass(frozen=True)
class WhatIfRow:
    bits_per_second: float
    upload_seconds: float
    recommendation: str


@dataclass(frozen=True)
class SasInfo:
    destination: str
    expiry: datetime | None
    expiry_source: str | None
    expires_before_finish: bool


@dataclass(frozen=True)
class EstimateSummary:
    """What `mdplan estimate --json` prints (README: "estimate --json")."""

    folder: str
    files: FileCounts
    bytes: ByteCounts
    sites: list[SiteCount]
    sizes: SizeStats
    duplicate_names: int
    problems: list[Problem]
    bandwidth: BandwidthInfo
    upload: UploadInfo
    drive: DriveInfo
    recommendation: str
    close_call: bool
    reasons: list[str]
    what_if: list[WhatIfRow]
    sas: SasInfo | None
    on_wifi: bool | None
    report: str | None = None  # the plan page, when one was written
    names_refused: int = 0  # files to send whose names cannot go up as they are: upload refuses until renamed
    names_refused_examples: list[Problem] = field(default_factory=list)  # a few, path order


def summarize(a: Assessment, report: str | None = None, drive_speed: DriveSpeed | None = None) -> EstimateSummary:
    """The --json form of an assessment; `drive_speed` says where the drive route's copy speed came from."""
    s, e, bw = a.scan, a.estimate, a.estimate.bandwidth
    counts = {k: kind_count(s, k)[0] for k in ("image", "video", "litter", "other")}
    return EstimateSummary(
        folder=a.folder,
        files=FileCounts(total=s.files, images=counts["image"], videos=counts["video"], litter=counts["litter"],
                         other=counts["other"], upload=a.upload_files),
        bytes=ByteCounts(total=s.bytes, upload=a.upload_bytes),
        sites=[SiteCount(x.site, x.files, x.bytes) for x in s.sites],
        sizes=SizeStats(s.sizes.median, s.sizes.p95),
        duplicate_names=s.duplicate_names,
        problems=[Problem(p, r) for p, r in s.problems],
        bandwidth=BandwidthInfo(bw.bits_per_second, bw.method, bw.rtt_ms, bw.per_file_seconds, bw.note,
                                int(getattr(a.measurement, "bytes", 0) or 0),
                                getattr(a.measurement, "max_bytes", None)),
        upload=UploadInfo(e.upload_seconds, e.workers, e.cap_months, e.rate_bits_per_second, e.cap, e.polite),
        drive=DriveInfo(e.drive_seconds, e.drives, e.settings.drive_bytes_per_second,
                        drive_speed.how if drive_speed else None,
                        drive_speed.source_read_bytes_per_second if drive_speed else None),
        recommendation=e.recommendation, close_call=e.close_call, reasons=list(e.reasons),
        what_if=[WhatIfRow(w.bits_per_second, w.upload_seconds, w.recommendation) for w in e.what_if],
        sas=None if a.sas_display is None else SasInfo(a.sas_display, a.sas_expiry, a.sas_expiry_source,
                                                       a.expires_before_finish),
        on_wifi=a.on_wifi, report=report, names_refused=a.names_refused,
        names_refused_examples=[Problem(p, r) for p, r in a.names_refused_examples],
    )


def remembered_drive_speed(home=None) -> float | None:
    """Bytes/s of the last `mdplan drive copy` on this computer (its whole copy with the read-back), for
    the drive route's copy time instead of the typical 60 MB/s; None when no copy was measured yet."""
    from planner.journal.rates import last_drive_copy_rate

    return last_drive_copy_rate(home)


SAMPLE_BYTES = 64 * 1024 * 1024  # estimate's read sample of the set when no drive copy was measured
SAMPLE_SECONDS = 5.0  # a slow source (a network share) is sampled no longer than this
SAMPLE_MIN_BYTES = 64 * 1024  # less says nothing about the source


@dataclass(frozen=True)
class ReadSample:
    files: int
    nbytes: int
    seconds: float

    @property
    def bytes_per_second(self) -> float:
        return self.nbytes / self.seconds


def sample_read_speed(folder, *, budget: int = SAMPLE_BYTES, max_seconds: float = SAMPLE_SECONDS,
                      clock: Clock | None = None) -> ReadSample | None:
    """Read up to `budget` bytes of the set's files in scan order (their cached pages dropped first where
    the OS can, so the disk is read) and time it; None when the set is too small to tell or unreadable."""
    from planner.scan.walk import iter_files

    clock = clock or SystemClock()
    buf = bytearray(1 << 20)
    files = nbytes = 0
    t0 = end = clock.monotonic()
    try:
        for e in iter_files(folder):
            if nbytes >= budget or end - t0 >= max_seconds:
                break
            if getattr(e.kind, "value", str(e.kind)).lower() == "symlink":
                continue
            try:
                nbytes += _read_some(e.path, buf, budget - nbytes)
                files += 1
            except OSError:
                continue
            end = clock.monotonic()
    except BadInput:
        return None
    if nbytes < SAMPLE_MIN_BYTES or end <= t0:
        return None
    return ReadSample(files, nbytes, end - t0)


def _read_some(path, buf: bytearray, limit: int) -> int:
    n = 0
    with open(path, "rb", buffering=0) as f:
        if hasattr(os, "posix_fadvise"):
            try:
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
        while n < limit:
            k = f.readinto(memoryview(buf)[: min(len(buf), limit - n)])
            if not k:
                break
            n += k
    return n


@dataclass(frozen=True)
class DriveSpeed:
    """The drive route's copy speed for `estimate`, and where it came from: "given" (--drive-speed),
    "remembered" (the last `mdplan drive copy` here), "sampled" (the set reads slower than a typical
    drive copies: the source sets the pace), "typical" (the model's 60 MB/s)."""

    bytes_per_second: float
    how: str
    source_read_bytes_per_second: float | None = None


def drive_speed_for_estimate(folder, given: float | None, *, home=None, clock: Clock | None = None,
                             budget: int = SAMPLE_BYTES) -> DriveSpeed:
    if given:
        return DriveSpeed(given, "given")
    remembered = remembered_drive_speed(home)
    if remembered:
        return DriveSpeed(remembered, "remembered")
    typical = EstimateSettings().drive_bytes_per_second
    sample = sample_read_speed(folder, budget=budget, clock=clock)
    if sample is None:
        return DriveSpeed(typical, "typical")
    rate = sample.bytes_per_second
    return DriveSpeed(rate, "sampled", rate) if rate < typical else DriveSpeed(typical, "typical", rate)
