"""`mdplan drive copy` killed (kill -9) or stopped (Ctrl-C) mid-copy, then run again: every file ends up
on the drive exactly once, the bag validates, and a Ctrl-C leaves a valid bag of what is there (issue 16)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import bagit

from planner.drive import check_bag


def make_set(root: Path, n: int = 400, size: int = 200_000) -> dict[str, bytes]:
    files = {f"site{i % 4}/IMG_{i:05d}.JPG": os.urandom(size) for i in range(n)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def start(src: Path, bag: Path, home: Path) -> subprocess.Popen:
    env = {**os.environ, "MDPLAN_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.Popen([sys.executable, "-m", "planner", "drive", "copy", str(src), str(bag)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for_files(bag: Path, n: int, proc: subprocess.Popen, limit: float = 60.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit and proc.poll() is None:
        if (bag / "data").is_dir() and sum(1 for p in (bag / "data").rglob("*.JPG")) >= n:
            return
        time.sleep(0.05)


def payload(bag: Path) -> dict[str, bytes]:
    return {p.relative_to(bag / "data").as_posix(): p.read_bytes() for p in (bag / "data").rglob("*") if p.is_file()}


def test_kill_9_then_the_same_command_finishes_the_drive(tmp_path):
    files = make_set(tmp_path / "src")
    bag = tmp_path / "bag"
    proc = start(tmp_path / "src", bag, tmp_path / "home")
    wait_for_files(bag, 60, proc)
    proc.kill()  # SIGKILL: no chance to write anything more
    proc.wait()
    again = start(tmp_path / "src", bag, tmp_path / "home")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode()
    assert payload(bag) == files
    bagit.Bag(str(bag)).validate()
    assert check_bag(bag).exit_code == 0


def test_ctrl_c_leaves_a_valid_bag_of_what_is_there(tmp_path):
    make_set(tmp_path / "src", n=1500, size=50_000)
    bag = tmp_path / "bag"
    proc = start(tmp_path / "src", bag, tmp_path / "home")
    wait_for_files(bag, 40, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    bagit.Bag(str(bag)).validate()
    assert 0 < check_bag(bag).files_ok < 1500
