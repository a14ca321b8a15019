"""`mdplan upload --monthly-cap` against Azurite, as a user runs it (issue 17): a job that fits goes at
once; when this month's allowance is already used (by an earlier job on this computer), nothing is
sent, the user is told plainly until when, and Ctrl-C stops cleanly with the resume hint keeping the cap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from planner.journal import Journal


def _tree(root: Path, n: int = 4) -> Path:
    for i in range(n):
        p = root / "site1" / f"IMG_{i:04d}.JPG"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(20_000))
    return root


def _env(tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "MDPLAN_HOME": str(tmp_path / "home")}
    env.pop("MDPLAN_SAS", None)
    return env


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "planner", "upload", *args]


def test_a_job_that_fits_the_allowance_goes_at_once(azurite, container, tmp_path):
    root = _tree(tmp_path / "f")
    p = subprocess.run(_cmd(str(root), azurite.container_sas_url(container), "--monthly-cap", "1TB", "--json",
                            "--report", str(tmp_path / "r")),
                       capture_output=True, text=True, env=_env(tmp_path), timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["files_sent"] == 4
    bad = subprocess.run(_cmd(str(root), azurite.container_sas_url(container), "--monthly-cap", "1kB"),
                         capture_output=True, text=True, env=_env(tmp_path), timeout=60, cwd=tmp_path)
    assert bad.returncode == 2 and "--monthly-cap" in bad.stderr and "Traceback" not in bad.stderr


def test_a_used_up_allowance_sends_nothing_and_says_until_when(azurite, container, tmp_path):
    home = tmp_path / "home"
    earlier = Journal.open(_tree(tmp_path / "earlier", 1), "http://127.0.0.1:1/acct", "acct", "other", "", home=home)
    earlier.add_telemetry({int(time.time()): [1_000_000_000, 1, 0, None, None]})  # 1 GB sent this month
    earlier.commit()
    earlier.close()
    root = _tree(tmp_path / "f")
    proc = subprocess.Popen(_cmd(str(root), azurite.container_sas_url(container), "--monthly-cap", "1GB",
                                 "--report", str(tmp_path / "r")),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(tmp_path),
                            cwd=tmp_path)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)
    reader.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("is used up" in line for line in lines):
        time.sleep(0.2)
    time.sleep(1.5)  # a little longer: still nothing goes
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    reader.join(timeout=5)
    text = "".join(lines)
    assert "This month's data cap of 1 GB is used up. Nothing more is sent until" in text, text
    assert proc.returncode == 130, text
    assert "--monthly-cap" in out + text  # the resume hint keeps the cap
    names = list(azurite.service_client().get_container_client(container).list_blobs())
    assert [b.name for b in names if not b.name.startswith(".mdplan/")] == []
