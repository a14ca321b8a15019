"""The commands as a user types them: --out/--report given a folder, `mdplan report` from inside the
image folder, and `mdplan jobs --forget` on a damaged journal (issues 13 and 17)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from planner.journal import Journal, ScanRow


def mdplan(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


@pytest.fixture
def env(tmp_path, monkeypatch) -> dict:
    e = {**os.environ, "MDPLAN_HOME": str(tmp_path / "state")}
    e.pop("MDPLAN_SAS", None)
    monkeypatch.setenv("MDPLAN_HOME", e["MDPLAN_HOME"])
    return e


def _job(source: Path) -> Path:
    for i in range(3):
        (source / "site").mkdir(parents=True, exist_ok=True)
        (source / "site" / f"IMG_{i}.JPG").write_bytes(b"x" * 1000)
    with Journal.open(source, "https://acct.blob.core.windows.net", "acct", "cams", "") as j:
        j.begin_run(workers="auto", cap=None)
        j.record_scan([ScanRow(f"site/IMG_{i}.JPG", f"site/IMG_{i}.JPG", "site", "image", 1000, 1, True, None)
                       for i in range(3)])
        j.end_run("interrupted", 130)
        return j.path


def test_report_out_a_folder_writes_inside_it(tmp_path, env):
    _job(tmp_path / "images")
    out = tmp_path / "shared"
    out.mkdir()
    p = mdplan("report", "--out", str(out), env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "bug" not in p.stderr and "Traceback" not in p.stderr
    written = sorted(x.suffix for x in out.iterdir())
    assert written == [".csv", ".html"] and not (tmp_path / "shared.csv").exists()


def test_report_from_inside_the_image_folder_leaves_the_folder_alone(tmp_path, env):
    images = tmp_path / "images"
    _job(images)
    before = sorted(p.relative_to(images) for p in images.rglob("*"))
    p = mdplan("report", env=env, cwd=images)
    assert p.returncode == 0, p.stderr
    assert sorted(p.relative_to(images) for p in images.rglob("*")) == before
    assert str(Path(env["MDPLAN_HOME"]) / "reports") in p.stdout


def test_estimate_report_a_folder_writes_inside_it(tmp_path, env):
    images = tmp_path / "images"
    _job(images)
    out = tmp_path / "plans"
    out.mkdir()
    p = mdplan("estimate", str(images), "--bandwidth", "20Mbps", "--report", str(out), env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    pages = list(out.iterdir())
    assert len(pages) == 1 and pages[0].name.startswith("mdplan-plan-images-") and pages[0].suffix == ".html"


def test_jobs_forget_removes_a_damaged_journal(tmp_path, env):
    path = _job(tmp_path / "images")
    path.write_bytes(b"not a database at all, sorry" * 50)
    listed = mdplan("jobs", env=env, cwd=tmp_path)
    assert listed.returncode == 0 and "damaged" in listed.stderr
    assert f"mdplan jobs --forget {path.stem}" in listed.stderr
    forget = mdplan("jobs", "--forget", path.stem, env=env, cwd=tmp_path)
    assert forget.returncode == 0, forget.stderr
    assert not path.exists() and "Traceback" not in forget.stderr
    assert "No upload jobs yet" in mdplan("jobs", env=env, cwd=tmp_path).stdout
