"""`mdplan upload --polite` against a real Azurite (issue 15): the upload completes, the rate it chose is
in the journal's telemetry (the report's cap line), and a rising round trip slows it down."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from planner.clock import SystemClock
from planner.sas import parse_sas_url
from planner.transfer.pacing import connect_probe
from planner.upload import UploadOptions, run


def make_tree(root: Path, n: int, size: int) -> Path:
    for i in range(n):
        p = root / f"site{i % 2}" / f"IMG_{i:04d}.JPG"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(size))
    return root


def chosen_rates(home: Path) -> list[float]:
    (journal,) = [p for p in home.rglob("*.sqlite") if "registry" not in p.name] or list(home.rglob("*.db"))
    with sqlite3.connect(journal) as db:
        return [r[0] for r in db.execute("SELECT cap_bps FROM telemetry WHERE cap_bps IS NOT NULL")]


def test_polite_upload_finishes_and_records_the_rate_it_chose(azurite, container, tmp_path):
    root = make_tree(tmp_path / "f", 30, 100_000)
    home = tmp_path / "h"
    res, _ = run(UploadOptions(source=root, sas=parse_sas_url(azurite.container_sas_url(container)), home=home,
                               polite=True))
    assert res.exit_code == 0 and res.files_sent == 30
    names = {b.name for b in azurite.service_client().get_container_client(container).list_blobs()}
    assert len(names) == 30
    assert chosen_rates(home)  # the chosen rate is drawn as the cap line in the report


def test_a_rising_round_trip_slows_a_polite_upload(azurite, container, tmp_path):
    """The probe is the seam: 1 ms at first, 300 ms from 0.5 s to 2.5 s (someone else filled the queue),
    then 1 ms again (they stopped): mdplan backs off to near its floor, then takes the link back."""
    start = time.monotonic()

    def probe() -> float:
        return 0.300 if 0.5 <= time.monotonic() - start < 2.5 else 0.001
    root = make_tree(tmp_path / "f", 40, 50_000)  # 2 MB: well under a second unthrottled on Azurite
    res, _ = run(UploadOptions(source=root, sas=parse_sas_url(azurite.container_sas_url(container)),
                               home=tmp_path / "h", polite=True, rtt_probe=probe, workers=2))
    elapsed = time.monotonic() - start
    assert res.exit_code == 0 and res.files_sent == 40
    rates = chosen_rates(tmp_path / "h")
    assert min(rates) <= 64 * 1024 * 8  # it backed off to near the floor (32 KiB/s)
    assert 2.0 < elapsed < 30


def test_the_round_trip_probe_times_a_handshake_and_a_refusal_is_no_sample():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    try:
        rtt = connect_probe(f"http://127.0.0.1:{port}/devstoreaccount1", clock=SystemClock())()
        assert rtt is not None and 0 <= rtt < 1.0
    finally:
        server.close()
    assert connect_probe(f"http://127.0.0.1:{port}/x", clock=SystemClock())() is None


def test_cli_polite_flag_runs_and_the_resume_hint_keeps_it(azurite, container, tmp_path):
    root = make_tree(tmp_path / "f", 4, 10_000)
    env = {**os.environ, "MDPLAN_HOME": str(tmp_path / "home")}
    env.pop("MDPLAN_SAS", None)
    p = subprocess.run([sys.executable, "-m", "planner", "upload", str(root), azurite.container_sas_url(container),
                        "--polite", "--json", "--report", str(tmp_path / "r")], capture_output=True, text=True,
                       env=env, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["files_sent"] == 4
    from planner.transfer.options import resume_command

    assert resume_command(UploadOptions(source=root, sas=None, polite=True)).endswith("--polite")  # type: ignore[arg-type]
