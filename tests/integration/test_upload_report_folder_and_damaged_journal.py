"""Uploads to Azurite: `--report FOLDER` puts the report inside it (not FOLDER.csv beside it and a crash),
the default report stays out of the image folder, and a damaged journal is named as such, kept aside,
and the same command then starts the job afresh without sending anything twice (issues 13 and 17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def mdplan(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=180)


@pytest.fixture
def env(tmp_path) -> dict:
    e = {**os.environ, "MDPLAN_HOME": str(tmp_path / "state")}
    e.pop("MDPLAN_SAS", None)
    return e


def _images(root: Path, n: int = 4) -> Path:
    for i in range(n):
        f = root / "site" / f"IMG_{i:03d}.JPG"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(os.urandom(10_000))
    return root


def test_upload_report_folder_and_nothing_written_into_the_set(azurite, container, tmp_path, env):
    images = _images(tmp_path / "images")
    out = tmp_path / "for-the-team"
    out.mkdir()
    url = azurite.container_sas_url(container)
    p = mdplan("upload", str(images), url, "--report", str(out), env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert sorted(x.suffix for x in out.iterdir()) == [".csv", ".html"]
    assert not (tmp_path / "for-the-team.csv").exists()
    before = sorted(images.rglob("*"))
    again = mdplan("upload", ".", url, env=env, cwd=images)  # from inside the image folder
    assert again.returncode == 0, again.stderr
    assert sorted(images.rglob("*")) == before  # no reports/ inside the set, so nothing new to upload
    assert str(Path(env["MDPLAN_HOME"]) / "reports") in again.stdout


def test_a_damaged_journal_is_named_kept_and_the_same_command_starts_afresh(azurite, container, tmp_path, env):
    images = _images(tmp_path / "images")
    url = azurite.container_sas_url(container)
    assert mdplan("upload", str(images), url, env=env, cwd=tmp_path).returncode == 0
    journal = next((Path(env["MDPLAN_HOME"]) / "jobs").glob("*.sqlite"))
    for side in ("-wal", "-shm"):
        Path(f"{journal}{side}").unlink(missing_ok=True)
    journal.write_bytes(b"\0garbage\0" * 500)
    p = mdplan("upload", str(images), url, env=env, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert "damaged" in p.stderr and "Free some space" not in p.stderr and "Traceback" not in p.stderr
    assert "same command again" in p.stderr
    kept = list(journal.parent.glob(journal.name + ".damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == b"\0garbage\0" * 500
    fresh = mdplan("upload", str(images), url, "--json", env=env, cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    assert '"files_sent": 0' in fresh.stdout  # all four were found in the container, none sent twice
