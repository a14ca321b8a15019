"""The journal's disk is read-only or full: one clear line naming the path and MDPLAN_HOME, exit 2, no
traceback, and the journal is not corrupt afterwards (sqlite integrity_check), so the job resumes.

Read-only and full disks are real small tmpfs mounts when we may mount (root on Linux); as root a
chmod does not stop writes, so without a mount the read-only case points MDPLAN_HOME below a regular
file (which no one can create folders in) and the disk-full cases are skipped with the reason."""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from helpers.faultproxy import assert_all_there, blobs, camera_files, integrity_ok, make_tree

import planner.cli.ui as cli
from planner.cli import main


@pytest.fixture(autouse=True)
def keep_signal_handlers():
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


def _mount(path: Path, size: str) -> bool:
    if os.name != "posix" or os.geteuid() != 0:
        return False
    path.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


@pytest.fixture
def tiny_disk(tmp_path):
    """A 2 MiB tmpfs, or a skip saying why there is none. Unmounted (lazily) afterwards."""
    mnt = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    if not _mount(mnt, "2m"):
        pytest.skip("needs root and mount(8) for a small tmpfs (a real full / read-only disk)")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def _remount(mnt: Path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(mnt)], check=True, capture_output=True)


def _one_clean_line(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err and "bug in mdplan" not in err, err
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


def _journals(home: Path) -> list[Path]:
    return sorted((home / "jobs").glob("*.sqlite"))


def test_home_below_a_regular_file_is_one_clear_line(azurite, container, tmp_path, monkeypatch, capsys):
    root = make_tree(tmp_path / "cards", camera_files(3, 1_000))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    monkeypatch.setenv("MDPLAN_HOME", str(blocker / "mdplan"))
    capsys.readouterr()
    code = main(["upload", str(root), azurite.container_sas_url(container), "--allow-sleep"])
    line = _one_clean_line(code, capsys.readouterr().err)
    assert str(blocker / "mdplan") in line and "MDPLAN_HOME" in line
    assert blobs(azurite, container) == {}  # nothing sent without a journal


def test_read_only_disk_with_an_existing_journal(azurite, container, tmp_path, monkeypatch, capsys, tiny_disk):
    files = camera_files(4, 2_000, seed=31)
    root = make_tree(tmp_path / "cards", files)
    url = azurite.container_sas_url(container)
    monkeypatch.setenv("MDPLAN_HOME", str(tiny_disk))
    monkeypatch.chdir(tmp_path)
    assert main(["upload", str(root), url, "--allow-sleep"]) == 0
    (journal,) = _journals(tiny_disk)
    make_tree(root, {"site0/cam0/DCIM/NEW_0001.JPG": b"\xff\xd8new\xff\xd9"})
    _remount(tiny_disk, "ro")
    try:
        capsys.readouterr()
        code = main(["upload", str(root), url, "--allow-sleep"])
        line = _one_clean_line(code, capsys.readouterr().err)
        assert str(journal) in line and "MDPLAN_HOME" in line
    finally:
        _remount(tiny_disk, "rw")
    assert integrity_ok(journal)
    assert "site0/cam0/DCIM/NEW_0001.JPG" not in blobs(azurite, container)
    assert main(["upload", str(root), url, "--allow-sleep"]) == 0
    assert_all_there(azurite, container, {**files, "site0/cam0/DCIM/NEW_0001.JPG": b"\xff\xd8new\xff\xd9"})


def _fill(mnt: Path) -> Path:
    """Take every free byte of the disk."""
    filler = mnt / "filler.bin"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for block in (1 << 16, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * block)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def test_disk_full_during_the_scan(azurite, container, tmp_path, monkeypatch, capsys, tiny_disk):
    # a 2 MiB disk with ~60 KB free, and a scan that writes far more than that (1,500 rows, long paths)
    files = {f"site{i % 5}/{'long-folder-name-' * 6}{i % 7}/IMG_{i:06d}.JPG": b"x" for i in range(1500)}
    root = make_tree(tmp_path / "cards", files)
    monkeypatch.setenv("MDPLAN_HOME", str(tiny_disk))
    monkeypatch.chdir(tmp_path)
    filler = _fill(tiny_disk)
    os.truncate(filler, filler.stat().st_size - 60_000)
    capsys.readouterr()
    code = main(["upload", str(root), azurite.container_sas_url(container), "--allow-sleep"])
    line = _one_clean_line(code, capsys.readouterr().err)
    assert "disk is full" in line and "MDPLAN_HOME" in line and str(tiny_disk) in line
    filler.unlink()
    for j in _journals(tiny_disk):
        assert integrity_ok(j)
    assert blobs(azurite, container) == {}


def test_disk_full_mid_upload(azurite, container, tmp_path, monkeypatch, capsys, tiny_disk):
    files = camera_files(24, 4_000, seed=32)
    root = make_tree(tmp_path / "cards", files)
    url = azurite.container_sas_url(container)
    monkeypatch.setenv("MDPLAN_HOME", str(tiny_disk))
    monkeypatch.chdir(tmp_path)
    real_plan = cli.RichUploadUI.plan
    filled: list[Path] = []

    def plan_then_fill(self, plan):  # the scan is in the journal; now the disk fills up
        real_plan(self, plan)
        filled.append(_fill(tiny_disk))

    monkeypatch.setattr(cli.RichUploadUI, "plan", plan_then_fill)
    capsys.readouterr()
    code = main(["upload", str(root), url, "--allow-sleep", "--workers", "2"])
    err = capsys.readouterr().err
    assert filled, "the disk was never filled"
    assert code == 2, err
    assert "Traceback" not in err and "bug in mdplan" not in err, err
    assert "disk is full" in err and "MDPLAN_HOME" in err
    monkeypatch.setattr(cli.RichUploadUI, "plan", real_plan)
    filled[0].unlink()
    (journal,) = _journals(tiny_disk)
    assert integrity_ok(journal)
    before = blobs(azurite, container)
    assert main(["upload", str(root), url, "--allow-sleep"]) == 0
    after = blobs(azurite, container)
    assert all(after[n]["etag"] == b["etag"] for n, b in before.items())  # found, not sent again
    assert_all_there(azurite, container, files)
