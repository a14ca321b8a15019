"""Choosing a probe and running it: `--bandwidth` as typed, `--speedtest`, or the destination; and
keeping a destination figure for the next upload's first ETA."""

from __future__ import annotations

import math
from typing import Any

from planner.clock import Clock
from planner.errors import BadInput
from planner.probe.destination import DestinationProbe
from planner.probe.result import DEFAULT_MAX_BYTES, NEXT_STEP, Measurement, Method, Probe, ProgressFn, clamp_seconds
from planner.probe.speedtest import SpeedtestProbe
from planner.sas import SasUrl
from planner.units import parse_rate


class ManualProbe:
    """`--bandwidth RATE`: the user's own figure, taken as typed."""

    method: Method = "manual"

    def __init__(self, rate: str | float) -> None:
        self.bits_per_second = parse_rate(rate) if isinstance(rate, str) else float(rate)
        if not math.isfinite(self.bits_per_second) or self.bits_per_second <= 0:
            raise BadInput("--bandwidth must be more than zero, e.g. --bandwidth 20Mbps.")

    def measure(self, progress: ProgressFn | None = None) -> Measurement:
        return Measurement(
            bits_per_second=self.bits_per_second,
            rtt_ms=None,
            per_file_seconds=None,
            method="manual",
            seconds=0.0,
            bytes=0,
            note="As typed (--bandwidth): mdplan has not checked it.",
        )


def choose_probe(
    *,
    sas: SasUrl | None = None,
    speedtest: bool = False,
    bandwidth: str | float | None = None,
    seconds: float | None = None,
    clock: Clock | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> Probe:
    """`--bandwidth` always wins; then `--speedtest` when asked for; then the destination.

    A measuring probe stops at `seconds` or `max_bytes` sent, whichever comes first (None: no byte limit).
    """
    if bandwidth is not None:
        return ManualProbe(bandwidth)
    if speedtest:
        return SpeedtestProbe(seconds=clamp_seconds(seconds), clock=clock, max_bytes=max_bytes)
    if sas is not None:
        return DestinationProbe(sas, seconds=clamp_seconds(seconds), clock=clock, max_bytes=max_bytes)
    raise BadInput(
        "No SAS URL given (nor MDPLAN_SAS), so there is nothing to measure to. " + NEXT_STEP
        + " --speedtest gives a rough, generic figure instead."
    )


def measure(
    *,
    sas: SasUrl | None = None,
    speedtest: bool = False,
    bandwidth: str | float | None = None,
    seconds: float | None = None,
    clock: Clock | None = None,
    progress: ProgressFn | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> Measurement:
    """One bandwidth figure by the best means given (see `choose_probe`)."""
    probe = choose_probe(sas=sas, speedtest=speedtest, bandwidth=bandwidth, seconds=seconds, clock=clock,
                         max_bytes=max_bytes)
    return probe.measure(progress)


def remember(m: Measurement, sas: SasUrl | None, home: Any = None) -> None:
    """Keep a destination figure so the next upload to the same container starts with a good ETA."""
    if m.method != "destination" or sas is None:
        return
    try:
        from planner.journal import remember_rate
    except ImportError:  # pragma: no cover - the journal ships with mdplan
        return
    remember_rate(sas.account_url, sas.container, m.bits_per_second, "probe", home, rtt_ms=m.rtt_ms)


