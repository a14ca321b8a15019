"""Upload bandwidth: how fast bytes reach *this* container, measured in seconds rather than guessed.

Three probes answer with the same `Measurement` (bits/s, round-trip time, per-file overhead, how it
was measured, how long it took, how many bytes it used, and how far to trust it):

- **destination** (the default when a SAS URL is known): uploads random, incompressible blocks to the
  container itself, under `<folder>/.mdplan/probe-<id>/`. This is the number that matters: a speed
  test measures the path to a nearby test server, not to the Azure region the images go to.
- **speedtest**: speedtest-cli (secure=True) to a nearby speedtest.net server. A rough, generic
  figure: speedtest-cli is archived, often refused, and known to read 30-50% off.
- **manual**: `--bandwidth RATE`, taken as typed.

How the destination probe measures, and why:

- Bytes count only when the service acknowledged them: a request's bytes are credited when its
  Put Block / Put Blob returned success, never when they were handed to the socket (speedtest-cli's
  mistake, which makes it read high on slow links).
- Each acknowledged request's bytes are spread over the time it took, and a window's rate is the
  bytes credited inside it over its length. A window is judged only once every request that started
  in it has been answered, so the figure needs no guess about requests on their way, and a 0.5 s
  window is not at the mercy of which request happened to finish just inside it.
- Parallel streams are ramped like iperf's `-P`: start with 2, double while the rate rises by at
  least 10%, then stay (or step back to the best count if the rate fell) and measure until the end.
  AzCopy bench's rule: the first interval after every change is discarded (new connections, TCP slow
  start); it lasts at least four round trips.
- Blocks start at 256 KiB (less on a link that looks slow) and are resized at each change so one
  request takes about one interval: never a single request that eats the probe window on a slow
  link, never thousands of tiny requests on a fast one.
- It stops within `seconds` (default 10, at most 30): a stream does not start a request it would not
  finish in time.
- Round-trip time: the median of a few small sequential requests on a warm connection (network round
  trip plus the service's own handling, which is what every uploaded file pays). Per-file overhead:
  the mean time a worker spends on an empty Put Blob while several run at once (from small blobs/s).
- Clean-up: when the URL may delete, every probe blob is deleted. Otherwise everything is written to
  one fixed marker name (the one `mdplan check` uses), so at most one small blob stays, and the
  result says so. Put Block data that is never committed is not a blob; Azure discards it when the
  marker is rewritten at the end (or after a week).

The decision logic (`RateMeter`, `Ramp`, `choose_block`) is pure and fed by a clock reading and the
acknowledged-byte records, so tests drive it with a fake clock.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from planner.clock import Clock, SystemClock
from planner.errors import BadInput, MdplanError, NetworkUnreachable, SasProblem
from planner.redact import redact
from planner.sas import SasUrl
from planner.units import format_bytes, format_duration, format_rate, parse_rate

if TYPE_CHECKING:
    from planner.estimate import BandwidthFigure

Method = Literal["destination", "speedtest", "manual"]

KiB = 1024
MiB = 1024 * KiB
MIN_BLOCK = 64 * KiB
FIRST_BLOCK = 256 * KiB
MAX_BLOCK = 8 * MiB
DEFAULT_SECONDS = 10.0
MAX_SECONDS = 30.0  # a probe is a measurement, not an upload
MIN_SECONDS = 1.0
MAX_STREAMS = 32  # the uploader's own ceiling (planner.upload.MAX_WORKERS)

NEXT_STEP = (
    "Give the container's SAS URL to measure the real destination (mdplan bandwidth \"https://...\"), "
    "or tell mdplan estimate the speed you know with --bandwidth, e.g. --bandwidth 20Mbps."
)


# ------------------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------------------
@dataclass
class Measurement:
    """One bandwidth figure and everything needed to judge it. `mdplan bandwidth --json` prints this."""

    bits_per_second: float
    rtt_ms: float | None  # round trip of a small request (None: not measured)
    per_file_seconds: float | None  # fixed time one worker spends per file, whatever its size
    method: Method
    seconds: float  # how long measuring took
    bytes: int  # bytes acknowledged by the far end (what the probe cost the link)
    note: str  # how far to trust the figure, in plain words
    left_marker: bool = False  # a small marker blob stays in the container (the URL cannot delete)
    streams: int | None = None  # parallel uploads the figure was measured with (destination)
    marker: str | None = None  # blob name of that marker, when one was left

    def to_figure(self) -> BandwidthFigure:
        """The estimate model's bandwidth input (planner.estimate.BandwidthFigure)."""
        from planner.estimate import BandwidthFigure

        return BandwidthFigure(
            self.bits_per_second,
            self.method,
            rtt_ms=self.rtt_ms,
            per_file_seconds=self.per_file_seconds,
            note=self.note,
        )


@dataclass(frozen=True)
class ProbeProgress:
    """What a probe is doing right now, for a progress line."""

    phase: str  # plain words: "connecting", "round trip", "uploading test data", ...; "done" at the end
    elapsed: float
    limit: float
    bits_per_second: float | None = None  # rate so far, when there is one
    streams: int | None = None


ProgressFn = Callable[[ProbeProgress], None]


class Probe(Protocol):
    method: Method

    def measure(self, progress: ProgressFn | None = None) -> Measurement: ...


def clamp_seconds(seconds: float | None) -> float:
    """The probe window: default 10 s, between 1 and 30 s."""
    if seconds is None:
        return DEFAULT_SECONDS
    if not math.isfinite(seconds) or seconds <= 0:
        raise BadInput(f"--seconds must be a number of seconds from {MIN_SECONDS:g} to {MAX_SECONDS:g}.")
    return min(MAX_SECONDS, max(MIN_SECONDS, float(seconds)))


# ------------------------------------------------------------------------------------------------
# Pure decision logic: block size, acknowledged-byte meter, stream ramp
# ------------------------------------------------------------------------------------------------
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


# ------------------------------------------------------------------------------------------------
# Destination probe
# ------------------------------------------------------------------------------------------------
class _Payloads:
    """Random, incompressible request bodies: a few distinct ones per size, made once and reused."""

    def __init__(self, variants: int = 3) -> None:
        self._variants = variants
        self._by_size: dict[int, list[bytes]] = {}
        self._lock = threading.Lock()

    def get(self, size: int, seq: int) -> bytes:
        with self._lock:
            bodies = self._by_size.get(size)
            if bodies is None:
                bodies = [os.urandom(size) for _ in range(self._variants)]
                self._by_size[size] = bodies
        return bodies[seq % len(bodies)]


class _StreamPool:
    """Threads that each repeat one kind of request back to back; `set()` says how many run at once.

    `work(stream, seq, block)` sends one request and returns the bytes the service acknowledged.
    A stream does not start a request it expects to end after `deadline`. Transient failures count
    as busy time with no bytes; anything else stops every stream and is re-raised by `join()`.
    """

    def __init__(
        self,
        work: Callable[[int, int, int], int],
        meter: RateMeter,
        clock: Clock,
        deadline: float,
        classify: Callable[[BaseException], MdplanError | None],
    ) -> None:
        self._work = work
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
        self.first_stop: float | None = None  # when the first stream stopped for the deadline
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
            if start + expected > self.deadline:
                with self._cond:
                    if self.first_stop is None or start < self.first_stop:
                        self.first_stop = start
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


class DestinationProbe:
    """Measure upload speed to the container of a SAS URL (see the module docstring for how)."""

    method: Method = "destination"

    def __init__(
        self,
        sas: SasUrl,
        *,
        seconds: float = DEFAULT_SECONDS,
        clock: Clock | None = None,
        max_streams: int = MAX_STREAMS,
        client: Any = None,
        run_id: str | None = None,
    ) -> None:
        self.sas = sas
        self.seconds = clamp_seconds(seconds)
        self.clock = clock or SystemClock()
        self.max_streams = max(1, min(max_streams, MAX_STREAMS))
        self._client = client
        self._injected = client
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.meter = RateMeter()
        self.payloads = _Payloads()
        self.names: set[str] = set()
        self.delete_mode = False
        self.ramp: Ramp | None = None
        self.failures = 0  # test requests that failed and were not counted

    # -- names -----------------------------------------------------------------------------------
    @property
    def marker(self) -> str:
        from planner.azure import MARKER_DIR, MARKER_FILE

        return self.sas.blob_name(f"{MARKER_DIR}/{MARKER_FILE}")

    def _name(self, kind: str, stream: int = 0) -> str:
        if not self.delete_mode:
            return self.marker
        from planner.azure import MARKER_DIR

        name = self.sas.blob_name(f"{MARKER_DIR}/probe-{self.run_id}/{kind}{stream}")
        self.names.add(name)
        return name

    def _marker_body(self) -> bytes:
        when = self.clock.now().isoformat(timespec="seconds")
        return (f"Written by mdplan (bandwidth probe or check) at {when}. "
                "It tests that uploading works. Safe to delete.\n").encode()

    # -- client ----------------------------------------------------------------------------------
    def _open(self) -> Any:
        if self._client is not None:
            return self._client
        from planner.azure import container_client, make_transport

        # One pooled connection per stream: the default pool (10) would open a fresh connection, with
        # its handshake and slow start, for every request beyond ten streams.
        # A request unanswered for the whole window tells the probe nothing more: give up on it then,
        # so a stalled connection cannot hold the command far past --seconds.
        transport = make_transport(self.max_streams + 4, connection_timeout=min(10.0, max(3.0, self.seconds / 2)),
                                   read_timeout=max(5.0, self.seconds))
        self._client = container_client(self.sas, transport=transport)
        return self._client

    def _fatal(self, exc: BaseException, doing: str = "uploading") -> MdplanError | None:
        """None for a failure worth trying again; the user's error otherwise."""
        from planner.azure import is_transient, map_azure_error

        if isinstance(exc, MdplanError):
            return exc
        if is_transient(exc):
            return None
        return map_azure_error(exc, self.sas, doing=doing)

    def _call(self, fn: Callable[[], Any], doing: str = "uploading") -> Any:
        """Run one request; a transient failure gets one more try, then every failure is the user's line."""
        from planner.azure import is_transient, map_azure_error

        for attempt in (1, 2):
            try:
                return fn()
            except MdplanError:
                raise
            except Exception as exc:  # noqa: BLE001 - every SDK/network failure becomes one user line
                if attempt == 1 and is_transient(exc):
                    self.clock.sleep(0.2)
                    continue
                raise map_azure_error(exc, self.sas, doing=doing) from None
        raise AssertionError("unreachable")

    def _may_delete(self, client: Any, name: str) -> bool:
        """Delete `name`: True when that worked, False when the URL lacks delete permission."""
        from planner.azure import error_code, is_transient, map_azure_error

        for attempt in (1, 2):
            try:
                client.delete_blob(name)
                return True
            except Exception as exc:  # noqa: BLE001 - sorted below
                if getattr(exc, "status_code", None) == 403 and error_code(exc) == "AuthorizationPermissionMismatch":
                    return False
                if attempt == 1 and is_transient(exc):
                    self.clock.sleep(0.2)
                    continue
                raise map_azure_error(exc, self.sas, doing="deleting the test file") from None
        raise AssertionError("unreachable")

    # -- the run ---------------------------------------------------------------------------------
    def measure(self, progress: ProgressFn | None = None) -> Measurement:
        self._precheck()
        clock = self.clock
        t0 = clock.monotonic()
        deadline = t0 + self.seconds
        report = progress or (lambda p: None)
        client = self._open()
        try:
            report(ProbeProgress("connecting", 0.0, self.seconds))
            rtts, hint = self._warm_up(client, t0, t0 + 0.15 * self.seconds, report)
            rtt_s = statistics.median(rtts) if rtts else None
            # Small-file timing gets the end of the window; the throughput ramp gets the most of it.
            remaining = deadline - clock.monotonic()
            small_time = min(max(0.12 * self.seconds, 3 * (rtt_s or 0.0)), 0.3 * remaining)
            rate, streams = self._throughput(client, deadline - small_time, rtt_s, hint, t0, report)
            per_file = self._per_file(client, min(streams, 8), deadline, t0, report)
            if per_file is None and rtt_s is not None:  # no time left for it: one small request's round trip
                per_file = round(rtt_s, 5)
            elapsed = clock.monotonic() - t0
        except BaseException:  # Ctrl-C or a SAS/network failure: still leave nothing behind
            self._clean_up(client)
            self._close(client)
            raise
        left_marker = self._clean_up(client)
        self._close(client)
        report(ProbeProgress("done", clock.monotonic() - t0, self.seconds))
        if rate is None or rate.bytes_per_second <= 0:
            raise NetworkUnreachable(
                f"No test data reached {self.sas.display} within {self.seconds:.0f} s, so there is no figure.",
                hint="The link may be down or extremely slow; try again with --seconds 30, or give --bandwidth.",
            )
        bps = rate.bytes_per_second * 8
        return Measurement(
            bits_per_second=bps,
            rtt_ms=round(rtt_s * 1000, 2) if rtt_s is not None else None,
            per_file_seconds=per_file,
            method="destination",
            seconds=round(elapsed, 3),
            bytes=self.meter.total_bytes,
            note=self._note(rate, streams, elapsed, left_marker),
            left_marker=left_marker,
            streams=streams,
            marker=self.marker if left_marker else None,
        )

    def _close(self, client: Any) -> None:
        if client is not self._injected:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a pool never matters to the user
                pass

    def _precheck(self) -> None:
        from planner.azure import preflight

        preflight(self.sas, self.clock.now(), write=False)

    def _warm_up(self, client: Any, t0: float, until: float, report: ProgressFn) -> tuple[list[float], float | None]:
        """Open the connection, decide how to clean up, time small requests, guess the link's speed."""
        clock = self.clock
        marker = self.marker
        body = self._marker_body()
        # The first request pays for DNS, TCP and TLS: it decides and warms up, it is not timed.
        start = clock.monotonic()
        self._call(lambda: client.upload_blob(marker, body, overwrite=True))
        self.meter.end(-1, start, clock.monotonic(), len(body))
        if self.sas.can("d") is not False:  # a stored policy only tells by trying
            self.delete_mode = self._may_delete(client, marker)
        report(ProbeProgress("round trip", clock.monotonic() - t0, self.seconds))
        rtts: list[float] = []
        name = self._name("rtt")
        while len(rtts) < 5 and (len(rtts) < 2 or clock.monotonic() < until):
            start = clock.monotonic()
            self._call(lambda: client.upload_blob(name, b"", overwrite=True))
            end = clock.monotonic()
            rtts.append(end - start)
            self.meter.end(-1, start, end, 0)
        # One 64 KiB request says roughly whether the link is a 1 Mbit/s or a 1 Gbit/s one, so the
        # first blocks are neither too big for the window nor all overhead.
        data = self.payloads.get(MIN_BLOCK, 0)
        start = clock.monotonic()
        self._call(lambda: client.upload_blob(name, data, overwrite=True))
        end = clock.monotonic()
        self.meter.end(-1, start, end, len(data))
        base = min(rtts) if rtts else 0.0
        hint = len(data) / max(end - start - base, 1e-4)
        return rtts, hint

    def _throughput(
        self, client: Any, end: float, rtt_s: float | None, hint: float | None, t0: float, report: ProgressFn
    ) -> tuple[Rate | None, int]:
        clock = self.clock
        start = clock.monotonic()
        settings = RampSettings.for_window(end - start, rtt_s, max_streams=self.max_streams)
        ramp = Ramp(self.meter, settings, start=start, end=end, hint_bytes_per_second=hint)
        self.ramp = ramp
        run = self.run_id

        def work(stream: int, seq: int, block: int) -> int:
            # Block ids must all have the same length within a blob (the marker is shared by streams).
            client.get_blob_client(self._name("b", stream)).stage_block(f"{run}-{stream:03d}-{seq:08d}",
                                                              self.payloads.get(block, seq))
            return block

        pool = _StreamPool(work, self.meter, clock, end, self._fatal)
        tick = min(0.1, settings.interval / 4)
        try:
            while not pool.failed:
                now = clock.monotonic()
                if now >= end:
                    break
                lvl = ramp.update(now)
                pool.set(lvl.streams, lvl.block)
                known = self.meter.known_until(now)
                so_far = self.meter.rate([(max(start, known - 2 * settings.interval), known)])
                report(ProbeProgress("uploading test data", now - t0, self.seconds,
                                     so_far.bytes_per_second * 8 if so_far else None, lvl.streams))
                clock.sleep(min(tick, max(0.0, end - now)))
        finally:
            pool.stop()
            pool.join(timeout=max(2.0, 4 * (rtt_s or 0.0)))
            self.failures += pool.transient_failures
        stop = pool.first_stop if pool.first_stop is not None else end
        return ramp.result(min(stop, end))

    def _per_file(self, client: Any, streams: int, deadline: float, t0: float, report: ProgressFn) -> float | None:
        """Mean time of an empty Put Blob with `streams` running at once: the fixed cost per file."""
        clock = self.clock
        if clock.monotonic() >= deadline:
            return None
        report(ProbeProgress("timing small files", clock.monotonic() - t0, self.seconds))
        meter = RateMeter()
        names = [self._name("f", i) for i in range(streams)]

        def work(stream: int, seq: int, block: int) -> int:
            client.upload_blob(names[stream], b"", overwrite=True)
            return 0

        pool = _StreamPool(work, meter, clock, deadline, self._fatal)
        pool.set(max(1, streams), 0)
        try:
            while not pool.failed and clock.monotonic() < deadline:
                clock.sleep(min(0.05, max(0.0, deadline - clock.monotonic())))
        finally:
            pool.join(timeout=2.0)
            self.failures += pool.transient_failures
        # Each stream's first request may have waited for a new connection: leave it out when there
        # are others.
        done = sorted(meter.transfers, key=lambda t: (t.stream, t.start))
        later = [t.end - t.start for prev, t in zip(done, done[1:]) if prev.stream == t.stream]
        times = later or [t.end - t.start for t in done]
        return round(statistics.fmean(times), 5) if times else None

    def _clean_up(self, client: Any) -> bool:
        """Delete the probe's blobs, or rewrite the one marker. True when a marker blob stays."""
        if not self.delete_mode:
            try:
                client.upload_blob(self.marker, self._marker_body(), overwrite=True)
            except Exception:  # noqa: BLE001 - the marker stays either way; nothing more to do
                pass
            return True
        from concurrent.futures import ThreadPoolExecutor

        def delete(name: str) -> None:
            try:
                client.delete_blob(name)
            except Exception:  # noqa: BLE001 - already gone, or the link broke: nothing we can add
                pass

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(delete, sorted(self.names)))
        return False

    def _note(self, rate: Rate, streams: int, elapsed: float, left_marker: bool) -> str:
        words = []
        enough = rate.requests >= max(8, 2 * streams) and rate.seconds >= min(2.0, 0.2 * self.seconds)
        if self.failures:
            words.append(f"Rough: {self.failures} test upload(s) failed on the way (the link or the service had "
                         "trouble), so the figure may read low; try again later.")
        elif enough:
            words.append(
                f"Good: measured to your container just now with {streams} parallel uploads in "
                f"{elapsed:.0f} s. It changes with the time of day and with other traffic on your link."
            )
        else:
            words.append(
                f"Rough: too few test uploads finished in {elapsed:.0f} s to measure the link well; "
                "run it again with --seconds 30."
            )
        if self.ramp is not None and self.ramp.limited:
            words.append(f"It was still rising at {streams} parallel uploads, so the link may be faster.")
        elif self.ramp is not None and self.ramp.cut_short:
            words.append("It was still rising when the time was up; --seconds 30 may show a higher figure.")
        if self.sas.is_emulator:
            words.append("This is a local emulator, so the figure says nothing about your internet link.")
        if left_marker:
            words.append(f"This URL cannot delete, so one small file stays in the container: {self.marker}.")
        return " ".join(words)


# ------------------------------------------------------------------------------------------------
# speedtest.net probe
# ------------------------------------------------------------------------------------------------
def speedtest_config(seconds: float, *, upload_sizes: Sequence[int] = (262144, 524288), count: int = 8,
                     threads: int = 8) -> dict[str, Any]:
    """A speedtest-cli configuration that needs no speedtest.net (for a known server or a test server)."""
    sizes = list(upload_sizes)
    return {
        "client": {"ip": "127.0.0.1", "lat": "0", "lon": "0", "isp": "", "country": ""},
        "ignore_servers": [],
        "sizes": {"upload": sizes, "download": [350]},
        "counts": {"upload": count, "download": 1},
        "threads": {"upload": threads, "download": 2},
        "length": {"upload": float(seconds), "download": float(seconds)},
        "upload_max": count * len(sizes),
    }


class SpeedtestProbe:
    """speedtest-cli's upload test (secure=True): a rough, generic figure to a nearby test server.

    `config` replaces the configuration speedtest-cli would fetch from speedtest.net, and `servers`
    the server list, so the probe can run against a known (or a loopback test) server.
    """

    method: Method = "speedtest"

    def __init__(
        self,
        *,
        seconds: float = DEFAULT_SECONDS,
        config: dict[str, Any] | None = None,
        servers: list[dict[str, Any]] | None = None,
        timeout: float = 10.0,
        threads: int = 8,
        clock: Clock | None = None,
    ) -> None:
        self.seconds = clamp_seconds(seconds)
        self.config = config
        self.servers = servers
        self.timeout = timeout
        self.threads = threads
        self.clock = clock or SystemClock()

    def measure(self, progress: ProgressFn | None = None) -> Measurement:
        report = progress or (lambda p: None)
        t0 = self.clock.monotonic()
        try:
            report(ProbeProgress("finding a speedtest.net server", 0.0, self.seconds))
            st = self._speedtest()
            st.config["length"]["upload"] = self.seconds
            if self.servers is not None:
                st.get_best_server([dict(s) for s in self.servers])
            else:
                st.get_servers()
                st.get_best_server()
            report(ProbeProgress("uploading to speedtest.net", self.clock.monotonic() - t0, self.seconds))
            bps = float(st.upload(pre_allocate=False, threads=self.threads))
            refused = getattr(st._opener, "refused", [])
            if refused:
                raise NetworkUnreachable(
                    f"The speed test did not work (the speedtest.net server refused the upload, HTTP {refused[0]}).",
                    hint=NEXT_STEP,
                )
            ping = float(st.results.ping) if st.results.ping else None
            sent = int(st.results.bytes_sent or 0)
            server = st.results.server or {}
        except (KeyboardInterrupt, MdplanError):
            raise
        except Exception as exc:  # noqa: BLE001 - speedtest-cli fails in many ways; the user gets one line
            raise NetworkUnreachable(f"The speed test did not work ({_speedtest_reason(exc)}).", hint=NEXT_STEP) from None
        elapsed = self.clock.monotonic() - t0
        report(ProbeProgress("done", elapsed, self.seconds))
        if bps <= 0 or sent <= 0:
            raise NetworkUnreachable("The speed test sent no data, so there is no figure.", hint=NEXT_STEP)
        where = " ".join(str(server.get(k, "")) for k in ("sponsor", "name") if server.get(k)).strip()
        note = (
            "Rough: a generic figure to a nearby speedtest.net server"
            + (f" ({where})" if where else "")
            + ", not to your container, and speedtest-cli is known to read 30-50% off. "
            "Give the SAS URL to measure the real destination."
        )
        return Measurement(
            bits_per_second=bps,
            rtt_ms=round(ping, 2) if ping is not None else None,
            per_file_seconds=None,
            method="speedtest",
            seconds=round(elapsed, 3),
            bytes=sent,
            note=redact(note),
        )

    def _speedtest(self) -> Any:
        import speedtest

        preset = self.config

        class _Speedtest(speedtest.Speedtest):  # type: ignore[misc]
            def __init__(self, **kw: Any) -> None:
                super().__init__(**kw)
                # speedtest-cli counts an upload the server refused (HTTP 403) as sent, because the
                # HTTPError it gets is an IOError; note every refusal so such a figure is never shown.
                self._opener = _RefusalCounter(self._opener)

            def get_config(self) -> Any:  # speedtest-cli fetches this from speedtest.net in __init__
                if preset is None:
                    return super().get_config()
                self.config.update(copy.deepcopy(preset))
                self.lat_lon = (float(preset["client"].get("lat", 0)), float(preset["client"].get("lon", 0)))
                return self.config

        return _Speedtest(secure=True, timeout=self.timeout)


class _RefusalCounter:
    """An opener that remembers every HTTP error status it saw (and still raises it)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.refused: list[int] = []

    def open(self, *args: Any, **kwargs: Any) -> Any:
        from urllib.error import HTTPError

        try:
            return self._inner.open(*args, **kwargs)
        except HTTPError as e:
            self.refused.append(int(e.code))
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _speedtest_reason(exc: BaseException) -> str:
    """A few words on why speedtest-cli failed, without its Python class names where avoidable."""
    name = type(exc).__name__
    text = redact(str(exc)).strip().splitlines()[0][:160] if str(exc).strip() else ""
    low = (name + " " + text).lower()
    if "nomatchedservers" in low or "no matched servers" in low:
        return "speedtest.net offered no test server"
    if "403" in low or "forbidden" in low:
        return "speedtest.net refused the request (403)"
    if any(s in low for s in ("name or service not known", "getaddrinfo", "nodename", "name resolution",
                              "temporary failure in name", "no address associated")):
        return "speedtest.net cannot be reached: no internet connection or no name lookup"
    if "timed out" in low or "timeout" in low:
        return "speedtest.net did not answer in time"
    if "refused" in low:
        return "the connection to speedtest.net was refused"
    if "configretrieval" in low:
        return "could not download speedtest.net's configuration" + (f": {text}" if text else "")
    if "bestserver" in low or "unable to connect to servers" in low:
        return "no speedtest.net server answered"
    return f"{name}: {text}" if text else name


# ------------------------------------------------------------------------------------------------
# Manual figure and choosing a probe
# ------------------------------------------------------------------------------------------------
class ManualProbe:
    """`--bandwidth RATE`: the user's own figure, taken as typed."""

    method: Method = "manual"

    def __init__(self, rate: str | float) -> None:
        self.bits_per_second = parse_rate(rate) if isinstance(rate, str) else float(rate)
        if not math.isfinite(self.bits_per_second) or self.bits_per_second <= 0:
            raise BadInput("--bandwidth must be more than zero, e.g. --bandwidth 20Mbps.")

    def measure(self, progress: ProgressFn | None = None) -> Measurement:
        return Measurement(
            bits_per_second=self.bits_per_second,
            rtt_ms=None,
            per_file_seconds=None,
            method="manual",
            seconds=0.0,
            bytes=0,
            note="As typed (--bandwidth): mdplan has not checked it.",
        )


def choose_probe(
    *,
    sas: SasUrl | None = None,
    speedtest: bool = False,
    bandwidth: str | float | None = None,
    seconds: float | None = None,
    clock: Clock | None = None,
) -> Probe:
    """`--bandwidth` always wins; then `--speedtest` when asked for; then the destination."""
    if bandwidth is not None:
        return ManualProbe(bandwidth)
    if speedtest:
        return SpeedtestProbe(seconds=clamp_seconds(seconds), clock=clock)
    if sas is not None:
        return DestinationProbe(sas, seconds=clamp_seconds(seconds), clock=clock)
    raise BadInput(
        "No SAS URL given (nor MDPLAN_SAS), so there is nothing to measure to. " + NEXT_STEP
        + " --speedtest gives a rough, generic figure instead."
    )


def measure(
    *,
    sas: SasUrl | None = None,
    speedtest: bool = False,
    bandwidth: str | float | None = None,
    seconds: float | None = None,
    clock: Clock | None = None,
    progress: ProgressFn | None = None,
) -> Measurement:
    """One bandwidth figure by the best means given (see `choose_probe`)."""
    return choose_probe(sas=sas, speedtest=speedtest, bandwidth=bandwidth, seconds=seconds, clock=clock).measure(
        progress
    )


def remember(m: Measurement, sas: SasUrl | None, home: Any = None) -> None:
    """Keep a destination figure so the next upload to the same container starts with a good ETA."""
    if m.method != "destination" or sas is None:
        return
    try:
        from planner.journal import remember_rate
    except ImportError:  # pragma: no cover - the journal ships with mdplan
        return
    remember_rate(sas.account_url, sas.container, m.bits_per_second, "probe", home, rtt_ms=m.rtt_ms)


def describe(m: Measurement) -> list[str]:
    """The measurement for a person: a few short lines."""
    how = {
        "destination": "measured to your container",
        "speedtest": "speedtest.net (rough, generic)",
        "manual": "as typed (--bandwidth)",
    }[m.method]
    lines = [f"Upload speed: {format_rate(m.bits_per_second)} ({how})"]
    if m.method != "manual":
        extra = f"{format_duration(m.seconds)}, {format_bytes(m.bytes)} sent"
        if m.streams:
            extra += f", {m.streams} parallel uploads"
        lines.append(f"Measured:     {extra}")
    if m.rtt_ms is not None:
        lines.append(f"Round trip:   {m.rtt_ms:.0f} ms")
    if m.per_file_seconds is not None:
        lines.append(f"Per file:     {m.per_file_seconds * 1000:.0f} ms of fixed cost per file and worker")
    lines.append(f"Trust:        {m.note}")
    return lines


__all__ = [
    "DEFAULT_SECONDS",
    "MAX_SECONDS",
    "DestinationProbe",
    "Level",
    "ManualProbe",
    "Measurement",
    "Probe",
    "ProbeProgress",
    "Ramp",
    "RampSettings",
    "Rate",
    "RateMeter",
    "SpeedtestProbe",
    "Transfer",
    "choose_block",
    "choose_probe",
    "clamp_seconds",
    "describe",
    "measure",
    "remember",
    "speedtest_config",
]
