"""The polite-mode controller as pure logic: an injected clock (plain numbers) and series of round trips.

No sleeping, no network: each test feeds `PoliteController.update(t, rtt, delivered)` and checks the
rate it chooses (issue 15).
"""

from __future__ import annotations

import random

import pytest

from planner.polite import PoliteController, PoliteSettings

STEP = 0.1  # seconds between samples (the sampler's pace)
C = 2_500_000.0  # a 20 Mbit/s link, bytes/s
BASE = 0.040


def feed(ctl: PoliteController, t0: float, seconds: float, rtt, delivered=None) -> float:
    t = t0
    while t < t0 + seconds - 1e-9:
        t += STEP
        ctl.update(t, rtt(t) if callable(rtt) else rtt, delivered(t) if delivered else None)
    return t


def fluid(ctl: PoliteController, seconds: float, *, other=lambda t: 0.0, base=lambda t: BASE, t0: float = 0.0,
          cap: float = C):
    """A drop-tail link of `cap` bytes/s: mdplan's rate plus another flow's fill one queue; the round trip
    is the base plus the queue's delay. Returns (t, [(t, rate, queue delay)])."""
    q = 0.0
    sent = 0.0
    t = t0
    trace = []
    while t < t0 + seconds - 1e-9:
        t += STEP
        arrive = ctl.rate + other(t)
        out = min(cap, arrive + q / STEP)
        share = ctl.rate / arrive if arrive else 0.0
        q = max(0.0, q + (arrive - cap) * STEP)
        sent += out * share * STEP
        ctl.update(t, base(t) + q / cap, sent)
        trace.append((t, ctl.rate, q / cap))
    return t, trace


def test_alone_it_fills_the_link_with_a_short_queue() -> None:
    ctl = PoliteController(PoliteSettings(start_rate=256 * 1024))
    _, trace = fluid(ctl, 60)
    last = trace[-200:]  # the last 20 s
    util = sum(min(r, C) for _, r, _ in last) / len(last) / C
    queue = sorted(d for _, _, d in last)
    assert util >= 0.90
    assert queue[int(len(queue) * 0.9)] <= 0.030  # p90 of the added delay within the 30 ms


def test_step_up_in_delay_backs_off_fast() -> None:
    ctl = PoliteController(PoliteSettings(start_rate=C))
    t = feed(ctl, 0, 5, BASE)
    before = ctl.rate
    feed(ctl, t, 1.0, BASE + 0.150)  # someone else's flow fills the queue: +150 ms
    assert ctl.rate <= before * 0.2
    assert ctl.yielding


def test_step_down_in_delay_takes_the_link_back_within_ten_seconds() -> None:
    ctl = PoliteController()
    t, _ = fluid(ctl, 30)
    t = feed(ctl, t, 5, BASE + 0.150)
    low = ctl.rate
    t, trace = fluid(ctl, 10, t0=t)
    assert low < 0.2 * C
    # at 10 s (the last second: near the target the rate saws around the link's, +-10%)
    assert sum(r for _, r, _ in trace[-10:]) / 10 >= 0.9 * C
    assert not ctl.yielding or ctl.rate >= 0.9 * C


def test_a_competing_flow_gets_most_of_the_link_and_mdplan_returns_after() -> None:
    ctl = PoliteController()
    t, trace = fluid(ctl, 30)
    assert not ctl.yielding  # alone: the queue touching the target now and then is not yielding
    # a greedy TCP flow: it takes what mdplan leaves and keeps the queue near 150 ms while it runs
    t, trace = fluid(ctl, 20, t0=t, other=lambda _t: C * 1.05)
    share = sum(r for _, r, _ in trace[-100:]) / 100 / C
    assert share <= 0.30  # the other flow gets >= 70%
    assert ctl.yielding
    t, trace = fluid(ctl, 10, t0=t)
    assert sum(r for _, r, _ in trace[-30:]) / 30 >= 0.9 * C  # back to >= 90% within 10 s


def test_noise_single_slow_samples_do_not_knock_the_rate_down() -> None:
    rng = random.Random(7)
    ctl = PoliteController(PoliteSettings(start_rate=C / 2))
    t = feed(ctl, 0, 10, BASE)
    before = ctl.rate

    def noisy(_t: float) -> float:  # one sample in ten is 200 ms late (a busy server, a lost packet)
        return BASE + (0.200 if rng.random() < 0.1 else rng.uniform(0, 0.005))
    feed(ctl, t, 10, noisy)
    assert ctl.rate >= before  # still probing up: the min filter drops lone spikes


def test_base_falling_is_taken_at_once() -> None:
    ctl = PoliteController()
    t = feed(ctl, 0, 5, 0.100)
    feed(ctl, t, 0.3, 0.050)
    assert ctl.base_s == pytest.approx(0.050)


def test_base_drifting_up_is_learned_and_the_rate_recovers() -> None:
    s = PoliteSettings(base_bucket_s=10, base_buckets=3)
    ctl = PoliteController(s)
    t, _ = fluid(ctl, 20)
    # the route changes: the base rises 60 ms over a minute and stays there; mdplan may yield meanwhile
    drift = lambda x: BASE + min(0.060, max(0.0, x - 20) * 0.001)  # noqa: E731
    t, _ = fluid(ctl, 60, t0=t, base=drift)
    t, trace = fluid(ctl, 60, t0=t, base=drift)
    assert ctl.base_s == pytest.approx(BASE + 0.060, abs=1e-3)
    assert sum(r for _, r, _ in trace[-100:]) / 100 >= 0.9 * C


def test_the_cap_bounds_it_from_above_and_the_floor_from_below() -> None:
    ctl = PoliteController(PoliteSettings(max_rate=500_000, start_rate=100_000))
    feed(ctl, 0, 30, BASE)
    assert ctl.rate == pytest.approx(500_000)
    feed(ctl, 30, 30, BASE + 1.0)
    assert ctl.rate == pytest.approx(PoliteSettings().min_rate)


def test_it_does_not_wind_up_far_above_what_gets_through() -> None:
    ctl = PoliteController(PoliteSettings(start_rate=100_000))
    sent = [0.0]

    def delivered(_t: float) -> float:  # the service takes only 1 MB/s whatever the rate
        sent[0] += 1_000_000 * STEP
        return sent[0]
    feed(ctl, 0, 60, BASE, delivered)
    assert ctl.rate <= 1_000_000 * 1.6
