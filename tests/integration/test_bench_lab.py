"""The benchmark lab's own pieces: the delaying proxy does what it claims; the lab leaves nothing behind.

The proxy tests run on loopback without root. The namespace tests need root (they build real network
namespaces, veth pairs and tbf qdiscs) and are skipped with that reason otherwise.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from benchmarks.ceiling import send_stream, serve_sink
from benchmarks.lab import Link, cleanup_stale, is_root, leftovers
from benchmarks.proxy import DelayProxy, Endpoint

REPO = Path(__file__).resolve().parents[2]
needs_root = pytest.mark.skipif(not is_root(), reason="needs root to build network namespaces")


class EchoServer:
    """Echoes what it reads, on loopback, until the client half-closes."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    @staticmethod
    def _echo(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(65536):
                conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.sock.close()


class ProxyThread:
    """A DelayProxy running on its own event loop in a thread."""

    def __init__(self, target_port: int, delay_ms: float) -> None:
        self.loop = asyncio.new_event_loop()
        self.proxy = DelayProxy(Endpoint("127.0.0.1", 0), Endpoint("127.0.0.1", target_port),
                                up_delay=delay_ms / 1000, down_delay=delay_ms / 1000)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.port = asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop).result(5)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.proxy.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def echo():
    server = EchoServer()
    yield server
    server.close()


def _best_rtt(port: int, rounds: int = 5) -> float:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        best = float("inf")
        for _ in range(rounds):
            started = time.monotonic()
            sock.sendall(b"ping")
            got = b""
            while len(got) < 4:
                got += sock.recv(16)
            best = min(best, time.monotonic() - started)
        return best


def test_proxy_adds_the_round_trip_it_claims(echo):
    direct = _best_rtt(echo.port)
    proxy = ProxyThread(echo.port, delay_ms=40)  # 40 ms each way: 80 ms added round trip
    try:
        through = _best_rtt(proxy.port)
    finally:
        proxy.close()
    added = through - direct
    assert 0.080 <= added < 0.080 + 0.040, f"added round trip {added * 1000:.1f} ms, wanted 80 ms"


def test_proxy_with_no_delay_adds_next_to_nothing(echo):
    proxy = ProxyThread(echo.port, delay_ms=0)
    try:
        assert _best_rtt(proxy.port) < 0.020
    finally:
        proxy.close()


def test_proxy_delays_a_stream_without_capping_its_rate(echo):
    """16 MiB through a 50 ms-each-way line: a relay that slept per chunk would need >= 64 x 50 ms."""
    payload = os.urandom(16 * 1024 * 1024)
    proxy = ProxyThread(echo.port, delay_ms=50)
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            received = bytearray()

            def reader() -> None:
                while chunk := sock.recv(1 << 20):
                    received.extend(chunk)

            t = threading.Thread(target=reader)
            started = time.monotonic()
            t.start()
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)  # the half-close must travel through the proxy too
            t.join(10)
            took = time.monotonic() - started
    finally:
        proxy.close()
    assert bytes(received) == payload
    # A relay sleeping 50 ms per chunk of at most 256 KiB would need >= 64 x 2 x 50 ms = 6.4 s.
    assert 0.100 <= took < 2.5, f"16 MiB echoed in {took:.2f} s"


def test_ceiling_sink_counts_what_arrives_through_the_proxy():
    server_port: list[int] = []
    with socket.socket() as probe:  # pick a free port for the sink
        probe.bind(("127.0.0.1", 0))
        server_port.append(probe.getsockname()[1])
    sink = threading.Thread(target=serve_sink, args=("127.0.0.1", server_port[0]),
                            kwargs={"warmup": 0.1, "max_seconds": 5}, daemon=True)
    sink.start()
    time.sleep(0.2)
    proxy = ProxyThread(server_port[0], delay_ms=10)
    try:
        result = send_stream("127.0.0.1", proxy.port, seconds=0.6, timeout=10)
    finally:
        proxy.close()
    assert result.total_bytes > result.bytes > 0
    assert result.bits_per_second > 0


# --- namespaces (root) -------------------------------------------------------------------------------

def _qdiscs(dev: str, ns: str | None = None) -> str:
    prefix = ["ip", "netns", "exec", ns] if ns else []
    return subprocess.run(prefix + ["tc", "qdisc", "show", "dev", dev], capture_output=True, text=True).stdout


@needs_root
def test_link_shapes_both_directions_in_the_router_and_tears_down_completely():
    with Link(20, rtt_ms=10) as link:
        ns, router_ns, host_if = link.ns, link.router_ns, link.host_if
        now = leftovers()
        assert {ns, router_ns} <= set(now["namespaces"]) and host_if in now["links"]
        # The queue is the router's (a modem's), not in the sending host's own stack or the server's.
        assert "tbf" in _qdiscs(link.router_if, router_ns) and "20Mbit" in _qdiscs(link.router_if, router_ns)
        assert "tbf" in _qdiscs(link.gw_if, router_ns)
        assert "tbf" not in _qdiscs(host_if) and "tbf" not in _qdiscs(link.ns_if, ns)
        proxy_port = link.expose(9)  # a proxy process inside the namespace
        assert proxy_port > 0
    after = leftovers()
    assert ns not in after["namespaces"] and router_ns not in after["namespaces"]
    assert host_if not in after["links"]
    assert subprocess.run(["ip", "link", "show", host_if], capture_output=True).returncode != 0


@needs_root
def test_the_hosts_connections_into_the_lab_use_the_senders_congestion_control():
    """Issue 14's grids send as the field does (cubic: Windows, macOS and Linux out of the box), whatever this
    machine's default is (BBR here), through the route into the lab; nothing else on the machine changes."""
    import socket

    with Link(20, sender_cc="cubic") as link:
        sink, line = link.python("benchmarks.ceiling", "sink", "--listen", f"{link.ns_ip}:0", "--warmup", "0")
        port = int(line.rsplit(":", 1)[1])
        with socket.create_connection((link.ns_ip, port), timeout=10) as sock:
            sock.sendall(b"x" * 100_000)
            shown = subprocess.run(["ss", "-tin", "dst", link.ns_ip], capture_output=True, text=True).stdout
        route = subprocess.run(["ip", "route", "show", "dev", link.host_if], capture_output=True, text=True).stdout
    assert " cubic " in shown, shown
    assert "congctl cubic" in route and route.count("congctl") == 1, route


@needs_root
def test_one_tcp_stream_alone_fills_the_links_queue():
    """A modem lets one upload fill its queue (bufferbloat); the lab must too, or a single competing flow
    never raises the delay a polite upload reacts to. With the tbf on the host's own veth, TCP Small
    Queues held one cubic stream at ~50 ms of a 200 ms queue (issue 15); behind the router it fills it."""
    from benchmarks.polite_bench import Pinger, _pct

    with Link(20, latency_ms=200) as link:
        _, line = link.python("benchmarks.polite_bench", "echo", "--listen", f"{link.ns_ip}:0")
        pinger = Pinger(link.ns_ip, int(line.rsplit(":", 1)[1]))
        sink, line = link.python("benchmarks.ceiling", "sink", "--listen", "127.0.0.1:0", "--warmup", "1")
        port = link.expose(int(line.rsplit(":", 1)[1]), rtt_ms=0)
        try:
            started = time.monotonic()
            result = send_stream(link.ns_ip, port, seconds=5, congestion="cubic")
            rtts = pinger.samples(started + 2.0, time.monotonic())
        finally:
            pinger.close()
    assert result.bits_per_second > 0.9 * 20e6 * 1448 / 1514
    assert _pct(rtts, 0.5) > 0.120, f"round trip p50 {_pct(rtts, 0.5) * 1000:.0f} ms with a 200 ms queue"


@needs_root
def test_link_tears_down_when_the_body_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with Link(10) as link:
            ns, host_if = link.ns, link.host_if
            raise RuntimeError("boom")
    after = leftovers()
    assert ns not in after["namespaces"] and host_if not in after["links"]


@needs_root
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_link_tears_down_on_a_signal(sig):
    script = (
        "import time\n"
        "from benchmarks.lab import Link\n"
        "with Link(10, rtt_ms=20) as link:\n"
        "    link.expose(9)\n"
        "    print(link.ns, link.host_if, flush=True)\n"
        "    time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        ns, host_if = proc.stdout.readline().split()
        assert ns in leftovers()["namespaces"]
        proc.send_signal(sig)
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    after = leftovers()
    assert ns not in after["namespaces"] and host_if not in after["links"]
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
    assert pids == []


@needs_root
def test_cleanup_removes_a_killed_runs_lab_but_not_a_live_one():
    script = (
        "import time\n"
        "from benchmarks.lab import Link\n"
        "with Link(10) as link:\n"
        "    link.expose(9)\n"
        "    print(link.ns, link.host_if, flush=True)\n"
        "    time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        dead_ns, dead_if = proc.stdout.readline().split()
        proc.kill()  # kill -9: no teardown runs
        proc.wait(timeout=5)
        with Link(10) as live:
            assert dead_ns in leftovers()["namespaces"]
            removed = cleanup_stale()
            assert dead_ns in removed["namespaces"]
            assert live.ns not in removed["namespaces"]
            now = leftovers()
            assert live.ns in now["namespaces"] and live.host_if in now["links"]
            assert dead_ns not in now["namespaces"] and dead_if not in now["links"]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        cleanup_stale()


@needs_root
def test_the_labs_emulator_restarts_empty_behind_the_same_proxy():
    """Each tool of a comparison gets an empty emulator: in memory, Azurite slows with what it holds and stays
    slow after a container is deleted (rclone after mdplan's 2.5 GB ran at 55.9% and 75.5% of the ceiling,
    95% on a fresh one); the SAS URLs go through the same proxy port before and after."""
    from azure.storage.blob import ContainerClient

    from benchmarks.tools import LabStorage

    with Link(50) as link, LabStorage(link) as storage:
        before = storage.container("before")
        ContainerClient.from_container_url(before).upload_blob("a.jpg", b"x" * 1000)
        assert storage.blob_bytes(before) == (1, 1000)
        pid = storage.azurite.process.pid
        storage.restart()
        assert storage.azurite.process.pid != pid
        names = [c.name for c in storage.azurite.service_client().list_containers()]
        assert names == [], names  # nothing of the first emulator's
        after = storage.container("after")
        assert f":{storage.port}/" in after
        ContainerClient.from_container_url(after).upload_blob("b.jpg", b"y" * 10)
        assert storage.blob_bytes(after) == (1, 10)
