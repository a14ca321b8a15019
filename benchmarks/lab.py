"""The shaped-link lab: a network namespace behind a veth pair, a tbf-shaped uplink, a delaying proxy.

    with Link(rate_mbit=50, rtt_ms=100) as link:
        port = link.expose(10000)          # proxy on the namespace's address, forwarding to :10000 inside
        ceiling = link.ceiling(seconds=8)  # raw TCP through the same tbf + proxy path
        link.spawn([...])                  # a process inside the namespace (Azurite, a sink)

Layout (X is a random free /24 in 10.213.0.0/16, checked against every address and route on the host;
split in two /25s):

    host  mdb<id>h .1  ----  .2 mdb<id>g  [router ns mdplan-bench-<id>r-<pid>]  mdb<id>r .129  --tbf rate R-->
                                          (ip_forward on)                                     <--tbf rate R--
          mdb<id>n .130  namespace mdplan-bench-<id>-<pid>: proxy -> 127.0.0.1:service (Azurite, sinks)

Host -> namespace is the upload direction (Azurite lives in the namespace). Both directions are shaped
by tbf in the router namespace (upload on the router's server-side veth, the reverse on its host-side
veth; a symmetric link unless told otherwise), like a modem: the sender's kernel hands packets over
at the router's IP input, which detaches them from the sending socket. With the tbf on the host's own
veth (until issue 15's measurements) every packet waiting in it was still charged to the sending socket,
so TCP Small Queues kept one stream's share of the queue to a few packets: a single flow could not fill
the 200 ms queue a modem lets it fill, while a tool with many connections could. Only addresses inside
namespaces this module created are ever targets.

Teardown always runs: on leaving the `with`, on an exception, on Ctrl-C (KeyboardInterrupt unwinds the
`with`), on SIGTERM/SIGHUP (turned into SystemExit so the same path runs) and at interpreter exit
(atexit) for anything still standing. It kills the processes the lab started, deletes the veth pairs
and both namespaces, and waits until all are gone. `python -m benchmarks.lab --cleanup` removes what a
`kill -9`'d run left (only names with this module's prefix whose creating process is gone).
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Sequence

from benchmarks.ceiling import CeilingResult, send_stream

NS_PREFIX = "mdplan-bench-"
IF_PREFIX = "mdb"
REPO = Path(__file__).resolve().parent.parent
BENCH_PYTHON = sys.executable


FIELD_CC = "cubic"
"""The congestion control of the field's senders (Windows, macOS and Linux out of the box); this VM's own
default is BBR, which keeps sending into a full shallow queue (a quarter of the packets dropped with a dozen
connections at 10 Mbit/s behind a 50 ms queue), so the issue-14 grids use this (`Link(sender_cc=...)`)."""


class NeedsRoot(RuntimeError):
    """The lab builds namespaces and qdiscs: only root may."""


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def have_tools() -> list[str]:
    """Missing commands the lab needs ([] when all are there)."""
    return [tool for tool in ("ip", "tc") if shutil.which(tool) is None]


def run(cmd: Sequence[str], *, check: bool = True, timeout: float = 20.0) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def _host_networks() -> list[ipaddress.IPv4Network]:
    """Every IPv4 network the host already has an address or a route in."""
    nets: list[ipaddress.IPv4Network] = []
    for cmd in (["ip", "-4", "-o", "addr", "show"], ["ip", "-4", "route", "show", "table", "all"]):
        out = run(cmd, check=False).stdout
        for line in out.splitlines():
            for word in line.split():
                if "/" in word or word[:1].isdigit():
                    try:
                        nets.append(ipaddress.ip_network(word, strict=False))
                    except ValueError:
                        continue
    return [n for n in nets if isinstance(n, ipaddress.IPv4Network) and n.prefixlen > 0]


def pick_subnet(rng: random.Random | None = None, tries: int = 200) -> ipaddress.IPv4Network:
    """A 10.213.X.0/24 that overlaps nothing on the host."""
    rng = rng or random.Random()
    taken = _host_networks()
    for _ in range(tries):
        candidate = ipaddress.ip_network(f"10.213.{rng.randrange(1, 255)}.0/24")
        if not any(candidate.overlaps(n) for n in taken):
            return candidate
    raise RuntimeError("no free 10.213.X.0/24 subnet for the lab")


def leftovers() -> dict[str, list[str]]:
    """Namespaces and interfaces with the lab's names that exist right now."""
    ns = [line.split()[0] for line in run(["ip", "netns", "list"], check=False).stdout.splitlines()
          if line.startswith(NS_PREFIX)]
    links = []
    for line in run(["ip", "-o", "link", "show"], check=False).stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            name = parts[1].strip().split("@")[0]
            if name.startswith(IF_PREFIX) and len(name) == len(IF_PREFIX) + 7 and name[-1] in "hn":
                links.append(name)
    return {"namespaces": ns, "links": links}


def _owner_alive(ns: str) -> bool:
    """Namespaces are named NS_PREFIX + id + '-' + the creating process id: is that process alive?"""
    tail = ns.rsplit("-", 1)[-1]
    if not tail.isdigit():
        return True  # not a name this version makes: leave it alone
    try:
        os.kill(int(tail), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cleanup_stale() -> dict[str, list[str]]:
    """Remove what a killed run left behind: only the lab's own names, and only those whose creating
    process is gone (another run, or another person's benchmark, may be using the lab right now)."""
    found = leftovers()
    removed: dict[str, list[str]] = {"namespaces": [], "links": []}
    for ns in found["namespaces"]:
        if _owner_alive(ns):
            continue
        _kill_namespace_pids(ns)
        run(["ip", "netns", "del", ns], check=False)
        removed["namespaces"].append(ns)
    # "<id>-<pid>" (the server side) and "<id>r-<pid>" (the router): the id is hex, never ends in "r".
    live_ids = {ns[len(NS_PREFIX):].split("-", 1)[0].rstrip("r") for ns in leftovers()["namespaces"]}
    for name in found["links"]:
        if name[len(IF_PREFIX):-1] not in live_ids:  # a veth whose namespace is gone or never was
            run(["ip", "link", "del", name], check=False)
            removed["links"].append(name)
    return removed


def _kill_namespace_pids(ns: str) -> None:
    """Processes inside a lab namespace are the lab's own (it created the namespace)."""
    out = run(["ip", "netns", "pids", ns], check=False).stdout
    pids = [int(p) for p in out.split() if p.isdigit()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = []
        for pid in pids:
            try:
                os.kill(pid, sig)
                alive.append(pid)
            except ProcessLookupError:
                pass
        if not alive:
            return
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(_alive(p) for p in alive):
            time.sleep(0.05)
        pids = [p for p in alive if _alive(p)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child still answers kill(0); reap it if it is ours.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


_ACTIVE: set["Link"] = set()
_ACTIVE_LOCK = threading.Lock()
_HANDLERS_INSTALLED = False


def _teardown_all() -> None:
    with _ACTIVE_LOCK:
        links = list(_ACTIVE)
    for link in links:
        link.close()


def _install_handlers() -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C does, so every `with Link` tears down; atexit as the net."""
    global _HANDLERS_INSTALLED
    if _HANDLERS_INSTALLED:
        return
    _HANDLERS_INSTALLED = True
    atexit.register(_teardown_all)
    if threading.current_thread() is not threading.main_thread():
        return

    def _exit(signum, _frame):  # noqa: ANN001
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _exit)


class Link:
    """A namespace reached through a router namespace whose link to it is shaped to `rate_mbit`
    (None = unshaped), plus `rtt_ms` of added round trip through the delaying proxy (half each way)."""

    def __init__(self, rate_mbit: float | None = None, *, rtt_ms: float = 0.0,
                 reverse_mbit: float | None | str = "same", latency_ms: float = 50.0,
                 burst_bytes: int | None = None, sender_cc: str | None = None) -> None:
        if not is_root():
            raise NeedsRoot("skipped: needs root")
        missing = have_tools()
        if missing:
            raise RuntimeError(f"the lab needs {', '.join(missing)} (Debian: apt-get install iproute2)")
        self.rate_mbit = rate_mbit
        self.reverse_mbit = rate_mbit if reverse_mbit == "same" else reverse_mbit
        self.rtt_ms = float(rtt_ms)
        self.latency_ms = latency_ms
        self.burst_bytes = burst_bytes
        self.sender_cc = sender_cc  # TCP congestion control of the host's connections into the lab (its route's)
        self.id = secrets.token_hex(3)
        self.ns = f"{NS_PREFIX}{self.id}-{os.getpid()}"  # the pid tells cleanup_stale whose it is
        self.router_ns = f"{NS_PREFIX}{self.id}r-{os.getpid()}"
        self.host_if = f"{IF_PREFIX}{self.id}h"  # veth names: at most 15 characters
        self.gw_if = f"{IF_PREFIX}{self.id}g"  # the router's host side (tbf: the download direction)
        self.router_if = f"{IF_PREFIX}{self.id}r"  # the router's server side (tbf: the upload direction)
        self.ns_if = f"{IF_PREFIX}{self.id}n"
        self.subnet: ipaddress.IPv4Network | None = None
        self.host_ip = self.gw_ip = self.router_ip = self.ns_ip = ""
        self._procs: list[subprocess.Popen] = []
        self._closed = False
        self._up = False

    # --- life cycle -------------------------------------------------------------------------------
    def __enter__(self) -> Link:
        _install_handlers()
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.close()

    def _build(self) -> None:
        self.subnet = pick_subnet()
        near, far = self.subnet.subnets(prefixlen_diff=1)  # host <-> router, router <-> server
        (self.host_ip, self.gw_ip), (self.router_ip, self.ns_ip) = (
            [str(ip) for ip in list(half.hosts())[:2]] for half in (near, far))
        run(["ip", "netns", "add", self.router_ns])
        run(["ip", "netns", "add", self.ns])
        self._up = True
        run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.gw_if, "netns", self.router_ns])
        run(["ip", "link", "add", self.router_if, "netns", self.router_ns, "type", "veth",
             "peer", "name", self.ns_if, "netns", self.ns])
        run(["ip", "addr", "add", f"{self.host_ip}/{near.prefixlen}", "dev", self.host_if])
        run(["ip", "link", "set", self.host_if, "up"])
        # A route's own congestion control: the host's connections into the lab (mdplan, rclone, the ceiling's
        # stream) use `sender_cc` whatever the machine's default is (this VM's is BBR; the field's senders,
        # Windows, macOS and Linux out of the box, use cubic), and nothing else on the machine is touched.
        congctl = ["congctl", self.sender_cc] if self.sender_cc else []
        run(["ip", "route", "add", str(far), "via", self.gw_ip, "dev", self.host_if, *congctl])
        # The server sees the whole /24 on its link (the router answers ARP for the host's half): a
        # route via the router would vanish for good when the interface is set down (outage tests).
        self.ns_run(["ip", "addr", "add", f"{self.ns_ip}/{self.subnet.prefixlen}", "dev", self.ns_if])
        self.ns_run(["ip", "link", "set", self.ns_if, "up"])
        self.ns_run(["ip", "link", "set", "lo", "up"])
        self._build_router(near.prefixlen)
        self.set_rate(self.rate_mbit, self.reverse_mbit)

    def _build_router(self, plen: int) -> None:
        self.router_run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1", f"net.ipv4.conf.{self.router_if}.proxy_arp=1",
                         f"net.ipv4.neigh.{self.router_if}.proxy_delay=0"])
        for dev, ip in ((self.gw_if, self.gw_ip), (self.router_if, self.router_ip)):
            self.router_run(["ip", "addr", "add", f"{ip}/{plen}", "dev", dev])
            self.router_run(["ip", "link", "set", dev, "up"])
        # A fixed neighbour entry: while the server's side is down the router drops packets silently,
        # as a modem whose link is gone does, instead of answering "host unreachable" after failed ARP.
        mac = self.ns_run(["ip", "-br", "link", "show", "dev", self.ns_if]).stdout.split()[2]
        self.router_run(["ip", "neigh", "replace", self.ns_ip, "lladdr", mac, "dev", self.router_if,
                         "nud", "permanent"])

    def _tbf(self, mbit: float) -> list[str]:
        rate_bytes = mbit * 1e6 / 8
        # The bucket must hold at least one timer tick of traffic or tbf cannot reach its rate; a
        # few ms' worth keeps any 5-second window honest (a 200 Mbit/s link bursts 125 kB at most).
        burst = self.burst_bytes or max(64 * 1024, int(rate_bytes * 0.005))
        return ["tbf", "rate", f"{mbit:g}mbit", "burst", str(burst), "latency", f"{self.latency_ms:g}ms"]

    def set_rate(self, up_mbit: float | None, down_mbit: float | None | str = "same") -> None:
        """Change the shaping in place (None = unshaped)."""
        down = up_mbit if down_mbit == "same" else down_mbit
        for dev, mbit in ((self.router_if, up_mbit), (self.gw_if, down)):
            self.router_run(["tc", "qdisc", "del", "dev", dev, "root"], check=False)
            if mbit:
                self.router_run(["tc", "qdisc", "add", "dev", dev, "root"] + self._tbf(float(mbit)))
        self.rate_mbit, self.reverse_mbit = up_mbit, down

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for proc in self._procs:
            _stop(proc)
        if self._up:
            _kill_namespace_pids(self.ns)
            run(["ip", "link", "del", self.host_if], check=False)
            run(["ip", "netns", "del", self.ns], check=False)
            run(["ip", "netns", "del", self.router_ns], check=False)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                now = leftovers()
                if not {self.ns, self.router_ns} & set(now["namespaces"]) and self.host_if not in now["links"]:
                    break
                time.sleep(0.1)
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)

    # --- inside the namespace ---------------------------------------------------------------------
    def _ns_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.ns]

    @property
    def command_prefix(self) -> list[str]:
        """Prepend to a command to run it inside the namespace (planner.emulator takes this)."""
        return self._ns_prefix()

    def ns_run(self, cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
        return run(self._ns_prefix() + list(cmd), **kw)

    def router_run(self, cmd: Sequence[str], **kw) -> subprocess.CompletedProcess:  # noqa: ANN003
        """A command in the router namespace (where the tbf queues are)."""
        return run(["ip", "netns", "exec", self.router_ns] + list(cmd), **kw)

    def spawn(self, argv: Sequence[str], *, ready_timeout: float = 20.0, wait_ready: bool = True,
              **popen_kw) -> tuple[subprocess.Popen, str]:  # noqa: ANN003
        """Start a process inside the namespace; with wait_ready, wait for its `ready ...` line and
        return it (our proxy and sink print one once they listen)."""
        env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = subprocess.Popen(self._ns_prefix() + list(argv), stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, cwd=REPO, env=env,
                                start_new_session=True, **popen_kw)
        self._procs.append(proc)
        if not wait_ready:
            return proc, ""
        line = _read_line(proc, ready_timeout)
        if not line.startswith("ready"):
            _stop(proc)
            raise RuntimeError(f"{argv[0]} did not start in the lab namespace (said {line!r})")
        return proc, line

    def python(self, module: str, *args: str) -> tuple[subprocess.Popen, str]:
        return self.spawn([BENCH_PYTHON, "-m", module, *args])

    def expose(self, target_port: int, *, target_host: str = "127.0.0.1", rtt_ms: float | None = None,
               stats: Path | None = None) -> int:
        """A delaying proxy on the namespace's address in front of `target_host:target_port`
        (inside the namespace). Returns the port to use from the host, at `self.ns_ip`. With `stats`,
        the proxy appends `time up_bytes down_bytes` lines to that file ten times a second."""
        rtt = self.rtt_ms if rtt_ms is None else rtt_ms
        extra = ["--stats", str(stats)] if stats else []
        _, line = self.python("benchmarks.proxy", "--listen", f"{self.ns_ip}:0",
                              "--target", f"{target_host}:{target_port}", "--delay-ms", f"{rtt / 2:g}", *extra)
        return int(line.rsplit(":", 1)[1])

    def ceiling(self, seconds: float = 8.0, *, warmup: float = 1.5) -> CeilingResult:
        """One raw TCP stream from the host through the tbf link and a delaying proxy to a sink."""
        sink, line = self.python("benchmarks.ceiling", "sink", "--listen", "127.0.0.1:0",
                                 "--warmup", f"{warmup:g}")
        try:
            port = self.expose(int(line.rsplit(":", 1)[1]))
            return send_stream(self.ns_ip, port, seconds=seconds, timeout=seconds + 30)
        finally:
            _stop(sink)

    def __repr__(self) -> str:
        rate = f"{self.rate_mbit:g} Mbit/s" if self.rate_mbit else "unshaped"
        return f"Link({rate}, +{self.rtt_ms:g} ms RTT, {self.ns}, {self.host_ip}->{self.ns_ip})"


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    """First stdout line of `proc`, or '' after `timeout` seconds or if it exits first."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return result[0].strip() if result else ""


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process the lab started, and its children (it leads its own session)."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.lab",
                                     description="Shaped-link lab: check, measure a ceiling, or clean up.")
    parser.add_argument("--cleanup", action="store_true", help="remove namespaces/veths a killed run left")
    parser.add_argument("--rate-mbit", type=float, default=50.0)
    parser.add_argument("--rtt-ms", type=float, default=0.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args(argv)
    if not is_root():
        print("skipped: needs root")
        return 0
    if args.cleanup:
        removed = cleanup_stale()
        print(f"removed {len(removed['namespaces'])} namespace(s), {len(removed['links'])} link(s)")
        return 0
    with Link(args.rate_mbit, rtt_ms=args.rtt_ms) as link:
        result = link.ceiling(args.seconds)
        print(f"{link!r}: raw TCP {result.bits_per_second / 1e6:.2f} Mbit/s over {result.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
