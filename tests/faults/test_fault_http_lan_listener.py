"""Plain http to anything but this computer is refused before any connection (issue 13).

Seen on main: a listener on a LAN address received `PUT ...&sig=...` in clear. Here the LAN is a
network namespace this test creates, with a veth pair (both ends inside it; a `dummy` interface would do
but needs a kernel module this machine may lack) on a 10.213.x address; a listener there
records every byte it receives, mdplan runs inside the same namespace, and the listener must receive
nothing from it (a probe sent first proves the listener would have heard). Needs root; the namespace
is deleted afterwards whatever happens.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to create a network namespace"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs the `ip` command (iproute2)"),
]

ADDRESS = "10.213.251.2"  # inside the test's own namespace: nothing on the host is touched
SECRET = "Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MA%3D%3D"
LISTENER = r"""
import json, select, socket, sys
srv = socket.socket(); srv.bind((sys.argv[1], 0)); srv.listen(16); srv.setblocking(False)
print("ready", srv.getsockname()[1], flush=True)
got = []
def drain():
    while True:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            return
        conn.settimeout(3); data = b""
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        got.append(data.decode("latin-1")); conn.close()
while True:
    ready, _, _ = select.select([srv, sys.stdin], [], [])
    if srv in ready:
        drain()
    if sys.stdin in ready and not sys.stdin.readline():
        break
drain()
print(json.dumps(got), flush=True)
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def lan() -> Iterator[str]:
    """A namespace with loopback up and a veth pair inside it, one end holding ADDRESS; yields its name."""
    ns = f"mdplan-t-http-{os.getpid()}-{secrets.token_hex(2)}"
    _ip("netns", "add", ns)
    try:
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", ns, "link", "add", "mdlan0", "type", "veth", "peer", "name", "mdlan1")
        _ip("-n", ns, "addr", "add", f"{ADDRESS}/24", "dev", "mdlan0")
        _ip("-n", ns, "link", "set", "mdlan0", "up")
        _ip("-n", ns, "link", "set", "mdlan1", "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)
    assert ns not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def _in_ns(ns: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", ns, *argv]


def _env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ, MDPLAN_HOME=str(tmp_path / "home"), COLUMNS="200")
    for name in ("MDPLAN_SAS", "MDPLAN_INSECURE_HTTP_HOSTS", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize("command", ["check", "upload", "bandwidth"])
def test_plain_http_to_a_lan_address_sends_nothing(lan: str, command: str, tmp_path: Path) -> None:
    listener = subprocess.Popen(_in_ns(lan, [sys.executable, "-c", LISTENER, ADDRESS]), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    try:
        ready = listener.stdout.readline().split()
        assert ready[:1] == ["ready"], ready
        port = int(ready[1])
        probe = f"import socket; s = socket.create_connection(('{ADDRESS}', {port}), 5); s.sendall(b'probe'); s.close()"
        subprocess.run(_in_ns(lan, [sys.executable, "-c", probe]), check=True, timeout=30)

        url = f"http://{ADDRESS}:{port}/devstoreaccount1/cams?sv=2022-11-02&sr=c&sp=racwl&se=2030-01-01&sig={SECRET}"
        folder = tmp_path / "set"
        (folder / "cam1").mkdir(parents=True)
        (folder / "cam1" / "IMG_0001.JPG").write_bytes(b"\xff\xd8" + b"x" * 2000 + b"\xff\xd9")
        args = {"check": ["check", url], "upload": ["upload", str(folder), url, "--yes"],
                "bandwidth": ["bandwidth", url, "--seconds", "2"]}[command]
        ran = subprocess.run(_in_ns(lan, [sys.executable, "-m", "planner", *args]), capture_output=True, text=True,
                             env=_env(tmp_path), timeout=120, cwd=tmp_path)
        listener.stdin.close()
        heard = json.loads(listener.stdout.readline())
        listener.wait(timeout=30)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.wait()
    assert heard[:1] == ["probe"]  # the listener was there and heard what reached it
    assert heard == ["probe"], f"mdplan sent {heard[1:]!r}"
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "unencrypted" in ran.stderr and ran.stderr.count("\n") == 1
    assert SECRET[:12] not in ran.stdout + ran.stderr
