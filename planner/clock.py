"""Time as a dependency: the throttle, ETA, retries and probe take a Clock so tests never sleep."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def now(self) -> datetime:
        """Wall-clock time, timezone-aware, local zone (schedules are written in local time)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def now(self) -> datetime:
        return datetime.now(timezone.utc).astimezone()


class FakeClock:
    """A clock that only moves when told to (or when slept on). For tests and simulations."""

    def __init__(self, start: float = 1000.0, wall: datetime | None = None) -> None:
        self._t = start
        self._start = start
        self._wall = wall or datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self._t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if seconds > 0:
            self._t += seconds

    def advance(self, seconds: float) -> None:
        self._t += seconds

    def suspend(self, seconds: float) -> None:
        """The computer sleeps: the wall clock moves on, the monotonic one does not (Linux)."""
        self._wall += timedelta(seconds=seconds)

    def now(self) -> datetime:
        return self._wall + timedelta(seconds=self._t - self._start)
