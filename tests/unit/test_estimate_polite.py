"""The estimate prices polite mode (issue 15): a polite share of the link for the time and the advice."""

from __future__ import annotations

import pytest

from planner.estimate import (POLITE_SHARE, BandwidthFigure, EstimateSettings, estimate, polite_estimate)
from planner.throttle import Timetable

LINK = BandwidthFigure(20e6, "destination")


def test_polite_counts_with_the_measured_polite_share_of_the_link() -> None:
    assert POLITE_SHARE == 0.91  # BENCHMARKS.md, "Polite mode vs the default upload": 91.3% alone (router lab)
    plain = estimate(10**11, 1000, LINK)
    polite = polite_estimate(10**11, 1000, LINK)
    assert polite.polite and not plain.polite
    assert polite.upload_seconds == pytest.approx(plain.upload_seconds / POLITE_SHARE)
    assert polite.rate_bits_per_second == pytest.approx(20e6 * POLITE_SHARE)
    assert polite.bandwidth == LINK  # the link as measured is still what the speed line shows
    said = [r for r in polite.reasons if r.startswith("Polite mode")]
    assert said and "91%" in said[0] and "20 Mbit/s" in said[0]
    for p, q in zip(polite.what_if, plain.what_if):  # the what-if rows are polite too
        assert p.bits_per_second == q.bits_per_second
        assert p.upload_seconds == pytest.approx(q.upload_seconds / POLITE_SHARE, rel=0.01)


def test_politeness_can_tip_the_advice_to_a_drive() -> None:
    s = EstimateSettings(shipping_days=0, ingest_days=0)
    nbytes = int(6.9 * 86400 * 20e6 / 8)  # 6.9 days at the full link: under the week an upload is fine for
    assert estimate(nbytes, 1000, LINK, s).recommendation == "upload"
    assert polite_estimate(nbytes, 1000, LINK, s).recommendation == "drive"  # 7.8 days polite


def test_a_fixed_cap_below_the_polite_share_still_wins() -> None:
    e = polite_estimate(10**10, 100, LINK, cap=Timetable.from_cap_mbps(4))
    assert e.rate_bits_per_second == pytest.approx(4e6)


def test_polite_hours_in_a_timetable_are_priced_at_the_polite_share() -> None:
    from datetime import datetime

    from planner.estimate import price_polite_hours
    from planner.throttle import eta_seconds

    monday = datetime(2026, 1, 5, 0, 0)
    t = Timetable.parse("00:00,polite 12:00,pause")
    assert eta_seconds(3_600_000, 1000, t, monday) == 3600  # as written: polite hours have no fixed cap
    priced = price_polite_hours(t)
    assert priced is not None and priced.describe() == t.describe() and str(priced) == str(t)
    assert eta_seconds(3_600_000, 1000, priced, monday) == pytest.approx(3600 / POLITE_SHARE)
    assert price_polite_hours(Timetable.parse("08:00,512k 18:00,off")) == Timetable.parse("08:00,512k 18:00,off")
    assert price_polite_hours(None) is None
    plain = estimate(10**11, 1000, LINK, cap=t, start=monday)
    polite = estimate(10**11, 1000, LINK, cap=priced, start=monday)
    assert polite.upload_seconds > plain.upload_seconds * 1.1
    assert polite.rate_bits_per_second == pytest.approx(20e6 * POLITE_SHARE / 2, rel=0.02)  # half of each day


def test_the_plan_pages_curve_passes_through_the_polite_time(tmp_path) -> None:
    """The plan page's crossover curve is the estimate at other link speeds: polite too, so the point
    marked for the user's link lies on it."""
    from planner.assessment import assess
    from planner.report.sources import _curve

    d = tmp_path / "cards" / "site1"
    d.mkdir(parents=True)
    for i in range(5):
        (d / f"IMG_{i:04d}.JPG").write_bytes(b"\xff\xd8" + bytes(200_000))
    a = assess(d.parent, bandwidth="20Mbps", polite=True)
    assert _curve(a.estimate)(20e6) == pytest.approx(a.estimate.upload_seconds)
