"""Reports to share: one self-contained HTML page per upload (plus a CSV manifest) or per plan.

The page must survive being emailed and opened offline, so everything is inside it: CSS inline,
charts as inline SVG drawn by matplotlib, no script, font, image or link fetched from anywhere.

This module knows nothing about the journal or the estimate model. It takes plain input dataclasses
(`UploadReportData`, `PlanReportData`) that those modules fill, so a report can be drawn from a live
job, a finished job's journal or synthetic data in tests alike. Every string that reaches the page or
the CSV goes through `planner.sas.redact`, whatever field it came from.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Sequence

from planner.redact import redact
from planner.units import format_bytes, format_duration, format_rate

# -- input data ---------------------------------------------------------------------------------------


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


@dataclass
class UploadReportData:
    """Everything the upload report shows. Times in the series are seconds since `started`.

    throughput: (second, bytes whose upload completed in that second), as the journal's telemetry
      stores it; seconds with nothing completed may be left out.
    cap_series: (second, cap in bits/s or None for no cap) at each change of the cap, in time order.
    pauses: (start second, end second, reason), e.g. waiting for the network.
    predicted_seconds / predicted_progress: the estimate made before sending, if any: a total time,
      or points (second, cumulative bytes). With only a total, the prediction is a straight line to
      `run_bytes_planned` at `predicted_seconds`.
    run_bytes_planned: bytes this run set out to send (default: planned minus already there).
    measured_bps: the rate to quote for next time (default: the average while sending).
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


# -- helpers the adapters use -------------------------------------------------------------------------


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


def default_report_path(container: str, when: datetime, base: Path | None = None) -> Path:
    """reports/mdplan-<container>-<YYYYmmdd-HHMMSS>.html under `base` (default: ./reports).

    No ':' in the name so it is a valid Windows file name.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", container).strip("-.") or "container"
    base = Path.cwd() / "reports" if base is None else Path(base)
    return base / f"mdplan-{safe}-{when.strftime('%Y%m%d-%H%M%S')}.html"


# -- writing files -------------------------------------------------------------------------------------


def _write_private(path: Path, write: Callable[[io.TextIOBase], None], *, encoding: str = "utf-8") -> None:
    """Write a text file readable by the user only (where the OS has such modes), atomically.

    Reports list file names and the destination: not secret, but not for everyone on a shared
    machine either. A temporary file in the same folder is renamed over the target at the end, so a
    crash never leaves half a report.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0o600
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if os.name == "posix":
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass


MANIFEST_COLUMNS = ("relative_path", "blob_name", "bytes", "md5", "state", "note")


_MAY_HOLD_SIG = re.compile(r"(?i)sig").search  # the same letters redact() matches, case rules included


def _clean(text: str | None) -> str:
    """redact(), skipped for the (nearly all) strings with no "sig" in them: the manifest has millions."""
    if not text:
        return ""
    return redact(text) if _MAY_HOLD_SIG(text) else text


def write_manifest(csv_path: Path, rows: Iterable[ManifestRow]) -> int:
    """The CSV manifest, streamed row by row (jobs can hold millions of files). Returns the row count.

    UTF-8 with a byte-order mark so that Excel on Windows shows accented and CJK names correctly.
    """
    count = 0

    def write(f: io.TextIOBase) -> None:
        nonlocal count
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(MANIFEST_COLUMNS)
        for r in rows:
            w.writerow([_clean(r.rel_path), _clean(r.blob_name), int(r.bytes), _clean(r.md5_hex),
                        _clean(r.state), _clean(r.note)])
            count += 1

    _write_private(csv_path, write, encoding="utf-8-sig")
    return count


def write_upload_report(data: UploadReportData, html_path: Path,
                        manifest_rows: Iterable[ManifestRow]) -> ReportFiles:
    """Write the upload report page and its CSV manifest (same name, .csv) beside it."""
    html_path = Path(html_path)
    csv_path = html_path.with_suffix(".csv")
    rows = write_manifest(csv_path, manifest_rows)
    page = render_upload_report(data, csv_name=csv_path.name, manifest_rows=rows)
    _write_private(html_path, lambda f: f.write(page))
    return ReportFiles(html=html_path, csv=csv_path)


def write_plan_report(data: PlanReportData, html_path: Path) -> Path:
    html_path = Path(html_path)
    page = render_plan_report(data)
    _write_private(html_path, lambda f: f.write(page))
    return html_path


# -- numbers in words ---------------------------------------------------------------------------------


def _count(n: int) -> str:
    return f"{int(n):,}"


def _when(dt: datetime | None) -> str:
    if dt is None:
        return "not finished"
    text = dt.strftime("%Y-%m-%d %H:%M")
    off = dt.utcoffset()
    if off is not None:
        minutes = int(off.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        text += f" (UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d})"
    return text


def _files(n: int) -> str:
    return f"{_count(n)} file" + ("" if n == 1 else "s")


def finished_ok(data: UploadReportData) -> bool:
    return data.finished is not None and data.state.startswith("finished")


def headline(data: UploadReportData) -> str:
    """One sentence saying where the job stands, for the top of the page."""
    t = data.totals
    there = f"{_files(t.files_there)} ({format_bytes(t.bytes_there)})"
    if finished_ok(data) and t.files_failed == 0 and t.files_left == 0:
        return f"All {there} are in the container."
    text = f"{there} of {_count(t.files_planned)} are in the container"
    if t.files_failed:
        text += f"; {_count(t.files_failed)} failed (listed below)"
    if t.files_left:
        text += f"; {_count(t.files_left)} not sent yet"
    if not finished_ok(data):
        text += f". The upload stopped ({data.state})"
    return text + "."


def _paused_seconds(pauses: Sequence[tuple[float, float, str]], end: float) -> float:
    total, last = 0.0, 0.0
    for a, b, _ in sorted(pauses):
        a, b = max(a, last), min(b, end)
        if b > a:
            total += b - a
            last = b
    return total


@dataclass(frozen=True)
class Rates:
    sent_bytes: int  # bytes in the throughput samples (this run)
    active_seconds: float  # wall time less pauses
    average_bps: float | None
    peak_bps: float | None  # highest mean rate over peak_window_s (whole bins)
    peak_window_s: float | None


def _bin_seconds(duration: float) -> int:
    """A readable chart bin: about 240 points whatever the job's length."""
    for b in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200):
        if duration / b <= 240:
            return b
    return 86400


ROLLING_BINS = 5


def _binned(data: UploadReportData):
    """The per-second telemetry summed into readable bins: (bin seconds, starts, widths, bytes) arrays.

    Bins run from 0 to the end of the run, empty ones included (a quiet stretch is a real zero, not a
    gap); the last bin may be shorter than the others.
    """
    import numpy as np
    import pandas as pd

    end = max([float(data.wall_seconds)] + [s + 1 for s, _ in data.throughput])
    b = _bin_seconds(end)
    secs = [max(0.0, float(s)) for s, _ in data.throughput] + [0.0, max(end - 1, 0.0)]
    values = [float(n) for _, n in data.throughput] + [0.0, 0.0]
    raw = pd.Series(values, index=pd.to_timedelta(secs, unit="s"), dtype=float)
    binned = raw.resample(f"{b}s", origin="start_day").sum()
    starts = binned.index.total_seconds().to_numpy()
    widths = np.minimum(b, np.maximum(end - starts, 1.0))
    return b, starts, widths, binned.to_numpy()


def _series(data: UploadReportData):
    """(bin seconds, per-bin rate in bits/s, rolling mean) as pandas Series indexed by seconds."""
    import pandas as pd

    b, starts, widths, sent = _binned(data)
    rate = pd.Series(sent * 8 / widths, index=starts)
    smooth = rate.rolling(ROLLING_BINS, center=True, min_periods=1).mean()
    return b, rate, smooth


def _thin(points: list[tuple[float, float]], most: int = 600) -> list[tuple[float, float]]:
    """At most about `most` points, first and last kept: a chart needs no more, the SVG stays small."""
    if len(points) <= most:
        return points
    step = math.ceil(len(points) / most)
    return points[::step] + ([points[-1]] if (len(points) - 1) % step else [])


def rates(data: UploadReportData) -> Rates:
    sent = int(sum(n for _, n in data.throughput))
    active = max(0.0, data.wall_seconds - _paused_seconds(data.pauses, data.wall_seconds))
    if sent <= 0:
        return Rates(sent, active, None, None, None)
    avg = sent * 8 / max(active, 1.0)
    b, rate, _ = _series(data)
    # the peak over whole windows of ROLLING_BINS bins (the chart's line is centred and shorter at the ends)
    n = min(ROLLING_BINS, len(rate))
    peak = float(rate.rolling(n, min_periods=n).mean().max())
    return Rates(sent, active, avg, peak, float(b * n))


def prediction_text(data: UploadReportData) -> str | None:
    """Predicted against actual, in words, or None without a prediction."""
    predicted = data.predicted_seconds
    if predicted is None and data.predicted_progress:
        predicted = max(s for s, _ in data.predicted_progress)
    if not predicted or predicted <= 0:
        return None
    took = data.wall_seconds
    if finished_ok(data):
        ratio = took / predicted
        if abs(ratio - 1) < 0.05:
            how = "about as predicted"
        elif ratio > 1:
            how = f"{(ratio - 1) * 100:.0f}% longer than predicted"
        else:
            how = f"{(1 - ratio) * 100:.0f}% quicker than predicted"
        return f"mdplan predicted {format_duration(predicted)}; it took {format_duration(took)}, {how}."
    goal = _goal_bytes(data)
    sent = sum(n for _, n in data.throughput)
    share = f"{sent / goal * 100:.0f}%" if goal else "none"
    expected = min(1.0, took / predicted) * 100
    return (f"mdplan predicted {format_duration(predicted)} for the whole upload. It stopped after "
            f"{format_duration(took)} with {share} of the data sent; at the predicted pace about "
            f"{expected:.0f}% would have been sent by then.")


def _goal_bytes(data: UploadReportData) -> int:
    if data.run_bytes_planned is not None:
        return int(data.run_bytes_planned)
    return max(0, data.totals.bytes_planned - data.totals.bytes_skipped)


def what_next(data: UploadReportData, r: Rates) -> str | None:
    bps = data.measured_bps or r.average_bps
    volume = data.totals.bytes_planned
    if not bps or volume <= 0:
        return None
    seconds = volume * 8 / bps
    text = (f"If the same volume arrives again ({_files(data.totals.files_planned)}, {format_bytes(volume)}), "
            f"it will take about {format_duration(seconds)} at the rate measured here ({format_rate(bps)}).")
    if data.cap:
        text += f" A speed cap was in force ({data.cap}); without it the upload can be quicker."
    return text


# -- charts --------------------------------------------------------------------------------------------

_RC = {
    "svg.fonttype": "none",  # text stays text: small, crisp, selectable
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "axes.edgecolor": "#888888",
    "axes.labelcolor": "#333333",
    "xtick.color": "#555555",
    "ytick.color": "#555555",
    "legend.frameon": False,
}

COLOURS = {"rate": "#1f6f8b", "rate_fill": "#a9d3e0", "cap": "#c0392b", "pause": "#f3d9a4",
           "actual": "#1f6f8b", "predicted": "#7f8c8d", "drive": "#8e44ad", "you": "#d35400",
           "bars": "#5b8c5a"}


def _svg(fig, name: str, label: str) -> str:
    """The figure as an inline <svg> element with nothing in it that points outside the page.

    matplotlib writes an XML prolog, a DOCTYPE and RDF metadata full of namespace URLs, and ids that
    would collide between two charts on one page: all removed or made unique here.
    """
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({**_RC, "svg.hashsalt": name}):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = re.sub(r'\s+(width|height)="[\d.]+pt"', "", svg, count=2)
    svg = svg.replace("xlink:href=", "href=")
    ids = set(re.findall(r'\bid="([^"]+)"', svg))
    svg = re.sub(r'\bid="([^"]+)"', lambda m: f'id="{name}-{m.group(1)}"', svg)
    svg = re.sub(r'(href="#|url\(#)([^")]+)', lambda m: m.group(1) + (f"{name}-{m.group(2)}" if m.group(2) in ids
                                                                     else m.group(2)), svg)
    svg = svg.replace("<svg", f'<svg role="img" aria-label="{_attr(label)}" class="chart-svg"', 1)
    return svg.strip()


def _attr(text: str) -> str:
    return (redact(text).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


def _time_axis(ax, end_s: float) -> tuple[float, str]:
    """Pick the unit of the time axis from the job length; returns (divisor, unit word)."""
    if end_s <= 180:
        div, unit = 1.0, "seconds"
    elif end_s <= 3 * 3600:
        div, unit = 60.0, "minutes"
    elif end_s <= 3 * 86400:
        div, unit = 3600.0, "hours"
    else:
        div, unit = 86400.0, "days"
    ax.set_xlabel(f"time since the start ({unit})")
    ax.set_xlim(0, max(end_s / div, 1e-9))
    return div, unit


def _rate_unit(peak_bps: float) -> tuple[float, str]:
    if peak_bps >= 2e9:
        return 1e9, "Gbit/s"
    if peak_bps >= 2e6:
        return 1e6, "Mbit/s"
    return 1e3, "kbit/s"


def throughput_chart(data: UploadReportData) -> tuple[str, str] | None:
    """(svg, caption) of the rate over time, cap as a line, pauses shaded; None without data."""
    if not data.throughput or sum(n for _, n in data.throughput) <= 0:
        return None
    from matplotlib.figure import Figure
    import matplotlib

    b, rate, smooth = _series(data)
    end = max(data.wall_seconds, float(rate.index[-1]) + b)
    caps = [c for at, c in data.cap_series if c and at < max(data.wall_seconds, 1.0)]  # caps in force
    top = max([float(rate.max())] + caps)
    k, unit = _rate_unit(top)
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7, 3.4), layout="constrained")
        ax = fig.add_subplot()
        div, tunit = _time_axis(ax, end)
        for i, (a, z, _) in enumerate(data.pauses):
            ax.axvspan(a / div, z / div, color=COLOURS["pause"], alpha=0.8, lw=0,
                       label="paused" if i == 0 else None)
        x = (rate.index.to_numpy() + b / 2) / div
        ax.fill_between(x, rate.to_numpy() / k, step="mid", color=COLOURS["rate_fill"], lw=0,
                        label=f"sent, per {format_duration(b)}")
        ax.plot(x, smooth.to_numpy() / k, color=COLOURS["rate"], lw=2,
                label=f"rolling mean of {ROLLING_BINS}")
        if data.cap_series:
            xs = [s / div for s, _ in data.cap_series] + [end / div]
            ys = [(c / k if c else float("nan")) for _, c in data.cap_series]
            ys.append(ys[-1])
            ax.step(xs, ys, where="post", color=COLOURS["cap"], lw=1.6, ls="--", label="cap")
        ax.set_ylabel(f"rate ({unit})")
        ax.set_ylim(0, top / k * 1.15)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=10)
        svg = _svg(fig, "throughput", "Upload rate over time")
    caption = (f"Upload rate: each step is the data that arrived in {format_duration(b)}; the line is the "
               f"mean of {ROLLING_BINS} steps.")
    if data.cap_series:
        caption += " The dashed line is the speed cap in force."
    if data.pauses:
        caption += " Shaded stretches are pauses (reasons below)."
    return svg, caption


def progress_chart(data: UploadReportData) -> tuple[str, str] | None:
    """(svg, caption) of cumulative data sent, with the predicted line when there is one."""
    if not data.throughput and not data.predicted_progress and not data.predicted_seconds:
        return None
    from matplotlib.figure import Figure
    import matplotlib
    import numpy as np

    if data.throughput:
        _, starts, widths, sent = _binned(data)
        xs = np.concatenate([[0.0], starts + widths])
        ys = np.concatenate([[0.0], np.cumsum(sent)])
    else:
        xs, ys = np.array([0.0, float(data.wall_seconds)]), np.array([0.0, 0.0])
    end = max(data.wall_seconds, float(xs[-1]))
    goal = _goal_bytes(data)
    pred: list[tuple[float, float]] = []
    if data.predicted_progress:
        pred = _thin(sorted((float(s), float(v)) for s, v in data.predicted_progress))
    elif data.predicted_seconds:
        pred = [(0.0, 0.0), (float(data.predicted_seconds), float(goal))]
    x_end = max([end] + [s for s, _ in pred])
    top = max([float(ys[-1]), float(goal)] + [v for _, v in pred])
    gk, gunit = (1e9, "GB") if top >= 2e9 else (1e6, "MB")
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7, 3.2), layout="constrained")
        ax = fig.add_subplot()
        div, _ = _time_axis(ax, x_end)
        if pred:
            ax.plot([s / div for s, _ in pred], [v / gk for _, v in pred], color=COLOURS["predicted"],
                    lw=1.6, ls="--", label="predicted")
        if goal:
            ax.axhline(goal / gk, color="#999999", lw=0.8, ls=":", label="all to send")
        ax.plot(xs / div, ys / gk, color=COLOURS["actual"], lw=2.2, label="sent")
        if ys[-1] > 0:
            ax.plot([xs[-1] / div], [ys[-1] / gk], "o", color=COLOURS["actual"], ms=5)
        ax.set_ylabel(f"data sent ({gunit})")
        ax.set_ylim(0, top / gk * 1.1 if top else 1)
        ax.legend(loc="upper left", fontsize=10)
        svg = _svg(fig, "progress", "Data sent over time")
    caption = "Data sent since the start of this run."
    if pred:
        caption += " The dashed line is what mdplan predicted before starting."
    return svg, caption


def _duration_ticks(ax, low: float, high: float) -> None:
    ticks = [(1, "1 s"), (10, "10 s"), (60, "1 min"), (600, "10 min"), (3600, "1 h"), (6 * 3600, "6 h"), (86400, "1 day"),
             (7 * 86400, "1 week"), (30 * 86400, "1 month"), (365 * 86400, "1 year"),
             (10 * 365 * 86400, "10 years")]
    chosen = [(s, t) for s, t in ticks if low <= s <= high]
    ax.set_yticks([s for s, _ in chosen], [t for _, t in chosen])
    ax.minorticks_off()


def crossover_chart(data: PlanReportData) -> tuple[str, str] | None:
    pts = sorted((b, s) for b, s in data.crossover if b > 0 and s > 0 and math.isfinite(s))
    if len(pts) < 2:
        return None
    from matplotlib.figure import Figure
    import matplotlib

    xs = [b / 1e6 for b, _ in pts]
    ys = [s for _, s in pts]
    values = ys + [v for v in (data.drive_seconds, data.upload_seconds) if v]
    low, high = min(values) / 2, max(values) * 2
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7, 3.6), layout="constrained")
        ax = fig.add_subplot()
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.plot(xs, ys, color=COLOURS["rate"], lw=2.2, label="upload time")
        if data.drive_seconds:
            ax.axhline(data.drive_seconds, color=COLOURS["drive"], lw=2, ls="--", label="mail a drive")
            ax.fill_between(xs, ys, data.drive_seconds, where=[y < data.drive_seconds for y in ys],
                            color=COLOURS["rate_fill"], alpha=0.5, lw=0, label="upload is quicker")
        even = break_even_bps(data)
        if even and data.drive_seconds:
            ax.plot([even / 1e6], [data.drive_seconds], "o", mfc="white", mec=COLOURS["drive"], mew=2, ms=8)
            ax.annotate(f"same time at {format_rate(even)}", (even / 1e6, data.drive_seconds),
                        xytext=(8, 8), textcoords="offset points", color=COLOURS["drive"], fontsize=10)
        if data.bandwidth_bps:
            x = data.bandwidth_bps / 1e6
            ax.axvline(x, color=COLOURS["you"], lw=1.4, label=f"your link ({format_rate(data.bandwidth_bps)})")
            if data.upload_seconds:
                ax.plot([x], [data.upload_seconds], "o", color=COLOURS["you"], ms=7)
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(low, high)
        _duration_ticks(ax, low, high)
        ax.set_xlabel("upload bandwidth (Mbit/s, log scale)")
        ax.set_ylabel("time to finish (log scale)")
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, fontsize=10)
        svg = _svg(fig, "crossover", "Upload time against bandwidth, with the drive route")
    caption = ("Time to get everything there: the curve is uploading at each bandwidth, the dashed line is "
               "mailing a drive (copying, shipping, loading). Where the curve is below the line, uploading "
               "wins.")
    even = break_even_bps(data)
    if even:
        caption += f" The two take the same time at about {format_rate(even)}."
    return svg, caption


def break_even_bps(data: PlanReportData) -> float | None:
    """The bandwidth at which uploading and mailing a drive take the same time (log interpolation)."""
    if not data.drive_seconds:
        return None
    pts = sorted((b, s) for b, s in data.crossover if b > 0 and s > 0 and math.isfinite(s))
    for (b0, s0), (b1, s1) in zip(pts, pts[1:]):
        if (s0 - data.drive_seconds) * (s1 - data.drive_seconds) <= 0 and s0 != s1:
            f = (math.log(data.drive_seconds) - math.log(s0)) / (math.log(s1) - math.log(s0))
            return math.exp(math.log(b0) + f * (math.log(b1) - math.log(b0)))
    return None


def size_chart(data: PlanReportData) -> tuple[str, str] | None:
    bins: list[SizeBin] = []
    for b in sorted(data.size_bins, key=lambda b: b.low):
        if bins and b.low > bins[-1].high:  # an empty stretch the caller left out: show it as empty
            bins.append(SizeBin(bins[-1].high, b.low, 0))
        bins.append(b)
    while bins and bins[0].files == 0:
        bins.pop(0)
    while bins and bins[-1].files == 0:
        bins.pop()
    if not bins:
        return None
    from matplotlib.figure import Figure
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(7, 2.6), layout="constrained")
        ax = fig.add_subplot()
        ax.set_axisbelow(True)
        ax.bar(range(len(bins)), [b.files for b in bins], color=COLOURS["bars"], width=0.85)
        step = max(1, math.ceil(len(bins) / 8))
        # Doubling bins read better in binary units (64 KiB, 128 KiB) than as 65.5 kB, 131 kB.
        binary = all(b.low & (b.low - 1) == 0 for b in bins)
        edges = [b.low for b in bins] + [bins[-1].high]
        ax.set_xticks([i - 0.5 for i in range(0, len(edges), step)],
                      [format_bytes(e, binary=binary) if e else "0" for e in edges[::step]])
        ax.set_xlim(-0.6, len(bins) - 0.4)
        ax.set_xlabel("file size")
        ax.set_ylabel("files")
        ax.grid(axis="x", visible=False)
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        svg = _svg(fig, "sizes", "How many files of each size")
    return svg, "How many files of each size: each bar counts the files between the sizes on either side."


def _safe_chart(fn, data) -> tuple[str | None, str | None]:
    """A chart that fails to draw must not cost the user the whole report (written on interrupt too)."""
    try:
        out = fn(data)
    except Exception as e:  # noqa: BLE001 - reported on the page instead
        return None, f"This chart could not be drawn ({type(e).__name__}: {redact(e)})."
    return (out[0], out[1]) if out else (None, None)


# -- pages ---------------------------------------------------------------------------------------------


def warm_up() -> None:
    """Import what drawing and writing a report needs (pandas, matplotlib, jinja2: about a second).

    The CLI calls this in a background thread while an upload is sending, so the report at the end is
    written in a fraction of a second instead of holding the finished command for two.
    """
    import jinja2  # noqa: F401
    import pandas  # noqa: F401
    from matplotlib.backends import backend_svg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401


def _env():
    from jinja2 import Environment, PackageLoader
    from markupsafe import Markup

    def finalize(value: object) -> object:
        if isinstance(value, Markup):
            return Markup(redact(str(value)))
        if isinstance(value, str):
            return redact(value)
        return value

    env = Environment(loader=PackageLoader("planner", "templates"), autoescape=True, finalize=finalize,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(bytes=format_bytes, count=_count, duration=format_duration, rate=format_rate,
                       when=_when)
    return env


def render_upload_report(data: UploadReportData, *, csv_name: str | None = None,
                         manifest_rows: int | None = None, failure_rows_shown: int = 500) -> str:
    from markupsafe import Markup

    r = rates(data)
    t_svg, t_caption = _safe_chart(throughput_chart, data)
    p_svg, p_caption = _safe_chart(progress_chart, data)
    if finished_ok(data) and data.totals.files_failed == 0 and data.totals.files_left == 0:
        tone = "ok"
    elif data.state.startswith("stopped"):
        tone = "bad"  # needs the user to act (a new SAS, ...) before it can go on
    else:
        tone = "warn"
    return _env().get_template("upload.html").render(
        d=data, t=data.totals, r=r, tone=tone, headline=headline(data),
        throughput_svg=Markup(t_svg) if t_svg else None, throughput_caption=t_caption,
        progress_svg=Markup(p_svg) if p_svg else None, progress_caption=p_caption,
        prediction=prediction_text(data), what_next=what_next(data, r),
        failures=data.failures[:failure_rows_shown], csv_name=csv_name, manifest_rows=manifest_rows,
        busy_sites=[s for s in data.sites if s.files_sent or s.files_failed],
        quiet_sites=[s for s in data.sites if not (s.files_sent or s.files_failed)],
        title=f"mdplan upload report: {data.destination}",
    )


def render_plan_report(data: PlanReportData) -> str:
    from markupsafe import Markup

    c_svg, c_caption = _safe_chart(crossover_chart, data)
    s_svg, s_caption = _safe_chart(size_chart, data)
    return _env().get_template("plan.html").render(
        d=data, crossover_svg=Markup(c_svg) if c_svg else None, crossover_caption=c_caption,
        sizes_svg=Markup(s_svg) if s_svg else None, sizes_caption=s_caption,
        title=f"mdplan plan: {data.source}",
    )


# -- from a job journal -------------------------------------------------------------------------------


def upload_report_data(journal_path: Path) -> tuple["UploadReportData", Callable[[], Iterable[ManifestRow]], str]:
    """The report of a job from its journal: totals for the whole job, the story of its latest run.

    Returns the data, a function that streams the manifest rows, and the container name.
    """
    import time
    from datetime import timezone

    from planner import __version__
    from planner.journal import Journal, State

    with Journal.open_existing(Path(journal_path)) as j:
        info = j.info()
        c = j.counts()
        runs = [r for r in j.runs() if r["outcome"] != "planned (dry run)"] or j.runs()
        run = runs[-1] if runs else None
        t0 = run["started"] if run else info.created
        t1 = run["ended"] if run and run["ended"] else None
        found_n, found_b = j.found_already()
        litter_n = litter_b = excl_n = excl_b = 0
        for reason, n in c.excluded_files.items():
            b = c.excluded_bytes.get(reason, 0)
            if reason.startswith("drive litter"):
                litter_n, litter_b = litter_n + n, litter_b + b
            else:
                excl_n, excl_b = excl_n + n, excl_b + b
        totals = Totals(
            files_planned=c.total_files, bytes_planned=c.total_bytes,
            files_done=c.n(State.DONE) - found_n, bytes_done=c.b(State.DONE) - found_b,
            files_skipped=found_n + c.n(State.SKIPPED), bytes_skipped=found_b + c.b(State.SKIPPED),
            files_failed=c.n(State.FAILED) + c.n(State.CONFLICT), bytes_failed=c.b(State.FAILED) + c.b(State.CONFLICT),
        )
        throughput, cap_series, retries = [], [], 0
        last_cap: object = "unset"
        workers = None
        for second, nbytes, _files, tries, cap_bps, w in j.telemetry():
            if second < int(t0) or (t1 is not None and second > t1 + 1):
                continue
            # The telemetry counts whole clock seconds; its grid starts at the whole second the run began
            # in, so each second keeps a bin of its own (with `second - t0` the first two seconds of a
            # run share the first bin and the chart shows a spike of up to twice the real rate).
            rel = second - int(t0)
            throughput.append((rel, nbytes))
            retries += tries
            if cap_bps != last_cap:
                cap_series.append((max(rel, 0.0), cap_bps))
                last_cap = cap_bps
            workers = w or workers
        pauses, open_pause = [], None
        for t, kind, detail in j.events():
            if t < t0:
                continue
            if kind == "pause":
                open_pause = (t - t0, detail)
            elif kind == "resume" and open_pause is not None:
                pauses.append((open_pause[0], t - t0, f"waiting for network ({open_pause[1]})"))
                open_pause = None
        end = (t1 or time.time()) - t0
        if open_pause is not None:
            pauses.append((open_pause[0], end, "waiting for network"))
        sent = sum(b for _, b in throughput)
        data = UploadReportData(
            job_id=info.job_id, source=info.source, destination=info.destination, mdplan_version=__version__,
            started=datetime.fromtimestamp(t0, timezone.utc).astimezone(),
            finished=datetime.fromtimestamp(t1, timezone.utc).astimezone() if t1 and run["outcome"] != "interrupted"
            else None,
            state=(run["outcome"] if run and run["outcome"] else info.state), totals=totals,
            litter_files=litter_n, litter_bytes=litter_b, excluded_files=excl_n, excluded_bytes=excl_b,
            retries=retries, wall_seconds=end, cap=run["cap"] if run else None, cap_series=cap_series,
            pauses=pauses, throughput=throughput,
            sites=[SiteRow(site=s, files_sent=fs, bytes_sent=bs, files_skipped=sk, files_failed=ff)
                   for s, fs, bs, sk, ff, _total in j.sites()],
            failures=[FailureRow(path=f.rel_path, reason=f.last_error or f.state, attempts=f.attempts)
                      for f in j.failures(500)],
            predicted_seconds=run["predicted_seconds"] if run else None,
            run_bytes_planned=run["bytes_planned"] if run else None,
            measured_bps=(sent * 8 / max(end, 1.0)) if sent else None,
            workers=(f"{run['workers']} ({workers})" if run and run["workers"] == "auto" and workers
                     else (run["workers"] if run else None)),
            next_step=None if totals.files_left == 0 and totals.files_failed == 0 else
            f'mdplan upload "{info.source}" SAS_URL   (the same command resumes; a new URL continues this job)',
        )
        container = info.container

    def manifest() -> Iterable[ManifestRow]:
        with Journal.open_existing(Path(journal_path)) as jj:
            for rel, blob, size, md5, state, note in jj.manifest():
                yield ManifestRow(rel, blob, size, md5, state, note)

    return data, manifest, container


def write_job_report(journal_path: Path, html_path: Path | None = None) -> ReportFiles:
    """Draw (or redraw) the report of a job from its journal; default path under ./reports/."""
    data, manifest, container = upload_report_data(journal_path)
    path = Path(html_path) if html_path else default_report_path(container, datetime.now().astimezone())
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_upload_report(data, path, manifest())


def plan_report_data(a) -> PlanReportData:  # a: planner.estimate.Assessment
    """The plan page (`mdplan estimate --report`) from an assessment: what is there, speed, verdict."""
    from planner import __version__
    from dataclasses import replace

    from planner.estimate import _method_words, _with_cap, upload_seconds

    s, e = a.scan, a.estimate
    words = {"image": "images", "video": "videos", "litter": "litter", "other": "other"}
    kinds = [KindRow(words.get(k, k), v.files, v.bytes) for k, v in s.kinds.items()]
    sites = [PlanSiteRow(x.site, x.upload_files, x.upload_bytes) for x in s.sites if x.upload_files]
    bins = [SizeBin(low, high, n) for low, high, n in s.size_histogram]
    m = a.measurement
    rec = "Upload it." if e.recommendation == "upload" else "Mail a hard drive."
    st = e.settings

    def curve(bps: float) -> float:
        # The estimate's own figure at another rate (same method, round trip and per-file cost), so the
        # curve passes through the point marked for the user's link.
        total, _, _ = upload_seconds(e.bytes, e.files, replace(e.bandwidth, bits_per_second=bps), st)
        return _with_cap(total, e.bytes, st)[0]

    return PlanReportData(
        source=a.folder, mdplan_version=__version__, created=datetime.now().astimezone(),
        total_files=a.upload_files, total_bytes=a.upload_bytes, recommendation=rec, reasons=list(e.reasons),
        kinds=kinds, sites=sites, size_bins=bins, bandwidth_bps=e.bandwidth.bits_per_second,
        bandwidth_method=_method_words(e.bandwidth.method), bandwidth_note=getattr(m, "note", None),
        upload_seconds=e.upload_seconds, drive_seconds=e.drive_seconds,
        crossover=crossover_points(curve),
        assumptions=[
            ("Share of a typed or speed-test rate that carries data", f"{st.efficiency:.0%}"),
            ("Copy speed to a USB drive", f"{format_bytes(st.drive_bytes_per_second)}/s"),
            ("Drive size", format_bytes(st.drive_size_bytes)),
            ("Shipping", f"{st.shipping_days:g} days"),
            ("Team copies the drive in", f"{st.ingest_days:g} days"),
            ("Upload is fine up to", f"{st.upload_ok_days:g} days"),
            ("Mail a drive beyond", f"{st.drive_after_days:g} days"),
        ],
        destination=a.sas_display,
    )
