"""`upload --monthly-cap`: keep the calendar month's bytes under an ISP data allowance (issue 17).

The rule: what is left of the allowance this month (the cap minus what mdplan sent since the 1st, read
from every job's telemetry at the start of the run, plus what this run sends) spread over the seconds
left in the month is the ceiling. Recomputed on every pacer tick, so it follows the month down to its
last second. When the rest of the job fits into what is left, there is nothing to spread and no
ceiling. When the allowance is used up, the ceiling is 0 (nothing is sent) until the month rolls over,
said once in plain words and shown in the progress line; at the rollover the count starts again.

Months are the computer's local calendar months (as an ISP bills). Time comes from the injected clock,
so the whole rule runs in unit tests under a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from planner.clock import Clock
from planner.units import format_bytes, format_rate

MAX_MONTHS = 1200  # the ETA walk stops here (a 10 PB job under a 1 GB cap): shown as "not in this century"


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def seconds_left_in_month(now: datetime) -> float:
    return (next_month(now) - now).total_seconds()


def monthly_ceiling(cap: int, used: float, remaining_job: float, now: datetime) -> float | None:
    """Bytes/s that keep this month under `cap` (None = no limit needed; 0 = used up, wait)."""
    left = cap - used
    if left <= 0:
        return 0.0
    if remaining_job <= left:
        return None
    return left / max(seconds_left_in_month(now), 1.0)


def monthly_eta(remaining: float, rate: float, cap: int, used: float, now: datetime) -> float:
    """Seconds to send `remaining` bytes at `rate` bytes/s (what gets through when not held back) when
    each calendar month may carry at most `cap` bytes and `used` of this month's are gone."""
    if remaining <= 0:
        return 0.0
    if rate <= 0:
        return float("inf")
    left = max(0.0, cap - used)
    if remaining <= left:
        return remaining / rate
    t = seconds_left_in_month(now)  # this month carries `left`, spread to its end
    rest = remaining - left
    month = next_month(now)
    for _ in range(MAX_MONTHS):
        length = (next_month(month) - month).total_seconds()
        if rest <= cap:
            return t + rest / rate
        t += length
        rest -= cap
        month = next_month(month)
    return float("inf")


class MonthlyLimit:
    """The pacer's limit for --monthly-cap. `used_before` is what mdplan sent this month before the run
    (every job on this computer); `bytes_done` on each tick is what this run has sent so far."""

    def __init__(self, cap: int, used_before: int, job_bytes: int, clock: Clock,
                 tell: Callable[[str], None] | None = None,
                 used_since: Callable[[datetime], int] | None = None) -> None:
        self.cap, self.clock, self.tell = cap, clock, tell
        self.job_bytes = job_bytes
        self.used_since = used_since  # re-reads the journals when the month rolls over
        self._month = month_start(clock.now())
        self._used_before = used_before
        self._base_done = 0  # this run's bytes_done when the current month began
        self._told_pause = False
        self.used = float(used_before)
        self.rate: float | None = None

    def ceiling(self, now: float, bytes_done: int) -> tuple[float | None, str | None]:
        wall = self.clock.now()
        if month_start(wall) != self._month:  # a new month: a new allowance
            self._month = month_start(wall)
            self._used_before = self.used_since(self._month) if self.used_since is not None else 0
            self._base_done = bytes_done
            if self._told_pause and self.tell is not None:
                self.tell(f"A new month: the data cap of {format_bytes(self.cap)} starts again; carrying on.")
            self._told_pause = False
        self.used = self._used_before + (bytes_done - self._base_done)
        self.rate = monthly_ceiling(self.cap, self.used, self.job_bytes - bytes_done, wall)
        return self.rate, self._words(wall)

    def _words(self, wall: datetime) -> str | None:
        if self.rate is None:
            return None
        until = next_month(wall)
        if self.rate == 0:
            text = (f"monthly cap of {format_bytes(self.cap)} used up: paused until {until:%d %b %H:%M}, "
                    "when the month rolls over")
            if not self._told_pause and self.tell is not None:
                self.tell(f"This month's data cap of {format_bytes(self.cap)} is used up. Nothing more is sent "
                          f"until {until:%d %b %H:%M}; mdplan waits and carries on by itself (Ctrl-C stops; the "
                          "same command later continues).")
            self._told_pause = True
            return text
        left = self.cap - self.used
        return (f"monthly cap: {format_bytes(left)} left until {until:%d %b}, at most "
                f"{format_rate(self.rate * 8)}")

    def eta(self, remaining: float, rate: float) -> float:
        return monthly_eta(remaining, rate, self.cap, self.used, self.clock.now())

    def close(self) -> None:
        pass
