"""Polite mode's round trip in the journal and the report, and polite hours, against a real Azurite
(issue 15). The round-trip probe is the seam: it says what a busy link would."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

from planner.report import write_job_report
from planner.sas import parse_sas_url
from planner.upload import UploadOptions, run
from tests.integration.test_upload_polite import make_tree


def journal_of(home: Path) -> Path:
    (journal,) = [p for p in home.rglob("*.sqlite") if "registry" not in p.name]
    return journal


def round_trips(home: Path) -> list[float]:
    with sqlite3.connect(journal_of(home)) as db:
        return [r[0] for r in db.execute("SELECT rtt_ms FROM telemetry WHERE rtt_ms IS NOT NULL")]


def test_a_polite_upload_records_its_round_trips_and_the_report_draws_them_and_the_cost(azurite, container,
                                                                                       tmp_path):
    start = time.monotonic()

    def probe() -> float:  # someone else fills the queue from 0.5 s to 2.5 s
        return 0.300 if 0.5 <= time.monotonic() - start < 2.5 else 0.002
    root = make_tree(tmp_path / "f", 40, 50_000)
    home = tmp_path / "h"
    res, _ = run(UploadOptions(source=root, sas=parse_sas_url(azurite.container_sas_url(container)), home=home,
                               polite=True, rtt_probe=probe, workers=2))
    assert res.exit_code == 0 and res.files_sent == 40
    rtts = round_trips(home)
    assert rtts and min(rtts) < 50 and max(rtts) > 250  # the quiet link and the full queue, in ms
    files = write_job_report(journal_of(home), tmp_path / "report")
    html = files.html.read_text(encoding="utf-8")
    assert "round trip (ms)" in html  # the RTT series on the rate chart's right-hand axis
    assert "rate polite mode chose" in html
    assert 'id="polite-cost"' in html and "Polite mode held back for" in html
    assert "at full speed the job would have taken about" in html


def _hours(now: datetime, polite_now: bool) -> str:
    """A --bwlimit timetable whose polite hours hold now (or start in an hour)."""
    if polite_now:
        return f"{now - timedelta(hours=1):%H:%M},polite {now + timedelta(hours=1):%H:%M},off"
    return f"{now + timedelta(hours=1):%H:%M},polite {now + timedelta(hours=2):%H:%M},off"


def test_polite_hours_in_the_timetable_turn_polite_mode_on_only_then(azurite, container, tmp_path):
    sas = parse_sas_url(azurite.container_sas_url(container))
    root = make_tree(tmp_path / "f", 10, 50_000)
    home = tmp_path / "h"
    res, plan = run(UploadOptions(source=root, sas=sas, home=home, bwlimit=_hours(datetime.now(), True),
                                  rtt_probe=lambda: 0.002))
    assert res.exit_code == 0 and res.files_sent == 10
    assert round_trips(home)  # polite mode ran
    assert "polite (yields to other traffic)" in (plan.cap or "")
    root2 = make_tree(tmp_path / "g", 10, 50_000)
    home2 = tmp_path / "h2"
    res, _ = run(UploadOptions(source=root2, sas=sas, home=home2, bwlimit=_hours(datetime.now(), False),
                               prefix="later", rtt_probe=lambda: 0.002))
    assert res.exit_code == 0 and res.files_sent == 10
    assert round_trips(home2) == []  # full speed: polite mode off, nothing measured
