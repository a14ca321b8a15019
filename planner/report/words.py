"""Numbers in words for the upload page: the headline, predicted against actual, what next time takes."""

from __future__ import annotations

from datetime import datetime

from planner.report.data import UploadReportData
from planner.report.series import Rates, goal_bytes
from planner.units import format_bytes, format_duration, format_rate


def fmt_count(n: int) -> str:
    return f"{int(n):,}"


def fmt_when(dt: datetime | None) -> str:
    if dt is None:
        return "not finished"
    text = dt.strftime("%Y-%m-%d %H:%M")
    off = dt.utcoffset()
    if off is not None:
        minutes = int(off.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        text += f" (UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d})"
    return text


def files_phrase(n: int) -> str:
    return f"{fmt_count(n)} file" + ("" if n == 1 else "s")


def finished_ok(data: UploadReportData) -> bool:
    return data.finished is not None and data.state.startswith("finished")


def headline(data: UploadReportData) -> str:
    """One sentence saying where the job stands, for the top of the page."""
    t = data.totals
    there = f"{files_phrase(t.files_there)} ({format_bytes(t.bytes_there)})"
    if finished_ok(data) and t.files_failed == 0 and t.files_left == 0:
        return f"All {there} are in the container."
    text = f"{there} of {fmt_count(t.files_planned)} are in the container"
    if t.files_failed:
        text += f"; {fmt_count(t.files_failed)} failed (listed below)"
    if t.files_left:
        text += f"; {fmt_count(t.files_left)} not sent yet"
    if not finished_ok(data):
        text += f". The upload stopped ({data.state})"
    return text + "."


def prediction_text(data: UploadReportData) -> str | None:
    """Predicted against actual, in words, or None without a prediction."""
    predicted = data.predicted_seconds
    if predicted is None and data.predicted_progress:
        predicted = max(s for s, _ in data.predicted_progress)
    if not predicted or predicted <= 0:
        return None
    took = data.wall_seconds - data.prediction_start  # the prediction is the latest run's, from its start
    if finished_ok(data):
        ratio = took / predicted
        if abs(ratio - 1) < 0.05:
            how = "about as predicted"
        elif ratio > 1:
            how = f"{(ratio - 1) * 100:.0f}% longer than predicted"
        else:
            how = f"{(1 - ratio) * 100:.0f}% quicker than predicted"
        return f"mdplan predicted {format_duration(predicted)}; it took {format_duration(took)}, {how}."
    goal = goal_bytes(data)
    sent = sum(n for s, n in data.throughput if s >= int(data.prediction_start))
    share = f"{sent / goal * 100:.0f}%" if goal else "none"
    expected = min(1.0, took / predicted) * 100
    return (f"mdplan predicted {format_duration(predicted)} for the whole upload. It stopped after "
            f"{format_duration(took)} with {share} of the data sent; at the predicted pace about "
            f"{expected:.0f}% would have been sent by then.")


def what_next(data: UploadReportData, r: Rates) -> str | None:
    bps = data.measured_bps or r.average_bps
    volume = data.totals.bytes_planned
    if not bps or volume <= 0:
        return None
    seconds = volume * 8 / bps
    text = (f"If the same volume arrives again ({files_phrase(data.totals.files_planned)}, {format_bytes(volume)}), "
            f"it will take about {format_duration(seconds)} at the rate measured here ({format_rate(bps)}).")
    if data.cap:
        text += f" A speed cap was in force ({data.cap}); without it the upload can be quicker."
    return text
