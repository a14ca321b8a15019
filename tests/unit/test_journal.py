"""The job journal and the uploader's pure decisions (no network)."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.clock import FakeClock
from planner.errors import BadInput
from planner.journal import (Journal, JobBusy, JournalError, ScanRow, State, blob_name_for, clean_prefix, find_job,
                             forget_job, job_id_for, last_rate, list_jobs, remember_rate)
from planner.telemetry import Telemetry
from planner.upload import MAX_WORKERS, Selector, Tuner, auto_workers


def row(rel: str, size: int = 10, mtime: int = 1, selected: bool = True, reason: str | None = None,
        prefix: str = "") -> ScanRow:
    return ScanRow(rel, blob_name_for(rel, prefix), rel.split("/")[0], "image", size, mtime, selected, reason)


def open_journal(tmp_path: Path, source: str = "src") -> Journal:
    (tmp_path / source).mkdir(exist_ok=True)
    j = Journal.open(tmp_path / source, "https://acct.blob.core.windows.net", "acct", "cont", "", home=tmp_path / "h")
    j.begin_run(workers="auto", cap=None)
    return j


def test_job_identity_ignores_the_signature_but_not_the_destination(tmp_path):
    a = job_id_for(tmp_path, "https://acct.blob.core.windows.net", "cont", "")
    assert a == job_id_for(tmp_path, "https://ACCT.blob.core.windows.net/", "cont", "/")
    assert a != job_id_for(tmp_path, "https://acct.blob.core.windows.net", "other", "")
    assert a != job_id_for(tmp_path, "https://acct.blob.core.windows.net", "cont", "2024")
    assert a != job_id_for(tmp_path / "x", "https://acct.blob.core.windows.net", "cont", "")


def test_scan_states_across_runs(tmp_path):
    j = open_journal(tmp_path)
    j.record_scan([row("s/a.jpg"), row("s/b.jpg"), row("Thumbs.db", selected=False, reason="litter")])
    c = j.counts()
    assert c.n(State.PENDING) == 2 and c.excluded_files == {"litter": 1}
    batch = j.take_batch(10, 0)
    assert [r.rel_path for r in batch] == ["s/a.jpg", "s/b.jpg"]
    j.mark_done(batch[0].id, "md5a")
    j.commit()
    # next run: a.jpg unchanged stays done; b.jpg (still 'uploading' after a crash) is offered again;
    # a changed a.jpg would go back to pending
    j.begin_run(workers="auto", cap=None)
    j.record_scan([row("s/a.jpg"), row("s/b.jpg")])
    j.reset_for_run()
    assert j.counts().n(State.DONE) == 1
    assert [r.rel_path for r in j.take_batch(10, 0)] == ["s/b.jpg"]
    assert j.take_batch(10, 0) == []  # a file in flight is never handed out twice
    j.begin_run(workers="auto", cap=None)
    j.record_scan([row("s/a.jpg", size=11), row("s/b.jpg")])
    assert j.counts().n(State.DONE) == 0
    assert j.mark_vanished() == 0


def test_vanished_files_fail_with_a_reason_and_done_ones_stay_done(tmp_path):
    j = open_journal(tmp_path)
    j.record_scan([row("s/a.jpg"), row("s/b.jpg")])
    a = j.take_batch(1, 0)[0]
    j.mark_done(a.id, "x")
    j.release_uploading()
    j.begin_run(workers="auto", cap=None)
    j.record_scan([])  # the drive is empty / unplugged
    assert j.mark_vanished() == 1
    fails = j.failures()
    assert [f.rel_path for f in fails] == ["s/b.jpg"] and "no longer in the source folder" in fails[0].last_error
    assert j.counts().n(State.DONE) == 1


def test_two_files_one_blob_name_is_a_conflict(tmp_path):
    j = open_journal(tmp_path)
    nfc, nfd = unicodedata.normalize("NFC", "é.jpg"), unicodedata.normalize("NFD", "é.jpg")
    j.record_scan([row(f"s/{nfc}"), row(f"s/{nfd}")])
    c = j.counts()
    assert c.n(State.CONFLICT) == 1 and c.n(State.PENDING) == 1
    assert "same blob name" in j.failures()[0].last_error


def test_telemetry_and_events_are_stored(tmp_path):
    j = open_journal(tmp_path)
    j.add_telemetry({100: [500, 1, 0, None, 4]})
    j.add_telemetry({100: [250, 1, 2, 8e6, 4], 101: [10, 0, 0, 8e6, 4]})
    assert j.telemetry() == [(100, 750, 2, 2, 8e6, 4), (101, 10, 0, 0, 8e6, 4)]
    j.event("pause", "network down sig=SECRET")
    assert j.events()[0][1:] == ("pause", "network down sig=REDACTED")


def test_jobs_are_listed_found_and_forgotten(tmp_path):
    j = open_journal(tmp_path)
    j.record_scan([row("s/a.jpg", size=5)])
    jid = j.info().job_id
    j.close()
    jobs = list_jobs(tmp_path / "h")
    assert [x.job_id for x in jobs] == [jid] and jobs[0].files_total == 1 and jobs[0].bytes_total == 5
    assert find_job(jid[:4], tmp_path / "h").job_id == jid
    with pytest.raises(BadInput):
        find_job("zzzz", tmp_path / "h")
    forget_job(jid, tmp_path / "h")
    assert list_jobs(tmp_path / "h") == []


def test_one_job_is_owned_by_one_mdplan_at_a_time(tmp_path):
    """Two uploads of the same job would both send the pending files: the second is refused, plainly."""
    first = open_journal(tmp_path)
    jid = first.info().job_id
    with pytest.raises(JobBusy) as busy:
        open_journal(tmp_path)
    assert "already working on this job" in str(busy.value) and busy.value.exit_code == 2
    with pytest.raises(JobBusy):  # nor can the journal be forgotten under a running upload
        forget_job(jid, tmp_path / "h")
    assert first.path.exists()
    other = Journal.open(tmp_path / "src", "https://acct.blob.core.windows.net", "acct", "other", "",
                         home=tmp_path / "h")  # another destination is another job: no wait
    other.close()
    first.close()
    open_journal(tmp_path).close()  # released on close
    forget_job(jid, tmp_path / "h")
    assert not list((tmp_path / "h" / "jobs").glob(jid + "*"))


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_journal_is_private_and_unwritable_home_is_one_clear_error(tmp_path):
    j = open_journal(tmp_path)
    assert (j.path.stat().st_mode & 0o077) == 0
    j.close()
    blocker = tmp_path / "file-not-folder"
    blocker.write_text("x")
    with pytest.raises(JournalError) as e:
        Journal.open(tmp_path / "src", "https://a.blob.core.windows.net", "a", "c", "", home=blocker)
    assert "MDPLAN_HOME" in str(e.value) and str(blocker) in str(e.value)


def test_remembered_rate_per_destination(tmp_path):
    assert last_rate("https://a.blob.core.windows.net", "c", tmp_path) is None
    remember_rate("https://a.blob.core.windows.net", "c", 2e7, "destination", tmp_path)
    assert last_rate("https://A.blob.core.windows.net/", "c", tmp_path) == (2e7, "destination")
    assert last_rate("https://a.blob.core.windows.net", "other", tmp_path) is None


@pytest.mark.parametrize("parts,expected", [
    (("", None), ""), (("a/b", "/c/"), "a/b/c"), (("./x//y",), "x/y"), (("a\\b",), "a/b"),
])
def test_clean_prefix(parts, expected):
    assert clean_prefix(*parts) == expected


@pytest.mark.parametrize("bad", ["../x", "a/../../b", "C:\\data", "c:/x"])
def test_prefixes_that_climb_out_are_refused(bad):
    with pytest.raises(BadInput):
        clean_prefix(bad)


@given(st.lists(st.text(min_size=0, max_size=12), max_size=4))
def test_blob_names_never_climb_out_of_the_prefix(parts):
    try:
        prefix = clean_prefix(*parts)
    except BadInput:
        return
    assert ".." not in prefix.split("/") and not prefix.startswith("/") and "\\" not in prefix
    assert blob_name_for("s/a.jpg", prefix).startswith(prefix)


def test_selector_rules():
    s = Selector(images_only=True, include=(), exclude=("*/trash/*", "*.TMP"))
    assert s.decide("a/IMG.JPG", "image") == (True, None)
    assert s.decide("a/clip.mp4", "video")[0] is False
    assert s.decide("a/trash/IMG.jpg", "image")[0] is False
    assert s.decide("a/x.tmp", "image")[0] is False
    assert s.decide("Thumbs.db", "litter")[1].startswith("drive litter")
    inc = Selector(False, include=("site1/*",), exclude=())
    assert inc.decide("site1/a/b.jpg", "image")[0] and not inc.decide("site2/b.jpg", "image")[0]
    with pytest.raises(BadInput):
        Selector(False, include=("",), exclude=())


def test_auto_workers_follow_the_link():
    assert auto_workers(None, None) == 4
    slow_far = auto_workers(5e6, 600)
    fast_near = auto_workers(1e9, 5)
    fast_far = auto_workers(1e9, 150)
    assert 2 <= slow_far <= 8
    assert fast_far == MAX_WORKERS and fast_far >= fast_near  # 64 since issue 14 (was 32)
    assert auto_workers(50e6, 100) > auto_workers(50e6, 0.5)


def test_tuner_grows_while_rate_rises_then_holds_and_eases_off_on_timeouts():
    # a link that holds 10 workers' worth: each worker moves 100 bytes/s until the link is full
    t = Tuner(2, 32, window=1.0)
    now = 0.0
    for _ in range(12):
        now += 1.0
        t.observe(now, min(t.limit, 10) * 100, 0)
    # grew past the knee (13 still gained) and holds the step after it, which gained nothing and lost
    # nothing, as headroom (issue 14: a step back to the knee left the fast corner 1-2% short)
    assert 13 < t.limit <= 20
    settled = t.limit
    for _ in range(2):  # holds (issue 14: it probes again every few windows, so only the first two)
        now += 1.0
        assert t.observe(now, 1000, 0) is None
    assert t.limit == settled
    # issue 14: a timeout cuts by a quarter, not a half, and growing may resume later (see
    # tests/unit/test_small_file_concurrency.py)
    assert t.observe(now + 1, 0, 1) == settled * 3 // 4
    assert Tuner(32, 32).observe(10.0, 10**6, 0) is None  # a fixed worker count never moves


def test_telemetry_rate_and_eta_with_a_fake_clock():
    clock = FakeClock()
    t = Telemetry(clock, wall_start=1_000_000.0, window=10)
    for _ in range(5):
        t.add_bytes(1_000_000)
        clock.advance(1.0)
    t.add_file()
    snap = t.snapshot(remaining_bytes=5_000_000)
    assert snap.current_bps == pytest.approx(8e6)
    assert snap.eta_seconds == pytest.approx(5.0)
    drained = t.drain()
    assert sum(v[0] for v in drained.values()) == 5_000_000 and t.drain() == {}
