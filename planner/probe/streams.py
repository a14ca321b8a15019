"""Parallel request streams for the destination probe: random request bodies and the stream pool."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable

from planner.clock import Clock
from planner.errors import MdplanError
from planner.probe.meter import FIRST_BLOCK, ByteBudget, RateMeter


class Payloads:
    """Random, incompressible request bodies with their MD5s: a few distinct ones per size, made once
    and reused (the store sends the MD5 as the transactional checksum, as the uploader does)."""

    def __init__(self, variants: int = 3) -> None:
        self._variants = variants
        self._by_size: dict[int, list[tuple[bytes, bytes]]] = {}
        self._lock = threading.Lock()

    def get(self, size: int, seq: int) -> tuple[bytes, bytes]:
        """(body, its MD5 digest) of `size` bytes; `seq` picks one of the variants."""
        with self._lock:
            bodies = self._by_size.get(size)
            if bodies is None:
                bodies = []
                for _ in range(self._variants):
                    data = os.urandom(size)
                    bodies.append((data, hashlib.md5(data).digest()))
                self._by_size[size] = bodies
        return bodies[seq % len(bodies)]


class StreamPool:
    """Threads that each repeat one kind of request back to back; `set()` says how many run at once.

    `work(stream, seq, block)` sends one request and returns the bytes the service acknowledged.
    A stream does not start a request it expects to end after `deadline`, nor one whose body does not fit
    in what is left of `budget` (the probe stops at whichever ends first). Transient failures count
    as busy time with no bytes; anything else stops every stream and is re-raised by `join()`.
    """

    def __init__(
        self,
        work: Callable[[int, int, int], int],
        meter: RateMeter,
        clock: Clock,
        deadline: float,
        classify: Callable[[BaseException], MdplanError | None],
        budget: ByteBudget | None = None,
    ) -> None:
        self._work = work
        self._budget = budget
        self._meter = meter
        self._clock = clock
        self.deadline = deadline
        self._classify = classify
        self._cond = threading.Condition()
        self._streams = 0
        self._block = FIRST_BLOCK
        self._stop = False
        self._threads: list[threading.Thread] = []
        self.error: MdplanError | None = None
        self.unexpected: BaseException | None = None
        self.first_stop: float | None = None  # when the first stream stopped (the deadline or the budget)
        self.transient_failures = 0  # requests that failed in a way worth retrying (not counted as bytes)

    def set(self, streams: int, block: int) -> None:
        with self._cond:
            self._streams, self._block = streams, block
            self._cond.notify_all()
        while len(self._threads) < streams:
            t = threading.Thread(target=self._run, args=(len(self._threads),), daemon=True,
                                 name=f"mdplan-probe-{len(self._threads)}")
            self._threads.append(t)
            t.start()

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def join(self, timeout: float) -> None:
        self.stop()
        end = self._clock.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, end - self._clock.monotonic()))
        if self.error is not None:
            raise self.error
        if self.unexpected is not None:
            raise self.unexpected

    @property
    def failed(self) -> bool:
        return self.error is not None or self.unexpected is not None

    def _may_start(self, start: float, expected: float, block: int) -> bool:
        """Whether a request of `block` bytes expected to take `expected` s may start now; if not, the
        stream stops and the first such moment is kept (after it, fewer streams run)."""
        if start + expected <= self.deadline and (self._budget is None or self._budget.take(block)):
            return True
        with self._cond:
            if self.first_stop is None or start < self.first_stop:
                self.first_stop = start
        return False

    def _run(self, i: int) -> None:
        seq = 0
        last: tuple[float, int] | None = None  # (seconds, block) of this stream's last request
        while True:
            with self._cond:
                while not self._stop and i >= self._streams:
                    self._cond.wait(0.05)
                if self._stop:
                    return
                block = self._block
            expected = 0.0
            if last is not None:
                expected = last[0] * (block / last[1] if last[1] and block > last[1] else 1.0)
            start = self._clock.monotonic()
            if not self._may_start(start, expected, block):
                return
            self._meter.begin(i, start)
            try:
                nbytes = self._work(i, seq, block)
            except BaseException as exc:  # noqa: BLE001 - sorted into transient / fatal below
                end = self._clock.monotonic()
                self._meter.end(i, start, end, 0)
                fatal: MdplanError | None = None
                if isinstance(exc, KeyboardInterrupt):
                    self.unexpected = exc
                else:
                    try:
                        fatal = self._classify(exc)
                    except BaseException as bug:  # noqa: BLE001 - a bug in classifying: stop and report it
                        self.unexpected = bug
                if fatal is None and self.unexpected is None:  # transient: time passed, no bytes
                    with self._cond:
                        self.transient_failures += 1
                    self._clock.sleep(min(0.2, max(0.0, self.deadline - end)))
                    seq += 1
                    continue
                with self._cond:
                    if fatal is not None and self.error is None:
                        self.error = fatal
                    self._stop = True
                    self._cond.notify_all()
                return
            end = self._clock.monotonic()
            self._meter.end(i, start, end, nbytes)
            last = (end - start, block)
            seq += 1


