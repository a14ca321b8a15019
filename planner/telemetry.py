"""What the transfer is doing, second by second: counters for the journal, rate and ETA for people.

Bytes count only once the service has acknowledged them (a finished Put Blob or Put Block), so the
rate is what reached the container, not what was written into a socket buffer.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from planner.clock import Clock


@dataclass(frozen=True)
class Snapshot:
    bytes_done: int
    files_done: int
    elapsed: float
    current_bps: float  # bits/s over the last few seconds
    average_bps: float  # bits/s since the first byte
    eta_seconds: float | None


class Telemetry:
    """Per-second counters (flushed into the journal) plus a smoothed rate for progress and ETA.

    Rate: a moving average over the last `window` seconds, soft-started (until the window fills, the
    average is over the time elapsed so far), as rclone's stats do.
    """

    def __init__(self, clock: Clock, wall_start: float, *, window: float = 10.0) -> None:
        self._clock = clock
        self._t0 = clock.monotonic()
        self._wall0 = wall_start
        self._window = window
        self._pending: dict[int, list[float]] = {}
        self._recent: deque[tuple[float, int]] = deque()
        self.bytes_done = 0
        self.files_done = 0
        self.retries = 0
        self._first_byte: float | None = None
        self.cap_bps: float | None = None
        self.workers: int | None = None
        self.rtt_ms: float | None = None  # the round trip polite mode measured (None without it)

    def _second(self) -> tuple[float, int]:
        t = self._clock.monotonic()
        return t, int(self._wall0 + (t - self._t0))

    def _slot(self, sec: int) -> list[float]:
        slot = self._pending.get(sec)
        if slot is None:
            slot = self._pending[sec] = [0, 0, 0, self.cap_bps, self.workers, self.rtt_ms]
        slot[3], slot[4], slot[5] = self.cap_bps, self.workers, self.rtt_ms
        return slot

    def add_bytes(self, n: int) -> None:
        t, sec = self._second()
        if self._first_byte is None:
            self._first_byte = t
        self._slot(sec)[0] += n
        self.bytes_done += n
        self._recent.append((t, n))

    def add_file(self) -> None:
        _, sec = self._second()
        self._slot(sec)[1] += 1
        self.files_done += 1

    def add_retry(self) -> None:
        _, sec = self._second()
        self._slot(sec)[2] += 1
        self.retries += 1

    def mark(self) -> None:
        """Keep this second's row even when nothing completed in it (the round trip is still news)."""
        _, sec = self._second()
        self._slot(sec)

    def drain(self) -> dict[int, list[float]]:
        """Counters gathered since the last drain, for Journal.add_telemetry."""
        out, self._pending = self._pending, {}
        return out

    def current_bps(self) -> float:
        t = self._clock.monotonic()
        while self._recent and self._recent[0][0] < t - self._window:
            self._recent.popleft()
        if self._first_byte is None:
            return 0.0
        span = min(self._window, max(t - self._first_byte, 1.0))
        return sum(n for _, n in self._recent) * 8 / span

    def average_bps(self) -> float:
        if self._first_byte is None:
            return 0.0
        return self.bytes_done * 8 / max(self._clock.monotonic() - self._first_byte, 1.0)

    def snapshot(self, remaining_bytes: int, remaining_files: int = 0, per_file_seconds: float = 0.0,
                 eta_fn=None) -> Snapshot:
        cur = self.current_bps()
        avg = self.average_bps()
        rate = cur if cur > 0 else avg
        eta: float | None
        if remaining_bytes <= 0:
            eta = 0.0
        elif eta_fn is not None and rate > 0:
            eta = eta_fn(remaining_bytes, rate / 8)
        elif rate > 0:
            eta = remaining_bytes * 8 / rate
        else:
            eta = None
        if eta is not None and not math.isfinite(eta):
            eta = None
        return Snapshot(self.bytes_done, self.files_done, self._clock.monotonic() - self._t0, cur, avg, eta)
