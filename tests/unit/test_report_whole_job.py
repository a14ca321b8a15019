"""Issue 17: the report of a job that took several runs, days apart, from synthetic data (no network):
one time axis, the gap not counted as sending time, average and peak on the same scope."""

from __future__ import annotations

import random
import re

from planner.report import RunRow, rates, render_upload_report
from helpers.report_samples import upload_data

DAY = 86400.0


def two_runs_two_days_apart():
    rng = random.Random(5)
    data = upload_data("finished", seconds=600)
    first = [(float(s), rng.randint(1_000_000, 3_000_000)) for s in range(0, 120)]
    second = [(2 * DAY + s, rng.randint(200_000, 600_000) if s % 7 else 8_000_000) for s in range(0, 300)]
    data.throughput = first + second
    data.pauses = []
    data.cap_series = []
    data.wall_seconds = 2 * DAY + 300
    data.runs = [RunRow(1, 0.0, 120.0, "interrupted", 40, sum(n for _, n in first), "20 Mbit/s", "auto"),
                 RunRow(2, 2 * DAY, 2 * DAY + 300, "finished", 60, sum(n for _, n in second), None, "auto")]
    data.prediction_start = 2 * DAY
    return data, first, second


def test_average_and_peak_are_over_the_sending_time_of_every_run():
    data, first, second = two_runs_two_days_apart()
    r = rates(data)
    sent = sum(n for _, n in first + second)
    assert r.sent_bytes == sent
    assert r.active_seconds == 420  # two days between the runs are not sending time
    assert r.average_bps == sent * 8 / 420
    assert r.peak_bps >= r.average_bps
    one = rates(data, [(0.0, 120.0)])
    assert one.average_bps == sum(n for _, n in first) * 8 / 120 and one.peak_bps >= one.average_bps


def test_the_page_lists_every_run_and_shades_the_gap():
    data, _, _ = two_runs_two_days_apart()
    html = render_upload_report(data)
    runs = re.search(r'<table id="runs">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    assert runs.count("<tr>") == 2 and "interrupted" in runs and "finished" in runs
    assert "between runs" in html
    assert re.search(r'data-field="run_seconds" data-value="420(\.0)?"', html)
    avg = float(re.search(r'data-field="average_bps" data-value="([\d.e+]+)"', html).group(1))
    peak = float(re.search(r'data-field="peak_bps" data-value="([\d.e+]+)"', html).group(1))
    assert peak >= avg


def test_a_run_killed_without_a_word_is_not_shown_as_running(tmp_path):
    """A journal left "uploading" by a killed mdplan: its last run ended (killed?), not "running";
    while an mdplan holds the job, the same journal's last run is running."""
    from planner.journal import Journal
    from planner.report import upload_report_data

    (tmp_path / "src").mkdir()
    j = Journal.open(tmp_path / "src", "https://acct.blob.core.windows.net", "acct", "cont", "", home=tmp_path / "h")
    j.begin_run(workers="auto", cap=None)
    t0 = 1_700_000_000.0
    j._db.execute("UPDATE runs SET started=?", (t0,))
    j.add_telemetry({int(t0) + i: [1_000_000, 1, 0, None, 4] for i in range(5)})
    j.set_state("uploading")
    j.commit()
    data, _, _ = upload_report_data(j.path)  # the job is held (this Journal owns its lock)
    assert data.runs[-1].outcome == "running"
    j.close()  # as a kill -9 leaves it: state "uploading", no end, the lock gone with the process
    data, _, _ = upload_report_data(j.path)
    assert data.runs[-1].outcome.startswith("ended without a word") and data.runs[-1].end == 5.0
