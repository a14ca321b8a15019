"""The uploader's rules, run against the in-memory store (planner.memory_store) under a fake clock:
nothing lost, nothing sent twice, retries, pauses for a dead link, block reuse, integrity, clashes.
The same rules are checked against a real Azurite in tests/integration/test_upload.py and the fault suites."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import pytest

from planner.clock import FakeClock
from planner.errors import BadInput
from planner.journal import Journal
from planner.memory_store import MemoryBlobStore, store_error
from planner.sas import parse_sas_url
from planner.transfer import QuietUI, StopFlag, UploadOptions, run

URL = ("http://127.0.0.1:10000/devstoreaccount1/traps?sv=2021-08-06&se=2099-01-01T00%3A00%3A00Z&sr=c"
       "&sp=racwdl&sig=c2VjcmV0c2VjcmV0c2VjcmV0")


def tree(root: Path, n: int = 12, size: int = 3000, seed: int = 1) -> dict[str, bytes]:
    rng = random.Random(seed)
    files = {f"site{i % 3}/cam{i % 2}/IMG_{i:04d}.JPG": rng.randbytes(size + i) for i in range(n)}
    for rel, data in files.items():
        p = root.joinpath(*rel.split("/"))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def opts(root: Path, home: Path, **kw) -> UploadOptions:
    kw.setdefault("workers", 3)
    return UploadOptions(source=root, sas=parse_sas_url(URL), home=home, **kw)


def go(root: Path, home: Path, store: MemoryBlobStore, *, stop: StopFlag | None = None, ui=None, **kw):
    result, _plan = run(opts(root, home, **kw), ui, store=store, clock=FakeClock(), stop=stop,
                        rng=random.Random(3))
    return result


def assert_holds(store: MemoryBlobStore, files: dict[str, bytes]) -> None:
    assert set(store.blobs) == set(files)
    for name, data in files.items():
        assert store.data(name) == data, name
        assert store.blobs[name].md5 == hashlib.md5(data).digest(), name


def test_a_full_upload_then_a_rerun_sends_nothing(tmp_path):
    files = tree(tmp_path / "src")
    store = MemoryBlobStore()
    first = go(tmp_path / "src", tmp_path / "h", store)
    assert first.exit_code == 0 and first.files_sent == len(files)
    assert_holds(store, files)
    puts = store.requests["put"]
    again = go(tmp_path / "src", tmp_path / "h", store)
    assert again.exit_code == 0 and again.files_sent == 0 and store.requests["put"] == puts
    assert all(n == 1 for n in store.writes.values())


def test_a_stopped_job_resumes_and_sends_each_file_once(tmp_path):
    files = tree(tmp_path / "src", n=20)
    stop = StopFlag()
    puts = []

    def faults(op: str, name: str) -> None:
        if op == "put":
            puts.append(name)
            if len(puts) == 5:
                stop.request()  # Ctrl-C: the files in flight finish, no new one starts

    store = MemoryBlobStore(faults=faults)
    first = go(tmp_path / "src", tmp_path / "h", store, stop=stop)
    assert first.exit_code == 130 and 5 <= first.files_sent < 20
    again = go(tmp_path / "src", tmp_path / "h", store)
    assert again.exit_code == 0 and first.files_sent + again.files_sent == 20
    assert_holds(store, files)
    assert all(n == 1 for n in store.writes.values())  # nothing sent twice


def test_blobs_that_arrived_before_a_crash_are_found_not_resent(tmp_path):
    """kill -9 after the service stored files but before the journal said so: the listing finds them."""
    files = tree(tmp_path / "src")
    store = MemoryBlobStore()
    for name in list(files)[:7]:
        store.put_blob(name, files[name], content_md5=hashlib.md5(files[name]).digest(),
                       content_type="image/jpeg", overwrite=True, job=None)
    res = go(tmp_path / "src", tmp_path / "h", store)
    assert res.exit_code == 0 and res.files_already_there == 7 and res.files_sent == len(files) - 7
    assert all(store.writes[n] == 1 for n in files)


def test_transient_failures_and_damaged_bytes_are_retried(tmp_path):
    files = tree(tmp_path / "src")
    store = MemoryBlobStore()
    store.fail_next("put", "transient", 2)
    store.fail_next("put", "checksum", 1)
    store.fail_next("list", "transient", 1)  # the listing that starts every run is retried too
    res = go(tmp_path / "src", tmp_path / "h", store)
    assert res.exit_code == 0 and res.retries == 3
    assert_holds(store, files)


def test_a_refused_url_mid_job_stops_the_job_and_keeps_the_rest_pending(tmp_path):
    files = tree(tmp_path / "src")
    store = MemoryBlobStore()
    store.fail_next("put", "sas", 1)
    res = go(tmp_path / "src", tmp_path / "h", store, workers=1)
    assert res.exit_code == 3 and "To continue" in res.message
    again = go(tmp_path / "src", tmp_path / "h", store)
    assert again.exit_code == 0
    assert_holds(store, files)


def test_a_dead_link_pauses_the_job_instead_of_failing_files(tmp_path):
    """Every request fails for ten minutes of (fake) time, as when the uplink black-holes packets."""
    files = tree(tmp_path / "src")
    clock = FakeClock()
    outage_ends = clock.monotonic() + 600

    def faults(op: str, name: str) -> None:
        if op == "put" and clock.monotonic() < outage_ends:
            raise store_error("transient", timeout=True)

    store = MemoryBlobStore(faults=faults)
    ui = QuietUI()
    result, _ = run(opts(tmp_path / "src", tmp_path / "h"), ui, store=store, clock=clock, rng=random.Random(3))
    assert result.exit_code == 0 and result.files_failed == 0, result.message
    assert_holds(store, files)
    assert any(m.startswith("Link down since") for m in ui.messages) and "Network is back; carrying on." in ui.messages
    with Journal.open_existing(Path(result.journal_path)) as j:
        kinds = [k for _t, k, _d in j.events()]
    assert "pause" in kinds and "resume" in kinds


def _video(root: Path, data: bytes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    p = root / "VID_0001.MP4"
    p.write_bytes(data)
    return p


def _cut_after(store_blocks: int):
    stop = StopFlag()
    seen = []

    def faults(op: str, name: str) -> None:
        if op == "stage":
            seen.append(name)
            if len(seen) > store_blocks:
                stop.soft.set(), stop.hard.set()
                raise store_error("transient")

    return stop, faults, seen


def test_a_cut_off_big_file_resumes_from_the_blocks_the_service_holds(tmp_path):
    video = _video(tmp_path / "src", os.urandom(6 * 1024 * 1024))
    stop, faults, _seen = _cut_after(2)
    store = MemoryBlobStore(faults=faults)
    first = go(tmp_path / "src", tmp_path / "h", store, stop=stop, cap_mbps=40)  # 1 MiB blocks
    assert first.exit_code == 130 and store.blobs == {} and len(store.staged["VID_0001.MP4"]) == 2
    store.faults = None
    before = store.requests["stage"]
    again = go(tmp_path / "src", tmp_path / "h", store, cap_mbps=40)
    assert again.exit_code == 0 and store.requests["stage"] - before == 4
    assert_holds(store, {"VID_0001.MP4": video.read_bytes()})


def test_staged_blocks_of_a_file_changed_in_place_are_never_reused(tmp_path):
    """Same size, same mtime (cp -p, rsync -a, coarse FAT times), other bytes: the blob must hold the
    new bytes, and its Content-MD5 must be the MD5 of what it holds."""
    old = os.urandom(6 * 1024 * 1024)
    video = _video(tmp_path / "src", old)
    st = video.stat()
    stop, faults, _seen = _cut_after(2)
    store = MemoryBlobStore(faults=faults)
    assert go(tmp_path / "src", tmp_path / "h", store, stop=stop, cap_mbps=40).exit_code == 130
    new = os.urandom(len(old))
    video.write_bytes(new)
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns))
    store.faults = None
    again = go(tmp_path / "src", tmp_path / "h", store, cap_mbps=40)
    assert again.exit_code == 0
    assert store.data("VID_0001.MP4") == new
    assert store.blobs["VID_0001.MP4"].md5 == hashlib.md5(new).digest()


def test_a_different_file_of_the_same_name_from_another_source_is_not_replaced(tmp_path):
    """Two drives that both hold site0/cam0/IMG_0000.JPG, into one container."""
    tree(tmp_path / "drive1", seed=1)
    files2 = tree(tmp_path / "drive2", seed=2, size=5000)
    store = MemoryBlobStore()
    assert go(tmp_path / "drive1", tmp_path / "h", store).exit_code == 0
    first = {n: store.data(n) for n in store.blobs}
    with pytest.raises(BadInput) as refused:
        go(tmp_path / "drive2", tmp_path / "h", store)
    assert "--prefix drive2" in str(refused.value) and "Nothing was sent" in str(refused.value)
    assert {n: store.data(n) for n in store.blobs} == first
    replaced = go(tmp_path / "drive2", tmp_path / "h", store, overwrite="always")
    assert replaced.exit_code == 0
    assert_holds(store, files2)


def test_a_same_sized_different_file_is_left_alone_and_reported(tmp_path):
    files = tree(tmp_path / "src")
    name = sorted(files)[0]
    store = MemoryBlobStore()
    theirs = bytes(reversed(files[name]))
    store.add(name, theirs)
    res = go(tmp_path / "src", tmp_path / "h", store)
    assert res.exit_code == 1 and res.files_failed == 1
    assert store.data(name) == theirs
    with Journal.open_existing(Path(res.journal_path)) as j:
        why = {r.rel_path: r.last_error for r in j.failures()}
    assert "not replaced" in why[name]


def test_a_job_replaces_its_own_blob_when_the_file_changed(tmp_path):
    files = tree(tmp_path / "src")
    store = MemoryBlobStore()
    assert go(tmp_path / "src", tmp_path / "h", store).exit_code == 0
    name = sorted(files)[0]
    path = (tmp_path / "src").joinpath(*name.split("/"))
    path.write_bytes(b"edited" * 100)
    res = go(tmp_path / "src", tmp_path / "h", store)
    assert res.exit_code == 0 and res.files_sent == 1 and store.data(name) == b"edited" * 100


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_file_swapped_for_a_fifo_fails_without_hanging(tmp_path, monkeypatch):
    monkeypatch.setattr("planner.transfer.listing.CHECK_LISTING_FRESH_S", -1.0)  # a second listing: the moment to swap
    files = tree(tmp_path / "src", n=3)
    name = sorted(files)[1]
    path = (tmp_path / "src").joinpath(*name.split("/"))

    lists = []

    def faults(op: str, blob: str) -> None:
        lists.append(op)
        if op == "list" and lists.count("list") == 2 and path.is_file():  # after the scan, before the send
            st = path.stat()
            path.unlink()
            os.mkfifo(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))

    store = MemoryBlobStore(faults=faults)
    res = go(tmp_path / "src", tmp_path / "h", store)
    assert res.exit_code == 1 and name not in store.blobs and len(store.blobs) == 2


class _FrozenClock(FakeClock):
    """Time stands still (a scheduled pause that will not end during the test); sleeping yields."""

    def sleep(self, seconds: float) -> None:
        import time

        time.sleep(0.001)


def test_nothing_is_sent_during_a_scheduled_pause_even_while_stopping(tmp_path):
    import threading

    tree(tmp_path / "src", n=6)
    store = MemoryBlobStore()
    ui = _RecordingUI()
    stop = StopFlag()
    clock = _FrozenClock()  # 09:00 on the wall: inside the pause from 07:00 to 23:00
    box = {}

    def go_paused() -> None:
        box["res"], _ = run(opts(tmp_path / "src", tmp_path / "h", bwlimit="07:00,pause 23:00,off"), ui,
                            store=store, clock=clock, stop=stop, rng=random.Random(3))

    t = threading.Thread(target=go_paused)
    t.start()
    for _ in range(200):  # wait until the progress line has been drawn at least once
        if ui.waiting:
            break
        threading.Event().wait(0.02)
    stop.request()  # Ctrl-C during the pause
    t.join(20)
    assert not t.is_alive()
    assert box["res"].exit_code == 130
    assert store.requests["put"] == 0 and store.blobs == {}
    assert any(w and "paused by the schedule until 23:00" in w for w in ui.waiting), ui.waiting


class _RecordingUI(QuietUI):
    def __init__(self) -> None:
        super().__init__()
        self.waiting: list[str | None] = []

    def progress(self, snap, **kw) -> None:
        self.waiting.append(kw.get("waiting"))


def test_a_refused_url_is_found_before_the_scan_and_leaves_no_job(tmp_path):
    from planner.errors import SasProblem

    tree(tmp_path / "src")
    store = MemoryBlobStore()
    store.fail_next("list", "sas")  # the container does not exist, or the signature is refused
    with pytest.raises(SasProblem):
        go(tmp_path / "src", tmp_path / "h", store)
    assert not list((tmp_path / "h").rglob("*.sqlite"))  # no job left behind
    expired = ("http://127.0.0.1:10000/devstoreaccount1/traps?sv=2021-08-06&se=2020-01-01T00%3A00%3A00Z&sr=c"
               "&sp=racwdl&sig=c2VjcmV0c2VjcmV0c2VjcmV0")
    with pytest.raises(SasProblem, match="expired"):
        run(UploadOptions(source=tmp_path / "src", sas=parse_sas_url(expired), home=tmp_path / "h"),
            store=MemoryBlobStore(), clock=FakeClock())
    assert not list((tmp_path / "h").rglob("*.sqlite"))


def test_a_dry_run_leaves_a_finished_job_finished(tmp_path):
    from planner.journal import list_jobs

    tree(tmp_path / "src")
    store = MemoryBlobStore()
    assert go(tmp_path / "src", tmp_path / "h", store).exit_code == 0
    result, plan = run(opts(tmp_path / "src", tmp_path / "h", dry_run=True), store=store, clock=FakeClock())
    assert result is None and plan.files_to_send == 0
    [job] = list_jobs(tmp_path / "h")
    assert job.state == "finished"


def test_the_job_says_uploading_while_it_sends(tmp_path):
    from planner.journal import list_jobs

    tree(tmp_path / "src", n=3)
    seen = []

    def faults(op: str, name: str) -> None:
        if op == "put" and not seen:
            seen.append(list_jobs(tmp_path / "h")[0].state)

    go(tmp_path / "src", tmp_path / "h", MemoryBlobStore(faults=faults))
    assert seen and set(seen) == {"uploading"}  # (workers race to the first put: one or more looks)


def test_reports_written_into_the_set_are_never_sent(tmp_path):
    files = tree(tmp_path / "src", n=3)
    (tmp_path / "src" / "my-report.html").write_text("<html>report of the last run</html>")
    (tmp_path / "src" / "mdplan-upload-20261203-101500.csv").write_text("path,state\n")
    store = MemoryBlobStore()
    result, plan = run(opts(tmp_path / "src", tmp_path / "h", reports=[tmp_path / "src" / "my-report.html"]),
                       store=store, clock=FakeClock())
    assert result.exit_code == 0
    assert set(store.blobs) == set(files)
    assert any("mdplan's own output" in reason for reason in plan.excluded), plan.excluded


def test_the_files_sent_and_the_next_runs_already_sent_are_one_count(tmp_path):
    tree(tmp_path / "src", n=10)
    stop = StopFlag()
    puts = []

    def faults(op: str, name: str) -> None:
        if op == "put":
            puts.append(name)
            if len(puts) == 4:
                stop.request()
            if len(puts) == 5:
                raise store_error("transient")  # a retry: its bytes went out, but count once in the files

    store = MemoryBlobStore(faults=faults)
    first = go(tmp_path / "src", tmp_path / "h", store, stop=stop)
    assert first.exit_code == 130
    _result, plan = run(opts(tmp_path / "src", tmp_path / "h", dry_run=True), store=store, clock=FakeClock())
    assert (plan.files_done_before, plan.bytes_done_before) == (first.files_sent, first.bytes_of_files_sent)
