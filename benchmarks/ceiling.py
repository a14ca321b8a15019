"""The ceiling: how fast one raw TCP stream gets through a link, measured where the bytes land.

A sink runs inside the lab's namespace (behind the same delaying proxy that Azurite sits behind); the
sender on the host writes incompressible bytes for a fixed time, then half-closes; the sink counts what
arrived, drops the first `warmup` seconds (slow start and the tbf bucket's initial burst) and answers
with one JSON line. Counting at the receiver avoids crediting bytes that only reached a socket buffer.

    ip netns exec NS python -m benchmarks.ceiling sink --listen 127.0.0.1:0
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
from dataclasses import dataclass

READ = 256 * 1024


@dataclass(frozen=True)
class CeilingResult:
    bits_per_second: float  # median rate of the 0.5 s windows after the warm-up
    bytes: int  # bytes counted after the warm-up
    seconds: float  # the span those bytes arrived in
    total_bytes: int


def serve_sink(host: str, port: int, *, warmup: float, max_seconds: float = 120.0) -> None:
    """Accept connections one after another; each gets its own measurement and JSON answer."""
    with socket.create_server((host, port), backlog=8) as server:
        print(f"ready {host}:{server.getsockname()[1]}", flush=True)
        server.settimeout(max_seconds)
        deadline = time.monotonic() + 3600  # the lab kills us long before this; a bound all the same
        while time.monotonic() < deadline:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                return
            with conn:
                conn.settimeout(max_seconds)
                result = _measure(conn, warmup)
                conn.sendall((json.dumps(result.__dict__) + "\n").encode())


WINDOW = 0.5  # seconds per rate sample


def _measure(conn: socket.socket, warmup: float) -> CeilingResult:
    """Median of the rates over consecutive 0.5 s windows after the warm-up.

    Not simply bytes / span from a mark: tbf drops packets when its queue is full, and a window that
    starts while the receiver waits for a retransmission would be credited with the out-of-order bytes
    already buffered (seen: +6% on a 10 Mbit/s link). The median of many windows shrugs that off.
    """
    buf = bytearray(READ)
    total = 0
    samples: list[tuple[float, int]] = []
    while True:
        try:
            n = conn.recv_into(buf)
        except (TimeoutError, OSError):
            break
        if n == 0:
            break
        total += n
        samples.append((time.monotonic(), total))
    if len(samples) < 2:
        return CeilingResult(0.0, total, 0.0, total)
    first = samples[0][0]
    steady = [s for s in samples if s[0] - first >= warmup] or samples
    rates: list[float] = []
    t0, b0 = steady[0]
    for t, b in steady[1:]:
        if t - t0 >= WINDOW:
            rates.append((b - b0) * 8 / (t - t0))
            t0, b0 = t, b
    span = steady[-1][0] - steady[0][0]
    counted = steady[-1][1] - steady[0][1]
    if len(rates) < 3:  # too short for windows: plain average
        return CeilingResult(counted * 8 / span if span > 0 else 0.0, counted, span, total)
    return CeilingResult(statistics.median(rates), counted, span, total)


def send_stream(host: str, port: int, *, seconds: float, timeout: float = 60.0,
                congestion: str | None = None) -> CeilingResult:
    """Write for `seconds`, half-close, and return the sink's count (the figure that matters).

    `congestion` names the TCP congestion control for this socket (Linux, as root for one not in
    tcp_allowed_congestion_control), e.g. "cubic", the default of Linux, Windows and macOS senders,
    when the machine's own default (`sysctl net.ipv4.tcp_congestion_control`) is something else."""
    payload = os.urandom(READ)  # incompressible, in case anything on the path compresses
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        if congestion:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CONGESTION, congestion.encode())
        sock.connect((host, port))
        end = time.monotonic() + seconds
        view = memoryview(payload)
        while time.monotonic() < end:
            sock.sendall(view)
        sock.shutdown(socket.SHUT_WR)
        data = b""
        answer_by = time.monotonic() + timeout
        while not data.endswith(b"\n") and time.monotonic() < answer_by:
            part = sock.recv(4096)
            if not part:
                break
            data += part
    if not data.strip():
        raise RuntimeError("the ceiling sink closed without reporting a figure")
    return CeilingResult(**json.loads(data))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ceiling")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sink = sub.add_parser("sink", help="count bytes that arrive; answer with JSON on half-close")
    sink.add_argument("--listen", default="127.0.0.1:0")
    sink.add_argument("--warmup", type=float, default=1.0)
    send = sub.add_parser("send", help="send for N seconds to a sink and print its figure")
    send.add_argument("--to", required=True, help="HOST:PORT")
    send.add_argument("--seconds", type=float, default=8.0)
    args = parser.parse_args(argv)
    if args.cmd == "sink":
        host, _, port = args.listen.rpartition(":")
        try:
            serve_sink(host, int(port), warmup=args.warmup)
        except KeyboardInterrupt:
            pass
        return 0
    host, _, port = args.to.rpartition(":")
    result = send_stream(host, int(port), seconds=args.seconds)
    print(json.dumps(result.__dict__))
    return 0


if __name__ == "__main__":
    sys.exit(main())
