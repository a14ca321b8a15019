"""Issue 17: the upload plan's time line names the rate the upload will move at. With --cap-mbps 4 and a
link last seen at 269 Mbit/s it said "about 2 min at 269 Mbit/s"; the time counted with the cap, the
rate beside it did not."""

from __future__ import annotations

import io
import signal

import pytest

from planner.cli import main
from planner.journal import remember_rate
from planner.sas import parse_sas_url

FAKE_SAS = ("http://127.0.0.1:9/devstoreaccount1/box?sv=2023-01-03&se=2099-01-01T00%3A00%3A00Z&sp=racwdl&sr=c"
            "&sig=S3cretSigValue%2Bx%3D")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("MDPLAN_HOME", str(home))
    monkeypatch.delenv("MDPLAN_SAS", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    sas = parse_sas_url(FAKE_SAS)
    remember_rate(sas.account_url, sas.container, 269e6, "upload", home=home)
    d = tmp_path / "cards" / "site1"
    d.mkdir(parents=True)
    for i in range(30):
        (d / f"IMG_{i:04d}.JPG").write_bytes(b"\xff\xd8" + bytes(2_000_000))
    yield d.parent
    for s, h in saved.items():
        signal.signal(s, h)


def _time_line(capsys, folder, *opts: str) -> str:
    capsys.readouterr()
    assert main(["upload", str(folder), FAKE_SAS, "--dry-run", "--allow-sleep", *opts]) == 0
    (line,) = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip().startswith("Time:")]
    return line


def test_a_cap_shows_the_capped_rate_beside_the_time(capsys, folder):
    line = _time_line(capsys, folder, "--cap-mbps", "4")
    assert "2 min at 4 Mbit/s" in line  # 60 MB at 4 Mbit/s: 120 s
    assert "at 269" not in line and "speed cap" in line


def test_without_a_cap_the_last_rate_is_the_rate(capsys, folder):
    line = _time_line(capsys, folder)
    assert "at 269 Mbit/s (last upload rate to this container)" in line
