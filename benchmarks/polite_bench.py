"""Polite mode (issue 15): does `mdplan upload --polite` fill a free link, keep the queue short, and get out
of the way of another flow?

On a lab link with a deep tbf queue (20 Mbit/s, 200 ms of queue: bufferbloat as the field stations see
it), one run measures:

- the raw-TCP ceiling (one stream through the same tbf and proxy);
- idle round trip: UDP echoes through the link (ICMP ping is not on every machine; a UDP datagram waits
  in the same tbf queue), p50/p90 over a few seconds;
- alone: the default upload and the polite one, each over the same data: utilisation (bytes through
  the proxy while data flowed / that time / ceiling) and the echo round trip p50/p90 meanwhile;
- competing: a polite upload of a bigger set; a raw TCP stream (cubic) starts after a few seconds and
  runs for a while; its share of the ceiling; then how long until mdplan is back at >= 90% of the
  ceiling (1-second windows of the proxy's byte counts). The same for the default upload, for
  comparison, and once more for the polite upload with a stream using the machine's own default
  congestion control (BBR here), which does not fill the queue.

    python -m benchmarks polite           (as root; results in BENCHMARKS.md)
    python -m benchmarks.polite_bench echo --listen IP:0    (the UDP echo server the scenario starts)
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.ceiling import send_stream
from benchmarks.lab import REPO, Link
from benchmarks.runner import Context, Table, scenario
from benchmarks.tools import LabStorage, read_stats, sample_set

RATE_MBIT = 20.0
QUEUE_MS = 200.0  # tbf latency: how deep the modem's queue is
#: The competing stream's congestion control: cubic, the default of Linux, Windows and macOS, fills a
#: modem's queue; this machine's default may be BBR, which keeps its queue short whatever mdplan does.
COMPETING_CC = "cubic"
MEAN_BYTES = 500_000


def _data(ctx: Context):  # noqa: ANN202
    alone = sample_set(ctx, "polite-alone", files=20 if ctx.quick else 120, mean_bytes=MEAN_BYTES, seed=15)
    big = sample_set(ctx, "polite-compete", files=60 if ctx.quick else 160, mean_bytes=MEAN_BYTES, seed=16)
    return alone, big


# --- the UDP echo: a ping that needs no ICMP tools --------------------------------------------------
def serve_echo(host: str, port: int, max_seconds: float = 900.0) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    print(f"ready {host}:{sock.getsockname()[1]}", flush=True)
    sock.settimeout(1.0)
    end = time.monotonic() + max_seconds
    while time.monotonic() < end:
        try:
            data, addr = sock.recvfrom(64)
        except socket.timeout:
            continue
        sock.sendto(data, addr)


class Pinger:
    """Echoes every 100 ms in a thread; `samples(t0, t1)` gives the round trips (seconds) in a window."""

    def __init__(self, host: str, port: int) -> None:
        self.addr = (host, port)
        self.out: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.settimeout(2.0)
        n = 0
        while not self._stop.is_set():
            n += 1
            t = time.monotonic()
            sock.sendto(n.to_bytes(8, "big"), self.addr)
            try:
                while True:  # drop late answers to earlier echoes
                    data, _ = sock.recvfrom(64)
                    if int.from_bytes(data, "big") == n:
                        break
                self.out.append((t, time.monotonic() - t))
            except socket.timeout:
                self.out.append((t, 2.0))
            self._stop.wait(max(0.0, 0.1 - (time.monotonic() - t)))

    def samples(self, t0: float, t1: float) -> list[float]:
        return [r for t, r in self.out if t0 <= t <= t1]

    def close(self) -> None:
        self._stop.set()


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _ms(x: float) -> str:
    return f"{x * 1000:.0f} ms"


def _system_congestion() -> str:
    """The machine's default TCP congestion control (what a stream that asks for none gets)."""
    try:
        return Path("/proc/sys/net/ipv4/tcp_congestion_control").read_text().strip().upper()
    except OSError:
        return "system default"


# --- running mdplan (this checkout, not an installed one) -------------------------------------------
def _upload(root: Path, sas: str, home: Path, polite: bool) -> subprocess.Popen:
    env = dict(os.environ, MDPLAN_HOME=str(home), PYTHONPATH=str(REPO), COLUMNS="120")
    env.pop("MDPLAN_SAS", None)
    args = [sys.executable, "-m", "planner", "upload", str(root), sas, "--json", "--yes",
            "--report", str(home / "report.html")] + (["--polite"] if polite else [])
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True, cwd=home)


def _rate_series(stats: Path, t0: float, t1: float) -> list[tuple[float, float]]:
    """(window end, bytes/s) over 1-second windows of the proxy's upload byte counts."""
    pts = [(t, b) for t, b in read_stats(stats) if t0 <= t <= t1]
    out = []
    i = 0
    for j, (t, b) in enumerate(pts):
        while pts[i][0] < t - 1.0:
            i += 1
        if t - pts[i][0] >= 0.9:
            out.append((t, (b - pts[i][1]) / (t - pts[i][0])))
    return out


def _data_window(stats: Path, t0: float, t1: float, slack: int = 256 * 1024) -> tuple[float, float, int]:
    pts = [(t, b) for t, b in read_stats(stats) if t0 <= t <= t1]
    base, top = pts[0][1], pts[-1][1]
    first = next(t for t, b in pts if b - base > slack)
    last = next(t for t, b in pts if top - b <= slack)
    bytes_ = next(b for t, b in pts if t >= last) - next(b for t, b in pts if t >= first)
    return first, last, bytes_


def _alone(ctx: Context, storage: LabStorage, pinger: Pinger, root: Path, stats: Path, scratch: Path,
           polite: bool, ceiling: float) -> tuple[float, float, float]:
    home = scratch / ("alone-polite" if polite else "alone-default")
    home.mkdir()
    t0 = time.monotonic()
    proc = _upload(root, storage.container("p" if polite else "d"), home, polite)
    proc.wait(timeout=ctx.budget.timeout(300))
    t1 = time.monotonic()
    time.sleep(0.3)
    first, last, nbytes = _data_window(stats, t0, t1)
    rtts = pinger.samples(first + 1.0, last)  # after the first second (slow start), while data flowed
    return nbytes * 8 / (last - first) / ceiling, _pct(rtts, 0.5), _pct(rtts, 0.9)


def _compete(ctx: Context, link: Link, storage: LabStorage, pinger: Pinger, root: Path, stats: Path,
             scratch: Path, polite: bool, ceiling: float, *, lead: float = 8.0, run: float = 15.0,
             congestion: str | None = COMPETING_CC) -> tuple[float, float | None, float, float]:
    """(competing stream's share of the ceiling, seconds until mdplan is back at >= 90% after it stops,
    mdplan's share while the stream ran, round-trip p50 while it ran)."""
    home = scratch / f"compete-{'polite' if polite else 'default'}-{congestion or 'system'}"
    home.mkdir()
    sink, line = link.python("benchmarks.ceiling", "sink", "--listen", "127.0.0.1:0", "--warmup", "2")
    port = link.expose(int(line.rsplit(":", 1)[1]))
    proc = _upload(root, storage.container(("cp" if polite else "cd") + ("" if congestion else "s")), home, polite)
    try:
        time.sleep(lead)
        began = time.monotonic()
        result = send_stream(link.ns_ip, port, seconds=run, timeout=run + 30, congestion=congestion)
        stopped = time.monotonic()
        share = result.bits_per_second / (ceiling)
        proc.wait(timeout=ctx.budget.timeout(300))
    finally:
        sink.kill()
        if proc.poll() is None:
            proc.kill()
    end = time.monotonic()
    time.sleep(0.3)
    back = next((t - stopped for t, r in _rate_series(stats, stopped, end) if r * 8 >= 0.9 * ceiling), None)
    during = [r for t, r in _rate_series(stats, began + 2.0, stopped)]
    own = statistics.median(during) * 8 / ceiling if during else float("nan")
    return share, back, own, _pct(pinger.samples(began + 2.0, stopped), 0.5)


@scenario("polite", title="Polite mode: filling a free link, short queue, yielding to another flow", budget_s=420,
          prepare=_data,
          about=f"A {RATE_MBIT:g} Mbit/s tbf link with a {QUEUE_MS:g} ms queue (bufferbloat). Utilisation = "
                "bytes through the proxy while data flowed / that time / the raw-TCP ceiling; round trip = "
                "UDP echoes every 100 ms through the same queue; competing = one raw TCP stream "
                f"({COMPETING_CC}) started 8 s into the upload for 15 s, its rate (median of 0.5 s windows after 2 s) "
                "/ the ceiling; "
                "back = seconds after it stops until a 1 s window of mdplan's bytes is >= 90% of the ceiling.")
def polite(ctx: Context) -> Table:
    alone_data, big = _data(ctx)
    table = Table("Polite mode vs the default upload (same link, same run)",
                  ["Mode", "Utilisation alone", "Round trip p50 / p90 (idle: see note)", "p90 above idle",
                   "Competing TCP stream's share", "mdplan meanwhile", "Round trip p50 meanwhile",
                   "Back to >= 90% after it stops"])
    ctx.table = table
    with tempfile.TemporaryDirectory(prefix="mdplan-bench-") as tmp, \
            Link(RATE_MBIT, rtt_ms=0, latency_ms=QUEUE_MS) as link, \
            LabStorage(link, stats=Path(tmp) / "proxy-stats.txt") as storage:
        scratch = Path(tmp)
        stats = scratch / "proxy-stats.txt"
        ceiling = link.ceiling(5).bits_per_second
        _, line = link.python("benchmarks.polite_bench", "echo", "--listen", f"{link.ns_ip}:0")
        pinger = Pinger(link.ns_ip, int(line.rsplit(":", 1)[1]))
        time.sleep(3.0)
        idle = pinger.samples(0, time.monotonic())
        idle50, idle90 = _pct(idle, 0.5), _pct(idle, 0.9)
        for polite_mode in (False, True):
            util, p50, p90 = _alone(ctx, storage, pinger, alone_data.root, stats, scratch, polite_mode, ceiling)
            ctx.log(f"{'polite' if polite_mode else 'default'} alone: {util:.1%}, rtt p50 {p50 * 1000:.0f} ms p90 "
                    f"{p90 * 1000:.0f} ms")
            share, back, own, rtt_during = _compete(ctx, link, storage, pinger, big.root, stats, scratch,
                                                    polite_mode, ceiling)
            ctx.log(f"  competing share {share:.1%} (mdplan {own:.1%}, rtt p50 {rtt_during * 1000:.0f} ms), "
                    f"back after {back}")
            table.add("`--polite`" if polite_mode else "default", f"{util:.1%}", f"{_ms(p50)} / {_ms(p90)}",
                      _ms(p90 - idle90), f"{share:.1%}", f"{own:.1%}", _ms(rtt_during),
                      "-" if back is None else f"{back:.1f} s")
        system_cc = _system_congestion()
        share, back, own, rtt_during = _compete(ctx, link, storage, pinger, big.root, stats, scratch, True,
                                                ceiling, congestion=None)
        ctx.log(f"  polite vs a {system_cc} stream: share {share:.1%} (mdplan {own:.1%}, rtt p50 "
                f"{rtt_during * 1000:.0f} ms), back after {back}")
        table.add(f"`--polite`, competing stream {system_cc}", "(as above)", "", "", f"{share:.1%}", f"{own:.1%}",
                  _ms(rtt_during), "-" if back is None else f"{back:.1f} s")
        pinger.close()
        table.notes.append(f"Ceiling (raw TCP): {ceiling / 1e6:.1f} Mbit/s; idle round trip p50 / p90: "
                           f"{_ms(idle50)} / {_ms(idle90)}. Data: {alone_data.files} files "
                           f"({alone_data.bytes / 1e6:.0f} MB) alone, {big.files} files ({big.bytes / 1e6:.0f} MB) "
                           "competing.")
    return table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.polite_bench")
    ap.add_argument("mode", choices=["echo"])
    ap.add_argument("--listen", required=True)
    a = ap.parse_args(argv)
    host, _, port = a.listen.rpartition(":")
    serve_echo(host, int(port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
