"""Numbers behind the upload page: per-second telemetry binned for charts, average and peak rates."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

from planner.report.data import UploadReportData


@dataclass(frozen=True)
class Rates:
    sent_bytes: int  # bytes in the throughput samples (this run)
    active_seconds: float  # wall time less pauses
    average_bps: float | None
    peak_bps: float | None  # highest mean rate over peak_window_s (whole bins)
    peak_window_s: float | None


def paused_seconds(pauses: Sequence[tuple[float, float, str]], end: float) -> float:
    total, last = 0.0, 0.0
    for a, b, _ in sorted(pauses):
        a, b = max(a, last), min(b, end)
        if b > a:
            total += b - a
            last = b
    return total


def bin_seconds(duration: float) -> int:
    """A readable chart bin: about 240 points whatever the job's length."""
    for b in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200):
        if duration / b <= 240:
            return b
    return 86400


ROLLING_BINS = 5


def binned(data: UploadReportData):
    """The per-second telemetry summed into readable bins: (bin seconds, starts, widths, bytes) arrays.

    Bins run from 0 to the end of the run, empty ones included (a quiet stretch is a real zero, not a
    gap); the last bin may be shorter than the others.
    """
    import numpy as np

    secs, sizes = arrays(data)
    end = max(float(data.wall_seconds), float(secs.max()) + 1 if len(secs) else 0.0)
    b = bin_seconds(end)
    count = int(max(end - 1, 0.0) // b) + 1
    index = np.clip((np.maximum(secs, 0.0) // b).astype(int), 0, count - 1)
    sums = np.bincount(index, weights=sizes, minlength=count).astype(float)
    starts = np.arange(count, dtype=float) * b
    widths = np.minimum(b, np.maximum(end - starts, 1.0))
    return b, starts, widths, sums


def arrays(data: UploadReportData):
    """The throughput as two numpy arrays (seconds, bytes), made once per data object: a job of days
    has hundreds of thousands of samples, and the page needs them for every run's figures."""
    import numpy as np

    cached = getattr(data, "_arrays", None)
    if cached is not None and cached[0] is data.throughput and cached[1] == len(data.throughput):
        return cached[2], cached[3]
    raw = np.array(data.throughput, dtype=float).reshape(-1, 2)
    secs, sizes = raw[:, 0].copy(), raw[:, 1].copy()
    object.__setattr__(data, "_arrays", (data.throughput, len(data.throughput), secs, sizes))
    return secs, sizes


def rate_series(data: UploadReportData):
    """(bin seconds, bin starts, per-bin rate in bits/s, centred rolling mean of ROLLING_BINS bins) as numpy
    arrays. The mean at each bin is over the bins present within ROLLING_BINS // 2 either side (fewer at the
    ends). Plain numpy: the report needs no pandas (about 35 MB and a quarter of a CPU-second to import)."""
    import numpy as np

    b, starts, widths, sent = binned(data)
    rate = sent * 8 / widths
    half = ROLLING_BINS // 2
    sums = np.concatenate([[0.0], np.cumsum(rate)])
    idx = np.arange(len(rate))
    lo, hi = np.maximum(idx - half, 0), np.minimum(idx + half + 1, len(rate))
    smooth = (sums[hi] - sums[lo]) / (hi - lo)
    return b, starts, rate, smooth


def thin(points: list[tuple[float, float]], most: int = 600) -> list[tuple[float, float]]:
    """At most about `most` points, first and last kept: a chart needs no more, the SVG stays small."""
    if len(points) <= most:
        return points
    step = math.ceil(len(points) / most)
    return points[::step] + ([points[-1]] if (len(points) - 1) % step else [])


def spans(data: UploadReportData) -> list[tuple[float, float]]:
    """The stretches of the time axis when mdplan ran: each run's, or the whole axis without runs."""
    if data.runs:
        return [(r.start, r.end) for r in data.runs]
    return [(0.0, float(data.wall_seconds))]


def gaps(data: UploadReportData) -> list[tuple[float, float]]:
    """The stretches between runs (mdplan was not running: nothing was sent)."""
    out = []
    for a, b in zip(data.runs, data.runs[1:]):
        if b.start > a.end:
            out.append((a.end, b.start))
    return out


def rates(data: UploadReportData, within: list[tuple[float, float]] | None = None) -> Rates:
    """Average and peak on one scope: the sending time of the runs `within` (default: every run), less
    network pauses. The peak is the highest mean over a stretch of at least the peak window of that
    sending time (the whole of it is such a stretch, so the peak is never below the average)."""
    import numpy as np

    scope = spans(data) if within is None else within
    secs, sizes = arrays(data)
    inside = np.zeros(len(secs), dtype=bool)
    for a, b in scope:
        inside |= (secs >= a - 1) & (secs <= b + 1)
    secs, sizes = secs[inside], sizes[inside]
    sent = int(sizes.sum())
    length = sum(max(0.0, b - a) for a, b in scope)
    paused = sum(paused_seconds([(p0 - a, p1 - a, w) for p0, p1, w in data.pauses], b - a) for a, b in scope)
    active = max(0.0, length - paused)
    if sent <= 0:
        return Rates(sent, active, None, None, None)
    avg = sent * 8 / max(active, 1.0)
    per_second = _active_seconds(secs, sizes, scope, data.pauses)
    n = min(bin_seconds(active) * ROLLING_BINS, len(per_second))
    sums = np.concatenate([[0.0], np.cumsum(per_second)])
    window = (sums[n:] - sums[:-n]) / n if n else np.zeros(1)
    peak = max(float(window.max()) * 8, avg)
    return Rates(sent, active, avg, peak, float(n))


def _active_seconds(secs, sizes, scope: list[tuple[float, float]], pauses: Sequence[tuple[float, float, str]]):
    """Bytes per second of sending time, end to end: the gaps between runs and the pauses left out."""
    import numpy as np

    end = int(math.ceil(max([b for _, b in scope] + [float(secs.max()) + 1 if len(secs) else 0.0])))
    values = np.zeros(max(end, 1))
    np.add.at(values, np.clip(secs.astype(int), 0, len(values) - 1), sizes)
    keep = np.zeros(len(values), dtype=bool)
    for a, b in scope:
        keep[max(int(a), 0):max(int(math.ceil(b)), int(a) + 1)] = True
    for a, b, _ in pauses:
        keep[max(int(math.ceil(a)), 0):max(int(b), 0)] = False
    keep |= values > 0  # a byte counted is a second of sending, whatever the bookkeeping says
    return values[keep]


def goal_bytes(data: UploadReportData) -> int:
    if data.run_bytes_planned is not None:
        return int(data.run_bytes_planned)
    return max(0, data.totals.bytes_planned - data.totals.bytes_skipped)
