"""Issue 17: the live report's timing (under a fake clock) and the job log's lines, without a network."""

from __future__ import annotations

import os
from pathlib import Path

from planner.clock import FakeClock
from planner.journal.log import JobLog
from planner.report.live import LiveReport, LiveReportUI
from planner.transfer import QuietUI

SIG = "S3cretSigValue%2Bx%3D"


def test_the_live_report_waits_for_its_interval(tmp_path):
    """First written a minute after the first tick (issue 14: a short job draws no page while it sends), then
    not again until `every` seconds have passed."""
    written: list[float] = []
    clock = FakeClock()
    live = LiveReport(tmp_path / "j.sqlite", clock=clock, every=300, write=lambda: written.append(clock.monotonic()),
                      background=False)
    for _ in range(20):
        live.tick()
        clock.advance(50)
    assert written == [1100.0, 1400.0, 1700.0]
    live.close()
    assert live.writes == 4  # and once more at the end


def test_a_job_shorter_than_a_minute_draws_no_live_report(tmp_path):
    """Issue 14: its report is the one written at the end; drawing another costs memory and CPU."""
    written: list[float] = []
    clock = FakeClock()
    live = LiveReport(tmp_path / "j.sqlite", clock=clock, write=lambda: written.append(clock.monotonic()),
                      background=False)
    for _ in range(11):
        assert not live.tick()
        clock.advance(5)
    live.close()
    assert written == [] and live.writes == 0


def test_the_live_report_path_is_told_when_its_first_version_is_written(tmp_path):
    class P:
        journal_path = tmp_path / "j.sqlite"

    clock = FakeClock()
    ui = LiveReportUI(QuietUI(), clock=clock)
    ui.plan(P())
    ui.live = LiveReport(P.journal_path, clock=clock, write=lambda: None, background=False)
    for _ in range(3):
        ui.progress(None)
        clock.advance(25)
    assert ui.messages == []
    for _ in range(3):
        ui.progress(None)
        clock.advance(25)
    assert len(ui.messages) == 1 and "Live report (rewritten every 5 min while sending)" in ui.messages[0]


def test_a_live_report_that_cannot_be_drawn_never_stops_the_upload(tmp_path):
    def broken() -> None:
        raise OSError(f"disk full at https://a.blob.core.windows.net/c?sig={SIG}")

    live = LiveReport(tmp_path / "j.sqlite", clock=FakeClock(), write=broken, background=False, first_after=0)
    assert live.tick()
    assert live.writes == 0 and live.error and SIG not in live.error


def test_a_dry_run_writes_no_live_report(tmp_path):
    class P:
        journal_path = tmp_path / "j.sqlite"

    ui = LiveReportUI(QuietUI(), clock=FakeClock())
    ui.plan(P())
    ui.close()
    assert ui.live is None and ui.messages == []


def test_the_job_log_is_private_and_never_holds_the_signature(tmp_path):
    log = JobLog(tmp_path / "job.log")
    log.write("retry", f"IMG_0001.JPG: 503 from https://a.blob.core.windows.net/c/x?sv=1&sig={SIG}\nsecond line")
    log.write("run", "run 1 ended: finished (exit code 0)")
    lines = log.path.read_text("utf-8").splitlines()
    assert len(lines) == 2 and SIG not in lines[0] and "retry" in lines[0] and "second line" in lines[0]
    if os.name == "posix":
        assert log.path.stat().st_mode & 0o077 == 0


def test_a_log_that_cannot_be_written_is_not_an_error(tmp_path):
    log = JobLog(tmp_path / "missing" / "job.log")
    log.write("run", "run 1 started")
    assert log.failed and not Path(tmp_path / "missing").exists()
