"""The pacer: limits that move while sending, applied as the throttle's ceiling (issue 15). No threads,
no network: the sampler is a list of round trips, the throttle a recorder."""

from __future__ import annotations

from planner.clock import FakeClock
from planner.polite import PoliteSettings
from planner.throttle import Throttle
from planner.transfer.pacing import Pacer, PoliteLimit, RttSampler


class Samples:
    def __init__(self) -> None:
        self.queue: list[tuple[float, float]] = []
        self.closed = False

    def drain(self):
        out, self.queue = self.queue, []
        return out

    def close(self) -> None:
        self.closed = True


class Fixed:
    def __init__(self, rate, words=None) -> None:
        self.rate, self.words, self.closed = rate, words, False

    def ceiling(self, now, bytes_done):
        return self.rate, self.words

    def close(self) -> None:
        self.closed = True


def test_the_lowest_limit_becomes_the_throttles_ceiling() -> None:
    clock = FakeClock()
    throttle = Throttle(None, clock)
    pacer = Pacer(throttle, [Fixed(500_000), Fixed(None), Fixed(200_000, "capped")])
    assert pacer.tick(0.0, 0) == "capped"
    assert throttle.rate == 200_000
    pacer.limits = [Fixed(None)]
    pacer.tick(1.0, 0)
    assert throttle.rate is None
    pacer.close()
    assert pacer.limits[0].closed


def test_polite_limit_slows_down_when_the_round_trip_rises_and_says_so() -> None:
    clock = FakeClock()
    throttle = Throttle(None, clock)
    samples = Samples()
    limit = PoliteLimit(samples, PoliteSettings(start_rate=2_000_000))  # type: ignore[arg-type]
    pacer = Pacer(throttle, [limit])
    t, sent = 0.0, 0
    for _ in range(50):  # 5 s at the base round trip: no words, full speed
        t += 0.1
        sent += 200_000
        samples.queue.append((t, 0.040))
        assert pacer.tick(t, sent) is None
    fast = throttle.rate
    words = None
    for _ in range(10):  # someone starts a video call: +150 ms
        t += 0.1
        sent += 20_000
        samples.queue.append((t, 0.190))
        words = pacer.tick(t, sent)
    assert throttle.rate < fast / 4
    assert words is not None and words.startswith("polite: yielding to other traffic")
    pacer.close()
    assert samples.closed


def test_the_sampler_keeps_its_samples_for_the_coordinator() -> None:
    clock = FakeClock()
    rtts = iter([0.05, None, 0.07])

    def probe():
        return next(rtts)
    s = RttSampler(probe, clock)
    for _ in range(3):  # what the thread does, one step at a time
        s.step()
    assert [r for _, r in s.drain()] == [0.05, 0.07]
    assert s.drain() == []


def test_polite_starts_at_half_the_rate_last_measured_to_the_destination() -> None:
    from planner.transfer.pacing import polite_limit

    clock = FakeClock()
    limit = polite_limit("http://127.0.0.1:9/x", clock, None, probe=lambda: None, known_rate=4_000_000)
    try:
        assert limit.controller.rate == 2_000_000
        capped = polite_limit("http://127.0.0.1:9/x", clock, 1_000_000, probe=lambda: None, known_rate=4_000_000)
        assert capped.controller.rate == 1_000_000  # never above a fixed cap
        capped.close()
    finally:
        limit.close()
