"""The shareable HTML report and CSV manifest: numbers shown = numbers given, nothing fetched, no sig."""

from __future__ import annotations

import csv
import os
import re
from dataclasses import replace
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from planner import report
from planner.report import (
    ManifestRow, Totals, UploadReportData, crossover_points, default_report_path, size_histogram,
    write_plan_report, write_upload_report,
)
from planner.units import format_bytes, format_duration, format_rate
from helpers.report_samples import FAKE_SIG, SAS_URL, START, manifest, plan_data, upload_data

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(HTMLParser):
    """The parts of a report a test looks at: fields, tables, every tag and attribute, the CSS."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.fields: dict[str, tuple[str | None, str]] = {}
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}  # body rows
        self.footers: dict[str, list[list[tuple[str, str | None]]]] = {}
        self._section = "tbody"
        self.ids: list[str] = []
        self.styles: list[str] = []
        self.by_id_text: dict[str, str] = {}
        self._stack: list[tuple[str, dict[str, str | None], list[str]]] = []
        self._table: str | None = None
        self._row: list[tuple[str, str | None]] | None = None
        self._in_style = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if "id" in a:
            self.ids.append(a["id"])
        if a.get("style"):
            self.styles.append(a["style"])
        if tag == "style":
            self._in_style = True
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
            self.footers[self._table] = []
            self._section = "tbody"  # rows outside any thead/tbody/tfoot are body rows
        if tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        if tag == "tr" and self._table:
            self._row = []
        if tag not in VOID and not tag.endswith("/"):
            self._stack.append((tag, a, []))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if "id" in dict(attrs):
            self.ids.append(dict(attrs)["id"])

    def handle_endtag(self, tag):
        if tag == "style":
            self._in_style = False
        while self._stack:
            t, a, text = self._stack.pop()
            joined = " ".join("".join(text).split())
            if self._stack:
                self._stack[-1][2].append(" " + "".join(text) + " ")
            if a.get("data-field"):
                self.fields[a["data-field"]] = (a.get("data-value"), joined)
            if a.get("id"):
                self.by_id_text[a["id"]] = joined
            if t in ("td", "th") and self._row is not None:
                self._row.append((joined, a.get("data-value")))
            if t == "tr" and self._row is not None and self._table:
                if self._section == "tfoot":
                    self.footers[self._table].append(self._row)
                elif self._section == "tbody":
                    self.tables[self._table].append(self._row)
                self._row = None
            if t == "table":
                self._table = None
            if t == tag:
                break

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)
        if self._stack:
            self._stack[-1][2].append(data)

    def value(self, name: str) -> str | None:
        return self.fields[name][0]

    def text(self, name: str) -> str:
        return self.fields[name][1]

    def body_rows(self, table: str) -> list[list[tuple[str, str | None]]]:
        return self.tables[table]


def write(tmp_path: Path, data: UploadReportData, rows=None) -> tuple[report.ReportFiles, str, Page]:
    files = write_upload_report(data, tmp_path / "out" / "r.html", manifest(20, 3, 5) if rows is None else rows)
    html = files.html.read_text(encoding="utf-8")
    return files, html, Page(html)


def assert_self_contained(page: Page, html: str) -> None:
    """Nothing the browser would fetch: no script/link/img/iframe, no src/href/url() leaving the page."""
    fetching = {"script", "link", "img", "iframe", "frame", "object", "embed", "audio", "video", "source",
                "base", "image", "feimage", "form"}
    for tag, attrs in page.tags:
        assert tag not in fetching, f"<{tag}> in the page"
        for name, value in attrs.items():
            if name in ("src", "href", "xlink:href", "srcset", "action", "poster", "data", "background",
                        "formaction", "ping", "manifest"):
                assert value is not None and value.startswith("#"), f"<{tag} {name}={value!r}> leaves the page"
            assert "http:" not in (value or "").lower() and "https:" not in (value or "").lower(), \
                f"<{tag} {name}={value!r}>"
    css = "\n".join(page.styles)
    assert "@import" not in css
    for m in re.finditer(r"url\(\s*['\"]?([^)'\"]*)", css):
        assert m.group(1).startswith("#"), f"CSS url({m.group(1)}) leaves the page"
    assert not re.search(r"https?://", css)
    assert not re.search(r"<\?xml|<!DOCTYPE svg", html)


@pytest.mark.parametrize("kind", ["finished", "failed", "interrupted"])
def test_numbers_shown_match_the_data(tmp_path: Path, kind: str) -> None:
    data = upload_data(kind)
    t = data.totals
    _, html, page = write(tmp_path, data)

    for name in ("files_done", "files_skipped", "files_failed", "files_there", "files_planned"):
        expected = getattr(t, name)
        assert page.value(name) == str(expected)
        assert f"{expected:,}" in page.text(name)
    for name in ("bytes_done", "bytes_skipped", "bytes_failed", "bytes_there"):
        assert page.value(name) == str(getattr(t, name))
        assert page.text(name) == format_bytes(getattr(t, name))
    assert page.value("retries") == str(data.retries)
    assert page.text("run_seconds") == format_duration(data.wall_seconds)  # no runs listed: the whole axis
    assert page.text("destination") == "acct/cams/2024"
    assert page.text("litter_files") == f"{data.litter_files:,}"
    assert page.text("excluded_files") == f"{data.excluded_files:,}"

    sent = sum(n for _, n in data.throughput)
    paused = sum(min(z, data.wall_seconds) - a for a, z, _ in data.pauses)
    avg = sent * 8 / (data.wall_seconds - paused)
    assert float(page.value("average_bps")) == pytest.approx(avg)
    assert page.text("average_bps") == format_rate(avg)
    # Peak is the highest smoothed rate: above the average, below the highest cap plus noise.
    assert avg < float(page.value("peak_bps")) < 50e6 * 1.1

    sites = page.body_rows("sites")
    busy = [s for s in data.sites if s.files_sent or s.files_failed]
    assert [row[0][0] for row in sites] == [s.site for s in busy] == [s.site for s in data.sites[:3]]
    assert "$RECYCLE.BIN (4)" in page.by_id_text["quiet-sites"]
    assert [c for c, _ in page.footers["sites"][0]] == [
        "All sites", f"{sum(s.files_sent for s in busy):,}", format_bytes(sum(s.bytes_sent for s in busy)),
        f"{sum(s.files_skipped for s in busy):,}", f"{sum(s.files_failed for s in busy):,}"]
    for row, s in zip(sites, busy):
        assert [int(v) for _, v in row[1:]] == [s.files_sent, s.bytes_sent, s.files_skipped, s.files_failed]
        assert row[2][0] == format_bytes(s.bytes_sent)

    if kind == "failed":
        fails = page.body_rows("failures")
        assert [(r[0][0], int(r[2][1])) for r in fails] == [(f.path, f.attempts) for f in data.failures]
        assert "the file could not be read (permission denied)" in [r[1][0] for r in fails]
        assert "failures" in page.tables and "no-failures" not in page.ids
    else:
        assert page.by_id_text["no-failures"] == "None."

    status = page.by_id_text["status"]
    if kind == "finished":
        assert status.startswith(f"All {t.files_there:,} files ({format_bytes(t.bytes_there)}) are in the container.")
        assert page.text("finished") == "2024-05-03 16:02 (UTC+02:00)"
        assert "% longer than predicted" in page.by_id_text["prediction"]
    elif kind == "failed":
        assert f"{t.files_failed:,} failed" in status
    else:
        assert f"{t.files_left:,} not sent yet" in status and "interrupted" in status
        assert page.text("finished") == "not finished"
        assert page.value("files_left") == str(t.files_left)
        assert "It stopped after 54 min" in page.by_id_text["prediction"]
    assert page.text("started") == "2024-05-03 14:02 (UTC+02:00)"
    assert f"{t.files_planned:,} files" in page.by_id_text["what-next"]
    assert_self_contained(page, html)


def test_charts_are_inline_svg_with_unique_ids(tmp_path: Path) -> None:
    _, html, page = write(tmp_path, upload_data("failed"))
    figures = {a.get("id") for tag, a in page.tags if tag == "figure"}
    assert {"throughput-chart", "progress-chart"} <= figures
    svgs = [a for tag, a in page.tags if tag == "svg"]
    assert len(svgs) == 2 and all(a.get("viewbox") for a in svgs)
    dupes = {i for i in page.ids if page.ids.count(i) > 1}
    assert not dupes, f"duplicate ids: {sorted(dupes)[:5]}"
    # every in-page reference (glyphs, clip paths) points at an id that exists
    refs = re.findall(r'(?:href="#|url\(#)([^")]+)', html)
    assert refs and set(refs) <= set(page.ids)
    # the cap (dashed) and the pause (shaded) are drawn: their legend labels are in the chart
    assert ">cap<" in html and ">paused<" in html


def test_signature_never_written(tmp_path: Path) -> None:
    data = upload_data("interrupted")
    data = replace(data, source=f"D:\\cams {SAS_URL}", destination="acct/cams", state=f"stopped: SAS problem {SAS_URL}",
                   cap=SAS_URL, workers=SAS_URL, job_id=FAKE_SIG[:3] + "x",
                   pauses=[(10.0, 20.0, f"network down: {SAS_URL}")],
                   failures=[report.FailureRow(f"x?sig={FAKE_SIG}", SAS_URL, 2)],
                   totals=replace(data.totals, files_failed=1))
    rows = [ManifestRow(f"a/{SAS_URL}.jpg", f"b?sig={FAKE_SIG}", 1, None, "failed", SAS_URL)]
    files, html, page = write(tmp_path, data, rows)
    csv_text = files.csv.read_text(encoding="utf-8-sig")
    for text in (html, csv_text):
        assert FAKE_SIG not in text
        assert "FakeSig" not in text
        assert "sig=REDACTED" in text
    assert_self_contained(page, html)
    assert "stopped: SAS problem" in page.by_id_text["status"] and "sig=REDACTED" in page.by_id_text["status"]
    assert "sig=REDACTED" in page.by_id_text["pauses"]


def test_manifest_csv_streams_every_row(tmp_path: Path) -> None:
    rows = manifest(20, 3, 5)
    consumed = []

    def stream():
        for r in rows:
            consumed.append(r)
            yield r

    files, html, page = write(tmp_path, upload_data("failed"), stream())
    assert files.csv == tmp_path / "out" / "r.csv"
    raw = files.csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel on Windows then reads accents right
    with files.csv.open(encoding="utf-8-sig", newline="") as f:
        got = list(csv.reader(f))
    assert got[0] == ["relative_path", "blob_name", "bytes", "md5", "state", "note"]
    assert len(got) - 1 == len(rows) == len(consumed)
    for line, r in zip(got[1:], rows):
        assert line[:5] == [r.rel_path, r.blob_name, str(r.bytes), r.md5_hex or "", r.state]
    assert "Río Claro/cam2/DCIM/IMG_0001.JPG" in {line[0] for line in got}
    assert f"({len(rows):,} rows)" in html and "r.csv" in html


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_files_readable_by_user_only(tmp_path: Path) -> None:
    files, _, _ = write(tmp_path, upload_data("finished"))
    assert files.html.stat().st_mode & 0o777 == 0o600
    assert files.csv.stat().st_mode & 0o777 == 0o600
    p = write_plan_report(plan_data(), tmp_path / "plan.html")
    assert p.stat().st_mode & 0o777 == 0o600


def test_failed_stream_leaves_no_half_file(tmp_path: Path) -> None:
    def broken():
        yield ManifestRow("a.jpg", "a.jpg", 1, None, "done")
        raise OSError("disk full")

    with pytest.raises(OSError):
        write_upload_report(upload_data("finished"), tmp_path / "r.html", broken())
    assert list(tmp_path.iterdir()) == []


def test_report_for_a_job_that_sent_nothing(tmp_path: Path) -> None:
    data = UploadReportData(
        job_id="j", source="E:\\", destination="acct/c", mdplan_version="0.1.0", started=START, finished=None,
        state="stopped: SAS problem", totals=Totals(files_planned=5, bytes_planned=5000), wall_seconds=3.0)
    files, html, page = write(tmp_path, data, [])
    assert "No data was sent in this run" in html
    assert not [a for tag, a in page.tags if tag == "svg"]
    assert page.value("files_left") == "5"
    assert page.text("average_bps") == "none"
    assert "status bad" in html  # stopped: the user has to act
    assert files.csv.read_text(encoding="utf-8-sig").strip() == "relative_path,blob_name,bytes,md5,state,note"
    assert_self_contained(page, html)


def test_a_chart_that_fails_still_gives_a_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(data):
        raise ValueError(f"bad data {SAS_URL}")

    monkeypatch.setattr(report.render, "throughput_chart", boom)  # where the page draws it
    _, html, page = write(tmp_path, upload_data("finished"))
    assert "This chart could not be drawn (ValueError: bad data" in html
    assert FAKE_SIG not in html
    assert "progress-chart" in page.ids


def test_bin_follows_job_length() -> None:
    assert report.bin_seconds(60) == 1
    assert report.bin_seconds(2 * 3600) == 30
    assert report.bin_seconds(3 * 86400) == 1800
    for seconds in (10, 500, 3600, 40_000, 10 * 86400):
        assert seconds / report.bin_seconds(seconds) <= 240


def test_default_report_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    when = datetime(2024, 5, 3, 14, 2, 7, tzinfo=timezone.utc)
    p = default_report_path("cams-2024", when)
    # never the current folder (it may be the image set); with MDPLAN_HOME, its reports/ folder
    assert p == tmp_path / "home" / "reports" / "mdplan-cams-2024-20240503-140207.html"
    assert ":" not in p.name
    assert default_report_path("a/b:c", when, base=tmp_path).name == "mdplan-a-b-c-20240503-140207.html"


# -- the plan report ----------------------------------------------------------------------------------


def test_plan_report(tmp_path: Path) -> None:
    data = plan_data()
    path = write_plan_report(data, tmp_path / "plan" / "p.html")
    html = path.read_text(encoding="utf-8")
    page = Page(html)
    assert page.value("total_files") == "3700000" and page.text("total_files") == "3,700,000"
    assert page.text("total_bytes") == "1.37 TB"
    assert page.text("bandwidth_bps") == format_rate(20e6) == "20 Mbit/s"
    assert page.text("upload_seconds") == format_duration(data.upload_seconds)
    assert page.text("drive_seconds") == "4 days"
    assert page.by_id_text["recommendation"].startswith("Mail a drive.")
    assert [r[0][0] for r in page.body_rows("kinds")] == ["images", "videos", "litter"]
    assert [int(r[1][1]) for r in page.body_rows("sites")] == [2_000_000, 1_700_000]
    assert {"crossover-chart", "sizes-chart"} <= set(page.ids)
    assert "your link (20 Mbit/s)" in html and "mail a drive" in html
    assert f"The two take the same time at about {format_rate(report.break_even_bps(data))}." in html
    assert FAKE_SIG not in html and "sig=REDACTED" in html
    assert not {i for i in page.ids if page.ids.count(i) > 1}
    assert_self_contained(page, html)


def test_size_histogram_uses_a_1_2_5_series() -> None:
    bins = size_histogram([0, 999, 1000, 1999, 2000, 4999, 300_000, 999_999])
    assert [(b.low, b.high, b.files) for b in bins] == [
        (0, 1000, 2), (1000, 2000, 2), (2000, 5000, 2), (5000, 10_000, 0), (10_000, 20_000, 0),
        (20_000, 50_000, 0), (50_000, 100_000, 0), (100_000, 200_000, 0), (200_000, 500_000, 1),
        (500_000, 1_000_000, 1)]
    assert sum(b.files for b in size_histogram(iter(range(10_000)))) == 10_000
    assert size_histogram([]) == []


def test_break_even_bandwidth() -> None:
    data = plan_data()
    even = report.break_even_bps(data)
    # 1.37 TB at 90% of the link, plus 10 ms a file, takes 4 days at about:
    expected = 1.37e12 * 8 / 0.9 / (4 * 86400 - 3_700_000 * 0.01)
    assert even == pytest.approx(expected, rel=0.02)
    assert replace(data, drive_seconds=None) and report.break_even_bps(replace(data, drive_seconds=None)) is None


def test_crossover_points_span_log_range() -> None:
    pts = crossover_points(lambda bps: 1e9 / bps, low_bps=1e5, high_bps=1e9, points=5)
    assert [round(b) for b, _ in pts] == [100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000]
    assert pts[0][1] == pytest.approx(10_000)


def test_size_chart_keeps_gaps_between_bins() -> None:
    """Bins given with a missing stretch (2-4 MiB empty) still stand where they belong on the axis."""
    from planner.report import SizeBin

    data = plan_data()
    data.size_bins = [SizeBin(2**20, 2**21, 3), SizeBin(2**22, 2**23, 1), SizeBin(2**18, 2**19, 9)]
    svg, _ = report.size_chart(data)
    labels = re.findall(r">\s*([0-9.]+ [KMG]iB)\s*<", svg)
    assert labels == ["256 KiB", "512 KiB", "1 MiB", "2 MiB", "4 MiB", "8 MiB"]


def test_plan_page_curve_passes_through_the_users_point(tmp_path: Path) -> None:
    """With a measured figure (round trip, per-file cost) the curve gives the card's time at the user's rate.

    Seen on the demo's page: a curve drawn with default per-file costs ran above the marked point.
    """
    import numpy as np
    from dataclasses import replace as dc_replace

    from planner.assessment import assess
    from planner.estimate import BandwidthFigure, estimate
    from planner.report import plan_report_data
    from planner.sample import generate_sample_set

    generate_sample_set(tmp_path / "set", files=40, videos=0)
    a = assess(tmp_path / "set", bandwidth="20Mbps")
    measured = BandwidthFigure(134e6, "destination", rtt_ms=2.0, per_file_seconds=0.05)
    a = dc_replace(a, estimate=estimate(a.upload_bytes, a.upload_files, measured, a.estimate.settings))
    data = plan_report_data(a)
    xs = np.log([b for b, _ in data.crossover])
    ys = np.log([t for _, t in data.crossover])
    on_curve = float(np.exp(np.interp(np.log(134e6), xs, ys)))
    assert on_curve == pytest.approx(data.upload_seconds, rel=0.03)
