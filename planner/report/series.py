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
    import pandas as pd

    end = max([float(data.wall_seconds)] + [s + 1 for s, _ in data.throughput])
    b = bin_seconds(end)
    secs = [max(0.0, float(s)) for s, _ in data.throughput] + [0.0, max(end - 1, 0.0)]
    values = [float(n) for _, n in data.throughput] + [0.0, 0.0]
    raw = pd.Series(values, index=pd.to_timedelta(secs, unit="s"), dtype=float)
    binned = raw.resample(f"{b}s", origin="start_day").sum()
    starts = binned.index.total_seconds().to_numpy()
    widths = np.minimum(b, np.maximum(end - starts, 1.0))
    return b, starts, widths, binned.to_numpy()


def rate_series(data: UploadReportData):
    """(bin seconds, per-bin rate in bits/s, rolling mean) as pandas Series indexed by seconds."""
    import pandas as pd

    b, starts, widths, sent = binned(data)
    rate = pd.Series(sent * 8 / widths, index=starts)
    smooth = rate.rolling(ROLLING_BINS, center=True, min_periods=1).mean()
    return b, rate, smooth


def thin(points: list[tuple[float, float]], most: int = 600) -> list[tuple[float, float]]:
    """At most about `most` points, first and last kept: a chart needs no more, the SVG stays small."""
    if len(points) <= most:
        return points
    step = math.ceil(len(points) / most)
    return points[::step] + ([points[-1]] if (len(points) - 1) % step else [])


def rates(data: UploadReportData) -> Rates:
    sent = int(sum(n for _, n in data.throughput))
    active = max(0.0, data.wall_seconds - paused_seconds(data.pauses, data.wall_seconds))
    if sent <= 0:
        return Rates(sent, active, None, None, None)
    avg = sent * 8 / max(active, 1.0)
    b, rate, _ = rate_series(data)
    # the peak over whole windows of ROLLING_BINS bins (the chart's line is centred and shorter at the ends)
    n = min(ROLLING_BINS, len(rate))
    peak = float(rate.rolling(n, min_periods=n).mean().max())
    return Rates(sent, active, avg, peak, float(b * n))


def goal_bytes(data: UploadReportData) -> int:
    if data.run_bytes_planned is not None:
        return int(data.run_bytes_planned)
    return max(0, data.totals.bytes_planned - data.totals.bytes_skipped)
