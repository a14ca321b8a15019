"""Security: the SAS signature is a password and never leaks; journals and reports are private files;
symlinks do not lead out of the source folder; blob names never climb out of the prefix; an upload
talks to the SAS host and nothing else. All against a real Azurite."""

from __future__ import annotations

import io
import os
import random
import signal
import socket
import stat
import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import unquote

import pytest
from helpers.faultproxy import FaultProxy, ScaledClock, blobs, camera_files, journal_rows, make_tree, sig_forms

import planner.cli.app as cli
from planner.cli import main
from planner.sas import parse_sas_url
from planner.upload import QuietUI, UploadOptions, run


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """cwd, MDPLAN_HOME and signal handlers of this test only; --debug reset afterwards."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MDPLAN_SAS", raising=False)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield tmp_path
    cli.state.debug = False
    for s, h in saved.items():
        signal.signal(s, h)


def _leaks(data: bytes, forms: list[bytes]) -> list[bytes]:
    # the whole signature in any encoding, or a 12-character piece of it (a truncated copy)
    pieces = set(forms) | {f[:12] for f in forms} | {f[-12:] for f in forms}
    return [p for p in pieces if p in data]


def test_the_signature_never_appears_in_any_output_or_file(azurite, container, sandbox, capfd, monkeypatch):
    files = camera_files(6, 3_000, seed=41)
    root = make_tree(sandbox / "cards", files)
    url = azurite.container_sas_url(container)
    expired = azurite.container_sas_url(container, expiry=timedelta(hours=-1))
    write_only = azurite.container_sas_url(container, permission="cw")
    forms = {u: sig_forms(u) for u in (url, expired, write_only)}
    all_forms = [f for fs in forms.values() for f in fs]
    work = sandbox / "cwd"
    runs = [
        ["check", url], ["--debug", "check", url], ["check", expired], ["check", "--json", write_only],
        ["bandwidth", url, "--seconds", "1"], ["--debug", "bandwidth", url, "--seconds", "1", "--json"],
        ["estimate", str(root), url, "--seconds", "1", "--report", str(work / "plan.html")],
        ["--debug", "estimate", str(root), url, "--seconds", "1", "--json"],
        ["upload", str(root), url, "--allow-sleep", "--report", str(work / "up.html")],
        ["--debug", "upload", str(root), url, "--json", "--allow-sleep"],
        ["upload", str(root), expired, "--allow-sleep"], ["--debug", "upload", str(root), expired, "--json"],
        ["upload", str(root), url + "&foo=bar", "--dry-run", "--json"], ["upload", str(root), url, "--prefix", "../x"],
        ["verify", str(root), url], ["--debug", "verify", str(root), url, "--json"], ["verify", str(root), write_only],
        ["jobs"], ["jobs", "--json"], ["report"], ["--debug", "report", "--out", str(work / "again.html")],
    ]
    printed = b""
    codes = []
    for args in runs:
        codes.append(main(list(args)))
        out, err = capfd.readouterr()
        printed += (out + err).encode()
        cli.state.debug = False
    # the URL from the environment and from stdin, the way the guide tells people to pass it
    monkeypatch.setenv("MDPLAN_SAS", url)
    codes.append(main(["check", "--json"]))
    monkeypatch.delenv("MDPLAN_SAS")
    monkeypatch.setattr("sys.stdin", io.StringIO(url + "\n"))
    codes.append(main(["upload", str(root), "-", "--allow-sleep"]))
    # an unexpected error whose text carries the URL: --debug shows the traceback, redacted
    import planner.azure as destination

    def boom(sas, *a, **kw):
        raise RuntimeError(f"something broke talking to {sas.container_url}")

    monkeypatch.setattr(destination, "check", boom)
    codes.append(main(["--debug", "check", url]))
    out, err = capfd.readouterr()
    printed += (out + err).encode()
    assert "Traceback" in err and "sig=REDACTED" in err  # the traceback is there, the signature is not

    assert codes[:6] == [0, 0, 3, 0, 0, 0], codes
    assert 3 in codes and 2 in codes and 1 in codes  # the failure paths ran too
    assert not _leaks(printed, all_forms), "the signature was printed"
    written = [p for d in (sandbox / "home", work, root) for p in d.rglob("*") if p.is_file()]
    assert any(p.suffix == ".sqlite" for p in written) and any(p.suffix == ".html" for p in written)
    assert any(p.suffix == ".csv" for p in written)
    for p in written:
        assert not _leaks(p.read_bytes(), all_forms), f"the signature is in {p}"


def test_journal_telemetry_and_error_texts_stay_redacted_under_faults(azurite, container, sandbox, capfd):
    """Connection resets make error texts that quote the request URL (query and all): they must be stored
    redacted in the journal and shown redacted in the report and manifest."""
    files = camera_files(12, 2_000, seed=42)
    root = make_tree(sandbox / "cards", files)
    with FaultProxy(azurite.host, azurite.port, reset_rate=0.5, seed=42, max_seconds=60) as proxy:
        url = proxy.rewrite(azurite.container_sas_url(container))
        res, _ = run(UploadOptions(source=root, sas=parse_sas_url(url), home=sandbox / "home", workers=4,
                                   max_attempts=2), QuietUI(), clock=ScaledClock(20), rng=random.Random(42))
    errors = [e for (e,) in journal_rows(res.journal_path, "SELECT last_error FROM files WHERE last_error IS NOT NULL")]
    assert main(["report", "--out", str(sandbox / "cwd" / "faults.html")]) == 0
    capfd.readouterr()
    forms = sig_forms(url)
    if errors:  # with these seeds some files give up; their reasons quote the URL, redacted
        assert any("REDACTED" in e or "attempts" in e for e in errors)
    for p in [*(sandbox / "home").rglob("*"), *(sandbox / "cwd").rglob("*")]:
        if p.is_file():
            assert not _leaks(p.read_bytes(), forms), f"the signature is in {p}"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_journals_and_reports_are_readable_by_the_user_only(azurite, container, sandbox, capfd):
    root = make_tree(sandbox / "cards", camera_files(3, 1_000, seed=43))
    url = azurite.container_sas_url(container)
    modes_during: dict[str, int] = {}

    class PeekUI(QuietUI):
        def plan(self, plan):  # the journal is open and being written (WAL and shared memory exist)
            for p in Path(plan.journal_path).parent.iterdir():
                modes_during[p.name] = stat.S_IMODE(p.stat().st_mode)

    old = os.umask(0o022)  # a usual umask: files are world-readable unless mdplan says otherwise
    try:
        res, _ = run(UploadOptions(source=root, sas=parse_sas_url(url), home=sandbox / "home"), PeekUI())
        assert main(["report", "--out", str(sandbox / "cwd" / "r.html")]) == 0
    finally:
        os.umask(old)
    assert any(n.endswith("-wal") for n in modes_during), modes_during
    for name, mode in modes_during.items():
        assert mode & 0o077 == 0, f"{name} is {oct(mode)} while the job runs"
    for p in [Path(res.journal_path), *(sandbox / "cwd").rglob("*")]:
        if p.is_file():
            assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, f"{p} is {oct(p.stat().st_mode)}"


@pytest.mark.skipif(os.name != "posix", reason="symlinks need privileges on Windows")
@pytest.mark.parametrize("follow", [False, True])
def test_symlinks_do_not_lead_out_of_the_source_folder(azurite, container, tmp_path, follow):
    outside = make_tree(tmp_path / "secret", {"passwords.txt": b"hunter2", "d/IMG_0001.JPG": b"\xff\xd8no"})
    root = make_tree(tmp_path / "cards", {"site1/IMG_0001.JPG": b"\xff\xd8yes\xff\xd9"})
    (root / "site1" / "link-to-file.JPG").symlink_to(outside / "passwords.txt")
    (root / "site1" / "link-to-dir").symlink_to(outside / "d", target_is_directory=True)
    (root / "site1" / "loop").symlink_to(root, target_is_directory=True)
    res, plan = run(UploadOptions(source=root, sas=parse_sas_url(azurite.container_sas_url(container)),
                                  home=tmp_path / "home", follow_symlinks=follow))
    assert res.exit_code == 0, res.message
    there = blobs(azurite, container)
    assert list(there) == ["site1/IMG_0001.JPG"]
    cc = azurite.service_client().get_container_client(container)
    assert all(b"hunter2" not in cc.download_blob(n).readall() for n in there)
    if not follow:
        assert any("symbolic link" in reason for reason in plan.excluded), plan.excluded


def test_blob_names_never_climb_out_of_the_prefix(azurite, container, tmp_path):
    # legal file names on Linux and macOS that look like paths elsewhere ("..." is not here: Azure trims
    # trailing dots, so the upload refuses it by name before sending: tests/unit/test_names.py)
    names = ["..\\..\\evil.jpg", "..\\up.jpg", "a\\..\\..\\b.jpg", "d/..\\..\\..\\deep.jpg", "..jpg", ". .jpg",
             "%2e%2e", "ok.jpg"]
    if os.name != "posix":
        names = [n for n in names if "\\" not in n]
    root = make_tree(tmp_path / "cards", {n: n.encode() for n in names})
    url = azurite.container_sas_url(container, prefix="intake")
    res, _ = run(UploadOptions(source=root, sas=parse_sas_url(url), home=tmp_path / "home", prefix="site-a"))
    there = blobs(azurite, container)
    assert res.exit_code == 0, res.message
    assert len(there) == len(names)
    for name in there:
        assert name.startswith("intake/site-a/"), name
        assert not {".", ".."} & set(name.split("/")), name
    names_in_journal = {n for (n,) in journal_rows(res.journal_path, "SELECT blob_name FROM files")}
    assert names_in_journal == set(there)  # what the journal says is what the service stored (verify relies on it)


def test_upload_and_verify_contact_no_host_but_the_sas_host(azurite, container, sandbox, capfd, monkeypatch):
    root = make_tree(sandbox / "cards", camera_files(4, 2_000, seed=44))
    connects: list[tuple] = []
    lookups: list[str] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def spy_connect(self, address):
        if not threading.current_thread().name.startswith("faultproxy"):  # the proxy's own link to Azurite
            connects.append(address if isinstance(address, tuple) else (address,))
        return real_connect(self, address)

    def spy_getaddrinfo(host, *a, **kw):
        lookups.append(str(host))
        return real_getaddrinfo(host, *a, **kw)

    with FaultProxy(azurite.host, azurite.port, seed=1, max_seconds=60) as proxy:
        url = proxy.rewrite(azurite.container_sas_url(container))
        monkeypatch.setattr(socket.socket, "connect", spy_connect)
        monkeypatch.setattr(socket, "getaddrinfo", spy_getaddrinfo)
        codes = [main(["upload", str(root), url, "--allow-sleep", "--json"]), main(["verify", str(root), url]),
                 main(["check", url])]
        monkeypatch.undo()
        seen = list(proxy.log)
    capfd.readouterr()
    assert codes == [0, 0, 0]
    assert connects and {a[:2] for a in connects} == {("127.0.0.1", proxy.port)}, set(connects)
    assert set(lookups) <= {"127.0.0.1"}, set(lookups)
    assert seen and {r.host for r in seen} == {f"127.0.0.1:{proxy.port}"}
    # and what went there is the user's files and the check's marker file, nothing else
    puts = {unquote(r.path).split(f"/{container}/", 1)[1] for r in seen if r.method == "PUT" and f"/{container}/" in r.path}
    assert {p for p in puts if not p.startswith(".mdplan/")} == set(blobs(azurite, container))
