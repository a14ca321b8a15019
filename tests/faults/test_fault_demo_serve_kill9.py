"""`kill -9` of `mdplan demo --serve` takes the emulator with it (issue 13).

Seen on main: Azurite kept listening on its port after its parent was killed with SIGKILL (nothing in
mdplan runs after SIGKILL: only the kernel can stop the child, see planner/tether.py). Linux only: the
tether there is the kernel's parent-death signal; the test reads /proc to find the emulator's pid.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the tether tested here is Linux's")


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        current = todo.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_kill_9_of_demo_serve_stops_the_emulator(tmp_path: Path) -> None:
    env = dict(os.environ, MDPLAN_HOME=str(tmp_path / "home"))
    env.pop("MDPLAN_SAS", None)
    proc = subprocess.Popen([sys.executable, "-m", "planner", "demo", "--serve", "--files", "10",
                             "--workdir", str(tmp_path / "work")], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)
    children: set[int] = set()
    try:
        port = None
        for line in proc.stdout:
            if line.startswith("http://127.0.0.1:"):
                port = int(line.split(":")[2].split("/")[0])
                break
        assert port is not None, proc.stderr.read()
        assert _listening(port)
        children = _descendants(proc.pid)
        assert children, "the emulator should be a child of mdplan"

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        assert _until(lambda: not any(_alive(c) for c in children), timeout=20), "the emulator outlived mdplan"
        # its listening socket goes with the last process holding it; allow the kernel that moment (CI once
        # saw the port still answering right after the processes were gone), a leak still fails after 20 s
        assert _until(lambda: not _listening(port), timeout=20), "something still listens on the emulator's port"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for child in children:  # on failure, do not leave the emulator behind (our own children, by pid)
            if _alive(child):
                os.kill(child, signal.SIGKILL)
