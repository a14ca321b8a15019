"""`Throttle`: the one token bucket every upload worker draws from, following the timetable."""

from __future__ import annotations

import math
import threading
from datetime import datetime, timedelta

from planner.clock import Clock
from planner.throttle.chunks import chunk_size_for
from planner.throttle.eta import eta_seconds
from planner.throttle.rates import KiB
from planner.throttle.timetable import Timetable

#: The bucket holds at most this many seconds of the cap when idle...
BURST_SECONDS = 0.25
#: ...and never more than this (unless a single request is larger: see Throttle).
MAX_IDLE_BURST = 256 * KiB
#: The cap is looked up again at least this often, and at every change in the timetable.
REEVALUATE_EVERY = 60.0


class Throttle:
    """One token bucket shared by every upload worker (thread-safe).

    How a worker uses it: before each request, ``acquire(len(body))`` (or ``reserve`` and sleep
    yourself), then send the request at full speed. Bytes that are sent again after a failure are
    charged again: the cap is on what goes over the wire.

    Design (s3transfer's "try later", golang.org/x/time/rate's reservations, rclone's timetable):

    - Reservations are a queue: each call claims its bytes at once and learns when they are paid
      for; the bucket may go into debt. A request larger than the bucket is fine: it simply waits
      for the tokens it lacks (nothing is ever refused or busy-looped).
    - The bucket starts empty (as rclone's does), so the first request already waits its share.
    - Idle tokens are capped at ``max(min(rate x 0.25 s, 256 KiB), largest request so far at this
      rate)``: small enough that an idle minute cannot turn into a burst, and never smaller than one
      request, so a lone worker that spends time sending is not held below the cap.
    - Consequence, for the uploader: in any window of w seconds the bytes released are at most
      ``rate x w + max(idle cap, largest request)``. With requests sized by ``chunk_size_for``
      (<= 1/4 s of the cap) that is <= 125% over the worst 1-second window, <= 105% over 5 s, and
      the cap exactly over a whole run.
    - The rate is looked up in the timetable at every change and at least every 60 s (so a wall
      clock that jumps, e.g. after the laptop sleeps, is noticed). Debt already owed is paid at the
      new rate. A paused period (0) makes waiters sleep until the next change; an unlimited period
      releases every waiter at once, and when a limit returns the bucket starts empty again.
    - Waits never exceed 60 s in one sleep, and with ``cancel`` given, 0.5 s, so Ctrl-C is prompt.
    """

    CANCEL_POLL = 0.5

    def __init__(self, timetable: Timetable | None, clock: Clock, *, reevaluate_every: float = REEVALUATE_EVERY,
                 burst_seconds: float = BURST_SECONDS, max_idle_burst: int = MAX_IDLE_BURST) -> None:
        self.timetable = timetable
        self.clock = clock
        self._reevaluate_every = float(reevaluate_every)
        self._burst_seconds = float(burst_seconds)
        self._max_idle_burst = float(max_idle_burst)
        self._lock = threading.Lock()
        now = clock.monotonic()
        self._t = now  # tokens are accrued up to here
        self._granted = 0.0  # every token ever made available (A)
        self._claimed = 0.0  # every byte ever reserved (C); A - C = tokens in hand (< 0: debt)
        self._largest = 0
        self._rate: float | None = None
        self._change_at: float | None = None
        self._evaluated_at = now
        self._ceiling: float | None = None  # set_ceiling: a limit below the timetable (polite mode, monthly cap)
        self._set_rate(now)

    # -- public ---------------------------------------------------------------------------------
    def reserve(self, nbytes: int) -> float:
        """Claim `nbytes` now; return how many seconds to wait before sending them (0 = go now).

        The wait already walks the timetable (pauses, rate changes), so a caller that sleeps exactly
        this long and then sends stays within the cap. ``acquire`` does that for you, re-checking
        at each change, so prefer it.
        """
        n = int(nbytes)
        if n <= 0:
            return 0.0
        with self._lock:
            now = self.clock.monotonic()
            target = self._claim(n, now)
            return 0.0 if target is None else self._wait_for(target, now)

    def acquire(self, nbytes: int, cancel: threading.Event | None = None) -> bool:
        """Block (via the clock) until `nbytes` may be sent. False if `cancel` was set while waiting;
        the claim is then given back so the other workers do not pay for it."""
        n = int(nbytes)
        if n <= 0:
            return True
        with self._lock:
            target = self._claim(n, self.clock.monotonic())
        if target is None:
            return True
        while True:
            with self._lock:
                now = self.clock.monotonic()
                self._advance(now)
                wait = self._wait_for(target, now)
                if self._rate == 0:  # a scheduled pause: banked tokens do not buy a send, the pause must end
                    wait = max(wait, (self._change_at - now) if self._change_at is not None else math.inf, 1e-3)
            if wait <= 0:
                return True
            if cancel is not None and cancel.is_set():
                self._give_back(n)
                return False
            step = min(wait, self._reevaluate_every)
            if cancel is not None:
                step = min(step, self.CANCEL_POLL)
            self.clock.sleep(step)

    @property
    def rate(self) -> float | None:
        """The cap in force now, bytes/s (None = no limit, 0 = paused)."""
        with self._lock:
            self._advance(self.clock.monotonic())
            return self._rate

    @property
    def paused(self) -> bool:
        return self.rate == 0

    def set_ceiling(self, bytes_per_s: float | None) -> None:
        """A limit on top of the timetable (the lower of the two wins); None removes it, 0 holds every
        send until a later call raises it. Used by controllers that move the rate while sending (polite
        mode, a monthly data cap). Debt already owed is paid at the new rate."""
        ceiling = None if bytes_per_s is None else max(0.0, float(bytes_per_s))
        with self._lock:
            now = self.clock.monotonic()
            self._advance(now)
            self._ceiling = ceiling
            self._set_rate(now)

    def chunk_size(self) -> int:
        """`chunk_size_for` the cap now, or during a pause the cap that follows it."""
        rate = self.rate
        if rate == 0 and self.timetable is not None:
            now = self.clock.now()
            change = self.timetable.next_change(now)
            rate = self.timetable.rate_at(change) if change is not None else rate
        return chunk_size_for(rate)

    # -- inside ---------------------------------------------------------------------------------
    def _claim(self, n: int, now: float) -> float | None:
        """Under the lock: reserve n bytes; the cumulative target to wait for (None = no wait)."""
        self._advance(now)
        self._claimed += n
        if self._rate is None:
            self._granted = self._claimed
            return None
        self._largest = max(self._largest, n)
        return self._claimed

    def _give_back(self, n: int) -> None:
        with self._lock:
            self._advance(self.clock.monotonic())
            self._granted = min(self._granted + n, self._claimed + self._burst())

    def _wall(self, m: float) -> datetime:
        return self.clock.now() - timedelta(seconds=self.clock.monotonic() - m)

    def _burst(self) -> float:
        rate = self._rate or 0.0
        return max(min(rate * self._burst_seconds, self._max_idle_burst), float(self._largest))

    def _set_rate(self, at: float) -> None:
        if self.timetable is None:
            rate, change_at = None, None
        else:
            wall = self._wall(at)
            rate = self.timetable.rate_at(wall)
            change = self.timetable.next_change(wall)
            change_at = at + max((change - wall).total_seconds(), 1e-6) if change is not None else None
        if self._ceiling is not None:
            rate = self._ceiling if rate is None else min(rate, self._ceiling)
        if rate != self._rate:
            self._largest = 0
            if self._rate is None:
                self._granted = self._claimed  # a limit starts (or returns) with an empty bucket
        self._rate = rate
        self._change_at = change_at
        self._evaluated_at = at
        if rate:
            self._granted = min(self._granted, self._claimed + self._burst())

    def _accrue(self, to: float) -> None:
        if to <= self._t:
            return
        if self._rate is None:
            self._granted = self._claimed
        elif self._rate > 0:
            self._granted = min(self._granted + self._rate * (to - self._t), self._claimed + self._burst())
        self._t = to

    def _advance(self, now: float) -> None:
        for _ in range(10_000):  # bounded: the changes passed since the last call (a week has few)
            if self._change_at is None or self._change_at > now:
                break
            self._accrue(self._change_at)
            self._set_rate(self._change_at)
        self._accrue(now)
        if now - self._evaluated_at >= self._reevaluate_every or (self._change_at is not None
                                                                   and self._change_at <= now):
            self._set_rate(now)

    def _wait_for(self, target: float, now: float) -> float:
        """Under the lock, after _advance(now): seconds until the tokens reach `target`."""
        deficit = target - self._granted
        if deficit <= max(1e-6, abs(target) * 1e-12):
            return 0.0
        rate = self._rate
        if rate is None:
            return 0.0
        if rate > 0 and (self._change_at is None or now + deficit / rate <= self._change_at):
            return deficit / rate
        if self.timetable is None:  # held at 0 by set_ceiling: until a later call raises it
            return math.inf
        link = math.inf if self._ceiling is None else self._ceiling
        return eta_seconds(deficit, link, self.timetable, self._wall(now))
