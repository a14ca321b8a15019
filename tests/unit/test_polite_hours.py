"""Polite hours (issue 15): a `polite` entry in the --bwlimit timetable, and the pacer that turns polite
mode on only while the timetable says so. Pure logic: no threads, no network, a fake clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from planner.clock import FakeClock
from planner.errors import BadInput
from planner.polite import PoliteSettings
from planner.throttle import Throttle, Timetable
from planner.transfer.pacing import Pacer, PoliteLimit, polite_hours

MON_0900 = datetime(2026, 1, 5, 9, 0)  # a Monday (FakeClock's default wall time)


def test_polite_is_a_rate_in_the_timetable_grammar() -> None:
    t = Timetable.parse("08:00,polite 18:00,off")
    assert t.has_polite and t.changes
    assert t.polite_at(MON_0900) and t.rate_at(MON_0900) is None  # no fixed cap: the controller decides
    assert not t.polite_at(MON_0900.replace(hour=19)) and t.rate_at(MON_0900.replace(hour=19)) is None
    assert not t.polite_at(MON_0900.replace(hour=7, minute=59))
    assert str(t) == "08:00,polite 18:00,off"
    assert Timetable.parse(str(t)) == t == Timetable.from_string(t.to_string())
    assert t.describe() == "polite (yields to other traffic) 08:00-18:00, unlimited 18:00-08:00"
    assert not t.is_unlimited  # polite hours are a limit of a kind: the throttle's pacer must run


def test_polite_mixes_with_caps_pauses_and_weekdays() -> None:
    t = Timetable.parse("Mon-08:00,POLITE Sat-00:00,2M Sun-12:00,pause")
    assert t.polite_at(MON_0900 + timedelta(days=4))  # Friday
    assert not t.polite_at(MON_0900 + timedelta(days=5))  # Saturday: 2 MiB/s
    assert t.rate_at(MON_0900 + timedelta(days=5)) == 2 * 1024 * 1024
    assert t.rate_at(MON_0900 + timedelta(days=6, hours=4)) == 0  # Sunday 13:00: paused
    assert str(t) == "Mon-08:00,polite Sat-00:00,2M Sun-12:00,pause"
    assert t.lowest_rate() == 2 * 1024 * 1024  # polite is no number
    # an ETA walks polite hours as unlimited (the controller's share is the estimate's business)
    assert sum(s for s, r in t.week_segments(datetime(2026, 1, 5, 0, 0)) if r is None) == pytest.approx(
        (4 * 24 + 16) * 3600)


def test_polite_alone_is_polite_all_the_time() -> None:
    t = Timetable.parse("polite")
    assert t.has_polite and not t.changes and t.polite_at(MON_0900)
    assert str(t) == "polite" and t.describe() == "polite (yields to other traffic) all the time"


def test_plain_timetables_are_never_polite() -> None:
    t = Timetable.parse("08:00,512k 18:00,off")
    assert not t.has_polite and not t.polite_at(MON_0900)
    assert not Timetable.from_cap_mbps(20).has_polite


@pytest.mark.parametrize("spec", ["polite:off", "08:00,polite:10M", "politely", "08:00,polite 18:00,0"])
def test_polite_in_the_wrong_place_is_one_clear_line(spec: str) -> None:
    with pytest.raises(BadInput) as e:
        Timetable.parse(spec)
    assert "\n" not in str(e.value)


class Samples:
    def __init__(self) -> None:
        self.queue: list[tuple[float, float]] = []
        self.active = True

    def drain(self):
        out, self.queue = self.queue, []
        return out

    def close(self) -> None:
        pass


def test_the_pacer_is_polite_only_in_polite_hours() -> None:
    clock = FakeClock(wall=datetime(2026, 1, 5, 17, 59))  # Monday, a minute before polite hours end
    t = Timetable.parse("08:00,polite 18:00,off")
    throttle = Throttle(t, clock)
    samples = Samples()
    limit = PoliteLimit(samples, PoliteSettings(start_rate=1_000_000), active=polite_hours(t, clock))  # type: ignore[arg-type]
    pacer = Pacer(throttle, [limit])

    sent = 0.0

    def run(seconds: float, rtt: float) -> str | None:
        nonlocal sent
        words = None
        for _ in range(int(seconds * 10)):
            clock.advance(0.1)
            sent += 0.1 * (throttle.rate or 5_000_000)  # what the throttle lets through gets through
            samples.queue.append((clock.monotonic(), rtt))
            words = pacer.tick(clock.monotonic(), int(sent))
        return words

    words = run(5, 0.040)
    assert throttle.rate is not None  # polite: the controller's rate is the ceiling
    assert words == "polite until 18:00"
    assert samples.active
    run(5, 0.040)
    assert run(5, 0.300) and throttle.rate is not None  # someone else's traffic: still polite, yielding
    clock.advance(60)  # 18:00: full speed, the controller off, the sampler idle
    words = run(1, 0.300)
    assert throttle.rate is None and pacer.ceiling is None and words is None
    assert not samples.active
    assert limit.rtt_ms() is None
    clock.advance(14 * 3600)  # Tuesday 08:00 and a bit: polite again
    words = run(2, 0.040)
    assert throttle.rate is not None and words is not None and "polite" in words
    assert samples.active
    assert limit.rtt_ms() == pytest.approx(40.0)


def test_polite_mode_yields_in_polite_hours_and_words_say_so() -> None:
    clock = FakeClock(wall=datetime(2026, 1, 5, 9, 0))
    t = Timetable.parse("08:00,polite 18:00,off")
    throttle = Throttle(t, clock)
    samples = Samples()
    limit = PoliteLimit(samples, PoliteSettings(start_rate=2_000_000), active=polite_hours(t, clock))  # type: ignore[arg-type]
    pacer = Pacer(throttle, [limit])
    sent = 0
    for _ in range(50):
        clock.advance(0.1)
        sent += 200_000
        samples.queue.append((clock.monotonic(), 0.040))
        pacer.tick(clock.monotonic(), sent)
    fast = throttle.rate
    words = None
    for _ in range(10):
        clock.advance(0.1)
        sent += 20_000
        samples.queue.append((clock.monotonic(), 0.190))
        words = pacer.tick(clock.monotonic(), sent)
    assert fast is not None and throttle.rate is not None and throttle.rate < fast / 4
    assert words is not None and words.startswith("polite: yielding to other traffic")
    assert limit.rtt_ms() == pytest.approx(190.0)


def test_full_speed_hours_are_remembered_when_polite_hours_start_again() -> None:
    """Leaving full speed at 08:00, polite mode starts near half of what got through, not at 4 Mbit/s."""
    clock = FakeClock(wall=datetime(2026, 1, 5, 7, 58))
    t = Timetable.parse("08:00,polite 18:00,off")
    throttle = Throttle(t, clock)
    samples = Samples()
    limit = PoliteLimit(samples, PoliteSettings(), active=polite_hours(t, clock))  # type: ignore[arg-type]
    pacer = Pacer(throttle, [limit])
    sent = 0
    for _ in range(1500):  # 150 s at 5 MB/s, crossing 08:00
        clock.advance(0.1)
        sent += 500_000
        pacer.tick(clock.monotonic(), sent)
    assert limit.controller.rate >= 2_000_000
