"""planner.retry: backoff for one request, and the "link is down" state shared by all workers.

Fake clock and seeded random numbers throughout: nothing sleeps for real.
"""

from __future__ import annotations

import itertools
import random
import threading
from datetime import datetime

import pytest

from planner.clock import FakeClock
from planner.retry import Backoff, NetworkWait, sleep_for


def test_ceilings_double_from_one_second_up_to_a_minute() -> None:
    b = Backoff(rng=random.Random(0), clock=FakeClock())
    assert [b.ceiling(k) for k in range(1, 11)] == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert b.ceiling(10**6) == 60  # no overflow far out


def test_delays_are_full_jitter_under_the_ceiling_and_reproducible() -> None:
    b = Backoff(max_attempts=8, rng=random.Random(42), clock=FakeClock())
    got = list(b.delays())
    expected_rng = random.Random(42)
    expected = [expected_rng.uniform(0, c) for c in (1, 2, 4, 8, 16, 32, 60)]
    assert got == expected  # exactly one draw per retry, in order
    assert len(got) == 7  # 8 attempts = 7 waits between them
    assert all(0 <= d <= c for d, c in zip(got, (1, 2, 4, 8, 16, 32, 60)))


def test_full_jitter_spreads_retries_over_the_whole_range() -> None:
    b = Backoff(rng=random.Random(7), clock=FakeClock())
    draws = [b.delay(9) for _ in range(2000)]
    assert min(draws) < 3 and max(draws) > 57  # not clustered at the ceiling (workers must not retry in step)
    assert sum(draws) / len(draws) == pytest.approx(30, abs=2)


def test_different_seeds_give_different_schedules() -> None:
    a = list(Backoff(rng=random.Random(1), clock=FakeClock()).delays())
    b = list(Backoff(rng=random.Random(2), clock=FakeClock()).delays())
    assert a != b


def test_retry_after_raises_a_wait() -> None:
    b = Backoff(rng=random.Random(0), clock=FakeClock())
    assert b.delay(1, at_least=30) == 30
    assert b.delay(8, at_least=0.5) >= 0.5


def test_endless_when_max_attempts_is_none() -> None:
    b = Backoff(max_attempts=None, rng=random.Random(3), clock=FakeClock())
    many = list(itertools.islice(b.delays(), 200))
    assert len(many) == 200 and all(0 <= d <= 60 for d in many)
    assert b.should_retry(10**6)


@pytest.mark.parametrize(("attempts", "again"), [(0, True), (1, True), (4, True), (5, False), (6, False)])
def test_should_retry_counts_attempts_made(attempts: int, again: bool) -> None:
    assert Backoff(max_attempts=5, clock=FakeClock()).should_retry(attempts) is again


def test_single_attempt_means_no_waits() -> None:
    assert list(Backoff(max_attempts=1, clock=FakeClock()).delays()) == []


@pytest.mark.parametrize("kwargs", [{"base": 0}, {"base": -1}, {"base": 10, "cap": 5}, {"max_attempts": 0}])
def test_nonsense_settings_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Backoff(**kwargs)


def test_retry_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        Backoff(clock=FakeClock()).ceiling(0)


def test_sleep_uses_the_injected_clock() -> None:
    clock = FakeClock()
    b = Backoff(rng=random.Random(5), clock=clock)
    expected = random.Random(5).uniform(0, 4)
    assert b.sleep(3) is True
    assert clock.sleeps == [expected]


def test_sleep_stops_early_when_cancelled() -> None:
    class StopAfterTwo(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 2:
                stop.set()

    stop = threading.Event()
    clock = StopAfterTwo()
    b = Backoff(rng=random.Random(0), clock=clock)
    assert b.sleep(1, at_least=30, cancel=stop) is False
    assert clock.sleeps == [0.5, 0.5]


def test_sleep_for_in_steps_ends_on_time() -> None:
    clock = FakeClock()
    assert sleep_for(clock, 1.2, threading.Event()) is True
    assert clock.sleeps == pytest.approx([0.5, 0.5, 0.2])


def test_backoff_is_safe_to_share_between_threads() -> None:
    b = Backoff(rng=random.Random(9), clock=FakeClock())
    out: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(500):
            d = b.delay(7)
            with lock:
                out.append(d)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    reference = random.Random(9)
    assert sorted(out) == sorted(reference.uniform(0, 60) for _ in range(4000))


# ------------------------------------------------------------------------------------------------
# NetworkWait
# ------------------------------------------------------------------------------------------------
def make(**kw) -> tuple[NetworkWait, FakeClock]:
    clock = FakeClock(start=1000.0, wall=datetime(2026, 1, 5, 9, 0))
    return NetworkWait(clock, **kw), clock


def test_a_few_quick_failures_are_not_an_outage() -> None:
    nw, clock = make()
    for _ in range(10):
        assert nw.failure() is False  # many failures, but within a few seconds
        clock.advance(1)
    assert not nw.paused and nw.streak == 10


def test_slow_failures_below_the_count_are_not_an_outage() -> None:
    nw, clock = make(failures=3, seconds=20)
    assert nw.failure() is False
    clock.advance(100)
    assert nw.failure() is False
    assert not nw.paused


def test_failures_in_a_row_over_time_pause_the_job_from_the_first_failure() -> None:
    nw, clock = make(failures=3, seconds=20)
    nw.failure()
    clock.advance(10)
    nw.failure()
    assert not nw.changed.is_set()
    clock.advance(10)
    assert nw.failure() is True
    assert nw.paused
    assert nw.paused_since == 1000.0
    assert nw.changed.is_set()
    pause = nw.pauses[-1]
    assert pause.started_at == datetime(2026, 1, 5, 9, 0)
    assert pause.ended is None and pause.failures == 3
    clock.advance(40)
    assert nw.paused_for() == 60.0
    assert nw.failure() is True  # still down
    assert nw.pauses[-1].failures == 4


def test_one_success_from_any_worker_ends_the_pause_and_records_it() -> None:
    nw, clock = make(failures=2, seconds=5)
    nw.failure()
    clock.advance(5)
    nw.failure()
    nw.changed.clear()
    clock.advance(115)
    pause = nw.success()
    assert pause is not None
    assert pause.seconds() == 120.0
    assert pause.ended_at == datetime(2026, 1, 5, 9, 2)
    assert not nw.paused and nw.paused_for() == 0.0 and nw.streak == 0
    assert nw.changed.is_set()
    assert nw.success() is None  # nothing more to end
    assert [p.seconds() for p in nw.pauses] == [120.0]


def test_a_success_between_failures_resets_the_count() -> None:
    nw, clock = make(failures=3, seconds=20)
    nw.failure()
    clock.advance(15)
    nw.failure()
    nw.success()
    clock.advance(15)
    assert nw.failure() is False
    assert nw.streak == 1


def test_each_pause_is_kept_for_the_report() -> None:
    nw, clock = make(failures=1, seconds=0)
    for length in (30, 300):
        nw.failure()
        clock.advance(length)
        nw.success()
        clock.advance(1000)
    assert [p.seconds() for p in nw.pauses] == [30.0, 300.0]
    copy = nw.pauses
    copy[0].ended = 0.0
    assert nw.pauses[0].seconds() == 30.0  # callers get copies


def test_patience_says_when_to_give_up() -> None:
    nw, clock = make(failures=1, seconds=0, patience=600)
    assert nw.gave_up() is False
    nw.failure()
    clock.advance(600)
    assert nw.gave_up() is False
    clock.advance(1)
    assert nw.gave_up() is True
    endless, clock2 = make(failures=1, seconds=0)
    endless.failure()
    clock2.advance(10**7)
    assert endless.gave_up() is False


def test_counts_are_exact_with_many_workers_reporting_at_once() -> None:
    nw, clock = make(failures=10**9, seconds=0)  # never pauses: we only count

    def worker() -> None:
        for _ in range(1000):
            nw.failure()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert nw.streak == 8000
