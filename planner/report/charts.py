"""The report's charts: matplotlib figures as inline SVG with nothing in them that points outside the page.

matplotlib (and numpy; never pandas) are imported inside the functions that draw: `import planner.report`
stays cheap for commands that never draw a chart.
"""

from __future__ import annotations

import io
import math
import re
import threading

from planner.report.data import PlanReportData, SizeBin, UploadReportData
from planner.report.series import ROLLING_BINS, binned, gaps, goal_bytes, rate_series, thin
from planner.redact import redact
from planner.units import format_bytes, format_duration, format_rate


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


COLOURS = {"rate": "#1f6f8b", "rate_fill": "#a9d3e0", "cap": "#c0392b", "pause": "#f3d9a4", "gap": "#e3e3e3",
           "actual": "#1f6f8b", "predicted": "#7f8c8d", "drive": "#8e44ad", "you": "#d35400",
           "bars": "#5b8c5a", "rtt": "#6c3483"}


_LOADING = threading.Lock()


def _load_matplotlib() -> None:
    """Import matplotlib's Figure and SVG backend without the docstrings it builds for each artist class as
    it defines them (a table of every settable property: about 0.2 of the ~0.9 CPU-seconds the import
    takes; issue 14). They only serve help(); the builder is put back as soon as the import is done.
    One thread at a time (`warm_up` may be importing in the background): a module another thread is still
    importing is in sys.modules half made."""
    import sys

    with _LOADING:
        if "matplotlib.figure" in sys.modules:
            return
        try:
            import matplotlib.artist as artist

            builder = artist.kwdoc
        except (ImportError, AttributeError):  # another matplotlib: import it as it is
            return
        artist.kwdoc = lambda _artist: ""
        try:
            import matplotlib.backends.backend_svg  # noqa: F401
            import matplotlib.figure  # noqa: F401
        finally:
            artist.kwdoc = builder


def warm_up() -> None:
    """Import what drawing a report needs (matplotlib, jinja2), so the report at the end of an upload is
    drawn without waiting for them (planner.report.live starts this in the background on slow links)."""
    _load_matplotlib()
    import jinja2  # noqa: F401
    import markupsafe  # noqa: F401


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
    _load_matplotlib()
    from matplotlib.figure import Figure
    import matplotlib

    b, starts, rate, smooth = rate_series(data)
    end = max(data.wall_seconds, float(starts[-1]) + b)
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
        _shade_gaps(ax, data, div)
        x = (starts + b / 2) / div
        ax.fill_between(x, rate / k, step="mid", color=COLOURS["rate_fill"], lw=0,
                        label=f"sent, per {format_duration(b)}")
        line = smooth / k
        for g0, g1 in gaps(data):  # the line breaks between runs: nothing was running to be measured
            line[(starts >= g0) & (starts + b <= g1)] = float("nan")
        ax.plot(x, line, color=COLOURS["rate"], lw=2,
                label=f"rolling mean of {ROLLING_BINS}")
        if data.cap_series:
            xs = [s / div for s, _ in data.cap_series] + [end / div]
            ys = [(c / k if c else float("nan")) for _, c in data.cap_series]
            ys.append(ys[-1])
            ax.step(xs, ys, where="post", color=COLOURS["cap"], lw=1.6, ls="--",
                    label="rate polite mode chose" if data.rtt_series else "cap")
        ax.set_ylabel(f"rate ({unit})")
        ax.set_ylim(0, top / k * 1.15)
        handles, labels = ax.get_legend_handles_labels()
        if data.rtt_series:
            handles.append(_draw_rtt(ax, data, div, b, end))
            labels.append("round trip")
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=4, fontsize=10)
        svg = _svg(fig, "throughput", "Upload rate over time")
    caption = (f"Upload rate: each step is the data that arrived in {format_duration(b)}; the line is the "
               f"mean of {ROLLING_BINS} steps.")
    if data.rtt_series:
        caption += (" The dashed line is the rate polite mode chose (under any cap); the dotted line (right "
                    "axis) is the round trip polite mode measured, which rises when the link's queue fills.")
    elif data.cap_series:
        caption += " The dashed line is the speed cap in force."
    if data.pauses:
        caption += " Shaded stretches are pauses (reasons below)."
    if gaps(data):
        caption += " Grey stretches are between runs: mdplan was not running, nothing was sent."
    return svg, caption


def _draw_rtt(ax, data: UploadReportData, div: float, b: float, end: float):
    """Polite mode's round trip on a right-hand axis, the mean of each chart bin (gaps where none)."""
    import numpy as np

    raw = np.array(data.rtt_series, dtype=float).reshape(-1, 2)
    count = int(max(end - 1, 0.0) // b) + 1
    index = np.clip((np.maximum(raw[:, 0], 0.0) // b).astype(int), 0, count - 1)
    n = np.bincount(index, minlength=count)
    total = np.bincount(index, weights=raw[:, 1], minlength=count)
    mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    right = ax.twinx()
    right.grid(False)
    right.spines["right"].set_visible(True)
    (line,) = right.plot((np.arange(count) * b + b / 2) / div, mean, color=COLOURS["rtt"], lw=1.2, ls=":")
    right.set_ylabel("round trip (ms)")
    right.set_ylim(0, max(float(np.nanmax(mean)) * 1.15, 1.0))
    return line


def _shade_gaps(ax, data: UploadReportData, div: float) -> None:
    """The stretches between two runs of the job, grey and labelled once."""
    for i, (a, z) in enumerate(gaps(data)):
        ax.axvspan(a / div, z / div, color=COLOURS["gap"], alpha=0.9, lw=0,
                   label="between runs (not running)" if i == 0 else None)


def progress_chart(data: UploadReportData) -> tuple[str, str] | None:
    """(svg, caption) of cumulative data sent, with the predicted line when there is one."""
    if not data.throughput and not data.predicted_progress and not data.predicted_seconds:
        return None
    _load_matplotlib()
    from matplotlib.figure import Figure
    import matplotlib
    import numpy as np

    if data.throughput:
        _, starts, widths, sent = binned(data)
        xs = np.concatenate([[0.0], starts + widths])
        ys = np.concatenate([[0.0], np.cumsum(sent)])
    else:
        xs, ys = np.array([0.0, float(data.wall_seconds)]), np.array([0.0, 0.0])
    end = max(data.wall_seconds, float(xs[-1]))
    goal = goal_bytes(data)
    pred: list[tuple[float, float]] = []
    if data.predicted_progress:
        pred = thin(sorted((float(s), float(v)) for s, v in data.predicted_progress))
    elif data.predicted_seconds:
        pred = [(0.0, 0.0), (float(data.predicted_seconds), float(goal))]
    # the prediction is the latest run's: it starts where that run started, from what was there before
    x0 = float(data.prediction_start)
    y0 = float(sum(n for s, n in data.throughput if s < int(x0))) if x0 > 0 else 0.0
    pred = [(x0 + s, y0 + v) for s, v in pred]
    goal = int(goal + y0)
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
        _shade_gaps(ax, data, div)
        ax.set_ylabel(f"data sent ({gunit})")
        ax.set_ylim(0, top / gk * 1.1 if top else 1)
        ax.legend(loc="upper left", fontsize=10)
        svg = _svg(fig, "progress", "Data sent over time")
    caption = ("Data sent since the job's first run started; grey stretches are between runs." if gaps(data)
               else "Data sent since the start of the job.")
    if pred:
        caption += (" The dashed line is what mdplan predicted when the latest run started." if x0 > 0
                    else " The dashed line is what mdplan predicted before starting.")
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
    _load_matplotlib()
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
    _load_matplotlib()
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


def safe_chart(fn, data) -> tuple[str | None, str | None]:
    """A chart that fails to draw must not cost the user the whole report (written on interrupt too)."""
    try:
        out = fn(data)
    except Exception as e:  # noqa: BLE001 - reported on the page instead
        return None, f"This chart could not be drawn ({type(e).__name__}: {redact(e)})."
    return (out[0], out[1]) if out else (None, None)
