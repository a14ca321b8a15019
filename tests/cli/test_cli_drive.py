"""`mdplan drive` as a user runs it, and `estimate` using the drive speed a copy measured (issue 16)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from planner.journal.rates import remember_drive_rates
from planner.sample import generate_sample_set


def mdplan(*args, home):
    env = dict(os.environ, MDPLAN_HOME=str(home))
    env.pop("MDPLAN_SAS", None)
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, env=env,
                          timeout=120)


def test_copy_then_check_with_json_and_exit_codes(tmp_path):
    s = generate_sample_set(tmp_path / "set", files=30, mean_bytes=5_000, seed=2)
    p = mdplan("drive", "copy", str(s.root), str(tmp_path / "drive" / "bag"), "--json", home=tmp_path / "h")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["outcome"] == "finished" and d["files_on_drive"] == d["files_total"] and d["drive_no"] == 1
    assert d["report_path"].endswith(".html") and os.path.exists(d["manifest_path"])
    assert mdplan("drive", "check", str(tmp_path / "drive" / "bag"), home=tmp_path / "h").returncode == 0
    p = mdplan("drive", "check", str(s.root), home=tmp_path / "h")
    assert p.returncode == 2 and "not a BagIt bag" in p.stderr and "Traceback" not in p.stderr


def test_estimate_uses_the_measured_drive_speed_and_points_to_the_drive_commands(tmp_path):
    s = generate_sample_set(tmp_path / "set", files=20, mean_bytes=5_000, seed=3)
    with open(s.root / "long.mp4", "wb") as f:  # sparse: 2 GB that take no disk, months at 1 kbit/s
        f.truncate(2 * 10**9)
    remember_drive_rates(12_345_678.0, 20e6, 90e6, home=tmp_path / "h")
    p = mdplan("estimate", str(s.root), "--bandwidth", "1kbps", "--drive-size", "1GB", home=tmp_path / "h")
    assert p.returncode == 0, p.stderr
    assert "12.3 MB/s as measured by your last `mdplan drive copy`" in p.stdout
    assert "mdplan drive copy" in p.stdout and "Mailing drives" in p.stdout
    p = mdplan("estimate", str(s.root), "--bandwidth", "1kbps", "--drive-speed", "30MB/s", home=tmp_path / "h")
    assert "30 MB/s" in p.stdout and "as measured" not in p.stdout


def test_estimate_samples_the_folder_when_no_drive_copy_was_measured(tmp_path):
    s = generate_sample_set(tmp_path / "set", files=40, mean_bytes=20_000, seed=4)
    p = mdplan("estimate", str(s.root), "--bandwidth", "1kbps", home=tmp_path / "fresh")
    assert p.returncode == 0, p.stderr
    line = next(x for x in p.stdout.splitlines() if x.startswith("Mail a drive"))
    assert "in a short sample" in line or "the source sets the pace" in line, line
    assert "as measured" not in line


def test_jobs_lists_drive_jobs_too(tmp_path):
    s = generate_sample_set(tmp_path / "set", files=12, mean_bytes=4_000, seed=5)
    h = tmp_path / "h"
    p = mdplan("jobs", home=h)
    assert "No drive jobs" not in p.stdout  # nothing to say about drives before any drive copy
    assert mdplan("drive", "copy", str(s.root), str(tmp_path / "drive" / "bag"), home=h).returncode == 0
    p = mdplan("jobs", home=h)
    assert p.returncode == 0, p.stderr
    assert "Drive jobs" in p.stdout and str(s.root.resolve()) in p.stdout
    assert "finished" in p.stdout and "on 1 drive" in p.stdout
    d = json.loads(mdplan("jobs", "--json", home=h).stdout)
    drive_jobs = [j for j in d if j.get("kind") == "drive"]
    assert len(drive_jobs) == 1 and drive_jobs[0]["files_done"] == drive_jobs[0]["files_total"] > 0
    assert drive_jobs[0]["drives"] == 1 and drive_jobs[0]["state"] == "finished"


def test_estimate_json_says_where_the_drive_speed_came_from(tmp_path):
    s = generate_sample_set(tmp_path / "set", files=40, mean_bytes=20_000, seed=6)

    def drive(*extra, home):
        p = mdplan("estimate", str(s.root), "--bandwidth", "1kbps", "--json", *extra, home=home)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)["drive"]

    d = drive(home=tmp_path / "fresh")  # no drive copy here yet: the set is read for a few MB
    assert d["speed_source"] in ("sampled", "typical") and d["source_read_bytes_per_second"] > 0
    assert d["bytes_per_second"] == (d["source_read_bytes_per_second"] if d["speed_source"] == "sampled" else 60e6)
    remember_drive_rates(12_345_678.0, 20e6, 90e6, home=tmp_path / "h")
    d = drive(home=tmp_path / "h")
    assert (d["speed_source"], d["bytes_per_second"], d["source_read_bytes_per_second"]) == ("remembered", 12_345_678.0,
                                                                                            None)
    d = drive("--drive-speed", "30MB/s", home=tmp_path / "h")
    assert (d["speed_source"], d["bytes_per_second"]) == ("given", 30e6)
