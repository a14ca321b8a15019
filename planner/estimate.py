"""How long will it take, and should it go over the network or in the mail? The model, pure functions.

The upload guide's rule: "days of upload is fine, plan around it; months of upload, consider a hard
drive". Encoded here with every threshold a named, documented setting, and every verdict explained
in plain sentences. No I/O and no clock: measuring the link and scanning the folder live in
planner.assessment, which feeds this model; the uploader asks it for advice and for the rate a cap
leaves (`effective_rate`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from planner.units import format_bytes, format_duration, format_rate

if TYPE_CHECKING:
    from planner.throttle.timetable import Timetable

DAY = 86400.0
WEEK = 7 * DAY
MONTH_DAYS = 30.44
MIN_WORKERS = 2
MAX_WORKERS = 64  # requests in flight at most (issue 14: 350 kB files at 300-600 ms need 30-50)
REQUEST_BYTES_MAX = 8 * 1024 * 1024  # the uploader's largest request (planner.transfer.options.BLOCK_SIZE)
REQUEST_MEMORY_BYTES = 256 * 1024 * 1024  # memory bound: workers x request size (32 x 8 MiB blocks)
INITIAL_WINDOW_BYTES = 10 * 1460  # TCP's initial congestion window (RFC 6928: 10 segments)
WORKER_MARGIN = 1.25  # more than the bandwidth-delay product: file sizes and round trips vary

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
    rate_bits_per_second: float = 0.0  # what file bytes move at: the link's under any cap (timetable: a week's mean)
    cap: str | None = None  # the speed cap or timetable the time counts with, in words
    polite: bool = False  # counted with polite mode's share of the link (`polite_estimate`)


def effective_bits_per_second(bw: BandwidthFigure, settings: EstimateSettings) -> float:
    """File bytes' share of the figure: measured-to-destination figures already carry the overhead."""
    if bw.method in ("destination", "upload"):
        return bw.bits_per_second
    return bw.bits_per_second * settings.efficiency


def effective_rate(measured_bps: float, cap: Timetable | None = None, *, start: datetime | None = None,
                   nbytes: float | None = None) -> float:
    """Bits per second an upload will actually move at: the measured rate, held under the speed cap.

    The one rule for "the rate that will be used", shared by `mdplan estimate` and the uploader's
    plan. `cap` is a planner.throttle.Timetable (from --cap-mbps or --bwlimit) or None. A fixed cap
    gives min(link, cap); a cap of "pause" gives 0. A timetable that changes during the week needs
    `start` (the clock's wall time, passed in: the model reads no clock) and gives the average over
    the job, pauses included: `nbytes` bytes, or the long-run (weekly) mean when nbytes is not given.
    """
    link = max(0.0, float(measured_bps))
    if cap is None or cap.is_unlimited or link == 0:
        return link
    if not cap.changes:
        rate = cap.rate_at(start or datetime(2000, 1, 3))  # the same at any time
        return link if rate is None else min(link, rate * 8)
    if start is None:
        raise ValueError("a timetable that changes needs the start time")
    from planner.throttle.eta import eta_seconds

    amount = float(nbytes) if nbytes and nbytes > 0 else link / 8 * 52 * WEEK  # long enough to be the mean
    seconds = eta_seconds(amount, link / 8, cap, start)
    if seconds <= 0:
        return link
    return 0.0 if math.isinf(seconds) else amount * 8 / seconds


def request_seconds(request_bytes: float, rtt_ms: float | None, per_request_s: float | None = None) -> float:
    """Time one request spends not sending its bytes: the round trips of its answer and of TCP's slow start.

    One round trip for the answer, plus the round trips slow start needs to open a window that holds the
    request from INITIAL_WINDOW_BYTES (a connection idle for longer than its retransmit timeout starts
    over: Linux's tcp_slow_start_after_idle, on by default): 350 kB at 300 ms is 6 round trips, 1.8 s.
    A measured per-request time (the probe's per-file figure, a small request) counts when it is longer
    (service time); without a round trip it is used as it is.
    """
    measured = per_request_s if per_request_s is not None and per_request_s > 0 else None
    if rtt_ms is None and measured is not None:
        return measured
    rtt = max((rtt_ms if rtt_ms is not None else 20.0) / 1000.0, 0.0005)
    size = max(float(request_bytes), 1.0)
    modelled = rtt * (1 + math.ceil(math.log2(size / INITIAL_WINDOW_BYTES + 1)))
    return max(modelled, measured or 0.0)


def max_workers_for(mean_file_bytes: float | None) -> int:
    """The most requests in flight the memory bound allows: each holds up to one request in memory.

    Counted at the mean request size: a set of photos with a few videos among them may briefly hold
    more while several workers send 8 MiB blocks at once (at most MAX_WORKERS x REQUEST_BYTES_MAX).
    """
    request = REQUEST_BYTES_MAX if not mean_file_bytes else max(min(mean_file_bytes, REQUEST_BYTES_MAX), 16 * 1024)
    return int(max(MIN_WORKERS, min(MAX_WORKERS, REQUEST_MEMORY_BYTES // request)))


def auto_workers(bits_per_second: float | None, rtt_ms: float | None, mean_file_bytes: float = 500_000,
                 per_request_s: float | None = None) -> int:
    """Requests in flight needed to keep a link busy, from its rate, round trip and the files' size.

    One request moves `size` bytes in size/rate + t seconds, where t is the time it spends not sending
    (`request_seconds`: its answer's round trip and slow start, or the measured per-request time). The
    link is full when N x size / (size/rate + t) >= rate, i.e. N = 1 + rate x t / size (the bandwidth-
    delay product over the request size), times WORKER_MARGIN for the spread of file sizes and round
    trips. Clamped to [2, max_workers_for(size)] (memory: workers x request size) and, on slow links, to
    what keeps each request's share of the link under ~20 s (no AzCopy-style timeouts).
    The uploader starts from this figure and `mdplan estimate` predicts with it (planner.transfer uses
    this function: the model is the layer below the transfer engine).
    """
    if not bits_per_second or bits_per_second <= 0:
        return 4
    bytes_per_s = bits_per_second / 8
    size = max(min(mean_file_bytes, REQUEST_BYTES_MAX), 16 * 1024)
    t = request_seconds(size, rtt_ms, per_request_s)
    n = WORKER_MARGIN * (1 + bytes_per_s * t / size)
    # keep the time a request shares the link under ~20 s: n * size / rate <= 20
    n = min(n, max(MIN_WORKERS, 20 * bytes_per_s / size))
    return int(max(MIN_WORKERS, min(max_workers_for(size), math.ceil(n))))


def workers_for(bw: BandwidthFigure, settings: EstimateSettings, mean_file_bytes: float = 500_000) -> int:
    """Parallel uploads: the uploader's own choice when the round trip is known, else the setting."""
    if bw.rtt_ms is not None:
        return auto_workers(bw.bits_per_second, bw.rtt_ms, mean_file_bytes, bw.per_file_seconds)
    return settings.workers


def upload_seconds(nbytes: int, files: int, bw: BandwidthFigure, settings: EstimateSettings,
                   cap: Timetable | None = None, start: datetime | None = None) -> tuple[float, float, float]:
    """(total, on the wire, per-file overhead) seconds to upload, before any data cap.

    Two bottlenecks, whichever is slower wins: the link (bytes at the effective rate) and the per-file
    time (`request_seconds`: round trips and slow start, or the measured per-file cost) shared by the
    parallel workers the uploader would run (`auto_workers` for these files' mean size). They overlap
    rather than add up: while one worker waits for an answer, the others keep the link busy (measured
    on a shaped 50 Mbit/s, 100 ms link: adding them over-predicted a 300-file upload by 25%, taking the
    larger was within 3%). The same model as the uploader's: throughput = min(link, N x size / t).
    """
    rate = effective_rate(effective_bits_per_second(bw, settings), cap, start=start, nbytes=nbytes)
    if rate <= 0:
        return math.inf, math.inf, 0.0
    wire = nbytes * 8 / rate
    mean = nbytes / files if files > 0 else 500_000
    if bw.rtt_ms is not None:
        per_file = request_seconds(min(mean, REQUEST_BYTES_MAX), bw.rtt_ms, bw.per_file_seconds)
    else:
        per_file = bw.per_file_seconds if bw.per_file_seconds is not None else settings.per_file_seconds
    overhead = files * per_file / max(1, workers_for(bw, settings, mean))
    return max(wire, overhead), wire, overhead


def upload_seconds_at(nbytes: int, files: int, settings: EstimateSettings, bits_per_second: float,
                      method: Method = "manual") -> float:
    """Calendar seconds to upload at a given rate (for what-if tables and the crossover chart)."""
    total, _, _ = upload_seconds(nbytes, files, BandwidthFigure(bits_per_second, method), settings)
    return with_monthly_cap(total, nbytes, settings)[0]


def with_monthly_cap(seconds: float, nbytes: int, settings: EstimateSettings) -> tuple[float, float | None]:
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


def estimate(nbytes: int, files: int, bw: BandwidthFigure, settings: EstimateSettings | None = None, *,
             cap: Timetable | None = None, start: datetime | None = None) -> Estimate:
    """The upload time, the drive route and the recommendation, with its reasons.

    With a speed cap (`cap`, a Timetable; `start` when it changes over the week) the time, the
    reasons and the what-if rows count with the rate the cap leaves, not the link's.
    """
    s = settings or EstimateSettings()
    total, wire, overhead = upload_seconds(nbytes, files, bw, s, cap, start)
    up, months = with_monthly_cap(total, nbytes, s)
    drive, copy, drives = drive_route(nbytes, s)
    used = effective_rate(effective_bits_per_second(bw, s), cap, start=start)  # a timetable: a week's average
    capped = cap is not None and not cap.is_unlimited and used < effective_bits_per_second(bw, s)
    rate_words = format_rate(bw.bits_per_second)
    if capped and cap is not None:
        rate_words = (f"{format_rate(used)} on average (the timetable {cap.describe()}, pauses included)"
                      if cap.changes else f"{format_rate(used)} (the speed cap)")
    rec, close, reasons = _decide(up, drive, nbytes, files, rate_words, s, months, overhead > wire)
    what_if = []
    for mbps in (10, 50, 100, 1000):
        # same round trip, per-file cost and cap as the figure in hand: only the link's speed changes
        alt = replace(bw, bits_per_second=mbps * 1e6)
        t = with_monthly_cap(upload_seconds(nbytes, files, alt, s, cap, start)[0], nbytes, s)[0]
        what_if.append(WhatIf(mbps * 1e6, t, _decide(t, drive, nbytes, files, "", s, months, False)[0]))
    return Estimate(files=files, bytes=nbytes, bandwidth=bw, upload_seconds=up, transfer_seconds=wire,
                    overhead_seconds=overhead, cap_months=months, drive_seconds=drive, drive_copy_seconds=copy,
                    drives=drives, recommendation=rec, close_call=close, reasons=reasons, what_if=what_if,
                    workers=workers_for(bw, s, nbytes / files if files > 0 else 500_000), settings=s, rate_bits_per_second=used,
                    cap=cap.describe() if cap is not None and not cap.is_unlimited else None)


def _decide(up: float, drive: float, nbytes: int, files: int, rate: str, s: EstimateSettings,
            months: float | None, per_file_bound: bool) -> tuple[Literal["upload", "drive"], bool, list[str]]:
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
           settings: EstimateSettings | None = None, cap: Timetable | None = None,
           start: datetime | None = None) -> Estimate:
    """The verdict for what is left of an upload at a rate seen before (used by `mdplan upload`).

    Give the job's `cap` (and `start` for a timetable) so the advice counts with the capped rate.
    """
    return estimate(nbytes, files, BandwidthFigure(bits_per_second, method), settings, cap=cap, start=start)


def with_overrides(settings: EstimateSettings, **changes: object) -> EstimateSettings:
    """Settings with the options a user gave (None = keep the default)."""
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})


def method_words(method: str) -> str:
    """Where a bandwidth figure came from, in the words the terminal, email and report use."""
    return {"destination": "measured to the container", "speedtest": "speed test, rough",
            "manual": "as given", "upload": "seen during an upload"}.get(method, method)


# -- polite mode (issue 15) --------------------------------------------------------------------------

POLITE_SHARE = 0.91
"""Share of the link a polite upload (`--polite`) uses when nobody else needs it: 91.3% on the lab link
(20 Mbit/s, 200 ms queue in a router, 18 ms target; BENCHMARKS.md, "Polite mode vs the default upload") against the default's
100%. While others use the link it yields more; that depends on them, so the estimate cannot know it."""


def polite_estimate(nbytes: int, files: int, bw: BandwidthFigure, settings: EstimateSettings | None = None, *,
                    cap: Timetable | None = None, start: datetime | None = None) -> Estimate:
    """`estimate` of a polite upload: the time, the advice and the what-if rows count with POLITE_SHARE of
    the link (a fixed cap below that still wins), and a reason says so; `bandwidth` stays the link's."""
    share = replace(bw, bits_per_second=bw.bits_per_second * POLITE_SHARE)
    e = estimate(nbytes, files, share, settings, cap=cap, start=start)
    e.what_if = [WhatIf(w.bits_per_second, alt.upload_seconds, alt.recommendation) for w in e.what_if
                 for alt in [estimate(nbytes, files, replace(bw, bits_per_second=w.bits_per_second * POLITE_SHARE),
                                      settings, cap=cap, start=start)]]
    e.reasons.insert(1, f"Polite mode (--polite) counts with {POLITE_SHARE:.0%} of the {format_rate(bw.bits_per_second)} "
                        "link, what it used alone on the benchmark link; it yields more while others use the link, "
                        "so the upload can take longer than this.")
    e.bandwidth, e.polite = bw, True
    return e


def price_polite_hours(cap: Timetable | None) -> Timetable | None:
    """A --bwlimit timetable with polite hours, those hours counted at POLITE_SHARE of the link (the
    rest as written); any other cap unchanged."""
    if cap is None or not cap.has_polite:
        return cap
    return cap.priced(POLITE_SHARE)
