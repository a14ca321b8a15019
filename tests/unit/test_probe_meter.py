"""The probe's pure logic (planner.probe.meter, .result, .choose): block size, the acknowledged-byte
meter, the stream ramp on a simulated link driven by a fake clock, and choosing a probe. No network,
no sleeping (moved from tests/integration/test_bandwidth.py, issue 12)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from planner.clock import FakeClock
from planner.errors import BadInput
from planner.probe import (
    FIRST_BLOCK,
    MAX_BLOCK,
    MIN_BLOCK,
    DestinationProbe,
    ManualProbe,
    Measurement,
    Ramp,
    RampSettings,
    RateMeter,
    SpeedtestProbe,
    choose_block,
    choose_probe,
    clamp_seconds,
)
from planner.sas import parse_sas_url

KiB = 1024
MiB = 1024 * KiB


# ------------------------------------------------------------------------------------------------
# Block size
# ------------------------------------------------------------------------------------------------
def test_block_size_starts_at_256k_and_follows_the_link() -> None:
    assert choose_block(None, 0.5) == FIRST_BLOCK == 256 * KiB
    # 1 Mbit/s per stream: 62.5 kB in half a second -> the smallest block, never bigger
    assert choose_block(125_000, 0.5) == MIN_BLOCK
    # 20 Mbit/s per stream: 1.25 MB in half a second -> 1 MiB (largest power of two that fits)
    assert choose_block(2_500_000, 0.5) == 1 * MiB
    assert choose_block(2 * MiB, 1.0) == 2 * MiB
    assert choose_block(10e9, 1.0) == MAX_BLOCK


# ------------------------------------------------------------------------------------------------
# Rate meter: only acknowledged bytes, spread over each request's duration
# ------------------------------------------------------------------------------------------------
def _done(m: RateMeter, stream: int, start: float, end: float, nbytes: int) -> None:
    m.begin(stream, start)
    m.end(stream, start, end, nbytes)


def test_meter_spreads_each_request_over_its_duration() -> None:
    m = RateMeter()
    _done(m, 0, 0.0, 1.0, 1000)
    _done(m, 0, 1.0, 2.0, 1000)
    r = m.rate([(0.5, 1.5)])
    assert r is not None
    assert r.bytes_per_second == pytest.approx(1000)
    assert (r.seconds, r.requests) == (pytest.approx(1.0), 2)
    assert m.rate([(1.0, 1.0)]) is None  # an empty window has no rate


def test_meter_knows_nothing_past_the_oldest_unanswered_request() -> None:
    m = RateMeter()
    m.begin(0, 0.0)
    m.begin(1, 0.5)
    assert m.known_until(3.0) == 0.0
    m.end(0, 0.0, 1.0, 1000)
    assert m.known_until(3.0) == 0.5
    m.end(1, 0.5, 2.0, 0)  # refused or timed out: time passed, nothing acknowledged
    assert m.known_until(3.0) == 3.0
    assert m.total_bytes == 1000


def test_meter_adds_up_streams_that_share_the_link_unevenly() -> None:
    # Over one second one stream finishes four 1000-byte requests, the other only one: the link
    # delivered 5000 B/s. (Averaging per-stream rates of finished requests, times two, would say 8000
    # while the slow stream was still on its way.)
    m = RateMeter()
    for k in range(4):
        _done(m, 0, k * 0.25, (k + 1) * 0.25, 1000)
    m.begin(1, 0.0)
    assert m.known_until(1.0) == 0.0  # the slow stream is unanswered: the window cannot be judged yet
    m.end(1, 0.0, 1.0, 1000)
    r = m.rate([(0.0, 1.0)])
    assert r is not None and r.bytes_per_second == pytest.approx(5000)


# ------------------------------------------------------------------------------------------------
# Ramp on a simulated link, driven by a fake clock
# ------------------------------------------------------------------------------------------------
@dataclass
class SimLink:
    """A link shared by the streams sending at the moment: each gets min(per_stream, capacity / n),
    times `crowding` (a link that dislikes many streams); for `slow_start` seconds after each change
    every stream runs at `slow_factor` of that (new connections, TCP slow start). A request is
    answered `rtt` after its last byte; streams the ramp drops finish the request they are on."""

    capacity: float  # bytes/s
    per_stream: float  # bytes/s one stream can do on its own (window / RTT)
    rtt: float = 0.0
    slow_start: float = 0.0
    slow_factor: float = 1.0
    crowding: dict[int, float] | None = None  # streams sending -> share of the link that gets through
    dt: float = 0.001

    def stream_rate(self, sending: int, since_change: float) -> float:
        r = min(self.per_stream, self.capacity / max(1, sending))
        if self.crowding:
            r *= min((f for n, f in self.crowding.items() if sending >= n), default=1.0)
        if since_change < self.slow_start:
            r *= self.slow_factor
        return r

    def run(self, ramp: Ramp, clock: FakeClock, meter: RateMeter, until: float) -> list[tuple[float, int]]:
        """Run the ramp until `until`; returns (time, streams) at every change the ramp made."""
        changes: list[tuple[float, int]] = []
        reqs: dict[int, list[float]] = {}  # stream -> [start, bytes sent, block, answered at (-1: sending)]
        level_id = None
        while clock.monotonic() < until:
            now = clock.monotonic()
            lvl = ramp.update(now)
            if id(lvl) != level_id:
                level_id = id(lvl)
                changes.append((now, lvl.streams))
            for i in range(lvl.streams):
                if i not in reqs:
                    reqs[i] = [now, 0.0, float(lvl.block), -1.0]
                    meter.begin(i, now)
            sending = sum(1 for r in reqs.values() if r[3] < 0)
            rate = self.stream_rate(sending, now - lvl.started)
            for i, r in list(reqs.items()):
                start, sent, block, answered = r
                if answered < 0:
                    r[1] = sent + rate * self.dt
                    if r[1] >= block:
                        r[3] = now + self.dt + self.rtt
                elif now + self.dt >= answered:
                    meter.end(i, start, answered, int(block))
                    del reqs[i]
                    if i < lvl.streams:
                        reqs[i] = [answered, 0.0, float(lvl.block), -1.0]
                        meter.begin(i, answered)
            clock.advance(self.dt)
        return changes


def _ramp(link: SimLink, seconds: float, **settings) -> tuple[Ramp, RateMeter, FakeClock, list[tuple[float, int]]]:
    clock = FakeClock(start=0.0)
    meter = RateMeter()
    s = RampSettings(**{"interval": 0.5, **settings})
    ramp = Ramp(meter, s, start=0.0, end=seconds)
    changes = link.run(ramp, clock, meter, seconds)
    return ramp, meter, clock, changes


def test_ramp_doubles_streams_until_the_link_is_full_then_stays() -> None:
    link = SimLink(capacity=5e6, per_stream=1e6)
    ramp, meter, _, changes = _ramp(link, 10.0)
    assert [s for _, s in changes] == [2, 4, 8, 16]  # 2->4 +100%, 4->8 +25%, 8->16 +0%: stop
    assert ramp.final and not ramp.limited
    rate, streams = ramp.result(10.0)
    assert streams == 16
    assert rate is not None
    assert rate.bytes_per_second == pytest.approx(5e6, rel=0.03)


def test_ramp_discards_the_slow_start_after_each_change() -> None:
    # For 0.4 s after every change the streams crawl at 10%; the figure must not see it.
    link = SimLink(capacity=4e6, per_stream=1e6, slow_start=0.4, slow_factor=0.1)
    ramp, meter, _, changes = _ramp(link, 10.0)
    rate, _ = ramp.result(10.0)
    assert rate is not None
    assert rate.bytes_per_second == pytest.approx(4e6, rel=0.03)
    naive = meter.total_bytes / 10.0  # counting everything would read far too low
    assert naive < 0.9 * 4e6
    for lvl in ramp.levels:
        assert lvl.settled - lvl.started == pytest.approx(0.5)  # one whole interval thrown away


def test_ramp_steps_back_when_more_streams_make_it_slower() -> None:
    # Fills at 4 streams; 8 streams overload the link (only 60% of it gets through).
    link = SimLink(capacity=4e6, per_stream=1e6, crowding={8: 0.6})
    ramp, _, _, changes = _ramp(link, 10.0)
    assert [s for _, s in changes] == [2, 4, 8, 4]
    rate, streams = ramp.result(10.0)
    assert streams == 4
    assert rate is not None
    assert rate.bytes_per_second == pytest.approx(4e6, rel=0.03)


def test_ramp_makes_no_change_it_has_no_time_to_judge() -> None:
    link = SimLink(capacity=1e9, per_stream=1e6)  # would keep rising for a long time
    ramp, _, _, changes = _ramp(link, 4.0)
    level_time = ramp.s.interval * (1 + ramp.s.measure_intervals)
    for lvl in ramp.levels:
        assert lvl.started + level_time <= 4.0 + 1e-9
    assert ramp.final and ramp.cut_short  # still rising when the time ran out: said so
    assert [s for _, s in changes] == [2, 4]


def test_ramp_stops_at_the_stream_ceiling_and_says_the_link_may_be_faster() -> None:
    link = SimLink(capacity=1e9, per_stream=1e6)
    ramp, _, _, changes = _ramp(link, 30.0, max_streams=8)
    assert [s for _, s in changes] == [2, 4, 8]
    assert ramp.limited
    rate, streams = ramp.result(30.0)
    assert streams == 8 and rate is not None
    assert rate.bytes_per_second == pytest.approx(8e6, rel=0.03)


def test_ramp_waits_for_acknowledgements_on_a_slow_link() -> None:
    # 256 KiB at 0.2 Mbit/s per stream takes ~10 s: no request completes inside the first level's
    # window, so the ramp must not judge (and must not call the link empty).
    link = SimLink(capacity=50_000, per_stream=25_000)
    clock = FakeClock(start=0.0)
    meter = RateMeter()
    ramp = Ramp(meter, RampSettings(interval=0.5), start=0.0, end=8.0)
    link.run(ramp, clock, meter, 8.0)
    assert len(ramp.levels) == 1 and ramp.levels[0].rate is None
    assert meter.total_bytes == 0


def test_ramp_picks_a_small_first_block_when_the_hint_says_slow() -> None:
    meter = RateMeter()
    slow = Ramp(meter, RampSettings(interval=0.5), start=0.0, end=10.0, hint_bytes_per_second=100_000)
    fast = Ramp(meter, RampSettings(interval=0.5), start=0.0, end=10.0, hint_bytes_per_second=1e9)
    assert slow.level.block == MIN_BLOCK
    assert fast.level.block == FIRST_BLOCK  # never more than 256 KiB before a measured level


def test_settings_scale_with_the_window_and_the_round_trip() -> None:
    assert RampSettings.for_window(10.0).interval == pytest.approx(10 / 15)
    assert RampSettings.for_window(2.0).interval == pytest.approx(0.13333, rel=1e-3)
    assert RampSettings.for_window(30.0).interval == 1.0
    # a 300 ms round trip: a change needs a few round trips to settle
    assert RampSettings.for_window(10.0, 0.3).interval == pytest.approx(1.2)


# ------------------------------------------------------------------------------------------------
# Choosing a probe; manual figure
# ------------------------------------------------------------------------------------------------
def test_bandwidth_always_wins_then_speedtest_then_destination() -> None:
    sas = parse_sas_url("http://127.0.0.1:1/devstoreaccount1/cont?sv=2020-10-02&sr=c&sp=cw&sig=SECRETSIG")
    assert isinstance(choose_probe(sas=sas, speedtest=True, bandwidth="20 Mbps"), ManualProbe)
    assert isinstance(choose_probe(sas=sas, speedtest=True), SpeedtestProbe)
    assert isinstance(choose_probe(sas=sas), DestinationProbe)
    with pytest.raises(BadInput, match="SAS URL"):
        choose_probe()


def test_manual_figure_is_taken_as_typed() -> None:
    m = ManualProbe("2.5 MB/s").measure()
    assert m.method == "manual"
    assert m.bits_per_second == 20e6
    assert (m.rtt_ms, m.per_file_seconds, m.bytes) == (None, None, 0)
    assert "as typed" in m.note.lower()
    with pytest.raises(BadInput):
        ManualProbe("fast")


def test_probe_window_defaults_to_10_and_is_capped_at_30() -> None:
    assert clamp_seconds(None) == 10.0
    assert clamp_seconds(120) == 30.0
    assert clamp_seconds(0.2) == 1.0
    with pytest.raises(BadInput):
        clamp_seconds(-1)


def test_measurement_converts_to_the_estimate_models_figure() -> None:
    from planner import estimate

    m = Measurement(48e6, 23.0, 0.031, "destination", 10.0, 123, "Good")
    fig = m.to_figure()
    assert isinstance(fig, estimate.BandwidthFigure)
    assert (fig.bits_per_second, fig.method, fig.rtt_ms, fig.per_file_seconds) == (48e6, "destination", 23.0, 0.031)


