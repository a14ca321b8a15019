"""Issue 17: an empty folder name and absurd option values are refused (exit 2, one line), with one
rule per option wherever it is typed; `--json` gets a JSON object on errors too. In-process through
planner.cli.main, no network (the SAS points at a closed loopback port; uploads are dry runs)."""

from __future__ import annotations

import io
import json
import signal

import pytest

from planner.cli import main

SIG = "S3cretSigValue%2Bx%3D"
FAKE_SAS = ("http://127.0.0.1:9/devstoreaccount1/box?sv=2023-01-03&se=2099-01-01T00%3A00%3A00Z&sp=racwdl&sr=c"
            f"&sig={SIG}")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MDPLAN_SAS", raising=False)
    here = tmp_path / "cwd"
    here.mkdir()
    (here / "IMG_0001.JPG").write_bytes(b"\xff\xd8in the current folder\xff\xd9")  # what "" used to mean
    monkeypatch.chdir(here)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "cards" / "site1"
    d.mkdir(parents=True)
    (d / "IMG_0001.JPG").write_bytes(b"\xff\xd8tiny\xff\xd9")
    return d.parent


def run(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "bug in mdplan" not in err, err
    assert SIG not in out + err
    return code, out, err


def refused(capsys, *args: str) -> str:
    """Exit 2 with one `mdplan:` line on stderr; returns that line."""
    code, out, err = run(capsys, *args)
    lines = [ln for ln in err.split("\n") if ln.strip()]
    assert code == 2, f"exit {code} for {args!r}: {err}"
    assert len(lines) == 1 and lines[0].startswith("mdplan: "), err
    return lines[0]


# ---- an empty folder argument -----------------------------------------------------------------
@pytest.mark.parametrize("args", [
    ["upload", "", FAKE_SAS, "--dry-run", "--allow-sleep"],
    ["upload", "  ", FAKE_SAS, "--dry-run", "--allow-sleep"],
    ["estimate", "", "--bandwidth", "20Mbps"],
    ["verify", "", FAKE_SAS],
])
def test_an_empty_folder_name_is_refused_not_read_as_the_current_folder(capsys, args):
    line = refused(capsys, *args)
    assert "folder name is empty" in line
    code, _, _ = run(capsys, "jobs", "--json")
    assert code == 0 and json.loads(capsys.readouterr().out or "[]") == []  # no job was started


def test_the_current_folder_is_still_there_for_those_who_mean_it(capsys):
    code, out, err = run(capsys, "estimate", ".", "--bandwidth", "20Mbps", "--json")
    assert code == 0, err
    assert json.loads(out)["files"]["upload"] == 1


# ---- absurd values, one rule per option ---------------------------------------------------------
@pytest.mark.parametrize("args,words", [
    (["upload", "{folder}", FAKE_SAS, "--dry-run", "--cap-mbps", "1e308"], "--cap-mbps"),
    (["upload", "{folder}", FAKE_SAS, "--dry-run", "--cap-mbps", "0.0001"], "--cap-mbps"),
    (["estimate", "{folder}", "--bandwidth", "20Mbps", "--cap-mbps", "1e308"], "--cap-mbps"),
    (["demo", "--cap-mbps", "1e308"], "--cap-mbps"),
    (["estimate", "{folder}", "--bandwidth", "20Mbps", "--drive-size", "1B"], "--drive-size"),
    (["estimate", "{folder}", "--bandwidth", "20Mbps", "--drive-size", "1EB"], "size"),
    (["estimate", "{folder}", "--bandwidth", "0.0000001bps"], "--bandwidth"),
    (["estimate", "{folder}", "--bandwidth", "1Pbps"], "--bandwidth"),
    (["estimate", "{folder}", "--bandwidth", "20Mbps", "--drive-speed", "1bps"], "--drive-speed"),
    (["estimate", "{folder}", "--bandwidth", "20Mbps", "--monthly-cap", "1B"], "--monthly-cap"),
    (["estimate", "{folder}", "--bandwidth", "20Mbps", "--shipping-days", "1e308"], "--shipping-days"),
    (["jobs", "--forget", ""], "--forget"),
    (["jobs", "--forget", " "], "--forget"),
    (["report", ""], "JOB"),
])
def test_absurd_values_are_refused_in_one_line(capsys, folder, args, words):
    line = refused(capsys, *[a.format(folder=folder) for a in args])
    assert words in line
    assert "inf" not in line.split(words, 1)[1].split()[:1]  # no "inf Tbit/s" echoed back as a value


def test_jobs_forget_empty_never_forgets_the_only_job(capsys, folder):
    assert run(capsys, "upload", str(folder), FAKE_SAS, "--dry-run", "--allow-sleep")[0] == 0
    refused(capsys, "jobs", "--forget", "")
    code, out, _ = run(capsys, "jobs", "--json")
    assert code == 0 and len(json.loads(out)) == 1


@pytest.mark.parametrize("value", ["100", "0.5", "0", "-1", "nan", "inf", "31"])
def test_seconds_has_the_same_bounds_for_estimate_and_bandwidth(capsys, folder, value):
    est = refused(capsys, "estimate", str(folder), "--bandwidth", "20Mbps", "--seconds", value)
    bw = refused(capsys, "bandwidth", FAKE_SAS, "--seconds", value)
    assert est == bw  # the same rule, in the same words
    assert "1 to 30" in est


@pytest.mark.parametrize("value", ["999kB", "0", "-1MB", "10.1GB", "1e308", "lots", ""])
def test_max_bytes_has_the_same_bounds_for_estimate_and_bandwidth(capsys, folder, value):
    # issue 17: the probe's data budget, one rule (planner.options.probe_bytes) wherever it is typed
    est = refused(capsys, "estimate", str(folder), "--bandwidth", "20Mbps", "--max-bytes", value)
    bw = refused(capsys, "bandwidth", FAKE_SAS, "--max-bytes", value)
    assert est == bw


@pytest.mark.parametrize("args", [
    ["estimate", "{folder}", "--bandwidth", "1kbps", "--cap-mbps", "100000", "--drive-size", "1GB",
     "--drive-speed", "1MB/s", "--monthly-cap", "1GB", "--shipping-days", "365", "--seconds", "30", "--max-bytes", "1MB",
     "--json"],
    ["estimate", "{folder}", "--bandwidth", "100Gbps", "--cap-mbps", "0.001", "--drive-size", "100TB",
     "--drive-speed", "10GB/s", "--monthly-cap", "10PB", "--shipping-days", "0", "--seconds", "1", "--max-bytes", "10GB",
     "--json"],
    ["upload", "{folder}", FAKE_SAS, "--dry-run", "--allow-sleep", "--cap-mbps", "0.001"],
    ["upload", "{folder}", FAKE_SAS, "--dry-run", "--allow-sleep", "--cap-mbps", "100000"],
])
def test_the_bounds_themselves_are_accepted(capsys, folder, args):
    code, _, err = run(capsys, *[a.format(folder=folder) for a in args])
    assert code == 0, err


# ---- --json on errors, report and demo ------------------------------------------------------------
@pytest.mark.parametrize("args,kind", [
    (["upload", "", FAKE_SAS, "--dry-run", "--json"], "bad_input"),
    (["estimate", "{folder}", "--json", "--bandwidth", "fast"], "bad_input"),
    (["upload", "{folder}", FAKE_SAS, "--json", "--no-such-option"], "bad_input"),  # a usage error
    (["verify", "{folder}", FAKE_SAS, "--json"], "network"),  # the storage host is not there
    (["report", "--json"], "bad_input"),  # no jobs yet
    (["demo", "--serve", "--json"], "bad_input"),
])
def test_with_json_an_error_is_a_json_object_on_stdout_too(capsys, folder, args, kind):
    code, out, err = run(capsys, *[a.format(folder=folder) for a in args])
    assert code != 0 and err.startswith("mdplan: ")
    data = json.loads(out)
    assert data["ok"] is False and data["error"] == kind and data["exit_code"] == code
    assert data["message"] and data["message"] in err
    assert "hint" in data


def test_without_json_an_error_prints_nothing_on_stdout(capsys):
    code, out, err = run(capsys, "upload", "", FAKE_SAS)
    assert code == 2 and out == "" and err


def test_report_json_names_the_job_and_both_files(capsys, folder, tmp_path):
    assert run(capsys, "upload", str(folder), FAKE_SAS, "--dry-run", "--allow-sleep")[0] == 0
    code, out, err = run(capsys, "report", "--json", "--out", str(tmp_path / "r.html"))
    assert code == 0, err
    data = json.loads(out)
    assert data["html"] == str(tmp_path / "r.html") and data["csv"].endswith(".csv")
    assert len(data["job_id"]) >= 8 and data["destination"].endswith("/box") and SIG not in out
