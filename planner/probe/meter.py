"""The pure measuring logic of the destination probe: block size, the acknowledged-byte meter and the
stream ramp. No clock and no I/O: callers pass the times, so tests drive it with a fake clock."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from planner.probe.result import MAX_STREAMS

KiB = 1024
MiB = 1024 * KiB
MIN_BLOCK = 64 * KiB
FIRST_BLOCK = 256 * KiB
MAX_BLOCK = 8 * MiB


def choose_block(bytes_per_second_per_stream: float | None, request_seconds: float) -> int:
    """The largest power-of-two block (64 KiB .. 8 MiB) one stream sends in about `request_seconds`.

    Unknown rate: 256 KiB, small enough for a 2 Mbit/s uplink to finish one request per second with
    two streams, large enough not to be all overhead on a fast one until the first resize.
    """
    if not bytes_per_second_per_stream or bytes_per_second_per_stream <= 0:
        return FIRST_BLOCK
    target = min(bytes_per_second_per_stream * request_seconds, MAX_BLOCK)
    block = MIN_BLOCK
    while block * 2 <= target:
        block *= 2
    return block


@dataclass(frozen=True)
class Transfer:
    """One finished request: its stream, when it started and ended, and the bytes the service
    acknowledged (0 when it failed)."""

    stream: int
    start: float
    end: float
    nbytes: int


@dataclass(frozen=True)
class Rate:
    bytes_per_second: float
    seconds: float  # total length of the windows it was measured over
    requests: int  # requests that touched the windows


class RateMeter:
    """Acknowledged bytes over time. Thread-safe; it has no clock: callers pass the times.

    Call `begin()` when a request goes out and `end()` when the service has answered. Ask for rates
    only up to `known_until()`, the start of the oldest request still in flight: before that instant
    every byte sent has been acknowledged (or refused), so a window's rate needs no guess about
    requests on their way. (Averaging per-stream rates of finished requests instead reads high: the
    streams TCP happens to starve are the ones still in flight, and they would be left out.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: list[Transfer] = []
        self._in_flight: dict[int, float] = {}

    def begin(self, stream: int, start: float) -> None:
        with self._lock:
            self._in_flight[stream] = start

    def end(self, stream: int, start: float, end: float, nbytes: int) -> None:
        with self._lock:
            if self._in_flight.get(stream) == start:
                del self._in_flight[stream]
            self._done.append(Transfer(stream, start, end, nbytes))

    def known_until(self, now: float) -> float:
        """Up to when every request's fate is known: the oldest in-flight request's start, else now."""
        with self._lock:
            return min([now, *self._in_flight.values()])

    @property
    def transfers(self) -> list[Transfer]:
        with self._lock:
            return list(self._done)

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return sum(t.nbytes for t in self._done)

    def rate(self, windows: Sequence[tuple[float, float]]) -> Rate | None:
        """Bytes/s over `windows` (start, end): each request's acknowledged bytes are spread evenly
        over its duration, the parts inside the windows summed and divided by their total length.
        None when the windows are empty. Windows should end by `known_until()`."""
        windows = [(a, b) for a, b in windows if b > a]
        if not windows:
            return None
        span = sum(b - a for a, b in windows)
        earliest = min(a for a, _ in windows)
        credited = 0.0
        requests = 0
        for t in reversed(self.transfers):
            if t.end < earliest - 1.0:  # added as they finish, so everything further back is older
                break
            duration = t.end - t.start
            touched = False
            for a, b in windows:
                overlap = min(b, t.end) - max(a, t.start)
                if overlap > 0:
                    credited += t.nbytes * overlap / duration if duration > 0 else t.nbytes
                    touched = True
            requests += touched
        return Rate(credited / span, span, requests)


@dataclass
class Level:
    """One setting of the ramp: this many streams with this block size, from `started` on."""

    streams: int
    block: int
    started: float
    settled: float  # end of the discarded first interval: measuring starts here
    judged: float | None = None  # end of the window the level was judged on
    rate: float | None = None  # bytes/s over [settled, judged]


@dataclass(frozen=True)
class RampSettings:
    interval: float = 0.5  # one measuring interval, seconds
    first_streams: int = 2
    max_streams: int = MAX_STREAMS
    min_gain: float = 0.10  # keep doubling the streams while a doubling adds at least this much
    measure_intervals: int = 2  # intervals a level is measured for before it is judged
    request_intervals: float = 1.0  # blocks sized so one request takes about this many intervals

    @classmethod
    def for_window(cls, seconds: float, rtt_s: float | None = None, **kw: Any) -> RampSettings:
        """Intervals short enough for a few levels in `seconds`, long enough for a few round trips."""
        interval = min(1.0, max(0.1, seconds / 15))
        if rtt_s:
            interval = max(interval, min(4 * rtt_s, seconds / 6))
        return cls(interval=interval, **kw)


class Ramp:
    """How many parallel streams to run, and which part of the run the figure comes from.

    Call `update(now)` as often as you like; it returns the level to run. Rules: the first interval
    after every change is discarded (AzCopy bench); a level is judged on `measure_intervals` further
    intervals once completed requests cover enough of them; streams double while each doubling raises
    the rate by `min_gain` (iperf -P); then the ramp stays at that level, or steps back to the best one
    when the rate fell, and measures there until the end. No change is made without time left to
    judge it.
    """

    def __init__(
        self,
        meter: RateMeter,
        settings: RampSettings,
        *,
        start: float,
        end: float,
        hint_bytes_per_second: float | None = None,
    ) -> None:
        self.meter = meter
        self.s = settings
        self.start = start
        self.end = end
        streams = max(1, min(settings.first_streams, settings.max_streams))
        # 256 KiB first, smaller when the hint says the link is slow; never bigger before a measured
        # level (a shaper's burst can make a single 64 KiB request look far faster than the link).
        per_stream = hint_bytes_per_second / streams if hint_bytes_per_second else None
        block = min(FIRST_BLOCK, choose_block(per_stream, settings.interval * settings.request_intervals))
        self.levels: list[Level] = [Level(streams, block, start, start + settings.interval)]
        self.final = False  # the ramp is over: measuring at the chosen level until the end
        self.limited = False  # still rising at max_streams: the link may be faster than measured
        self.cut_short = False  # still rising when the time ran out

    @property
    def level(self) -> Level:
        return self.levels[-1]

    def _level_time(self) -> float:
        return self.s.interval * (1 + self.s.measure_intervals)

    def _change(self, now: float, streams: int, block: int) -> Level:
        self.levels.append(Level(streams, block, now, now + self.s.interval))
        return self.level

    def update(self, now: float) -> Level:
        lvl = self.level
        if self.final:
            return lvl
        known = self.meter.known_until(now)
        if known - lvl.settled < self.s.measure_intervals * self.s.interval:
            return lvl  # not measured long enough yet, or requests still unanswered (a slow link): wait
        r = self.meter.rate([(lvl.settled, known)])
        if r is None:
            return lvl
        lvl.judged, lvl.rate = known, r.bytes_per_second
        earlier = [x for x in self.levels[:-1] if x.rate is not None]
        best = max(earlier, key=lambda x: x.rate or 0.0) if earlier else None
        room = self.end - now >= self._level_time()
        if best is None or lvl.rate >= (best.rate or 0.0) * (1 + self.s.min_gain):
            if lvl.streams < self.s.max_streams and room:
                streams = min(self.s.max_streams, lvl.streams * 2)
                block = choose_block(lvl.rate / streams, self.s.interval * self.s.request_intervals)
                return self._change(now, streams, block)
            self.limited = lvl.streams >= self.s.max_streams and best is not None
            self.cut_short = best is not None and not room and lvl.streams < self.s.max_streams
            self.final = True
            return lvl
        self.final = True
        if best is not None and lvl.rate < (best.rate or 0.0) * (1 - self.s.min_gain / 2) and room:
            return self._change(now, best.streams, best.block)
        return lvl

    def result(self, end: float) -> tuple[Rate | None, int]:
        """The figure (bytes/s) and the stream count it was measured with, over the run up to `end`
        (the moment the first stream stopped starting requests: after it, fewer streams run).

        All measured windows at the final stream count are combined. If they are too short (a link
        too slow for the window), the best judged level is used, else the whole run after the first
        interval.
        """
        final = self.level
        known = min(end, self.meter.known_until(end))
        windows = [(x.settled, x.judged) for x in self.levels[:-1] if x.streams == final.streams and x.judged]
        if known > final.settled:
            windows.append((final.settled, known))
        r = self.meter.rate(windows)
        if r is not None and r.seconds >= self.s.interval:
            return r, final.streams
        judged = [x for x in self.levels if x.rate is not None and x.judged is not None]
        if judged:
            best = max(judged, key=lambda x: x.rate or 0.0)
            return self.meter.rate([(best.settled, best.judged or known)]), best.streams
        first = self.levels[0]
        return self.meter.rate([(first.settled, known)]) or self.meter.rate([(self.start, known)]), final.streams




class ByteBudget:
    """How many bytes the probe may put on the wire (`--max-bytes`). Thread-safe, no clock.

    A request body is sent only when all of it fits (`take`), so the probe never goes over the budget;
    bytes count when they are handed to the link, acknowledged or not (a failed request cost the link
    too). `charge` books what is sent whatever the budget (the warm-up's few small requests). None: no
    limit. `spent` turns True at the first request refused for want of budget: the probe ends there.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self._used = 0
        self.spent = False
        self._lock = threading.Lock()

    @property
    def used(self) -> int:
        with self._lock:
            return self._used

    @property
    def remaining(self) -> int | None:
        with self._lock:
            return None if self.limit is None else max(0, self.limit - self._used)

    def take(self, nbytes: int) -> bool:
        """Book `nbytes` and say yes, or say no (and mark the budget spent) when they do not fit."""
        with self._lock:
            if self.limit is not None and self._used + nbytes > self.limit:
                self.spent = True
                return False
            self._used += nbytes
            return True

    def charge(self, nbytes: int) -> None:
        with self._lock:
            self._used += nbytes

    def seconds_left(self, bytes_per_second: float | None) -> float | None:
        """How long the rest lasts at `bytes_per_second` (None: no limit or no rate)."""
        left = self.remaining
        if left is None or not bytes_per_second or bytes_per_second <= 0:
            return None
        return left / bytes_per_second
