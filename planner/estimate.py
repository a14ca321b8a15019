"""How long will it take, and should it go over the network or in the mail? Pure functions.

The upload guide's rule: "days of upload is fine, plan around it; months of upload, consider a hard
drive". Encoded here with every threshold a named, documented setting, and every verdict explained
in plain sentences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

from planner.units import format_bytes, format_duration, format_rate

DAY = 86400.0
MONTH_DAYS = 30.44

Method = Literal["manual", "destination", "speedtest", "upload"]


@dataclass(frozen=True)
class EstimateSettings:
    """Every assumption of the model, in one place (shown in --help and in the plan report)."""

    efficiency: float = 0.95
    """Share of a link's nominal rate that carries file bytes when the figure was typed in or came
    from a speed test: TCP/IP and TLS headers cost ~3%, HTTP request/response headers and Azure's
    acknowledgements ~2% on camera-trap-sized requests. A figure measured to the destination already
    includes all of this, so it is used as it is."""

    per_file_seconds: float = 0.12
    """Time one upload worker spends per file besides sending its bytes: about one round trip to an
    Azure region on another continent (~100 ms) plus service time. Replaced by the probe's measured
    figure when there is one."""

    workers: int = 8
    """Parallel uploads the per-file cost is spread over when the link is not measured (the
    uploader picks its own from the measured rate and round trip)."""

    drive_bytes_per_second: float = 60e6
    """Copying millions of small files to a USB 3 hard drive: 20-50 MB/s for small files, 80-160 MB/s
    for large ones; 60 MB/s is a fair middle for camera-trap JPEGs."""

    drive_size_bytes: int = 4 * 10**12
    """A common, cheap external drive (4 TB); more data means more drives (copied one after another)."""

    shipping_days: float = 7.0
    """Courier door to door: 1-5 business days domestic; international adds customs. One week."""

    ingest_days: float = 2.0
    """The receiving team's time to plug the drive in and copy it to the cloud (their fast link)."""

    upload_ok_days: float = 7.0
    """Upload is recommended when it finishes within this long, even if a drive would be quicker:
    "days of upload is fine, plan around it" (the MegaDetector upload guide)."""

    drive_after_days: float = 30.0
    """A drive is recommended when the upload would take longer than this: "months of upload,
    consider a hard drive"."""

    drive_margin: float = 1.5
    """...or when the upload takes more than this many times as long as the drive route."""

    monthly_cap_bytes: int | None = None
    """An ISP's monthly data allowance (e.g. 1.2 TB): spreads the upload over calendar months."""


@dataclass(frozen=True)
class BandwidthFigure:
    """An upload rate and where it came from. "destination" = measured to the container itself."""

    bits_per_second: float
    method: Method = "manual"
    rtt_ms: float | None = None
    per_file_seconds: float | None = None
    note: str = ""


@dataclass(frozen=True)
class WhatIf:
    bits_per_second: float
    upload_seconds: float
    recommendation: str


@dataclass
class Estimate:
    files: int
    bytes: int
    bandwidth: BandwidthFigure
    upload_seconds: float  # calendar time, data cap included
    transfer_seconds: float  # time on the wire (bytes at the effective rate)
    overhead_seconds: float  # per-file cost
    cap_months: float | None  # months the data cap spreads it over, when a cap is given
    drive_seconds: float
    drive_copy_seconds: float
    drives: int
    recommendation: Literal["upload", "drive"]
    close_call: bool
    reasons: list[str] = field(default_factory=list)
    what_if: list[WhatIf] = field(default_factory=list)
    workers: int = 0
    settings: EstimateSettings = field(default_factory=EstimateSettings)


def effective_bits_per_second(bw: BandwidthFigure, settings: EstimateSettings) -> float:
    """File bytes' share of the figure: measured-to-destination figures already carry the overhead."""
    if bw.method in ("destination", "upload"):
        return bw.bits_per_second
    return bw.bits_per_second * settings.efficiency


def workers_for(bw: BandwidthFigure, settings: EstimateSettings) -> int:
    if bw.rtt_ms is not None:
        from planner.upload import auto_workers

        return auto_workers(bw.bits_per_second, bw.rtt_ms)
    return settings.workers


def upload_seconds(nbytes: int, files: int, bw: BandwidthFigure, settings: EstimateSettings) -> tuple[float, float, float]:
    """(total, on the wire, per-file overhead) seconds to upload, before any data cap.

    Two bottlenecks, whichever is slower wins: the link (bytes at the effective rate) and the per-file
    round trips shared by the parallel workers. They overlap rather than add up: while one worker
    waits for an answer, the others keep the link busy (measured on a shaped 50 Mbit/s, 100 ms link:
    adding them over-predicted a 300-file upload by 25%, taking the larger was within 3%).
    """
    rate = effective_bits_per_second(bw, settings)
    if rate <= 0:
        return math.inf, math.inf, 0.0
    wire = nbytes * 8 / rate
    per_file = bw.per_file_seconds if bw.per_file_seconds is not None else settings.per_file_seconds
    overhead = files * per_file / max(1, workers_for(bw, settings))
    return max(wire, overhead), wire, overhead


def upload_seconds_at(nbytes: int, files: int, settings: EstimateSettings, bits_per_second: float,
                      method: Method = "manual") -> float:
    """Calendar seconds to upload at a given rate (for what-if tables and the crossover chart)."""
    total, _, _ = upload_seconds(nbytes, files, BandwidthFigure(bits_per_second, method), settings)
    return with_cap(total, nbytes, settings)[0]


def with_cap(seconds: float, nbytes: int, settings: EstimateSettings) -> tuple[float, float | None]:
    """(calendar seconds, months) once a monthly data cap spreads `seconds` of upload over months.

    Months is None without a cap; with a cap that the job fits into, the seconds are unchanged.
    """
    cap = settings.monthly_cap_bytes
    if not cap or nbytes <= cap:
        return seconds, (nbytes / cap if cap else None)
    months = nbytes / cap
    # the allowance runs out after `cap` bytes each month; the rest waits for the next month
    full_months = math.ceil(months) - 1
    last = (nbytes - full_months * cap) / nbytes * seconds
    return max(seconds, full_months * MONTH_DAYS * DAY + last), months


def drive_route(nbytes: int, settings: EstimateSettings) -> tuple[float, float, int]:
    """(total seconds, copying seconds, drives) to copy to drives, ship them and have them ingested."""
    drives = max(1, math.ceil(nbytes / settings.drive_size_bytes))
    copy = nbytes / settings.drive_bytes_per_second
    return copy + (settings.shipping_days + settings.ingest_days) * DAY, copy, drives


def estimate(nbytes: int, files: int, bw: BandwidthFigure, settings: EstimateSettings | None = None) -> Estimate:
    """The upload time, the drive route and the recommendation, with its reasons."""
    s = settings or EstimateSettings()
    total, wire, overhead = upload_seconds(nbytes, files, bw, s)
    up, months = with_cap(total, nbytes, s)
    drive, copy, drives = drive_route(nbytes, s)
    rec, close, reasons = _decide(up, drive, nbytes, files, bw, s, months, overhead > wire)
    what_if = []
    for mbps in (10, 50, 100, 1000):
        # same round trip and per-file cost as the figure in hand: only the speed changes
        alt = replace(bw, bits_per_second=mbps * 1e6)
        t = with_cap(upload_seconds(nbytes, files, alt, s)[0], nbytes, s)[0]
        what_if.append(WhatIf(mbps * 1e6, t, _decide(t, drive, nbytes, files, bw, s, months, False)[0]))
    return Estimate(files=files, bytes=nbytes, bandwidth=bw, upload_seconds=up, transfer_seconds=wire,
                    overhead_seconds=overhead, cap_months=months, drive_seconds=drive, drive_copy_seconds=copy,
                    drives=drives, recommendation=rec, close_call=close, reasons=reasons, what_if=what_if,
                    workers=workers_for(bw, s), settings=s)


def _decide(up: float, drive: float, nbytes: int, files: int, bw: BandwidthFigure, s: EstimateSettings,
            months: float | None, per_file_bound: bool) -> tuple[Literal["upload", "drive"], bool, list[str]]:
    rate = format_rate(bw.bits_per_second)
    size = format_bytes(nbytes)
    up_t, drive_t = format_duration(up), format_duration(drive)
    reasons = [f"Uploading {size} in {files:,} files at {rate} takes about {up_t}."]
    reasons.append(f"Mailing a drive takes about {drive_t}: copying at "
                   f"{format_bytes(s.drive_bytes_per_second)}/s, {s.shipping_days:g} days of shipping and "
                   f"{s.ingest_days:g} days for the team to copy it in.")
    if months is not None and months > 1:
        reasons.append(f"Your data cap of {format_bytes(s.monthly_cap_bytes or 0)} a month spreads the upload over "
                       f"about {math.ceil(months)} months.")
    if per_file_bound and up > 3600:
        reasons.append("Many small files: the time is set by the number of files (one request each), not by the "
                       "amount of data.")
    if up <= drive:
        reasons.append("Uploading is faster than mailing a drive, so upload.")
        return "upload", False, reasons
    if up <= s.upload_ok_days * DAY:
        reasons.append(f"A drive would be quicker, but an upload of under {s.upload_ok_days:g} days is fine: start it "
                       "and plan around it (keep the computer on and connected).")
        return "upload", False, reasons
    if up > s.drive_after_days * DAY:
        reasons.append(f"The upload would take more than {s.drive_after_days:g} days, so mail a drive.")
        return "drive", False, reasons
    if up > drive * s.drive_margin:
        reasons.append(f"The upload takes more than {s.drive_margin:g} times as long as the drive route, so mail a "
                       "drive.")
        return "drive", False, reasons
    reasons.append(f"It is a close call: the upload takes {up_t} and a drive {drive_t}. Uploading needs no "
                   "shipping and no drive; mail a drive if the computer cannot stay on that long.")
    return "upload", True, reasons


def advise(*, files: int, nbytes: int, bits_per_second: float, method: Method = "upload",
           settings: EstimateSettings | None = None) -> Estimate:
    """The verdict for what is left of an upload at a rate seen before (used by `mdplan upload`)."""
    return estimate(nbytes, files, BandwidthFigure(bits_per_second, method), settings)


def with_overrides(settings: EstimateSettings, **changes: object) -> EstimateSettings:
    """Settings with the options a user gave (None = keep the default)."""
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})


# ------------------------------------------------------------------------------------------------
# Putting it together for `mdplan estimate`: scan + bandwidth + model (does I/O; the model above does not)
# ------------------------------------------------------------------------------------------------
@dataclass
class Assessment:
    folder: str
    scan: object  # planner.scan.ScanSummary
    upload_files: int
    upload_bytes: int
    images_only: bool
    measurement: object  # planner.bandwidth.Measurement
    estimate: Estimate
    sas_display: str | None = None
    sas_expiry: object = None  # datetime or None
    sas_expiry_source: str | None = None  # "se" | "policy" | None
    expires_before_finish: bool = False
    on_wifi: bool | None = None


def assess(folder, *, sas=None, bandwidth: str | None = None, speedtest: bool = False,
           seconds: float | None = None, images_only: bool = False, settings: EstimateSettings | None = None,
           scan_progress=None, probe_progress=None) -> Assessment:
    """Scan the folder, measure (or take) the bandwidth, and run the model."""
    import time as _time

    from planner.bandwidth import measure, remember
    from planner.errors import BadInput
    from planner.scan import Kind, scan, source_folder

    root = source_folder(folder)
    if sas is None and bandwidth is None and not speedtest:
        raise BadInput("The upload speed is missing: give the SAS URL to measure it to the real destination, "
                       "or --bandwidth 20Mbps if you know it, or --speedtest for a rough figure.")
    m = measure(sas=sas, speedtest=speedtest, bandwidth=bandwidth, seconds=seconds, progress=probe_progress)
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
    est = estimate(nbytes, files, m.to_figure(), settings)
    expiry = getattr(sas, "expiry", None) if sas is not None else None
    source = None if sas is None else ("se" if expiry is not None else ("policy" if sas.policy_id else None))
    before = bool(expiry is not None and expiry.timestamp() < _time.time() + est.upload_seconds)
    return Assessment(folder=str(root.resolve()), scan=summary, upload_files=files, upload_bytes=nbytes,
                      images_only=images_only, measurement=m, estimate=est,
                      sas_display=sas.display if sas is not None else None, sas_expiry=expiry,
                      sas_expiry_source=source, expires_before_finish=before, on_wifi=default_route_is_wifi())


def default_route_is_wifi(route_table: str = "/proc/net/route", net_class: str = "/sys/class/net") -> bool | None:
    """True/False when the OS lets us tell whether the default route is wireless; None when it does not.

    Linux only: the default route with the lowest metric in /proc/net/route (destination and mask
    0.0.0.0, route up; with or without a gateway, so PPP and VPN links count), and whether
    /sys/class/net/IF/wireless exists. No shell-outs, so on Windows and macOS this says "unknown"
    rather than guess. The paths are parameters so tests can hand in a made-up table.
    """
    import os

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
        f"Images: {_kind(s, 'image')[0]:,} ({format_bytes(_kind(s, 'image')[1])})",
        f"Videos: {_kind(s, 'video')[0]:,} ({format_bytes(_kind(s, 'video')[1])})",
        f"To send: {a.upload_files:,} files, {format_bytes(e.bytes)}",
        f"Upload speed: {e.bandwidth.bits_per_second / 1e6:.1f} Mbit/s ({method_words(e.bandwidth.method)})",
        f"Projected upload time: {format_duration(e.upload_seconds)}",
        f"Mailing a drive instead: {format_duration(e.drive_seconds)}, {e.drives} drive(s)",
        f"Plan: {'upload' if e.recommendation == 'upload' else 'mail a hard drive'}",
    ]
    return "\n".join(lines)


def _kind(s: object, kind: str) -> tuple[int, int]:
    k = getattr(s, "kinds", {}).get(kind)
    return (k.files, k.bytes) if k else (0, 0)


def method_words(method: str) -> str:
    """Where a bandwidth figure came from, in the words the terminal, email and report use."""
    return {"destination": "measured to the container", "speedtest": "speed test, rough",
            "manual": "as given", "upload": "seen during an upload"}.get(method, method)


# The old private names, kept while planner/report.py (being split on another branch) still imports them.
_with_cap = with_cap
_method_words = method_words
