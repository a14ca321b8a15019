"""What polite mode (issue 15) cost a job in time, from its telemetry: the report's sentence.

Polite seconds are the ones with a round trip in the telemetry (polite mode measured it; outside polite
hours it does not). In such a second polite mode *held back* (yielded to other traffic, or was still starting up) when the rate it chose was below 70% of the
rate the link gave when it was free (the job's peak: `series.rates`), the same share below which the
progress line says "yielding". The cost is the yielded time less the time the bytes sent meanwhile would
have taken at that free rate: how much sooner the job would have ended at full speed. Pure Python over
the report's data; numpy only through `series.rates`.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from planner.report.data import UploadReportData
from planner.units import format_duration, format_rate

YIELD_BELOW = 0.7  #: as planner.polite.PoliteSettings.yield_below


@dataclass(frozen=True)
class PoliteCost:
    polite_seconds: float  # seconds polite mode ran (measured a round trip)
    yielded_seconds: float  # of those, seconds it held back for other traffic
    free_bps: float  # the rate the link gave when free (the job's peak), bits/s
    cost_seconds: float  # how much sooner the job would have ended at full speed


def polite_cost(data: UploadReportData) -> PoliteCost | None:
    """None when polite mode never ran in this job (no round trip in the telemetry)."""
    if not data.rtt_series:
        return None
    from planner.report.series import rates

    free = rates(data).peak_bps or 0.0
    polite = {int(s) for s, _ in data.rtt_series}
    sent = {int(s): n for s, n in data.throughput}
    cap_at = [s for s, _ in data.cap_series]
    yielded, moved = 0, 0
    for second in polite:
        i = bisect_right(cap_at, second) - 1
        chosen = data.cap_series[i][1] if i >= 0 else None
        if free and chosen is not None and chosen < YIELD_BELOW * free:
            yielded += 1
            moved += sent.get(second, 0)
    cost = max(0.0, yielded - moved * 8 / free) if free else 0.0
    return PoliteCost(float(len(polite)), float(yielded), free, cost)


def polite_cost_text(cost: PoliteCost) -> str:
    if cost.yielded_seconds <= 0:
        return (f"Polite mode ran for {format_duration(cost.polite_seconds)} and never had to yield to other "
                "traffic: politeness cost no time here.")
    return (f"Polite mode held back for {format_duration(cost.yielded_seconds)} of its "
            f"{format_duration(cost.polite_seconds)} (its rate under {YIELD_BELOW:.0%} of the "
            f"{format_rate(cost.free_bps)} the link gave when free: yielding to other traffic, or starting "
            f"up); at full speed the job would have taken about {format_duration(cost.cost_seconds)} less.")
