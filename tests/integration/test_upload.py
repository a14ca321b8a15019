"""`mdplan upload` against a real Azurite: everything arrives, verified, and nothing is sent twice."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
from datetime import timedelta
from pathlib import Path

import pytest

from planner.errors import BadInput, SasProblem
from planner.sas import parse_sas_url
from planner.upload import StopFlag, UploadOptions, run

SIG_MARK = "sig="


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        p = root.joinpath(*rel.split("/"))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def sample_files(n: int = 12, size: int = 20_000) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        site = f"site{i % 3}"
        cam = f"cam{i % 2}"
        out[f"{site}/{cam}/DCIM/IMG_{i // 6:04d}.JPG"] = os.urandom(size + i)
    out["Thumbs.db"] = b"litter"
    out["site0/.DS_Store"] = b"litter"
    return out


def blobs(azurite, container: str) -> dict[str, dict]:
    cc = azurite.service_client().get_container_client(container)
    result = {}
    for b in cc.list_blobs():
        result[b.name] = {"size": b.size, "etag": b.etag, "md5": bytes(b.content_settings.content_md5 or b"").hex()}
    return result


def blob_bytes(azurite, container: str, name: str) -> bytes:
    return azurite.service_client().get_container_client(container).download_blob(name).readall()


def assert_all_there(azurite, container: str, root: Path, expected: dict[str, bytes], prefix: str = "") -> None:
    there = blobs(azurite, container)
    for rel, data in expected.items():
        name = unicodedata.normalize("NFC", f"{prefix}/{rel}" if prefix else rel)
        assert name in there, f"{name} missing"
        assert there[name]["size"] == len(data)
        assert there[name]["md5"] == hashlib.md5(data).hexdigest()
        assert blob_bytes(azurite, container, name) == data


def opts(root: Path, url: str, home: Path, **kw) -> UploadOptions:
    return UploadOptions(source=root, sas=parse_sas_url(url), home=home, **kw)


def not_litter(files: dict[str, bytes]) -> dict[str, bytes]:
    return {k: v for k, v in files.items() if not k.endswith(("Thumbs.db", ".DS_Store"))}


def test_full_upload_then_rerun_sends_nothing(azurite, container, tmp_path):
    files = sample_files()
    root = make_tree(tmp_path / "cards", files)
    url = azurite.container_sas_url(container)
    result, plan = run(opts(root, url, tmp_path / "home"))
    assert result.exit_code == 0, result.message
    assert plan.files_to_send == 12
    assert result.files_sent == 12
    assert sum(n for n, _ in plan.excluded.values()) == 2  # litter listed, not sent
    assert_all_there(azurite, container, root, not_litter(files))
    assert "Thumbs.db" not in blobs(azurite, container)
    before = blobs(azurite, container)

    again, plan2 = run(opts(root, url, tmp_path / "home"))
    assert again.exit_code == 0
    assert plan2.files_to_send == 0 and again.files_sent == 0 and plan2.resumed
    assert blobs(azurite, container) == before  # same etags: nothing re-sent


def test_new_sas_continues_the_same_job(azurite, container, tmp_path):
    files = sample_files(6)
    root = make_tree(tmp_path / "cards", files)
    first, plan1 = run(opts(root, azurite.container_sas_url(container, permission="racwdl"), tmp_path / "h"))
    new_url = azurite.container_sas_url(container, permission="cw", expiry=timedelta(days=3))
    second, plan2 = run(opts(root, new_url, tmp_path / "h"))
    assert plan1.job_id == plan2.job_id
    assert second.files_sent == 0 and second.exit_code == 0


def test_write_only_and_policy_only_sas(azurite, tmp_path):
    files = sample_files(5)
    root = make_tree(tmp_path / "cards", files)
    c1 = azurite.create_container("wonly-" + os.urandom(4).hex())
    res, _ = run(opts(root, azurite.container_sas_url(c1, permission="cw"), tmp_path / "h"))
    assert res.exit_code == 0 and res.files_sent == 5
    assert_all_there(azurite, c1, root, not_litter(files))
    res2, _ = run(opts(root, azurite.container_sas_url(c1, permission="cw"), tmp_path / "h"))
    assert res2.files_sent == 0  # relies on the journal, never fails for lack of read permission

    c2 = azurite.create_container("policy-" + os.urandom(4).hex(),
                                  policies={"team-rw": ("racwl", timedelta(days=14))})
    url = azurite.container_sas_url(c2, policy_id="team-rw")
    assert "se=" not in url and "sp=" not in url
    res3, _ = run(opts(root, url, tmp_path / "h"))
    assert res3.exit_code == 0 and res3.files_sent == 5
    assert_all_there(azurite, c2, root, not_litter(files))


def test_odd_names_zero_bytes_and_prefix_round_trip(azurite, container, tmp_path):
    files = {
        "site A/cam #1/IMG 0001.JPG": b"\xff\xd8" + os.urandom(3000),
        "site A/100%/IMG?.jpg": os.urandom(100),
        "Montée/caméra/été.jpg": os.urandom(200),
        "鳥/カメラ/写真.jpg": os.urandom(300),
        "empty/zero.jpg": b"",
    }
    root = make_tree(tmp_path / "odd", files)
    url = azurite.container_sas_url(container, prefix="2024/drop")
    res, _ = run(opts(root, url, tmp_path / "h", prefix="season 1"))
    assert res.exit_code == 0, res.message
    assert_all_there(azurite, container, root, files, prefix="2024/drop/season 1")


def test_two_files_that_map_to_one_blob_name_stop_the_upload_before_sending(azurite, container, tmp_path):
    """Issue 17: on main one twin went up, the other failed with exit 1 on every run ("run the same command
    again" cannot help) and verify called it "MD5 differs". Now: exit 2 before sending, both named."""
    nfc = unicodedata.normalize("NFC", "café.jpg")
    nfd = unicodedata.normalize("NFD", "café.jpg")
    assert nfc != nfd
    root = make_tree(tmp_path / "c", {f"s/{nfc}": b"one", f"s/{nfd}": b"two-two"})
    with pytest.raises(BadInput, match="rename one of them"):
        run(opts(root, azurite.container_sas_url(container), tmp_path / "h"))
    assert blobs(azurite, container) == {}


def test_large_file_goes_up_in_blocks(azurite, container, tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    big = root / "video.mp4"
    with open(big, "wb") as f:  # sparse: 66 MiB of mostly zeros, with data at both ends
        f.write(os.urandom(1024))
        f.seek(66 * 1024 * 1024 - 1024)
        f.write(os.urandom(1024))
    res, _ = run(opts(root, azurite.container_sas_url(container), tmp_path / "h"))
    assert res.exit_code == 0, res.message
    cc = azurite.service_client().get_container_client(container)
    blocks = cc.get_blob_client("video.mp4").get_block_list("committed")[0]
    assert len(blocks) > 1
    data = big.read_bytes()
    there = blobs(azurite, container)["video.mp4"]
    assert there["size"] == len(data) and there["md5"] == hashlib.md5(data).hexdigest()


def _stop_after_blocks(monkeypatch, n: int | None):
    """Count Put Block requests; with n, ask for 'stop now' (a second Ctrl-C) once n have been sent."""
    from planner.azure.rest import RestPut

    real, sent, stop = RestPut.put_block, [], StopFlag()

    def put_block(self, name, block_id, data, **kw):
        out = real(self, name, block_id, data, **kw)
        sent.append(len(data))
        if n is not None and len(sent) >= n:
            stop.soft.set(), stop.hard.set()
        return out

    monkeypatch.setattr(RestPut, "put_block", put_block)
    return sent, stop


@pytest.mark.parametrize("changed", [False, True], ids=["same-file", "file-changed-between-runs"])
def test_a_big_file_cut_off_mid_way_resumes_from_its_staged_blocks(azurite, container, tmp_path, monkeypatch,
                                                                   changed):
    """Blocks the service already holds (uncommitted, from a crash or a stop) are not sent again,
    but only for the same version of the file: a file changed since gets all its blocks anew."""
    root = tmp_path / "f"
    root.mkdir()
    video = root / "VID_0001.MP4"
    video.write_bytes(os.urandom(6 * 1024 * 1024))  # at a 40 Mbit/s cap: 1 MiB blocks, six of them
    url = azurite.container_sas_url(container)
    sent, stop = _stop_after_blocks(monkeypatch, 2)
    first, _ = run(opts(root, url, tmp_path / "h", cap_mbps=40), stop=stop)
    assert first.exit_code == 130 and len(sent) == 2 and blobs(azurite, container) == {}  # nothing committed
    if changed:
        video.write_bytes(os.urandom(6 * 1024 * 1024))
        os.utime(video, ns=(time.time_ns(), time.time_ns() + 10**9))
    sent, _ = _stop_after_blocks(monkeypatch, None)
    again, _ = run(opts(root, url, tmp_path / "h", cap_mbps=40))
    assert again.exit_code == 0, again.message
    assert len(sent) == (6 if changed else 4) and again.bytes_sent == sum(sent)
    assert_all_there(azurite, container, root, {"VID_0001.MP4": video.read_bytes()})


def test_an_upload_only_url_resends_a_cut_off_file_whole(azurite, container, tmp_path, monkeypatch):
    root = tmp_path / "f"
    root.mkdir()
    (root / "VID_0001.MP4").write_bytes(os.urandom(4 * 1024 * 1024))
    url = azurite.container_sas_url(container, permission="cw")  # cannot read its staged blocks back
    sent, stop = _stop_after_blocks(monkeypatch, 2)
    assert run(opts(root, url, tmp_path / "h", cap_mbps=40), stop=stop)[0].exit_code == 130
    sent, _ = _stop_after_blocks(monkeypatch, None)
    again, _ = run(opts(root, url, tmp_path / "h", cap_mbps=40))
    assert again.exit_code == 0 and len(sent) == 4
    assert_all_there(azurite, container, root, {"VID_0001.MP4": (root / "VID_0001.MP4").read_bytes()})


def test_images_only_include_exclude(azurite, container, tmp_path):
    files = {"a/IMG1.JPG": b"1", "a/IMG2.jpeg": b"22", "a/notes.txt": b"n", "a/clip.MP4": b"v",
             "b/IMG3.jpg": b"333", "b/skip/IMG4.jpg": b"4444"}
    root = make_tree(tmp_path / "f", files)
    res, plan = run(opts(root, azurite.container_sas_url(container), tmp_path / "h", images_only=True,
                         exclude=("b/skip/*",)))
    assert res.exit_code == 0
    assert sorted(blobs(azurite, container)) == ["a/IMG1.JPG", "a/IMG2.jpeg", "b/IMG3.jpg"]
    reasons = " ".join(plan.excluded)
    assert "--images-only" in reasons and "--exclude" in reasons

    c2 = azurite.create_container("inc-" + os.urandom(4).hex())
    res2, _ = run(opts(root, azurite.container_sas_url(c2), tmp_path / "h2", include=("*.JPG",)))
    assert sorted(blobs(azurite, c2)) == ["a/IMG1.JPG", "b/IMG3.jpg", "b/skip/IMG4.jpg"]  # case-insensitive


def test_expired_and_read_only_sas_stop_before_sending(azurite, container, tmp_path):
    root = make_tree(tmp_path / "f", sample_files(4))
    with pytest.raises(SasProblem) as e:
        run(opts(root, azurite.container_sas_url(container, expiry=timedelta(hours=-1)), tmp_path / "h"))
    assert "expired" in str(e.value) and SIG_MARK not in str(e.value).replace("sig=REDACTED", "")
    with pytest.raises(SasProblem) as e2:
        run(opts(root, azurite.container_sas_url(container, permission="rl"), tmp_path / "h"))
    assert "cannot write" in str(e2.value)
    assert blobs(azurite, container) == {}
    # the journal survived and a good URL carries on
    res, plan = run(opts(root, azurite.container_sas_url(container), tmp_path / "h"))
    assert res.exit_code == 0 and plan.files_to_send == 4


def test_read_only_policy_sas_is_refused_by_the_service(azurite, tmp_path):
    c = azurite.create_container("ro-" + os.urandom(4).hex(), policies={"ro": ("rl", timedelta(days=1))})
    root = make_tree(tmp_path / "f", sample_files(3))
    res, _ = run(opts(root, azurite.container_sas_url(c, policy_id="ro"), tmp_path / "h"))
    assert res.exit_code == 3 and res.files_sent == 0
    assert blobs(azurite, c) == {}


def test_bad_input(tmp_path, azurite, container):
    url = azurite.container_sas_url(container)
    with pytest.raises(BadInput):
        run(opts(tmp_path / "nope", url, tmp_path / "h"))
    f = tmp_path / "file.jpg"
    f.write_bytes(b"x")
    with pytest.raises(BadInput):
        run(opts(f, url, tmp_path / "h"))
    (tmp_path / "d").mkdir()
    with pytest.raises(BadInput):
        run(opts(tmp_path / "d", url, tmp_path / "h", prefix="../up"))
    with pytest.raises(BadInput):
        run(opts(tmp_path / "d", url, tmp_path / "h", cap_mbps=5, bwlimit="1M"))


def test_dry_run_sends_nothing(azurite, container, tmp_path):
    root = make_tree(tmp_path / "f", sample_files(4))
    result, plan = run(opts(root, azurite.container_sas_url(container), tmp_path / "h", dry_run=True))
    assert result is None and plan.files_to_send == 4
    assert blobs(azurite, container) == {}


def test_stop_flag_then_resume(azurite, container, tmp_path):
    files = sample_files(30, size=40_000)
    root = make_tree(tmp_path / "f", files)
    url = azurite.container_sas_url(container)
    stop = StopFlag()
    stop.request()  # as if Ctrl-C came before the first file
    res, _ = run(opts(root, url, tmp_path / "h", workers=2), stop=stop)
    assert res.exit_code == 130 and res.outcome == "interrupted"
    res2, _ = run(opts(root, url, tmp_path / "h"))
    assert res2.exit_code == 0
    assert_all_there(azurite, container, root, not_litter(files))


def test_throttled_upload_holds_the_cap_roughly(azurite, container, tmp_path):
    files = {f"s/IMG_{i:03d}.JPG": os.urandom(50_000) for i in range(20)}  # 1 MB
    root = make_tree(tmp_path / "f", files)
    t0 = time.monotonic()
    res, _ = run(opts(root, azurite.container_sas_url(container), tmp_path / "h", cap_mbps=4))  # 0.5 MB/s
    elapsed = time.monotonic() - t0
    assert res.exit_code == 0
    # loose bounds: 1 MB at 0.5 MB/s is ~2 s; unthrottled it would take well under 0.5 s
    assert elapsed > 1.2
    assert res.average_bits_per_second < 4e6 * 1.5


# ---------------------------------------------------------------------------------------------
# The command itself, as a user runs it
# ---------------------------------------------------------------------------------------------
def mdplan(*args: str, env: dict, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("cwd", Path(env["MDPLAN_HOME"]).parent)  # reports/ lands in the test's own folder
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, **kw)


@pytest.fixture
def env(tmp_path):
    e = dict(os.environ)
    e["MDPLAN_HOME"] = str(tmp_path / "home")
    e.pop("MDPLAN_SAS", None)
    return e


def _sig(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["sig"][0]


def test_cli_upload_json_exit_codes_and_no_signature_anywhere(azurite, container, tmp_path, env):
    root = make_tree(tmp_path / "f", sample_files(6))
    url = azurite.container_sas_url(container)
    sig = _sig(url)
    p = mdplan("upload", str(root), url, "--json", "--report", str(tmp_path / "r" / "rep.html"), env=env)
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout)
    assert summary["files_sent"] == 6 and summary["exit_code"] == 0
    # the URL from the environment works too, and '-' reads it from stdin
    p2 = mdplan("upload", str(root), "--json", env={**env, "MDPLAN_SAS": url})
    assert p2.returncode == 0 and json.loads(p2.stdout)["files_sent"] == 0
    p3 = mdplan("upload", str(root), "-", env=env, input=url + "\n")
    assert p3.returncode == 0
    bad = mdplan("upload", str(tmp_path / "missing"), url, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    expired = mdplan("upload", str(root), azurite.container_sas_url(container, expiry=timedelta(hours=-1)),
                     env=env)
    assert expired.returncode == 3 and "new URL" in expired.stderr
    for proc in (p, p2, p3, bad, expired):
        assert sig not in proc.stdout + proc.stderr
    for f in Path(env["MDPLAN_HOME"]).rglob("*"):
        if f.is_file():
            assert sig.encode() not in f.read_bytes(), f
    for f in (tmp_path / "r").rglob("*"):
        assert sig.encode() not in f.read_bytes(), f


def _done_in_journal(home: Path) -> dict[str, str]:
    dbs = list((home / "jobs").glob("*.sqlite"))
    if not dbs:
        return {}
    try:
        con = sqlite3.connect(f"file:{dbs[0]}?mode=ro", uri=True, timeout=5)
        rows = con.execute("SELECT blob_name, md5 FROM files WHERE state='done'").fetchall()
        con.close()
        return dict(rows)
    except sqlite3.Error:
        return {}


def _wait_for(pred, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


@pytest.mark.parametrize("how", ["kill9", "sigint"])
def test_killed_mid_job_resumes_without_resending(azurite, container, tmp_path, env, how):
    files = {f"s{i % 2}/IMG_{i:03d}.JPG": os.urandom(60_000) for i in range(40)}  # 2.4 MB
    root = make_tree(tmp_path / "f", files)
    url = azurite.container_sas_url(container)
    home = Path(env["MDPLAN_HOME"])
    proc = subprocess.Popen([sys.executable, "-m", "planner", "upload", str(root), url, "--cap-mbps", "2", "--json"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        _wait_for(lambda: len(_done_in_journal(home)) >= 5)
        proc.send_signal(signal.SIGKILL if how == "kill9" else signal.SIGINT)
        out, errs = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if how == "sigint":
        assert proc.returncode == 130, errs
        assert "same command" in errs + out
    else:
        assert proc.returncode == -signal.SIGKILL
    done_before = _done_in_journal(home)
    assert 0 < len(done_before) < len(files)
    etags_before = {n: b["etag"] for n, b in blobs(azurite, container).items() if n in done_before}
    assert set(etags_before) == set(done_before)  # what the journal calls done is really there

    again = mdplan("upload", str(root), url, "--json", env=env)
    assert again.returncode == 0, again.stderr
    after = blobs(azurite, container)
    for name, etag in etags_before.items():
        assert after[name]["etag"] == etag, f"{name} was sent again"
    assert_all_there(azurite, container, root, files)


def test_a_second_upload_of_a_running_job_is_refused(azurite, container, tmp_path, env):
    # 1.5 MB at 1 Mbit/s: ~12 s, room for two CLI start-ups on a loaded machine (at 4 Mbit/s, ~3 s, the
    # first run sometimes finished before the second one looked)
    files = {f"s/IMG_{i:03d}.JPG": os.urandom(50_000) for i in range(30)}
    root = make_tree(tmp_path / "f", files)
    url = azurite.container_sas_url(container)
    home = Path(env["MDPLAN_HOME"])
    first = subprocess.Popen([sys.executable, "-m", "planner", "upload", str(root), url, "--cap-mbps", "1", "--json"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        _wait_for(lambda: len(_done_in_journal(home)) >= 2)
        second = mdplan("upload", str(root), url, env=env)
        forget = mdplan("jobs", "--forget", next((home / "jobs").glob("*.sqlite")).stem, env=env)
        out, errs = first.communicate(timeout=90)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 2 and "already working on this job" in second.stderr
    assert len(second.stderr.strip().splitlines()) <= 2 and "Traceback" not in second.stderr
    assert forget.returncode == 2 and list((home / "jobs").glob("*.sqlite"))
    assert first.returncode == 0, errs
    assert json.loads(out)["files_sent"] == len(files)  # the first run sent everything, once
    assert_all_there(azurite, container, root, files)
    assert mdplan("upload", str(root), url, env=env).returncode == 0  # and the job is free again


def test_the_end_of_an_upload_names_the_report_and_the_manifest(azurite, container, tmp_path, env):
    root = make_tree(tmp_path / "f", sample_files(3))
    p = mdplan("upload", str(root), azurite.container_sas_url(container), env=env)
    assert p.returncode == 0, p.stderr
    lines = dict(line.split(": ", 1) for line in p.stdout.splitlines() if line.startswith(("Report: ", "Manifest ")))
    html, csv_ = Path(lines["Report"]), Path(lines["Manifest (every file and its state)"])
    assert html.parent == csv_.parent == tmp_path / "home" / "reports" and html.suffix == ".html" and csv_.suffix == ".csv"
    assert html.is_file() and csv_.read_text(encoding="utf-8-sig").count(",done,") == 3


def test_jobs_lists_and_forgets(azurite, container, tmp_path, env):
    root = make_tree(tmp_path / "f", sample_files(3))
    url = azurite.container_sas_url(container)
    assert mdplan("upload", str(root), url, env=env).returncode == 0
    listed = mdplan("jobs", "--json", env=env)
    jobs = json.loads(listed.stdout)
    assert len(jobs) == 1 and jobs[0]["files_done"] == 3 and jobs[0]["destination"].endswith(container)
    assert mdplan("jobs", "--forget", jobs[0]["job_id"], env=env).returncode == 0
    assert json.loads(mdplan("jobs", "--json", env=env).stdout) == []
    assert mdplan("jobs", "--forget", "nosuchjob", env=env).returncode == 2


def test_verify_finds_missing_and_changed(azurite, container, tmp_path, env):
    files = sample_files(4)
    root = make_tree(tmp_path / "f", files)
    url = azurite.container_sas_url(container)
    assert mdplan("upload", str(root), url, env=env).returncode == 0
    ok = mdplan("verify", str(root), url, "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["files_matched"] == 4
    name = next(iter(not_litter(files)))
    azurite.service_client().get_container_client(container).delete_blob(name)
    changed = next(k for k in not_litter(files) if k != name)
    p = root.joinpath(*changed.split("/"))
    data = bytearray(p.read_bytes())
    data[0] ^= 0xFF
    p.write_bytes(bytes(data))
    bad = mdplan("verify", str(root), url, "--json", env=env)
    assert bad.returncode == 1
    diffs = {d["rel_path"]: d["problem"] for d in json.loads(bad.stdout)["differences"]}
    assert diffs == {name: "missing", changed: "MD5 differs"}
    no_list = mdplan("verify", str(root), azurite.container_sas_url(container, permission="cw"), env=env)
    assert no_list.returncode == 3 and "list" in no_list.stderr
