"""Limits that move while sending (polite mode), applied to the throttle as its ceiling.

`Pacer.tick(now, bytes_done)` runs on the coordinator's tick: it asks each limit for the rate it wants
now, sets the lowest as `Throttle.set_ceiling`, and returns words for the progress line ("yielding to
other traffic ..."). A limit is anything with `ceiling(now, bytes_done) -> (bytes/s or None, words or
None)`.

Polite mode's limit feeds `planner.polite.PoliteController` with round trips measured beside the
upload by `RttSampler`: a thread that times a TCP connection to the service's host every 100 ms. A
TCP handshake is answered by the server's kernel, so it measures the path (and the queue in the
modem) without the service's processing time, which a small HTTP request would add (Azure's "tens of
ms", and Azurite answers late while it is busy storing blocks). It works on every OS; nothing here is
POSIX-only.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from planner.clock import Clock
from planner.polite import PoliteController, PoliteSettings
from planner.units import format_rate

SAMPLE_EVERY = 0.05  # seconds between round-trip samples
PROBE_TIMEOUT = 2.0  # a handshake slower than this counts as this slow (the queue is very full)
TICK_EVERY = 0.05  # the pacer moves the ceiling at most this often
#: While polite, requests are about this many seconds of the chosen rate (smaller in-flight bursts)...
POLITE_CHUNK_SECONDS = 0.04
#: ...between these sizes (powers of two), and the throttle's idle burst is at most this much.
POLITE_MIN_CHUNK = 32 * 1024
POLITE_MAX_CHUNK = 1024 * 1024
POLITE_BURST = 32 * 1024


def polite_chunk(rate: float | None) -> int:
    """The request size while polite: about 40 ms of the chosen rate, a power of two in [32 KiB, 1 MiB]."""
    if rate is None or rate <= 0:
        return POLITE_MIN_CHUNK
    size = POLITE_MIN_CHUNK
    while size * 2 <= min(rate * POLITE_CHUNK_SECONDS, POLITE_MAX_CHUNK):
        size *= 2
    return size


class Limit(Protocol):
    def ceiling(self, now: float, bytes_done: int) -> tuple[float | None, str | None]: ...

    def close(self) -> None: ...


class Pacer:
    """The lowest of the limits, applied to the throttle; words for the progress line."""

    def __init__(self, throttle: Any, limits: Sequence[Limit]) -> None:
        self.throttle = throttle
        self.limits = list(limits)
        self._last: float | None = None
        self._words: str | None = None
        self.ceiling: float | None = None

    def tick(self, now: float, bytes_done: int) -> str | None:
        if self._last is not None and now - self._last < TICK_EVERY:
            return self._words
        self._last = now
        rates, words = [], []
        for limit in self.limits:
            rate, text = limit.ceiling(now, bytes_done)
            if rate is not None:
                rates.append(rate)
            if text:
                words.append(text)
        self.ceiling = min(rates) if rates else None
        self.throttle.set_ceiling(self.ceiling)
        self._words = "; ".join(words) or None
        return self._words

    def close(self) -> None:
        for limit in self.limits:
            limit.close()


class RttSampler:
    """A thread that measures the round trip every `every` seconds with `probe` (seconds, or None when
    it failed); `drain()` hands the samples to the coordinator's thread."""

    def __init__(self, probe: Callable[[], float | None], clock: Clock, *, every: float = SAMPLE_EVERY) -> None:
        self.probe, self.clock, self.every = probe, clock, every
        self._samples: list[tuple[float, float]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mdplan-rtt", daemon=True)
        self.active = True  # False outside polite hours: no handshakes while nobody needs them

    def start(self) -> RttSampler:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.active:
                self.step()
            self.clock.sleep(self.every)

    def step(self) -> None:
        """One measurement (what the thread does every `every` seconds)."""
        rtt = self.probe()
        if rtt is not None:
            with self._lock:
                self._samples.append((self.clock.monotonic(), rtt))
                del self._samples[:-100]

    def drain(self) -> list[tuple[float, float]]:
        with self._lock:
            out, self._samples = self._samples, []
        return out

    def close(self) -> None:
        self._stop.set()


def connect_probe(url: str, *, timeout: float = PROBE_TIMEOUT, clock: Clock) -> Callable[[], float | None]:
    """Times a TCP handshake with the host of `url` (the account's endpoint). A timeout counts as
    `timeout` seconds (a very full queue); a refusal or a name that does not resolve is no sample."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)

    def probe() -> float | None:
        started = clock.monotonic()
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return clock.monotonic() - started
        except socket.timeout:
            return timeout
        except OSError:
            return None
    return probe


def polite_hours(timetable: Any, clock: Clock) -> Callable[[], str | None]:
    """For `PoliteLimit(active=...)`: None outside the timetable's polite hours, else words for the
    progress line while not yielding ("polite until 18:00"; "" when polite all the time)."""
    def active() -> str | None:
        now = clock.now()
        if not timetable.polite_at(now):
            return None
        until = timetable.next_change(now)
        return f"polite until {until:%H:%M}" if until is not None else ""
    return active


class PoliteLimit:
    """Polite mode: the controller's rate, from the sampler's round trips. With `active` (polite hours
    from the timetable: `polite_hours`), only while it says so; outside them no ceiling, no samples."""

    def __init__(self, sampler: RttSampler, settings: PoliteSettings,
                 active: Callable[[], str | None] | None = None) -> None:
        self.sampler = sampler
        self.settings = settings
        self.controller = PoliteController(settings)
        self.active = active
        self._on = True
        self._off_since: tuple[float, int] | None = None  # (t, bytes) when polite hours last ended

    def ceiling(self, now: float, bytes_done: int) -> tuple[float | None, str | None]:
        hours = self.active() if self.active is not None else ""
        if not self._switch(hours is not None, now, bytes_done):
            return None, None
        c = self.controller
        samples = self.sampler.drain()
        for t, rtt in samples:
            c.update(t, rtt, bytes_done)
        if not samples:
            c.update(now, None, bytes_done)
        words = hours or None
        if c.yielding and c.queue_s is not None:
            words = (f"polite: yielding to other traffic ({format_rate(c.rate * 8)}, round trip "
                     f"+{c.queue_s * 1000:.0f} ms)")
        return c.rate, words

    def _switch(self, on: bool, now: float, bytes_done: int) -> bool:
        """Polite hours start or end. Coming back, the controller starts afresh (the base round trip may
        have moved) at half of what got through at full speed, not at 4 Mbit/s."""
        if on == self._on:
            return on
        self._on = on
        self.sampler.active = on
        if not on:
            self.sampler.drain()
            self._off_since = (now, bytes_done)
            return False
        start = self.settings.start_rate
        if self._off_since is not None and now - self._off_since[0] > 1.0:
            start = max(start, (bytes_done - self._off_since[1]) / (now - self._off_since[0]) / 2)
        self.sampler.drain()  # samples from before the switch belong to full speed
        self.controller = PoliteController(replace(self.settings, start_rate=start))
        return True

    def rtt_ms(self) -> float | None:
        """The round trip the controller acts on (the base plus the queueing delay it sees), in ms; None
        when it is off or knows nothing yet. The journal keeps it beside the rate for the report."""
        c = self.controller
        if not self._on or c.base_s is None or c.queue_s is None:
            return None
        return (c.base_s + c.queue_s) * 1000

    def close(self) -> None:
        self.sampler.close()


def polite_limit(url: str, clock: Clock, cap_bytes_per_s: float | None,
                 probe: Callable[[], float | None] | None = None, known_rate: float | None = None,
                 active: Callable[[], str | None] | None = None) -> PoliteLimit:
    """Polite mode for the service at `url`, bounded by a fixed cap; the sampler is started. With the
    rate last measured to this destination (`known_rate`, bytes/s), it starts at half of it rather than
    ramping up from 4 Mbit/s. `active`: polite hours (`polite_hours`), None = all the time."""
    sampler = RttSampler(probe or connect_probe(url, clock=clock), clock).start()
    settings = PoliteSettings(max_rate=cap_bytes_per_s)
    if known_rate:
        settings = PoliteSettings(max_rate=cap_bytes_per_s, start_rate=max(settings.start_rate, known_rate / 2))
    return PoliteLimit(sampler, settings, active)
