"""The upload-or-drive model: times, thresholds and reasons."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.estimate import (DAY, BandwidthFigure, EstimateSettings, drive_route, estimate, upload_seconds,
                              upload_seconds_at, with_overrides)

TB = 10**12
S = EstimateSettings()


def test_upload_time_is_the_slower_of_the_link_and_the_per_file_round_trips():
    bw = BandwidthFigure(100e6, "manual")
    total, wire, overhead = upload_seconds(TB, 1_000_000, bw, S)
    assert wire == pytest.approx(TB * 8 / (100e6 * 0.95))
    assert overhead == pytest.approx(1_000_000 * S.per_file_seconds / S.workers)
    assert total == pytest.approx(max(wire, overhead))  # the two overlap: the slower one sets the pace
    many_small = upload_seconds(10**9, 10_000_000, bw, S)
    assert many_small[0] == pytest.approx(many_small[2]) and many_small[2] > many_small[1]  # per-file bound
    measured = BandwidthFigure(100e6, "destination", rtt_ms=50, per_file_seconds=0.2)
    _, wire2, _ = upload_seconds(TB, 1, measured, S)
    assert wire2 == pytest.approx(TB * 8 / 100e6)  # already net of overhead


def test_microsofts_rule_of_thumb_roughly_holds():
    # 1 TB ~ 1 day at 100 Mbit/s (Microsoft: at 90% utilisation)
    t = upload_seconds_at(TB, 1000, S, 100e6)
    assert 0.9 * DAY < t < 1.1 * DAY


def test_drive_route():
    total, copy, drives = drive_route(9 * TB, S)
    assert drives == 3 and copy == pytest.approx(9 * TB / 60e6)
    assert total == pytest.approx(copy + 9 * DAY)


@pytest.mark.parametrize("nbytes,mbps,expected", [
    (100 * 10**9, 20, "upload"),  # ~12 h: fine
    (2 * TB, 50, "upload"),  # ~3.9 days: under a week, upload even though close to the drive
    (2 * TB, 5, "drive"),  # ~39 days: months territory
    (TB, 3, "drive"),  # ~32 days
])
def test_recommendations(nbytes, mbps, expected):
    e = estimate(nbytes, nbytes // 500_000, BandwidthFigure(mbps * 1e6))
    assert e.recommendation == expected
    assert e.reasons and all(r.endswith(".") for r in e.reasons)
    assert [w.bits_per_second for w in e.what_if] == [10e6, 50e6, 100e6, 1000e6]


def test_close_call_between_the_thresholds_says_so():
    s = with_overrides(S, shipping_days=12.0)  # drive ~14.2 days
    e = estimate(int(1.2 * TB), 1000, BandwidthFigure(6e6), s)  # upload ~19.5 days: slower, but within 1.5x
    assert e.recommendation == "upload" and e.close_call
    assert any("close call" in r for r in e.reasons)


def test_monthly_cap_spreads_over_calendar_months():
    s = with_overrides(S, monthly_cap_bytes=TB)
    e = estimate(3 * TB, 1000, BandwidthFigure(1e9), s)
    assert e.cap_months == pytest.approx(3.0)
    assert e.upload_seconds > 2 * 30 * DAY
    assert e.recommendation == "drive"
    assert any("data cap" in r for r in e.reasons)


@given(st.integers(1, 10**15), st.integers(1, 10**7), st.integers(1, 10**15),
       st.floats(1e4, 1e10), st.sampled_from(["manual", "destination", "speedtest"]))
def test_more_bytes_or_files_never_take_less_time(b1, files, extra, bps, method):
    bw = BandwidthFigure(bps, method)
    t1 = estimate(b1, files, bw).upload_seconds
    assert estimate(b1 + extra, files, bw).upload_seconds >= t1
    assert estimate(b1, files + 1, bw).upload_seconds >= t1
    assert math.isfinite(t1)


@given(st.integers(1, 10**14), st.floats(1e5, 1e9), st.floats(1.01, 100))
def test_faster_links_never_take_longer(nbytes, bps, factor):
    assert upload_seconds_at(nbytes, 100, S, bps * factor) <= upload_seconds_at(nbytes, 100, S, bps)


ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"


def _route(iface, dest="00000000", flags="0003", metric=100, mask="00000000"):
    return f"{iface}\t{dest}\t0102A8C0\t{flags}\t0\t0\t{metric}\t{mask}\t0\t0\t0\n"


@pytest.mark.parametrize("routes,wireless,expected", [
    ([_route("wlan0")], {"wlan0"}, True),
    ([_route("eth0")], {"wlan0"}, False),
    ([_route("wlan0", metric=600), _route("eth0", metric=100)], {"wlan0"}, False),  # lowest metric wins
    ([_route("eth0", metric=600), _route("wlp2s0", metric=100)], {"wlp2s0"}, True),
    ([_route("ppp0", flags="0001")], set(), False),  # a default route without a gateway still counts
    ([_route("wlan0", flags="0002")], {"wlan0"}, None),  # not up
    ([_route("wlan0", dest="0000A8C0", mask="00FFFFFF")], {"wlan0"}, None),  # no default route at all
])
def test_wifi_is_told_from_the_default_route(tmp_path, routes, wireless, expected):
    from planner.assessment import default_route_is_wifi

    table = tmp_path / "route"
    table.write_text(ROUTE_HEADER + "".join(routes))
    for iface in {r.split("\t")[0] for r in routes}:
        (tmp_path / "net" / iface).mkdir(parents=True)
        if iface in wireless:
            (tmp_path / "net" / iface / "wireless").mkdir()
    assert default_route_is_wifi(str(table), str(tmp_path / "net")) is expected


def test_wifi_is_unknown_where_the_os_does_not_say(tmp_path):
    from planner.assessment import default_route_is_wifi

    assert default_route_is_wifi(str(tmp_path / "missing"), str(tmp_path)) is None
    (tmp_path / "garbage").write_text("not a route table\nx y z\n")
    assert default_route_is_wifi(str(tmp_path / "garbage"), str(tmp_path)) is None
