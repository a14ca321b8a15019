"""Reports drawn from real uploads to Azurite: the numbers on the page are the journal's."""

from __future__ import annotations

import os
import re
from html.parser import HTMLParser
from pathlib import Path

from planner.journal import Journal, State
from planner.report import write_job_report
from planner.sas import parse_sas_url
from planner.upload import StopFlag, UploadOptions, run


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.refs: list[str] = []

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("src", "href") and v:
                self.refs.append(v)


def page(path: Path) -> tuple[str, str, list[str]]:
    raw = path.read_text("utf-8")
    p = _Text()
    p.feed(raw)
    return raw, re.sub(r"\s+", " ", " ".join(p.text)), p.refs


def make(root: Path, n: int, size: int = 30_000) -> None:
    for i in range(n):
        f = root / f"site{i % 2}" / f"IMG_{i:04d}.JPG"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(os.urandom(size))
    (root / "Thumbs.db").write_bytes(b"x")


def check_common(html_path: Path, journal_path: Path, sig: str) -> str:
    raw, text, refs = page(html_path)
    assert sig not in raw
    assert not [r for r in refs if r.startswith(("http:", "https:", "//"))]
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", raw)
    with Journal.open_existing(journal_path) as j:
        c = j.counts()
        sites = j.sites()
    assert f"{c.n(State.DONE):,}" in text
    for site, files_sent, *_ in sites:
        assert site in text
    csv = html_path.with_suffix(".csv").read_text("utf-8-sig")
    assert sig not in csv
    assert len(csv.strip().splitlines()) == 1 + c.total_files + sum(c.excluded_files.values())
    return text


def _sig(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["sig"][0]


def test_report_of_a_finished_job(azurite, container, tmp_path):
    make(tmp_path / "src", 10)
    url = azurite.container_sas_url(container)
    res, _ = run(UploadOptions(source=tmp_path / "src", sas=parse_sas_url(url), home=tmp_path / "h", cap_mbps=8))
    files = write_job_report(Path(res.journal_path), tmp_path / "out" / "r.html")
    text = check_common(files.html, Path(res.journal_path), _sig(url))
    assert "All 10 files" in text and "8 Mbit/s" in text


def test_report_of_a_job_with_failures(azurite, container, tmp_path, monkeypatch):
    make(tmp_path / "src", 6)
    bad = tmp_path / "src" / "site0" / "IMG_0000.JPG"
    import planner.transfer.files as source_files

    real_open = source_files.open_fd

    def fake_open(path):  # root can read anything: make one file unreadable the only way we can
        if Path(path) == bad:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path)

    monkeypatch.setattr(source_files, "open_fd", fake_open)
    url = azurite.container_sas_url(container)
    res, _ = run(UploadOptions(source=tmp_path / "src", sas=parse_sas_url(url), home=tmp_path / "h"))
    monkeypatch.undo()
    assert res.exit_code == 1 and res.files_failed == 1
    files = write_job_report(Path(res.journal_path), tmp_path / "out" / "r.html")
    text = check_common(files.html, Path(res.journal_path), _sig(url))
    assert "site0/IMG_0000.JPG" in text and "permission denied" in text


def test_report_of_an_interrupted_job(azurite, container, tmp_path):
    make(tmp_path / "src", 8)
    url = azurite.container_sas_url(container)
    stop = StopFlag()
    stop.request()
    res, _ = run(UploadOptions(source=tmp_path / "src", sas=parse_sas_url(url), home=tmp_path / "h"), stop=stop)
    assert res.exit_code == 130
    files = write_job_report(Path(res.journal_path), tmp_path / "out" / "r.html")
    text = check_common(files.html, Path(res.journal_path), _sig(url))
    assert "interrupted" in text.lower() and "mdplan upload" in text


def test_a_run_that_starts_mid_second_keeps_each_second_in_its_own_bin(tmp_path):
    """Capped at 40 Mbit/s, 5 MB a second: the report must not show the first second's spike that came
    from two clock seconds sharing the first bin (a run rarely starts on a whole second)."""
    from planner.report import rates, upload_report_data

    (tmp_path / "src").mkdir()
    j = Journal.open(tmp_path / "src", "https://acct.blob.core.windows.net", "acct", "cont", "", home=tmp_path / "h")
    j.begin_run(workers="auto", cap="40 Mbit/s")
    t0 = 1_700_000_000.6  # started 0.6 s into a clock second
    j._db.execute("UPDATE runs SET started=?", (t0,))
    per_second = [3_100_000] + [5_000_000] * 9 + [1_900_000]  # a partial first and last second
    j.add_telemetry({int(t0) + i: [n, 10, 0, 40e6, 8] for i, n in enumerate(per_second)})
    j.end_run("finished", 0)
    # ended after its last bytes arrived (in the clock second that began 9.4 s after the start): 10.2 s
    j._db.execute("UPDATE runs SET ended=?", (t0 + len(per_second) - 0.8,))
    j.close()
    data, _, _ = upload_report_data(j.path)
    secs = [s for s, _ in data.throughput]
    assert secs == sorted(set(secs)) and secs[0] == 0  # one sample a second, from the first bin on
    r = rates(data)
    assert r.sent_bytes == sum(per_second)
    assert r.peak_bps <= 40e6 and r.peak_window_s == 5  # the cap held; the peak is over five whole seconds
