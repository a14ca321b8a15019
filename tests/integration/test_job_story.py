"""Issue 17, what a days-long upload needs: the report of a resumed job tells the whole job (every run,
one time axis, totals on one scope), a log file per job, and a live report rewritten during the upload.
Real uploads to Azurite; the job is stopped part-way by the caller, as Ctrl-C does, then resumed."""

from __future__ import annotations

import io
import os
import re
import signal
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from planner.clock import SystemClock
from planner.sas import parse_sas_url
from planner.transfer import QuietUI
from planner.upload import StopFlag, UploadOptions, run


def _sig(url: str) -> str:
    return parse_qs(urlsplit(url).query)["sig"][0]


def make(root: Path, n: int, size: int = 100_000) -> None:
    for i in range(n):
        f = root / f"site{i % 2}" / f"IMG_{i:04d}.JPG"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(os.urandom(size))


class _StopAfter(QuietUI):
    """Asks the upload to stop (as Ctrl-C does) once `files` files are done."""

    def __init__(self, stop: StopFlag, files: int) -> None:
        super().__init__()
        self.stop, self.files = stop, files

    def progress(self, snap, **kw) -> None:
        if snap.files_done >= self.files:
            self.stop.request()


class _Cells(HTMLParser):
    """The rows of the table with id=runs, and whether the page closes its tags."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_runs = self._in_body = False
        self._cell: list[str] | None = None
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == "runs":
            self._in_runs = True
        if self._in_runs and tag == "tbody":
            self._in_body = True
        if self._in_body and tag == "tr":
            self.rows.append([])
        if self._in_body and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "tbody":
            self._in_body = False
        if tag == "table":
            self._in_runs = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _interrupted_then_resumed(tmp_path: Path, url: str, **kw):
    make(tmp_path / "src", 16)
    opts = UploadOptions(source=tmp_path / "src", sas=parse_sas_url(url), home=tmp_path / "h", cap_mbps=8,
                         workers=2, prefix="bw", **kw)
    stop = StopFlag()
    first, _ = run(opts, _StopAfter(stop, 4), stop=stop)
    assert first.exit_code == 130 and 0 < first.files_sent < 16
    time.sleep(2.2)  # a gap between the runs, as between two days
    second, _ = run(UploadOptions(**{**opts.__dict__}))
    assert second.exit_code == 0 and first.files_sent + second.files_sent == 16
    return first, second


def test_the_report_of_a_resumed_job_covers_every_run(azurite, container, tmp_path):
    from planner.report import rates, upload_report_data, write_job_report

    url = azurite.container_sas_url(container)
    first, second = _interrupted_then_resumed(tmp_path, url)
    data, _, _ = upload_report_data(Path(second.journal_path))
    assert len(data.runs) == 2
    r1, r2 = data.runs
    assert 0 <= r1.start < 1 and r1.end < r2.start and r2.end <= data.wall_seconds + 1  # one time axis, a gap
    in_run = [sum(n for s, n in data.throughput if run.start - 1 <= s <= run.end + 1) for run in data.runs]
    assert all(b > 0 for b in in_run), in_run  # both runs are on the chart's series
    assert r1.files_sent == first.files_sent and r2.files_sent == second.files_sent
    r = rates(data)
    assert r.peak_bps >= r.average_bps  # one scope for both
    assert r.sent_bytes == sum(n for _, n in data.throughput) >= 16 * 100_000
    assert r.active_seconds < data.wall_seconds - 1.5  # the gap is not counted as sending time

    files = write_job_report(Path(second.journal_path), tmp_path / "out" / "r.html")
    raw = files.html.read_text("utf-8")
    cells = _Cells()
    cells.feed(raw)
    assert len(cells.rows) == 2, cells.rows
    assert [row[0] for row in cells.rows] == ["1", "2"]
    assert "interrupted" in cells.rows[0][1] and "finished" in cells.rows[1][1]
    assert _sig(url) not in raw
    assert "between runs" in raw  # the gap is shown on the chart
    assert 'data-field="runs" data-value="2"' in raw


def test_the_next_line_continues_this_job(azurite, container, tmp_path):
    from planner.report import upload_report_data

    make(tmp_path / "src", 6)
    url = azurite.container_sas_url(container)
    stop = StopFlag()
    stop.request()
    res, _ = run(UploadOptions(source=tmp_path / "src", sas=parse_sas_url(url), home=tmp_path / "h",
                               prefix="bw", bwlimit="512k"), stop=stop)
    data, _, _ = upload_report_data(Path(res.journal_path))
    assert "--prefix" in data.next_step and '"bw"' in data.next_step and '--bwlimit "512k"' in data.next_step


def test_the_job_log_tells_runs_retries_and_never_the_signature(azurite, container, tmp_path, monkeypatch):
    from planner.azure import AzureBlobStore
    from planner.memory_store import store_error

    real_put = AzureBlobStore.put_blob
    calls = {"n": 0}

    def flaky_put(self, *a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise store_error("transient")
        return real_put(self, *a, **kw)

    monkeypatch.setattr(AzureBlobStore, "put_blob", flaky_put)
    url = azurite.container_sas_url(container)
    first, second = _interrupted_then_resumed(tmp_path, url)
    log = Path(second.journal_path).with_suffix(".log")
    assert log.is_file()
    text = log.read_text("utf-8")
    assert _sig(url) not in text
    assert len(re.findall(r"\brun 1 started", text)) == 1 and len(re.findall(r"\brun 2 started", text)) == 1
    assert re.search(r"run 1 ended: interrupted", text) and re.search(r"run 2 ended: finished", text)
    assert re.search(r"retry .*IMG_\d{4}\.JPG", text)
    if os.name == "posix":
        assert log.stat().st_mode & 0o077 == 0

    from planner.report import write_job_report

    files = write_job_report(Path(second.journal_path), tmp_path / "out" / "r.html")
    assert str(log) in files.html.read_text("utf-8")


class _Watch(QuietUI):
    """Reads the live report whenever the upload reports progress: it must always be a whole page."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.seen: list[float] = []

    def progress(self, snap, **kw) -> None:
        if self.path.exists():
            raw = self.path.read_text("utf-8")
            assert raw.rstrip().endswith("</html>") and "Camera-trap upload report" in raw
            self.seen.append(self.path.stat().st_mtime_ns)


def test_the_live_report_is_rewritten_during_the_upload(azurite, container, tmp_path):
    from planner.journal.home import job_id_for, journal_path, live_report_path
    from planner.report.live import LiveReportUI

    make(tmp_path / "src", 24)
    url = azurite.container_sas_url(container)
    sas = parse_sas_url(url)
    opts = UploadOptions(source=tmp_path / "src", sas=sas, home=tmp_path / "h", cap_mbps=4, workers=2)
    live_path = live_report_path(journal_path(job_id_for(tmp_path / "src", sas.account_url, sas.container, ""),
                                              tmp_path / "h"))
    watch = _Watch(live_path)
    ui = LiveReportUI(watch, clock=SystemClock(), every=0.5)
    try:
        res, _ = run(opts, ui)
    finally:
        ui.close()
    assert res.exit_code == 0
    assert ui.live is not None and ui.live.writes >= 3, ui.live and ui.live.writes  # start, during, end
    assert len(set(watch.seen)) >= 2  # rewritten while the upload ran
    raw = live_path.read_text("utf-8")
    assert "All 24 files" in raw and _sig(url) not in raw
    assert not [p for p in live_path.parent.iterdir() if p.name.endswith(".tmp")]


def test_jobs_shows_the_log_and_the_live_report(azurite, container, tmp_path, monkeypatch, capsys):
    from planner.cli import main

    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr("planner.report.live.FIRST_AFTER", 0.0)  # a job this short draws none by default
    make(tmp_path / "src", 4, size=10_000)
    url = azurite.container_sas_url(container)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert main(["upload", str(tmp_path / "src"), url, "--report", str(tmp_path / "out"), "--yes"]) == 0
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    capsys.readouterr()
    assert main(["jobs"]) == 0
    out = capsys.readouterr().out
    log = re.search(r"Log:\s+(\S+)", out)
    live = re.search(r"Live report:\s+(\S+)", out)
    assert log and live, out
    assert Path(log.group(1)).is_file() and Path(live.group(1)).is_file()
    assert _sig(url) not in Path(log.group(1)).read_text("utf-8")
    assert "All 4 files" in Path(live.group(1)).read_text("utf-8")


def test_the_live_pages_last_version_comes_with_the_report_drawn_once(azurite, container, tmp_path, monkeypatch,
                                                                       capsys):
    """At the end of an upload with a live page, its last version and the report share one drawing of the
    charts (drawn twice, one after the other, it cost a second at the end of every such upload: issue 14)."""
    from planner.cli import main
    import planner.report.render as render

    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    monkeypatch.setattr("planner.report.live.FIRST_AFTER", 0.0)
    drawn: list[int] = []
    real = render.throughput_chart
    monkeypatch.setattr(render, "throughput_chart", lambda data: drawn.append(data.written) or real(data))
    make(tmp_path / "src", 4, size=10_000)
    url = azurite.container_sas_url(container)
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert main(["upload", str(tmp_path / "src"), url, "--report", str(tmp_path / "out" / "r.html"), "--yes"]) == 0
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
    said = capsys.readouterr()
    out = said.out + said.err
    live = Path(re.search(r"Live report \(rewritten every [^)]*\): (\S+)", out).group(1))
    assert len(drawn) == 2, drawn  # the first live version, then the end: once
    page = live.read_text("utf-8")
    assert "All 4 files" in page and "this page is rewritten" in page and "r.csv" not in page
    assert "r.csv" in (tmp_path / "out" / "r.html").read_text("utf-8")


@pytest.fixture(autouse=True)
def _no_sas_env(monkeypatch):
    monkeypatch.delenv("MDPLAN_SAS", raising=False)
