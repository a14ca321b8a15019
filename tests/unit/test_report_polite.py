"""The report of a polite upload (issue 15): the rate polite mode chose and the round trip it measured on
the rate chart, and what politeness cost in time. Synthetic data and a journal on disk; no network."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from planner.journal import Journal
from planner.report import Totals, UploadReportData
from planner.report.politeness import polite_cost, polite_cost_text
from planner.report.render import render_upload_report

FAST, SLOW = 40e6, 5e6  # bits/s: the link alone, and the rate polite mode chose while someone else used it


def polite_job(*, rtt: bool = True) -> UploadReportData:
    """600 s: 300 s alone at 40 Mbit/s (round trip 30 ms), then 300 s yielding at 5 Mbit/s (120 ms)."""
    throughput = [(float(s), int((FAST if s < 300 else SLOW) / 8)) for s in range(600)]
    sent = sum(n for _, n in throughput)
    return UploadReportData(
        job_id="j1", source="/data/cams", destination="acct/cams", mdplan_version="test",
        started=datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc),
        finished=datetime(2026, 1, 5, 9, 10, tzinfo=timezone.utc), state="finished",
        totals=Totals(files_planned=100, bytes_planned=sent, files_done=100, bytes_done=sent),
        wall_seconds=600.0, throughput=throughput,
        cap_series=[(0.0, FAST), (300.0, SLOW)],
        rtt_series=[(float(s), 30.0 if s < 300 else 120.0) for s in range(600)] if rtt else [],
    )


def test_the_cost_of_politeness_is_the_time_it_held_back() -> None:
    cost = polite_cost(polite_job())
    assert cost is not None
    assert cost.polite_seconds == pytest.approx(600)
    assert cost.yielded_seconds == pytest.approx(300)
    assert cost.free_bps == pytest.approx(FAST, rel=0.02)
    # 300 s at 5 Mbit/s moved what 37.5 s at 40 Mbit/s would have: 262.5 s lost
    assert cost.cost_seconds == pytest.approx(262.5, rel=0.03)
    text = polite_cost_text(cost)
    assert text.startswith("Polite mode held back for 5 min of its 10 min")
    assert "at full speed the job would have taken about 4 min less" in text


def test_polite_mode_that_never_yielded_cost_nothing() -> None:
    data = polite_job()
    data = replace(data, throughput=[(s, int(FAST / 8)) for s, _ in data.throughput], cap_series=[(0.0, FAST)],
                   rtt_series=[(s, 30.0) for s, _ in data.rtt_series])
    cost = polite_cost(data)
    assert cost is not None and cost.yielded_seconds == 0 and cost.cost_seconds == 0
    assert "never had to yield" in polite_cost_text(cost)


def test_no_round_trips_no_polite_words() -> None:
    assert polite_cost(polite_job(rtt=False)) is None
    html = render_upload_report(polite_job(rtt=False))
    assert "round trip" not in html and 'id="polite-cost"' not in html


def test_the_report_draws_the_chosen_rate_and_the_round_trip_and_says_the_cost() -> None:
    html = render_upload_report(polite_job())
    assert 'id="polite-cost"' in html
    assert "Polite mode held back for 5 min of its 10 min" in html
    chart = html[html.index('id="throughput-chart"'):]
    chart = chart[:chart.index("</figure>")]
    assert "round trip (ms)" in chart  # the right-hand axis
    assert "rate polite mode chose" in chart  # the legend
    assert "round trip polite mode measured" in chart  # the caption


def test_the_journal_keeps_the_round_trip_and_old_journals_still_read(tmp_path: Path) -> None:
    home = tmp_path / "home"
    src = tmp_path / "src"
    src.mkdir()
    with Journal.open(src, "https://a.blob.core.windows.net", "a", "c", "", home=home) as j:
        j.add_telemetry({100: [500, 1, 0, 8e6, 4, 31.5], 101: [10, 0, 0, 8e6, 4, None], 102: [1, 0, 0, None, 4]})
        j.add_telemetry({100: [0, 0, 0, 8e6, 4, None]})  # a later flush of the same second keeps the round trip
        j.commit()
        assert j.rtt() == [(100, 31.5)]
        assert j.telemetry()[0] == (100, 500, 1, 0, 8e6, 4)
        path = j.path
    # the same file as mdplan 0.x (schema 1) wrote it: no rtt_ms column
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE telemetry DROP COLUMN rtt_ms")
    db.execute("UPDATE job SET schema=1")
    db.commit()
    db.close()
    with Journal.open_existing(path) as old:  # the report reads it as it is
        assert old.rtt() == [] and len(old.telemetry()) == 3
    with Journal.open(src, "https://a.blob.core.windows.net", "a", "c", "", home=home) as j:  # an upload migrates it
        j.add_telemetry({103: [5, 0, 0, None, 4, 40.0]})
        j.commit()
        assert j.rtt() == [(103, 40.0)]
    db = sqlite3.connect(path)
    assert db.execute("SELECT schema FROM job").fetchone()[0] == 2
    db.close()


def test_the_report_of_a_journal_carries_the_round_trips(tmp_path: Path) -> None:
    from planner.report.sources import upload_report_data

    src = tmp_path / "src"
    src.mkdir()
    with Journal.open(src, "https://a.blob.core.windows.net", "a", "c", "", home=tmp_path / "home") as j:
        j.begin_run(workers="auto", cap=None)
        t0 = int(j.runs()[0]["started"])
        j.add_telemetry({t0 + i: [1_000_000, 1, 0, 8e6, 4, 25.0 + i] for i in range(5)})
        j.commit()
        path = j.path
    data, _, _ = upload_report_data(path)
    assert [ms for _, ms in data.rtt_series] == [25.0, 26.0, 27.0, 28.0, 29.0]
    assert data.rtt_series[0][0] == pytest.approx(0.0, abs=1.0)
