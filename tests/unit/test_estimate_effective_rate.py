"""Issue 17: the plan's time and advice use the rate that will actually be used (the cap, a timetable),
not the measured link rate. `effective_rate` is the one rule, shared by estimate and the uploader."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from planner.estimate import DAY, BandwidthFigure, advise, effective_rate, estimate
from planner.throttle import Timetable, eta_seconds

MONDAY_9 = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc).astimezone()
GB = 10**9


def test_no_cap_is_the_link_and_a_fixed_cap_holds_it_under():
    assert effective_rate(4.26e6) == 4.26e6
    assert effective_rate(4.26e6, Timetable.from_cap_mbps(1)) == pytest.approx(1e6)
    assert effective_rate(269e6, Timetable.from_cap_mbps(4)) == pytest.approx(4e6)
    assert effective_rate(2e6, Timetable.from_cap_mbps(40)) == 2e6  # a cap above the link changes nothing
    assert effective_rate(5e6, Timetable.parse("off")) == 5e6
    assert effective_rate(8e6, Timetable.parse("512k")) == pytest.approx(512 * 1024 * 8)  # rclone: bytes/s


def test_a_timetable_gives_the_average_over_the_job_pauses_included():
    tt = Timetable.parse("08:00,pause 20:00,off")  # half of every day paused
    link = 10e6
    rate = effective_rate(link, tt, start=MONDAY_9, nbytes=100 * GB)
    assert rate == pytest.approx(100 * GB * 8 / eta_seconds(100 * GB, link / 8, tt, MONDAY_9))
    assert 0.45 * link < rate < 0.55 * link
    assert effective_rate(link, tt, start=MONDAY_9) == pytest.approx(link / 2, rel=0.02)  # a week's mean
    with pytest.raises(ValueError):
        effective_rate(link, tt)  # the model reads no clock: a changing timetable needs the start


def test_the_cap_mbps_1_plan_counts_with_1_mbit_not_the_measured_4_26():
    nbytes, files = 11 * 10**12, 20_000_000
    bw = BandwidthFigure(4.26e6, "destination", rtt_ms=40, per_file_seconds=0.05)
    capped = estimate(nbytes, files, bw, cap=Timetable.from_cap_mbps(1), start=MONDAY_9)
    free = estimate(nbytes, files, bw)
    assert capped.rate_bits_per_second == pytest.approx(1e6) and capped.cap
    assert capped.upload_seconds == pytest.approx(nbytes * 8 / 1e6)
    assert capped.upload_seconds > 4 * free.upload_seconds
    assert "1 Mbit/s" in capped.reasons[0] and "4.26" not in capped.reasons[0]
    assert all(w.upload_seconds == pytest.approx(capped.upload_seconds) for w in capped.what_if)


def test_the_cap_mbps_4_plan_is_not_two_minutes_at_269():
    nbytes = 4 * GB
    e = estimate(nbytes, 8000, BandwidthFigure(269e6, "upload", rtt_ms=20), cap=Timetable.from_cap_mbps(4))
    assert e.upload_seconds == pytest.approx(nbytes * 8 / 4e6)  # about 2 h 13 min, not 2 min
    assert "4 Mbit/s" in e.reasons[0] and "269" not in e.reasons[0]


def test_advice_for_the_uploader_counts_with_the_cap():
    nbytes, files = 2 * 10**12, 4_000_000
    assert advise(files=files, nbytes=nbytes, bits_per_second=269e6).recommendation == "upload"
    slow = advise(files=files, nbytes=nbytes, bits_per_second=269e6, cap=Timetable.from_cap_mbps(4))
    assert slow.recommendation == "drive" and slow.upload_seconds > 30 * DAY
    assert "4 Mbit/s" in slow.reasons[0]
