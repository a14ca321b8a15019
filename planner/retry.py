"""When to try again: the wait before each retry of one request, and whether the whole link is down.

Two separate questions, answered by two small classes:

- ``Backoff``: one request failed with a transient error (connection reset or refused, timeout,
  408/429/500/502/503/504); how long before the next attempt, and is it time to give up on this
  file? Exponential backoff with "full jitter" (a uniform draw between 0 and the exponential
  ceiling: AWS's recommendation, because workers that failed together must not retry together),
  1 s base, 60 s ceiling (AzCopy's range), a configurable number of attempts.
- ``NetworkWait``: many requests are failing in a row across all workers; is the link down? Then
  the job is *paused* rather than failing files one by one: the uploader keeps retrying (at the
  60 s ceiling), shows "waiting for network", does not count those attempts against any file, and
  resumes by itself when one request succeeds. Each pause is recorded for the report.

Time and randomness are injected (``planner.clock.Clock``, ``random.Random``) so tests never sleep.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from planner.clock import Clock, SystemClock

BASE_SECONDS = 1.0
CAP_SECONDS = 60.0
MAX_ATTEMPTS = 10  # 1 try + 9 retries: with full jitter, about 4 minutes of retrying on average
#: The link counts as down after this many transient failures in a row (no success in between)...
DOWN_AFTER_FAILURES = 3
#: ...spread over at least this many seconds (a burst of resets from one hiccup is not an outage).
DOWN_AFTER_SECONDS = 20.0
#: During a pause every worker retries at least this often (backoff ceiling plus request timeouts), so a
#: longer silence between two of its events means the process did not run (stopped, or the computer
#: slept): only this much of such a gap counts against the patience.
AWAKE_GAP_SECONDS = 900.0
#: The wall clock ran ahead of the monotonic one by more than this between two checks: the computer slept.
SLEPT_AFTER_SECONDS = 30.0


class Backoff:
    """Exponential backoff with full jitter; thread-safe (one can serve every worker).

    Retry k (k = 1 before the second attempt) waits ``uniform(0, min(cap, base * 2**(k-1)))``:
    up to 1, 2, 4, 8, 16, 32, 60, 60, ... seconds. ``at_least`` raises one wait to a server's
    Retry-After.
    """

    CANCEL_POLL = 0.5

    def __init__(self, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS,
                 max_attempts: int | None = MAX_ATTEMPTS, rng: random.Random | None = None,
                 clock: Clock | None = None) -> None:
        if not base > 0 or not cap >= base:
            raise ValueError(f"backoff needs 0 < base <= cap, got base={base!r}, cap={cap!r}")
        if max_attempts is not None and max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 (or None for no limit), got {max_attempts!r}")
        self.base = float(base)
        self.cap = float(cap)
        self.max_attempts = max_attempts
        self.rng = rng if rng is not None else random.Random()
        self.clock = clock if clock is not None else SystemClock()
        self._lock = threading.Lock()

    def ceiling(self, retry: int) -> float:
        """The most retry number `retry` (1-based) can wait."""
        if retry < 1:
            raise ValueError(f"retries are numbered from 1, got {retry!r}")
        return min(self.cap, self.base * 2.0 ** min(retry - 1, 64))

    def delay(self, retry: int, *, at_least: float = 0.0) -> float:
        """Seconds to wait before retry number `retry` (1-based): full jitter under the ceiling."""
        ceiling = self.ceiling(retry)
        with self._lock:  # random.Random is not documented as thread-safe
            drawn = self.rng.uniform(0.0, ceiling)
        return max(drawn, float(at_least))

    def delays(self) -> Iterator[float]:
        """The waits between attempts: ``max_attempts - 1`` of them (endless if max_attempts is None)."""
        retry = 1
        while self.max_attempts is None or retry < self.max_attempts:
            yield self.delay(retry)
            retry += 1

    def should_retry(self, attempts_made: int) -> bool:
        """After `attempts_made` failed attempts, is another one allowed?"""
        return self.max_attempts is None or attempts_made < self.max_attempts

    def sleep(self, retry: int, *, at_least: float = 0.0, cancel: threading.Event | None = None) -> bool:
        """Wait before retry `retry` via the clock. False if `cancel` was set (checked every 0.5 s)."""
        return sleep_for(self.clock, self.delay(retry, at_least=at_least), cancel)


def sleep_for(clock: Clock, seconds: float, cancel: threading.Event | None = None,
              poll: float = Backoff.CANCEL_POLL) -> bool:
    """Sleep `seconds` on `clock`, in `poll`-second steps when `cancel` is given; False if cancelled."""
    if cancel is None:
        clock.sleep(seconds)
        return True
    end = clock.monotonic() + seconds
    while True:
        if cancel.is_set():
            return False
        left = end - clock.monotonic()
        if left <= 0:
            return True
        clock.sleep(min(poll, left))


@dataclass
class Pause:
    """One stretch with the link down, for the progress line and the report."""

    started: float  # clock.monotonic() at the first failure of the run of failures
    started_at: datetime  # the same moment on the wall clock
    ended: float | None = None
    ended_at: datetime | None = None
    failures: int = 0  # transient failures seen in the run that caused it, and during it
    awake: float = 0.0  # seconds of it the process was running (a stop or a sleep counts at most AWAKE_GAP)
    last_seen: float | None = None  # clock.monotonic() of its latest failure

    def seconds(self, now: float | None = None) -> float:
        """How long it lasted (or has lasted by `now`, if it is still going on)."""
        end = self.ended if self.ended is not None else now
        return max(0.0, (end if end is not None else self.started) - self.started)


class NetworkWait:
    """Is the link down, judged across all workers? Thread-safe.

    Every worker reports each transient failure (``failure()``) and each success (``success()``).
    The job counts as paused once ``failures`` failures have come in a row, with no success from
    any worker between them, spanning at least ``seconds`` seconds; the pause is dated from the
    first of those failures. One success ends it. ``changed`` is set whenever paused/running
    flips, so a coordinator can wake up and redraw; it clears the event itself.
    """

    def __init__(self, clock: Clock, *, failures: int = DOWN_AFTER_FAILURES, seconds: float = DOWN_AFTER_SECONDS,
                 patience: float | None = None) -> None:
        self.clock = clock
        self.failures_needed = max(1, int(failures))
        self.seconds_needed = float(seconds)
        self.patience = patience  # seconds a pause may last before the caller gives up (None = never)
        self.changed = threading.Event()
        self._lock = threading.Lock()
        self._streak = 0
        self._streak_started: float | None = None
        self._streak_started_at: datetime | None = None
        self._current: Pause | None = None
        self._done: list[Pause] = []
        self._last_success: float | None = None
        self._generation = 0  # bumped when waiting workers should try again at once (link back, woke up)
        # (monotonic, wall) at the last check_clock
        self._last_check: tuple[float, float] | None = (clock.monotonic(), clock.now().timestamp())

    def failure(self) -> bool:
        """Record one transient failure; True if the job is paused (now or already)."""
        with self._lock:
            now = self.clock.monotonic()
            if self._streak == 0:
                self._streak_started, self._streak_started_at = now, self.clock.now()
            self._streak += 1
            if self._current is not None:
                self._current.failures += 1
                self._current.awake = self._awake(now)
                self._current.last_seen = now
                return True
            assert self._streak_started is not None and self._streak_started_at is not None
            if self._streak >= self.failures_needed and now - self._streak_started >= self.seconds_needed:
                self._current = Pause(self._streak_started, self._streak_started_at, failures=self._streak,
                                      awake=min(now - self._streak_started, AWAKE_GAP_SECONDS), last_seen=now)
                self.changed.set()
                return True
            return False

    def success(self) -> Pause | None:
        """Record a success; ends a pause and returns it (None if there was none)."""
        with self._lock:
            self._last_success = self.clock.monotonic()
            self._streak = 0
            self._streak_started = self._streak_started_at = None
            pause = self._current
            if pause is None:
                return None
            pause.ended, pause.ended_at = self.clock.monotonic(), self.clock.now()
            self._done.append(pause)
            self._current = None
            self.changed.set()
            self._generation += 1  # the link is back: workers waiting out a backoff try again at once
            return pause

    @property
    def paused(self) -> bool:
        with self._lock:
            return self._current is not None

    @property
    def paused_since(self) -> float | None:
        """clock.monotonic() when the current pause began, or None."""
        with self._lock:
            return self._current.started if self._current is not None else None

    def paused_for(self) -> float:
        """Seconds the current pause has lasted (0 when running)."""
        with self._lock:
            return self._current.seconds(self.clock.monotonic()) if self._current is not None else 0.0

    def succeeded_since(self, t: float) -> bool:
        """Did any request succeed after clock.monotonic() was `t`? A request that timed out while others
        got through met a crowded link (fewer requests in flight help); one that timed out while nothing
        got through met a dead link, which says nothing about how many to keep in flight."""
        with self._lock:
            return self._last_success is not None and self._last_success > t

    def gave_up(self) -> bool:
        """True when paused for longer than `patience` (never when patience is None), counting only the
        time the process ran: a laptop that slept through the night has not waited all night."""
        with self._lock:
            return (self.patience is not None and self._current is not None
                    and self._awake(self.clock.monotonic()) > self.patience)

    def _awake(self, now: float) -> float:
        p = self._current
        assert p is not None
        since = p.last_seen if p.last_seen is not None else p.started
        return p.awake + min(max(0.0, now - since), AWAKE_GAP_SECONDS)

    def nap(self, seconds: float, cancel: threading.Event | None = None, poll: float = Backoff.CANCEL_POLL) -> bool:
        """Wait out a backoff of `seconds`, cut short when the link comes back or the computer wakes
        (then try again at once rather than wait out a back-off chosen before). False if `cancel` is set."""
        generation = self._generation
        end = self.clock.monotonic() + seconds
        while True:
            if cancel is not None and cancel.is_set():
                return False
            left = end - self.clock.monotonic()
            if left <= 0 or self._generation != generation:
                return True
            self.clock.sleep(min(poll, left))

    def check_clock(self) -> float:
        """Seconds the computer slept since the last call (0.0 if it did not); call it every second or so.

        Asleep, the monotonic clock stops on some systems while the wall clock moves on: when the two part
        by more than SLEPT_AFTER_SECONDS, every worker waiting out a backoff probes the link at once and the
        failure streak starts afresh (the connections the service dropped meanwhile fail once each). A
        stopped process (SIGSTOP) moves both clocks: its backoffs simply end, and `gave_up` does not count
        the gap."""
        mono, wall = self.clock.monotonic(), self.clock.now().timestamp()
        with self._lock:
            last, self._last_check = self._last_check, (mono, wall)
            if last is None:
                return 0.0
            slept = (wall - last[1]) - (mono - last[0])
            if slept <= SLEPT_AFTER_SECONDS:
                return 0.0
            self._generation += 1
            self._streak = 0
            self._streak_started = self._streak_started_at = None
            return slept

    @property
    def pauses(self) -> list[Pause]:
        """Every pause so far, oldest first, the current one last (copies: safe to keep)."""
        with self._lock:
            out = [Pause(**vars(p)) for p in self._done]
            if self._current is not None:
                out.append(Pause(**vars(self._current)))
            return out

    @property
    def streak(self) -> int:
        """Transient failures in a row right now (0 after any success)."""
        with self._lock:
            return self._streak
