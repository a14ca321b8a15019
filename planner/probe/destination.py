"""The destination probe: upload speed to the container of a SAS URL, the figure that matters.

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

Every request goes through a planner.storage.BlobStore (planner.azure.AzureBlobStore by default), so
this module never sees the Azure SDK and tests can hand in planner.memory_store.MemoryBlobStore.
"""

from __future__ import annotations

import hashlib
import statistics
import uuid
from collections.abc import Callable
from typing import Any

from planner.clock import Clock, SystemClock
from planner.errors import MdplanError, NetworkUnreachable
from planner.probe.meter import MIN_BLOCK, ByteBudget, Ramp, RampSettings, Rate, RateMeter
from planner.probe.result import DEFAULT_MAX_BYTES, DEFAULT_SECONDS, MAX_STREAMS, Measurement, Method, ProbeProgress, ProgressFn, \
    clamp_seconds
from planner.probe.streams import Payloads, StreamPool
from planner.sas import SasUrl
from planner.storage import BlobStore, StoreError
from planner.units import format_bytes


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
        store: BlobStore | None = None,
        run_id: str | None = None,
        max_bytes: int | None = DEFAULT_MAX_BYTES,
    ) -> None:
        self.sas = sas
        self.seconds = clamp_seconds(seconds)
        self.clock = clock or SystemClock()
        self.max_streams = max(1, min(max_streams, MAX_STREAMS))
        self._store = store
        self._injected = store
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.meter = RateMeter()
        self.budget = ByteBudget(max_bytes)  # --max-bytes: the probe stops at this or `seconds`, whichever first
        self.payloads = Payloads()
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

    # -- store -----------------------------------------------------------------------------------
    def _open(self) -> BlobStore:
        if self._store is not None:
            return self._store
        from planner.azure import AzureBlobStore

        # One pooled connection per stream: the default pool (10) would open a fresh connection, with
        # its handshake and slow start, for every request beyond ten streams.
        # A request unanswered for the whole window tells the probe nothing more: give up on it then,
        # so a stalled connection cannot hold the command far past --seconds.
        self._store = AzureBlobStore(self.sas, pool=self.max_streams + 4,
                                     connection_timeout=min(10.0, max(3.0, self.seconds / 2)),
                                     read_timeout=max(5.0, self.seconds))
        return self._store

    @staticmethod
    def _fatal(exc: BaseException) -> MdplanError | None:
        """None for a failure worth trying again; the user's error otherwise (anything else is a bug)."""
        if isinstance(exc, MdplanError):
            return exc
        if isinstance(exc, StoreError):
            return None if exc.retryable else exc.error
        raise exc

    def _call(self, fn: Callable[[], Any]) -> Any:
        """Run one request; a transient failure gets one more try, then every failure is the user's line."""
        for attempt in (1, 2):
            try:
                return fn()
            except StoreError as exc:
                if attempt == 1 and exc.retryable:
                    self.clock.sleep(0.2)
                    continue
                raise exc.error from None
        raise AssertionError("unreachable")

    def _put(self, store: BlobStore, name: str, data: bytes, md5: bytes | None = None) -> None:
        store.put_blob(name, data, content_md5=md5 or hashlib.md5(data).digest(), content_type="text/plain",
                       overwrite=True)

    def _may_delete(self, store: BlobStore, name: str) -> bool:
        """Delete `name`: True when that worked, False when the URL lacks delete permission."""
        for attempt in (1, 2):
            try:
                store.delete_blob(name)
                return True
            except StoreError as exc:
                if exc.status == 403 and exc.code == "AuthorizationPermissionMismatch":
                    return False
                if attempt == 1 and exc.retryable:
                    self.clock.sleep(0.2)
                    continue
                raise exc.error from None
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
            # The byte budget may end the throughput part early: small files get their share, not the rest.
            per_file = self._per_file(client, min(streams, 8), min(deadline, clock.monotonic() + small_time), t0,
                                      report)
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
            bytes=self.budget.used,
            note=self._note(rate, streams, elapsed, left_marker),
            left_marker=left_marker,
            streams=streams,
            marker=self.marker if left_marker else None,
            max_bytes=self.budget.limit,
            stopped_by="bytes" if self.budget.spent else "time",
        )

    def _close(self, store: BlobStore) -> None:
        if store is not self._injected:
            try:
                store.close()
            except Exception:  # noqa: BLE001 - closing a pool never matters to the user
                pass

    def _precheck(self) -> None:
        from planner.azure import preflight

        preflight(self.sas, self.clock.now(), write=False)

    def _warm_up(self, client: BlobStore, t0: float, until: float, report: ProgressFn) -> tuple[list[float], float | None]:
        """Open the connection, decide how to clean up, time small requests, guess the link's speed."""
        clock = self.clock
        marker = self.marker
        body = self._marker_body()
        # The first request pays for DNS, TCP and TLS: it decides and warms up, it is not timed.
        start = clock.monotonic()
        self.budget.charge(len(body))
        self._call(lambda: self._put(client, marker, body))
        self.meter.end(-1, start, clock.monotonic(), len(body))
        if self.sas.can("d") is not False:  # a stored policy only tells by trying
            self.delete_mode = self._may_delete(client, marker)
        report(ProbeProgress("round trip", clock.monotonic() - t0, self.seconds))
        rtts: list[float] = []
        name = self._name("rtt")
        while len(rtts) < 5 and (len(rtts) < 2 or clock.monotonic() < until):
            start = clock.monotonic()
            self._call(lambda: self._put(client, name, b""))
            end = clock.monotonic()
            rtts.append(end - start)
            self.meter.end(-1, start, end, 0)
        # One 64 KiB request says roughly whether the link is a 1 Mbit/s or a 1 Gbit/s one, so the
        # first blocks are neither too big for the window nor all overhead.
        data, md5 = self.payloads.get(MIN_BLOCK, 0)
        self.budget.charge(len(data))
        start = clock.monotonic()
        self._call(lambda: self._put(client, name, data, md5))
        end = clock.monotonic()
        self.meter.end(-1, start, end, len(data))
        base = min(rtts) if rtts else 0.0
        hint = len(data) / max(end - start - base, 1e-4)
        return rtts, hint

    def _throughput(
        self, client: BlobStore, end: float, rtt_s: float | None, hint: float | None, t0: float, report: ProgressFn
    ) -> tuple[Rate | None, int]:
        clock = self.clock
        start = clock.monotonic()
        # Intervals sized to the part of the window the byte budget is likely to last (at the warm-up's
        # rough speed), so a fast link still sees a few levels before the budget ends.
        lasts = self.budget.seconds_left(hint)
        window = end - start if lasts is None else min(end - start, max(1.0, lasts))
        settings = RampSettings.for_window(window, rtt_s, max_streams=self.max_streams)
        ramp = Ramp(self.meter, settings, start=start, end=end, hint_bytes_per_second=hint)
        self.ramp = ramp
        run = self.run_id

        def work(stream: int, seq: int, block: int) -> int:
            # Block ids must all have the same length within a blob (the marker is shared by streams).
            data, md5 = self.payloads.get(block, seq)
            client.stage_block(self._name("b", stream), f"{run}-{stream:03d}-{seq:08d}", data, md5=md5)
            return block

        pool = StreamPool(work, self.meter, clock, end, self._fatal, self.budget)
        tick = min(0.1, settings.interval / 4)
        try:
            while not pool.failed:
                now = clock.monotonic()
                if now >= end or self.budget.spent:
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

    def _per_file(self, client: BlobStore, streams: int, deadline: float, t0: float, report: ProgressFn) -> float | None:
        """Mean time of an empty Put Blob with `streams` running at once: the fixed cost per file."""
        clock = self.clock
        if clock.monotonic() >= deadline:
            return None
        report(ProbeProgress("timing small files", clock.monotonic() - t0, self.seconds))
        meter = RateMeter()
        names = [self._name("f", i) for i in range(streams)]

        def work(stream: int, seq: int, block: int) -> int:
            self._put(client, names[stream], b"")
            return 0

        pool = StreamPool(work, meter, clock, deadline, self._fatal)
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

    def _clean_up(self, client: BlobStore) -> bool:
        """Delete the probe's blobs, or rewrite the one marker. True when a marker blob stays."""
        if not self.delete_mode:
            try:
                body = self._marker_body()
                self.budget.charge(len(body))
                self._put(client, self.marker, body)
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
        spent = self.budget.spent and self.budget.limit is not None
        longer = f"--max-bytes above {format_bytes(self.budget.limit or 0)}" if spent else "--seconds 30"
        if self.failures:
            words.append(f"Rough: {self.failures} test upload(s) failed on the way (the link or the service had "
                         "trouble), so the figure may read low; try again later.")
        elif enough:
            words.append(
                f"Good: measured to your container just now with {streams} parallel uploads in "
                f"{elapsed:.0f} s. It changes with the time of day and with other traffic on your link."
            )
        else:
            words.append(f"Rough: too few test uploads finished in {elapsed:.0f} s to measure the link well; "
                         f"run it again with {longer}.")
        if spent:
            words.append(f"The test stopped at its data budget ({format_bytes(self.budget.limit or 0)}, "
                         f"--max-bytes) after {elapsed:.1f} s.")
        if self.ramp is not None and self.ramp.limited:
            words.append(f"It was still rising at {streams} parallel uploads, so the link may be faster.")
        elif self.ramp is not None and self.ramp.cut_short:
            words.append(f"It was still rising when the test ended; {longer} may show a higher figure.")
        if self.sas.is_emulator:
            words.append("This is a local emulator, so the figure says nothing about your internet link.")
        if left_marker:
            words.append(f"This URL cannot delete, so one small file stays in the container: {self.marker}.")
        return " ".join(words)
