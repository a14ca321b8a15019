"""How long sending takes under a schedule: min(link, cap) in each part of the week, pauses waited out."""

from __future__ import annotations

import math
from datetime import datetime

from planner.throttle.timetable import WEEK_SECONDS, Timetable


def eta_seconds(remaining_bytes: float, link_bytes_per_s: float, timetable: Timetable | None,
                start: datetime) -> float:
    """Seconds to send `remaining_bytes` from `start`, at min(link, cap) in each part of the timetable.

    Paused periods count as waiting; an unlimited period runs at the link rate (an infinite link
    finishes at the start of it). Whole weeks are skipped arithmetically, so the walk is bounded by
    the number of changes in two weeks however much is left. ``math.inf`` when nothing can ever be
    sent (a link of 0).
    """
    remaining = float(remaining_bytes)
    if not remaining > 0:
        return 0.0
    link = float(link_bytes_per_s)
    if not link > 0 or not math.isfinite(remaining):
        return math.inf

    def effective(rate: float | None) -> float:
        return link if rate is None else min(link, float(rate))

    if timetable is None or not timetable.changes:
        rate = effective(timetable.week_segments(start, link=link)[0][1] if timetable is not None else None)
        return 0.0 if math.isinf(rate) else (remaining / rate if rate > 0 else math.inf)
    pieces = [(seconds, effective(rate)) for seconds, rate in timetable.week_segments(start, link=link)]
    elapsed = 0.0
    if not any(math.isinf(r) for _, r in pieces):
        per_week = sum(seconds * r for seconds, r in pieces)
        if per_week <= 0:
            return math.inf
        whole = max(0, math.ceil(remaining / per_week) - 1)
        elapsed = whole * WEEK_SECONDS
        remaining -= whole * per_week
    else:
        per_week = math.inf
    for _ in range(3):  # two weeks are always enough; the third only absorbs rounding
        for seconds, rate in pieces:
            if rate == 0:
                elapsed += seconds
            elif math.isinf(rate):
                return elapsed
            elif remaining <= seconds * rate:
                return elapsed + remaining / rate
            else:
                remaining -= seconds * rate
                elapsed += seconds
    return elapsed + remaining / (per_week / WEEK_SECONDS)
