"""The rough probe: speedtest-cli's upload test to a nearby speedtest.net server (or a known one).

speedtest-cli (secure=True) is archived, often refused, and known to read 30-50% off; every way it
fails becomes one clear line (no internet, no server, refused) with the way on (`NEXT_STEP`).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from planner.clock import Clock, SystemClock
from planner.errors import MdplanError, NetworkUnreachable
from planner.probe.result import (DEFAULT_MAX_BYTES, DEFAULT_SECONDS, NEXT_STEP, Measurement, Method, ProbeProgress, ProgressFn,
                                  clamp_seconds)
from planner.redact import redact


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


def requests_within(config: dict[str, Any], max_bytes: int | None) -> int:
    """How many of speedtest-cli's upload requests fit in `max_bytes` (at least one).

    speedtest-cli sends each size in `sizes.upload` `counts.upload` times, in that order, and stops at
    `upload_max` requests (or at `length.upload` seconds); capping `upload_max` caps the bytes.
    """
    sizes = [int(size) for size in config["sizes"]["upload"] for _ in range(int(config["counts"]["upload"]))]
    limit = int(config.get("upload_max", len(sizes)))
    if max_bytes is None:
        return limit
    total, fits = 0, 0
    for size in sizes[:limit]:
        if total + size > max_bytes:
            break
        total += size
        fits += 1
    return max(1, fits)


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
        max_bytes: int | None = DEFAULT_MAX_BYTES,
    ) -> None:
        self.seconds = clamp_seconds(seconds)
        self.max_bytes = max_bytes
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
            allowed = requests_within(st.config, self.max_bytes)
            capped = allowed < int(st.config.get("upload_max", allowed))
            st.config["upload_max"] = allowed
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
            max_bytes=self.max_bytes,
            stopped_by="bytes" if capped and self.max_bytes and sent >= 0.9 * self.max_bytes else "time",
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


