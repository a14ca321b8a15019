"""The process dies: `kill -9` at seeded random moments (during the scan, during the upload, during a
journal commit if it lands there), and SIGTERM (a service manager or `kill` stopping it politely).
Every re-run must end with every blob correct and must never send again a file that was complete."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers.faultproxy import assert_all_there, blobs, camera_files, integrity_ok, journal_rows, make_tree

pytestmark = pytest.mark.skipif(os.name != "posix", reason="kill -9 and SIGTERM are POSIX signals")


def _env(tmp_path: Path) -> dict:
    env = {**os.environ, "MDPLAN_HOME": str(tmp_path / "home")}
    env.pop("MDPLAN_SAS", None)
    return env


def _start(root: Path, url: str, env: dict, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "planner", "upload", str(root), url, "--json", *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=root.parent)  # reports/ lands in the test's folder


def _journal(home: Path) -> Path | None:
    found = sorted((home / "jobs").glob("*.sqlite")) if (home / "jobs").exists() else []
    return found[0] if found else None


def _job_state(home: Path) -> str | None:
    path = _journal(home)
    if path is None:
        return None
    try:
        return journal_rows(path, "SELECT state FROM job")[0][0]
    except Exception:  # not created yet, or mid-creation
        return None


def _count(home: Path, state: str) -> int:
    """Files in `state` in the job's journal; 0 while the journal or its tables are not made yet."""
    try:
        return journal_rows(_journal(home), "SELECT COUNT(*) FROM files WHERE state=?", (state,))[0][0]
    except Exception:
        return 0


def _wait(pred, timeout: float, step: float = 0.005) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def _interrupt(proc: subprocess.Popen, ready, *signals: int, settle: float = 0.0, step: float = 0.05,
               timeout: float = 60) -> tuple[str, str]:
    """Once `ready()` holds (and `settle` seconds more), send `signals` 0.5 s apart; the command's output."""
    try:
        assert _wait(ready, 60, step=step), "the moment to interrupt never came"
        time.sleep(settle)
        for i, sig in enumerate(signals):
            if i:
                time.sleep(0.5)
            proc.send_signal(sig)
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()


def _rerun(root: Path, url: str, env: dict) -> subprocess.CompletedProcess:
    """The same command again, to its end: what the user does after any stop."""
    return subprocess.run([sys.executable, "-m", "planner", "upload", str(root), url, "--json"], env=env,
                          capture_output=True, text=True, timeout=90, cwd=root.parent)


def _complete_blobs(azurite, container: str, files: dict[str, bytes]) -> dict[str, str]:
    """name -> etag of every blob that holds its whole file (Put Blob is atomic; checked by MD5)."""
    import hashlib

    want = {name: hashlib.md5(data).hexdigest() for name, data in files.items()}
    return {n: b["etag"] for n, b in blobs(azurite, container).items() if b["md5"] == want.get(n)}


def test_kill_9_at_random_points_every_rerun_converges_without_resending(azurite, container, tmp_path):
    rng = random.Random(8)
    files = camera_files(48, 30_000, seed=8)  # ~1.5 MB: about 3 s at the 4 Mbit/s cap
    root = make_tree(tmp_path / "cards", files)
    mac = root / "mac-leftovers"  # a big folder of AppleDouble litter: scanned and journalled, never sent
    mac.mkdir()
    for i in range(6000):
        (mac / f"._IMG_{i:05d}.JPG").touch()
    env = _env(tmp_path)
    home = Path(env["MDPLAN_HOME"])
    url = azurite.container_sas_url(container)
    seen: dict[str, str] = {}  # every complete blob seen after any kill, with its etag then
    kills = []
    for i in range(4):
        proc = _start(root, url, env, "--cap-mbps", "3", "--workers", "3")
        try:
            if i == 0:  # during the scan: as soon as the journal says so
                assert _wait(lambda: _job_state(home) == "scanning", 30), "the scan never started"
                time.sleep(rng.uniform(0, 0.05))
            else:  # somewhere in the upload (or in one of its journal commits), before it ends
                done_now = len(seen)
                target = done_now + rng.randint(1, max(1, (len(files) - done_now) // 3))
                assert _wait(lambda: len(_complete_blobs(azurite, container, files)) >= target, 60, step=0.05)
                time.sleep(rng.uniform(0, 0.3))
            phase = _job_state(home)
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        kills.append((phase, proc.returncode))
        journal = _journal(home)
        assert journal is not None and integrity_ok(journal)
        if i == 0:
            (scan_complete,), = journal_rows(journal, "SELECT scan_complete FROM job")
            assert scan_complete == 0, "the first kill was meant to land during the scan"
        done = dict(journal_rows(journal, "SELECT blob_name, md5 FROM files WHERE state='done'"))
        complete = _complete_blobs(azurite, container, files)
        assert set(done) <= set(complete), "the journal calls a file done that is not whole in the container"
        for name, etag in seen.items():
            assert complete.get(name) == etag, f"{name} was sent again after kill {i}"
        seen.update(complete)
    assert [code for _, code in kills] == [-signal.SIGKILL] * 4
    assert 0 < len(seen) < len(files), f"kills landed too late or too early to test anything: {kills}"

    last = _rerun(root, url, env)
    assert last.returncode == 0, last.stderr
    summary = json.loads(last.stdout)
    assert summary["files_done_total"] == len(files)
    final = _complete_blobs(azurite, container, files)
    for name, etag in seen.items():
        assert final[name] == etag, f"{name} was sent again by the final run"
    assert_all_there(azurite, container, files)  # and not one litter file
    assert integrity_ok(summary["journal_path"])


def test_sigterm_stops_like_ctrl_c_exit_130_journal_saved_and_resumable(azurite, container, tmp_path):
    files = camera_files(40, 40_000, seed=9)  # 1.6 MB at 2 Mbit/s: ~6 s
    root = make_tree(tmp_path / "cards", files)
    env = _env(tmp_path)
    home = Path(env["MDPLAN_HOME"])
    url = azurite.container_sas_url(container)
    proc = _start(root, url, env, "--cap-mbps", "2", "--workers", "2")
    out, err = _interrupt(proc, lambda: _count(home, "done") >= 3, signal.SIGTERM)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "run the same command again" in (out + err).lower()
    summary = json.loads(out)
    assert summary["outcome"] == "interrupted" and summary["exit_code"] == 130
    journal = Path(summary["journal_path"])
    assert integrity_ok(journal)
    (outcome, code), = journal_rows(journal, "SELECT outcome, exit_code FROM runs ORDER BY id DESC LIMIT 1")
    assert (outcome, code) == ("interrupted", 130)
    assert journal_rows(journal, "SELECT COUNT(*) FROM files WHERE state='uploading'") == [(0,)]  # all handed back
    done = dict(journal_rows(journal, "SELECT blob_name, md5 FROM files WHERE state='done'"))
    assert 0 < len(done) < len(files)
    before = {n: b["etag"] for n, b in blobs(azurite, container).items()}

    again = _rerun(root, url, env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["files_sent"] == len(files) - len(done)
    after = blobs(azurite, container)
    for name, etag in before.items():
        assert after[name]["etag"] == etag, f"{name} was sent again"
    assert_all_there(azurite, container, files)


def test_a_second_ctrl_c_stops_at_once_abandoning_the_files_in_flight(azurite, container, tmp_path):
    """Once: finish the files in progress (here ~30 s of them at the cap). Twice: stop now, keep nothing half."""
    files = {f"cam/VID_{i}.MP4": os.urandom(2_500_000) for i in range(3)}  # 7.5 MB at 2 Mbit/s: ~30 s
    root = make_tree(tmp_path / "cards", files)
    env = _env(tmp_path)
    home = Path(env["MDPLAN_HOME"])
    url = azurite.container_sas_url(container)
    proc = _start(root, url, env, "--cap-mbps", "2", "--workers", "3")
    # bytes flowing for every file first; then finishing the files in flight would take ~25 s more
    out, err = _interrupt(proc, lambda: _count(home, "uploading") == 3, signal.SIGINT, signal.SIGINT,
                          settle=1.0, timeout=15)
    assert "Stopping: finishing the files in progress" in err  # the first Ctrl-C took the polite path
    assert proc.returncode == 130 and "Traceback" not in err, err
    summary = json.loads(out)
    assert summary["outcome"] == "interrupted" and summary["files_sent"] == 0
    journal = Path(summary["journal_path"])
    assert integrity_ok(journal)
    assert journal_rows(journal, "SELECT state, COUNT(*) FROM files GROUP BY state") == [("pending", 3)]
    assert blobs(azurite, container) == {}  # staged blocks were never committed: no half file in the container

    again = _rerun(root, url, env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["files_sent"] == 3
    assert_all_there(azurite, container, files)


def test_ctrl_c_during_the_scan_stops_at_once_and_the_scan_resumes(azurite, container, tmp_path):
    files = camera_files(10, 20_000, seed=10)
    root = make_tree(tmp_path / "cards", files)
    mac = root / "mac-leftovers"  # many small litter files: a scan long enough to interrupt
    mac.mkdir()
    for i in range(20000):
        (mac / f"._IMG_{i:05d}.JPG").touch()
    env = _env(tmp_path)
    home = Path(env["MDPLAN_HOME"])
    url = azurite.container_sas_url(container)
    proc = _start(root, url, env)
    out, err = _interrupt(proc, lambda: _job_state(home) == "scanning", signal.SIGINT, step=0.005, timeout=30)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "same command" in err + out
    journal = _journal(home)
    assert integrity_ok(journal)
    assert journal_rows(journal, "SELECT scan_complete FROM job") == [(0,)]  # it really stopped mid-scan
    assert blobs(azurite, container) == {}

    again = _rerun(root, url, env)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["files_sent"] == len(files)
    assert journal_rows(journal, "SELECT scan_complete, (SELECT COUNT(*) FROM files) FROM job") == [
        (1, len(files) + 20000)]  # the resumed scan saw every file once, litter included
    assert_all_there(azurite, container, files)
