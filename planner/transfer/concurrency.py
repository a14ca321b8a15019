"""How many requests are in flight: the first guess from the link (`planner.estimate.auto_workers`),
the gate workers pass, and the tuner that moves the gate while the upload runs."""

from __future__ import annotations

import threading

from planner.estimate import MIN_WORKERS


class WorkerGate:
    """How many workers may be sending at once; the tuner moves the limit, workers wait at the gate."""

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition()
        self.limit = limit
        self.active = 0

    def enter(self, stop: threading.Event) -> bool:
        with self._cond:
            while self.active >= self.limit:
                if stop.is_set():
                    return False
                self._cond.wait(0.2)
            self.active += 1
            return True

    def leave(self) -> None:
        with self._cond:
            self.active -= 1
            self._cond.notify()

    def set_limit(self, limit: int) -> None:
        with self._cond:
            self.limit = limit
            self._cond.notify_all()


class Tuner:
    """Add workers while throughput keeps rising; halve them when requests time out.

    Like iperf's -P ramp with AzCopy bench's rule: the first window after each change is discarded
    (requests started under the old limit are still finishing), growth stops when a step gains less
    than `gain`, and then the limit goes back to the last step that did gain (same rate, fewer
    connections).
    """

    def __init__(self, start: int, maximum: int, *, window: float = 4.0, gain: float = 0.05) -> None:
        self.limit = start
        self.maximum = maximum
        self.window = window
        self.gain = gain
        self._last_rate: float | None = None
        self._previous = start
        self._settled = start >= maximum
        self._skip = False
        self._window_start: float | None = None
        self._window_bytes = 0

    def observe(self, now: float, bytes_acked: int, timeouts: int) -> int | None:
        """Feed acknowledged bytes; returns a new limit when it should change."""
        if timeouts:
            new = max(MIN_WORKERS, self.limit // 2)
            self._settled = True
            self._window_start, self._window_bytes = now, 0
            if new != self.limit:
                self.limit = new
                return new
            return None
        if self._settled:
            return None
        if self._window_start is None:
            self._window_start = now
            return None
        self._window_bytes += bytes_acked
        if now - self._window_start < self.window:
            return None
        rate = self._window_bytes / (now - self._window_start)
        self._window_start, self._window_bytes = now, 0
        if self._skip:
            self._skip = False
            return None
        if self._last_rate is not None and rate < self._last_rate * (1 + self.gain):
            self._settled = True
            if self._previous != self.limit:
                self.limit = self._previous
                return self.limit
            return None
        self._last_rate = rate
        new = min(self.maximum, max(self.limit + 2, int(self.limit * 1.5)))
        if new == self.limit:
            self._settled = True
            return None
        self._previous, self.limit = self.limit, new
        self._skip = True
        return new


