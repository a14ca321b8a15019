"""What a probe answers and how it is shown: `Measurement` (what `mdplan bandwidth --json` prints),
the progress it reports, the probe protocol, the window rule, and the lines for a person."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from planner import options
from planner.errors import BadInput
from planner.units import format_bytes, format_duration, format_rate

if TYPE_CHECKING:
    from planner.estimate import BandwidthFigure

Method = Literal["destination", "speedtest", "manual"]

DEFAULT_SECONDS = 10.0
MAX_SECONDS = 30.0  # a probe is a measurement, not an upload
MIN_SECONDS = 1.0
# Bytes a probe may send (--max-bytes); one rule with its bounds in planner.options
DEFAULT_MAX_BYTES = options.DEFAULT_PROBE_BYTES
MAX_STREAMS = 32  # the uploader's ceiling for 8 MiB requests (planner.estimate.max_workers_for)

NEXT_STEP = (
    "Give the container's SAS URL to measure the real destination (mdplan bandwidth \"https://...\"), "
    "or tell mdplan estimate the speed you know with --bandwidth, e.g. --bandwidth 20Mbps."
)


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------
@dataclass
class Measurement:
    """One bandwidth figure and everything needed to judge it. `mdplan bandwidth --json` prints this."""

    bits_per_second: float
    rtt_ms: float | None  # round trip of a small request (None: not measured)
    per_file_seconds: float | None  # fixed time one worker spends per file, whatever its size
    method: Method
    seconds: float  # how long measuring took
    bytes: int  # bytes the probe put on the link (request bodies sent, acknowledged or not): what it cost
    note: str  # how far to trust the figure, in plain words
    left_marker: bool = False  # a small marker blob stays in the container (the URL cannot delete)
    streams: int | None = None  # parallel uploads the figure was measured with (destination)
    marker: str | None = None  # blob name of that marker, when one was left
    max_bytes: int | None = None  # the byte budget it ran under (--max-bytes); None: none applied
    stopped_by: Literal["time", "bytes"] | None = None  # which budget ended it (None: it ran to its own end)

    def to_figure(self) -> BandwidthFigure:
        """The estimate model's bandwidth input (planner.estimate.BandwidthFigure)."""
        from planner.estimate import BandwidthFigure

        return BandwidthFigure(
            self.bits_per_second,
            self.method,
            rtt_ms=self.rtt_ms,
            per_file_seconds=self.per_file_seconds,
            note=self.note,
        )


@dataclass(frozen=True)
class ProbeProgress:
    """What a probe is doing right now, for a progress line."""

    phase: str  # plain words: "connecting", "round trip", "uploading test data", ...; "done" at the end
    elapsed: float
    limit: float
    bits_per_second: float | None = None  # rate so far, when there is one
    streams: int | None = None


ProgressFn = Callable[[ProbeProgress], None]


class Probe(Protocol):
    method: Method

    def measure(self, progress: ProgressFn | None = None) -> Measurement: ...


def clamp_seconds(seconds: float | None) -> float:
    """The probe window: default 10 s, between 1 and 30 s."""
    if seconds is None:
        return DEFAULT_SECONDS
    if not math.isfinite(seconds) or seconds <= 0:
        raise BadInput(f"--seconds must be a number of seconds from {MIN_SECONDS:g} to {MAX_SECONDS:g}.")
    return min(MAX_SECONDS, max(MIN_SECONDS, float(seconds)))


def describe(m: Measurement) -> list[str]:
    """The measurement for a person: a few short lines."""
    how = {
        "destination": "measured to your container",
        "speedtest": "speedtest.net (rough, generic)",
        "manual": "as typed (--bandwidth)",
    }[m.method]
    lines = [f"Upload speed: {format_rate(m.bits_per_second)} ({how})"]
    if m.method != "manual":
        extra = f"{format_duration(m.seconds)}, {format_bytes(m.bytes)} sent"
        if m.max_bytes is not None:
            extra += f" (budget {format_bytes(m.max_bytes)}{', used up' if m.stopped_by == 'bytes' else ''})"
        if m.streams:
            extra += f", {m.streams} parallel uploads"
        lines.append(f"Measured:     {extra}")
    if m.rtt_ms is not None:
        lines.append(f"Round trip:   {m.rtt_ms:.0f} ms")
    if m.per_file_seconds is not None:
        lines.append(f"Per file:     {m.per_file_seconds * 1000:.0f} ms of fixed cost per file and worker")
    lines.append(f"Trust:        {m.note}")
    return lines


