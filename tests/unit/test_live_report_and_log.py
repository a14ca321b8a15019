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


def _snap(elapsed: float, average_bps: float):
    from planner.telemetry import Snapshot

    return Snapshot(bytes_done=1, files_done=1, elapsed=elapsed, current_bps=average_bps, average_bps=average_bps,
                    eta_seconds=None)


def test_the_report_libraries_are_loaded_while_a_slow_link_sends(tmp_path):
    """Issue 14: on a slow link the upload waits on the network, so matplotlib and jinja2 are imported then
    (once, a few seconds in) instead of after the last byte, where a 30-second upload paid ~0.6 s for them."""
    class P:
        journal_path = tmp_path / "j.sqlite"

    warmed: list[int] = []
    ui = LiveReportUI(QuietUI(), clock=FakeClock(), warm=lambda: warmed.append(1))
    ui.plan(P())
    ui.progress(_snap(1.0, 9e6))
    assert warmed == []  # not in the first seconds
    for elapsed in (3.5, 4.0, 30.0):
        ui.progress(_snap(elapsed, 9e6))
    assert warmed == [1]


def test_a_fast_link_loads_no_report_library_while_it_sends(tmp_path):
    """Above 100 Mbit/s the transfer needs the CPU and holds more bytes in memory: the report loads its
    libraries at the end (issue 14's cost figures)."""
    class P:
        journal_path = tmp_path / "j.sqlite"

    warmed: list[int] = []
    ui = LiveReportUI(QuietUI(), clock=FakeClock(), warm=lambda: warmed.append(1))
    ui.plan(P())
    for elapsed in (3.5, 10.0, 60.0):
        ui.progress(_snap(elapsed, 400e6))
    ui.progress(_snap(70.0, 0.0))  # nothing sent yet (a pause): says nothing about the link
    assert warmed == []


def test_warming_up_loads_what_the_report_draws_with(tmp_path):
    import subprocess
    import sys

    script = ("import sys\nfrom planner.report.charts import warm_up\nwarm_up()\n"
              "print(all(m in sys.modules for m in ('matplotlib.figure', 'matplotlib.backends.backend_svg', "
              "'jinja2')))")
    repo = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MDPLAN_", "PYTHON"))}
    env.update(PYTHONPATH=str(repo), MPLCONFIGDIR=str(tmp_path / "mpl"))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert proc.stdout.strip() == "True", proc.stderr[-2000:]
