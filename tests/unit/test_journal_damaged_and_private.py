"""Issue 13: a damaged journal is called damaged (not "free some space"), kept aside, and forgettable;
the state folder, jobs/ and every file in them are private whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from planner.journal import (Journal, JournalError, ScanRow, find_job, forget_job, list_jobs, remember_rate)

ACCOUNT = "https://acct.blob.core.windows.net"


def _open(tmp_path: Path) -> Journal:
    return Journal.open(tmp_path / "src", ACCOUNT, "acct", "cams", "", home=tmp_path / "h")


def _made(tmp_path: Path) -> Path:
    with _open(tmp_path) as j:
        j.begin_run(workers="auto", cap=None)
        j.record_scan([ScanRow(f"s/IMG_{i}.JPG", f"s/IMG_{i}.JPG", "s", "image", 10, 1, True, None)
                       for i in range(300)])
        path = j.path
    for side in ("-wal", "-shm"):
        Path(f"{path}{side}").unlink(missing_ok=True)
    return path


def _header_overwritten(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(b"this is not SQLite any more " * 4)


def _pages_overwritten(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as f:  # keep the header, ruin the pages after it
        f.seek(100)
        f.write(os.urandom(size - 100))


@pytest.mark.parametrize("damage", [_header_overwritten, _pages_overwritten])
def test_a_damaged_journal_is_named_kept_aside_and_the_same_command_starts_afresh(tmp_path, damage):
    path = _made(tmp_path)
    damage(path)
    broken = path.read_bytes()
    with pytest.raises(JournalError) as e:
        _open(tmp_path)
    text = f"{e.value} {e.value.hint}"
    assert "damaged" in text and "Free some space" not in text and "MDPLAN_HOME" not in text
    assert "same command again" in text and "afresh" in text
    kept = [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".damaged-")]
    assert len(kept) == 1 and kept[0].read_bytes() == broken and str(kept[0]) in text
    with _open(tmp_path) as j:  # the same command: a fresh journal for the same job
        assert j.path == path and j.counts().total_files == 0


def test_forget_removes_a_damaged_journal_and_jobs_still_lists_the_others(tmp_path, capsys):
    path = _made(tmp_path)
    with Journal.open(tmp_path / "other", ACCOUNT, "acct", "cams", "", home=tmp_path / "h"):
        pass
    _header_overwritten(path)
    jobs = list_jobs(tmp_path / "h")
    assert len(jobs) == 1 and jobs[0].job_id != path.stem
    err = capsys.readouterr().err
    assert "damaged" in err and f"mdplan jobs --forget {path.stem}" in err
    info = forget_job(path.stem[:6], tmp_path / "h")
    assert info.job_id == path.stem and not path.exists()
    assert [j.job_id for j in list_jobs(tmp_path / "h")] == [jobs[0].job_id]
    assert find_job(None, tmp_path / "h").job_id == jobs[0].job_id


def test_forget_with_an_empty_id_forgets_nothing(tmp_path):
    path = _made(tmp_path)
    with pytest.raises(Exception) as e:
        forget_job("", tmp_path / "h")
    assert "mdplan jobs --forget JOB" in str(e.value) and path.exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_state_is_private_under_umask_000(tmp_path, monkeypatch):
    home = tmp_path / "state" / "mdplan"
    monkeypatch.setenv("MDPLAN_HOME", str(home))
    old = os.umask(0)
    try:
        with Journal.open(tmp_path / "src", ACCOUNT, "acct", "cams", "") as j:
            j.begin_run(workers="auto", cap=None)
            j.record_scan([ScanRow("a.jpg", "a.jpg", "", "image", 1, 1, True, None)])
            journal = j.path
            remember_rate(ACCOUNT, "cams", 2e7, "upload")
            files = [p for p in journal.parent.iterdir()]
        remember_rate(ACCOUNT, "cams", 3e7, "upload")  # rewriting keeps it private
    finally:
        os.umask(old)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "jobs").stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "rates.json").stat().st_mode) == 0o600
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files if p.exists()), \
        {p.name: oct(p.stat().st_mode) for p in files if p.exists()}


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_existing_folder_named_by_mdplan_home_keeps_its_mode(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    monkeypatch.setenv("MDPLAN_HOME", str(shared))
    with Journal.open(tmp_path / "src", ACCOUNT, "acct", "cams", ""):
        pass
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # the user's folder: not ours to change
    assert stat.S_IMODE((shared / "jobs").stat().st_mode) == 0o700
