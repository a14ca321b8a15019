"""Bad input everywhere: every option of every command given garbage (hypothesis, bounded examples,
in-process through planner.cli.main for speed). The promise: a value mdplan cannot use is exit 2 with
one line on stderr, never a traceback and never "a bug in mdplan"; a value that happens to be valid
just works (a dry run, an empty folder), so the property holds for any string.

No test here reaches a network: the SAS points at a closed loopback port and every upload is a
--dry-run (the plan is made from the journal and the folder alone)."""

from __future__ import annotations

import io
import signal
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from planner.cli import main

SIG = "S3cretSigValue%2Bx%3D"
FAKE_SAS = ("http://127.0.0.1:9/devstoreaccount1/box?sv=2023-01-03&se=2099-01-01T00%3A00%3A00Z&sp=racwdl&sr=c"
            f"&sig={SIG}")

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# What people actually type wrong, plus what a fuzzer would: units, rates, timetables, globs, prefixes.
JUNK = ["", " ", "-1", "0", "nan", "inf", "-inf", "1e999", "12 parsecs", "1,5MB", "５MB", "1MB/s/s", "MB", "--",
        "-5MB", "1.2.3", "0x10", "\x00", "é", "鳥", "%s%s%n", "'; DROP TABLE files;--", "../../etc/passwd",
        "C:\\Windows", "\\\\server\\share", "a" * 300]
BWLIMITS = ["08:00,", "25:00,1M", "Mon-08:00", "off,off", "Sun-24:00,off", "-1M", "1.5.2M", "08:00,1M 07:60,2M",
            "Funday-08:00,1M", "08:00,1M,2M", "1K 2K", "08:00 1M", ":,", "00:00,-1", "08:00,1Q"]
# odd but valid in rclone's syntax: upload:download split, a repeated time (the later entry wins)
BWLIMITS_ODD = ["1M:2M", "1M:off", "08:00,512k 08:00,1M", "12:00,off 12:00,off", "0"]
PREFIXES = ["..", "../x", "a/../../b", "a/..", "./../x", "C:\\x", "c:/x", "..\\x", "x/..\\..", "a/%2e%2e/b"]
SAS_JUNK = ["https://", "http://x", "not a url", "https://acct.blob.core.windows.net/", FAKE_SAS.split("&sig=")[0],
            FAKE_SAS.replace("se=2099", "se=notadate"), FAKE_SAS.replace("sr=c", "sr=q"),
            FAKE_SAS.replace("http://127.0.0.1:9", "ftp://127.0.0.1:9"), FAKE_SAS + "#frag\x00",
            FAKE_SAS.replace("/box?", "/?"), "https://evil.example.com/c?sig=" + SIG]

# (no line feeds: an error that quotes the value back would show them; U+0085 and friends are fine)
junk = st.one_of(st.sampled_from(JUNK), st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                                                      blacklist_characters="\n\r"), max_size=40))
line_junk = st.one_of(st.sampled_from(JUNK), st.text(alphabet=string.printable.strip() + " é鳥", max_size=40))


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MDPLAN_SAS", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # SAS '-' reads a line: here there is none
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, h in saved.items():
        signal.signal(s, h)


@pytest.fixture
def folder(tmp_path) -> Path:
    d = tmp_path / "cards"
    (d / "site1").mkdir(parents=True)
    (d / "site1" / "IMG_0001.JPG").write_bytes(b"\xff\xd8tiny\xff\xd9")
    return d


def cli(capsys, *args: str, allowed: tuple[int, ...] = (0, 2)) -> tuple[int, str, str]:
    """Run mdplan in-process and check the promise whatever the outcome."""
    capsys.readouterr()
    code = main([*args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, err
    assert "bug in mdplan" not in err, err
    assert SIG not in out + err
    assert code in allowed, f"exit {code} for {args!r}: {err}"
    if code == 2:
        lines = [ln for ln in err.split("\n") if ln.strip()]  # what a terminal shows as lines
        assert len(lines) == 1, f"{len(lines)} lines for {args!r}: {err!r}"
        assert lines[0].startswith("mdplan: "), err
    return code, out, err


def upload(capsys, folder: Path, *opts: str, allowed=(0, 2)) -> int:
    return cli(capsys, "upload", str(folder), FAKE_SAS, "--dry-run", "--allow-sleep", *opts, allowed=allowed)[0]


# ---- upload: every option ------------------------------------------------------------------------
@SETTINGS
@given(value=junk)
@example(value="nan")
@example(value="-3")
@example(value="0")
@example(value="1e308")
@example(value="0.0009")
@example(value="100000")
def test_upload_cap_mbps(capsys, folder, value):
    code = upload(capsys, folder, "--cap-mbps", value)
    try:
        ok = 0.001 <= float(value) <= 100_000  # planner.options: 1 kbit/s to 100 Gbit/s
    except ValueError:
        ok = False
    assert code == (0 if ok else 2)


@SETTINGS
@given(value=st.one_of(st.sampled_from(BWLIMITS + BWLIMITS_ODD + JUNK), junk))
def test_upload_bwlimit(capsys, folder, value):
    upload(capsys, folder, "--bwlimit", value)


@pytest.mark.parametrize("value", BWLIMITS + ["", "12 parsecs", "nan"])
def test_upload_bwlimit_known_bad(capsys, folder, value):
    assert upload(capsys, folder, "--bwlimit", value) == 2


@SETTINGS
@given(value=junk)
def test_upload_workers(capsys, folder, value):
    code = upload(capsys, folder, "--workers", value)
    assert code == (0 if value == "auto" or (value.isascii() and value.isdigit() and 1 <= int(value) <= 256) else 2)


@SETTINGS
@given(value=junk)
def test_upload_overwrite(capsys, folder, value):
    code = upload(capsys, folder, "--overwrite", value)
    assert code == (0 if value in ("never", "if-different", "always") else 2)


@SETTINGS
@given(include=junk, exclude=junk)
@example(include="", exclude="*.jpg")
@example(include="[", exclude="[!")
def test_upload_globs(capsys, folder, include, exclude):
    code = upload(capsys, folder, "--include", include, "--exclude", exclude)
    if not include.strip() or not exclude.strip():
        assert code == 2


@SETTINGS
@given(value=st.one_of(st.sampled_from(PREFIXES), junk))
def test_upload_prefix(capsys, folder, value):
    code = upload(capsys, folder, "--prefix", value)
    segments = value.replace("\\", "/").split("/")
    if ".." in segments or (len(value) >= 2 and value[1] == ":"):
        assert code == 2


@pytest.mark.parametrize("value", PREFIXES[:-1])
def test_upload_prefix_that_climbs_out_is_refused(capsys, folder, value):
    assert upload(capsys, folder, "--prefix", value) == 2


@SETTINGS
@given(value=st.one_of(st.sampled_from(SAS_JUNK), junk))
def test_upload_sas(capsys, folder, value):
    cli(capsys, "upload", str(folder), value, "--dry-run", "--allow-sleep")


@pytest.mark.parametrize("value", SAS_JUNK)
def test_sas_junk_is_refused_by_every_command_that_takes_one(capsys, folder, value):
    for args in (["upload", str(folder), value, "--dry-run"], ["check", value], ["bandwidth", value],
                 ["verify", str(folder), value], ["estimate", str(folder), value]):
        assert cli(capsys, *args)[0] == 2, args


@SETTINGS
@given(value=junk)
def test_upload_folder(capsys, tmp_path, value):
    cli(capsys, "upload", value, FAKE_SAS, "--dry-run", "--allow-sleep")


@SETTINGS
@given(value=line_junk)
def test_upload_report_path(capsys, folder, value):
    upload(capsys, folder, "--report", value)


TOO_LONG = "a" * 300  # longer than a file name may be (255 on Linux, NTFS; MAX_PATH 260 on old Windows)


@pytest.mark.parametrize("args", [["upload", TOO_LONG, FAKE_SAS, "--dry-run"], ["verify", TOO_LONG, FAKE_SAS],
                                  ["upload", f"{TOO_LONG}/cards", FAKE_SAS, "--dry-run"]])
def test_a_folder_name_too_long_for_the_system_is_bad_input(capsys, args):
    assert cli(capsys, *args)[0] == 2


def test_estimate_folder_name_too_long_is_bad_input(capsys):
    assert cli(capsys, "estimate", TOO_LONG, "--bandwidth", "20Mbps")[0] == 2


def test_upload_unknown_option_and_missing_arguments(capsys, folder):
    assert cli(capsys, "upload")[0] == 2
    assert cli(capsys, "upload", str(folder), FAKE_SAS, "--no-such-option")[0] == 2
    assert cli(capsys, "upload", str(folder))[0] == 2  # no SAS and no MDPLAN_SAS
    assert cli(capsys, "upload", str(folder), FAKE_SAS, "--cap-mbps", "5", "--bwlimit", "1M", "--dry-run")[0] == 2
    assert cli(capsys, "--debug", "upload", str(folder), FAKE_SAS, "--prefix", "../x")[0] == 2
    assert cli(capsys, "no-such-command")[0] == 2


# ---- the other commands --------------------------------------------------------------------------
@SETTINGS
@given(value=junk)
def test_jobs_forget(capsys, value):
    cli(capsys, "jobs", "--forget", value)


@SETTINGS
@given(job=line_junk, out=line_junk)
def test_report(capsys, job, out):
    assert cli(capsys, "report", job, "--out", out)[0] == 2  # there are no jobs here


@SETTINGS
@given(value=junk)
def test_bandwidth_seconds(capsys, value):
    # a valid number of seconds would start measuring; the SAS is junk so it stops before any network
    assert cli(capsys, "bandwidth", "not-a-sas", "--seconds", value)[0] == 2


@SETTINGS
@given(option=st.sampled_from(["--bandwidth", "--monthly-cap", "--drive-speed", "--drive-size", "--shipping-days",
                               "--seconds"]), value=junk)
def test_estimate_options(capsys, folder, option, value):
    extra = [] if option == "--bandwidth" else ["--bandwidth", "20Mbps"]
    cli(capsys, "estimate", str(folder), option, value, *extra, "--json")


@pytest.mark.parametrize("option,value", [("--bandwidth", "fast"), ("--bandwidth", "-20Mbps"),
                                          ("--monthly-cap", "lots"), ("--drive-speed", "0"), ("--drive-size", "-1TB"),
                                          ("--shipping-days", "-1"), ("--shipping-days", "nan")])
def test_estimate_known_bad(capsys, folder, option, value):
    extra = [] if option == "--bandwidth" else ["--bandwidth", "20Mbps"]
    assert cli(capsys, "estimate", str(folder), option, value, *extra)[0] == 2


@pytest.mark.parametrize("args", [["demo", "--files", "x"], ["demo", "--files", "5"], ["demo", "--files", "10**9"],
                                  ["demo", "--cap-mbps", "0"], ["demo", "--cap-mbps", "nan"], ["demo", "--cap-mbps", "-1"]])
def test_demo_bad_numbers(capsys, args):
    assert cli(capsys, *args)[0] == 2
