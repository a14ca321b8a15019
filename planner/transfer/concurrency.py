"""How many requests are in flight: the first guess from the link (`planner.estimate.auto_workers`),
the gate workers pass, and the tuner that moves the gate while the upload runs."""

from __future__ import annotations

import threading
from collections.abc import Callable

from planner.estimate import MIN_WORKERS, auto_workers, max_workers_for

UNMEASURED_LINK_BPS = 25e6
"""The link's rate assumed for the first worker count when only the round trip is known (a first upload
to a new container, no probe): a fair field link. The tuner climbs from there within a few windows on a
faster one and gives requests back on a slower one; a start of 4 left a 300 ms link at 62% (issue 14)."""


def first_limit(rate_bps: float | None, rtt_ms: float | None, mean_file_bytes: float | None) -> int:
    """Workers to start with: the model's (`auto_workers`) for the rate and round trip known so far
    (remembered from the last upload or probe, or the round trip of this run's first listing) and the
    files' mean size; 4 when neither the rate nor the round trip is known."""
    size = mean_file_bytes if mean_file_bytes and mean_file_bytes > 0 else 500_000
    if not rate_bps and rtt_ms is not None and rtt_ms > 0:
        rate_bps = UNMEASURED_LINK_BPS
    return min(auto_workers(rate_bps, rtt_ms, size), max_workers_for(size))


SHARE_S = 6.0
"""The tuner adds no request that would make each request's share of the link take longer than this to
send one request: on a slow link, dozens of requests in flight each get a trickle, and behind a shallow
modem queue that overflows, a connection whose retransmission timer backs off goes past the stall limit
(planner.azure.client.MIN_STALL_S, 15 s) and is sent again (issue 14: 54 requests on 10 Mbit/s x 600 ms)."""


GAIN = 0.02
"""A step up (half again as many requests) is kept when it raises the rate by this much: 5% until issue 14's
fast corner (200 Mbit/s x 100 ms, small files, 2 cores shared with the service), where the rate rises slowly
with requests in flight (9 -> 13 gained 3-4%) and the tuner went back to 9 and held at 87.9% of the ceiling,
95.9% with 32. A false step on a noisy window costs a few requests more in flight (memory-bounded, and the
share rule caps them on slow links); a probe down is kept within a quarter of it."""


MIN_WINDOW = 2.0
PER_WORKER = 6
"""While growing, a window may end early, after MIN_WINDOW, once each request in flight has had time to send
PER_WORKER requests' bytes (window bytes >= limit x PER_WORKER x the mean request): a step's effect shows
within a request's time, and on a fast link with small files a request takes a tenth of a second. A window
that is only waited out (after a change) or only sets the first rate to compare with is half of that.
Issue 14's fast corner (200 Mbit/s x 100 ms) spent its first 13 s at 6-9 requests (87-92% of the ceiling)
in 4-second windows. On a slow or long link the full `window` passes first: nothing changes there."""


LOSS = 0.05
"""A growth step that lowered the rate by more than this is undone at once. A smaller fall in one short window
is as likely the link's noise (+-5% a second at the fast corner, on 2 cores shared with the service): the
step is held, and the probes down while holding give requests back that gain nothing, over longer windows."""


DOWN_WINDOWS = 2
"""A probe down is kept only when this many windows in a row each stay within `gain`/4 of the best rate held.
With one window (+-2.5% of noise at the fast corner) a probe that cost 1% passed four times in ten, and the
limit sank probe by probe on a link where a few more requests gain a percent or two: 19 -> 15 -> 12 -> 9
over a 2-minute upload, and in a simulation with 4% noise to 3-5 within 60 windows."""


class WorkerGate:
    """How many workers may be sending at once; the tuner moves the limit, workers wait at the gate."""

    def __init__(self, limit: int) -> None:
        self._cond = threading.Condition()
        self.limit = limit
        self.active = 0
        self.on_limit: Callable[[int], None] | None = None  # told of every new limit (the pool grows to it)

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
        if self.on_limit is not None:
            self.on_limit(limit)


class Tuner:
    """Add workers while throughput keeps rising, keep probing while it runs, ease off on timeouts.

    Like iperf's -P ramp with AzCopy bench's rule: the first window after each change is discarded
    (requests started under the old limit are still finishing). Growing: x1.5 (at least +2) a step while
    a step gains more than `gain` (GAIN), in windows that end early once each request in flight has sent
    PER_WORKER requests' bytes (MIN_WINDOW at least); when a step gains less, hold there: the step is the
    headroom over the count that filled the link (a round trip that grows, a slow request), kept as long as
    it costs no rate; back to the count before only when the step lost more than LOSS. Holding: every
    `probe_every` windows try a step up (kept if it gains more than `gain`, and growth resumes) or, in
    turn, a step down (kept if DOWN_WINDOWS windows in a row stay within `gain`/4 of the best rate held:
    fewer requests in flight for the same throughput), never below `floor()`, what the concurrency model
    says the best rate needs at `rtt_ms`. A timeout cuts the limit by a quarter and holds; it is never the
    end of growing (a single stalled request on a long link is not congestion; issue 14). Never above
    `maximum` (the memory bound) nor below MIN_WORKERS.
    """

    def __init__(self, start: int, maximum: int, *, window: float = 4.0, gain: float = GAIN,
                 probe_every: int = 4, request_bytes: float | None = None, share_s: float = SHARE_S,
                 rtt_ms: float | None = None) -> None:
        self.maximum = max(MIN_WORKERS, maximum)
        self.request_bytes, self.share_s, self.rtt_ms = request_bytes, share_s, rtt_ms
        self.limit = max(MIN_WORKERS, min(start, self.maximum))
        self.window, self.gain, self.probe_every = window, gain, probe_every
        self._growing = self.limit < self.maximum
        self._last_rate: float | None = None  # growing: the rate at the last step that gained
        self._best = 0.0  # the best held rate since the last timeout: probes down are measured against it
        self._previous = self.limit  # the limit before the current step or probe
        self._probe: str | None = None  # "up" or "down" while a probe is measured
        self._down_windows: list[float] = []  # a probe down's windows so far, each within the tolerance
        self._next_probe = "up"
        self._held: list[float] = []  # rates seen while holding at this limit
        self._skip = False
        self._cut_at: float | None = None
        self._window_start: float | None = None
        self._window_bytes = 0

    def observe(self, now: float, bytes_acked: int, timeouts: int) -> int | None:
        """Feed acknowledged bytes; returns a new limit when it should change."""
        if timeouts:
            return self._timed_out(now)
        if self.maximum <= MIN_WORKERS:
            return None
        if self._window_start is None:
            self._window_start = now
            return None
        self._window_bytes += bytes_acked
        if not self._window_over(now - self._window_start):
            return None
        rate = self._window_bytes / (now - self._window_start)
        self._window_start, self._window_bytes = now, 0
        if self._skip:
            self._skip = False
            return None
        if self._probe is not None:
            return self._probed(rate)
        if self._growing:
            return self._grow(rate)
        return self._hold(rate)

    def _window_over(self, elapsed: float) -> bool:
        """The window is `window` long; while growing it may end early (PER_WORKER). A window that is only
        waited out (after a change) or only sets the first rate to compare with is half as long."""
        if elapsed >= self.window:
            return True
        if not self._growing or self._probe is not None or not self.request_bytes:
            return False
        half = self._skip or self._last_rate is None
        least, per_worker = (MIN_WINDOW / 2, PER_WORKER / 2) if half else (MIN_WINDOW, PER_WORKER)
        return elapsed >= least and self._window_bytes >= self.limit * per_worker * self.request_bytes

    def _timed_out(self, now: float) -> int | None:
        if self._cut_at is not None and now - self._cut_at < self.window:
            return None  # requests that timed out together are one event, not one cut each
        self._cut_at = now
        new = max(MIN_WORKERS, self.limit * 3 // 4)
        self._growing, self._probe, self._held, self._best, self._down_windows = False, None, [], 0.0, []
        self._window_start, self._window_bytes = now, 0
        if new == self.limit:
            return None
        return self._change(new)

    def _grow(self, rate: float) -> int | None:
        if self._last_rate is not None and rate < self._last_rate * (1 + self.gain):
            self._growing, self._held = False, []
            if self._previous != self.limit and rate < self._last_rate * (1 - LOSS):
                return self._change(self._previous)  # the step lost rate: back to the count before it
            self._held.append(rate)
            return None
        self._last_rate = rate
        new = self._step_up(1.5, 2)
        if new == self.limit:
            self._growing = False
            return None
        return self._change(new)

    def _hold(self, rate: float) -> int | None:
        self._held.append(rate)
        if len(self._held) < self.probe_every:
            return None
        held = sorted(self._held)[len(self._held) // 2]  # the median: one slow window is not the link
        self._best = max(self._best, held)
        self._last_rate, self._held = held, []
        direction, self._next_probe = self._next_probe, ("down" if self._next_probe == "up" else "up")
        new = self._step_up(1.25, 2) if direction == "up" else max(self.floor(), self.limit * 4 // 5)
        if new == self.limit or (direction == "down" and new > self.limit):  # at the bound, or at the floor
            return None
        self._probe = direction
        return self._change(new)

    def _probed(self, rate: float) -> int | None:
        held = self._last_rate or 0.0
        direction, self._probe = self._probe, None
        if direction == "up" and rate >= held * (1 + self.gain):
            self._last_rate, self._growing, self._next_probe = rate, True, "up"
            return None
        # against the best rate held so far, not this count's own: each probe down kept within a small loss
        # of the count before would let the limit sink step by step on a link where more requests gain little
        if direction == "down" and rate >= max(held, self._best) * (1 - self.gain / 4):
            self._down_windows.append(rate)
            if len(self._down_windows) < DOWN_WINDOWS:
                self._probe = "down"  # one window more: a single window's noise keeps too many probes down
                return None
            self._down_windows = []
            self._held, self._next_probe = [rate], "down"  # the same rate with fewer: try fewer still
            return None
        self._down_windows = []
        return self._change(self._previous, keep_previous=True)

    def floor(self) -> int:
        """The fewest requests a probe down may leave: what the concurrency model (`auto_workers`) says the
        best rate held needs at the link's round trip for these requests' size (MIN_WORKERS when the round
        trip or the size is unknown), within the share rule. Noise lets a probe that costs a percent pass
        now and then, so probes alone let the limit sink below what the link needs (issue 14's fast corner:
        19 -> 15 -> 12 -> 9 in a 2-minute upload); the model is the floor, the probes adjust above it."""
        if not (self.rtt_ms and self.request_bytes and self._best):
            return MIN_WORKERS
        need = auto_workers(self._best * 8, self.rtt_ms, self.request_bytes)
        return max(MIN_WORKERS, min(need, self._share_most(self._best), self.maximum))

    def _step_up(self, factor: float, at_least: int) -> int:
        """The next count up: never past the memory bound, nor (with `request_bytes`) past the count at which
        each request's share of the measured rate would take longer than `share_s` to send one request."""
        most = self.maximum
        if self.request_bytes and self._last_rate:
            most = min(most, max(self.limit, MIN_WORKERS, self._share_most(self._last_rate)))
        return min(most, max(self.limit + at_least, int(self.limit * factor)))

    def _share_most(self, rate: float) -> int:
        """The share rule (SHARE_S): the most requests for which each one's share of `rate` still sends a
        request within `share_s`."""
        return int(rate * self.share_s / self.request_bytes) if self.request_bytes else self.maximum

    def _change(self, new: int, *, keep_previous: bool = False) -> int:
        if not keep_previous:
            self._previous = self.limit
        self.limit = new
        self._skip = True
        return new
