"""`upload --monthly-cap` as pure logic under a fake clock (issue 17): the ceiling that spreads the job
over the month, the pause when the allowance is used up, the rollover, and the ETA."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from planner.clock import FakeClock
from planner.throttle import Throttle
from planner.transfer.monthly import MonthlyLimit, monthly_ceiling, monthly_eta, seconds_left_in_month
from planner.transfer.pacing import Pacer

GB = 1_000_000_000
UTC = timezone.utc


def test_seconds_left_in_the_month_include_december() -> None:
    assert seconds_left_in_month(datetime(2026, 1, 31, 23, 0, tzinfo=UTC)) == 3600
    assert seconds_left_in_month(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == 60


def test_the_ceiling_spreads_what_is_left_over_the_rest_of_the_month() -> None:
    now = datetime(2026, 1, 31, 14, 0, tzinfo=UTC)  # 10 h left
    assert monthly_ceiling(10 * GB, 9 * GB, 5 * GB, now) == pytest.approx(GB / 36_000)
    assert monthly_ceiling(10 * GB, 9 * GB, GB // 2, now) is None  # the rest of the job fits: no limit
    assert monthly_ceiling(10 * GB, 10 * GB, 5 * GB, now) == 0.0  # used up: wait for the next month


def test_used_up_pauses_with_one_plain_message_then_the_new_month_carries_on() -> None:
    clock = FakeClock(wall=datetime(2026, 1, 31, 23, 0, tzinfo=UTC))
    told: list[str] = []
    limit = MonthlyLimit(10 * GB, 9 * GB, 5 * GB, clock, told.append, used_since=lambda start: 0)
    rate, words = limit.ceiling(clock.monotonic(), 0)
    assert rate == pytest.approx(GB / 3600)
    assert words is not None and words.startswith("monthly cap: 1 GB left until 01 Feb")
    rate, words = limit.ceiling(clock.monotonic(), GB)  # this run sent the last GB
    assert rate == 0.0
    assert words == "monthly cap of 10 GB used up: paused until 01 Feb 00:00, when the month rolls over"
    limit.ceiling(clock.monotonic(), GB)
    assert len(told) == 1 and "used up" in told[0] and "01 Feb 00:00" in told[0]
    clock.advance(3601)  # February
    rate, words = limit.ceiling(clock.monotonic(), GB)
    assert rate is None and words is None  # 4 GB left of the job fit in February's 10 GB
    assert told[-1].startswith("A new month")


def test_a_used_up_allowance_holds_the_throttle_until_the_month_rolls_over() -> None:
    clock = FakeClock(wall=datetime(2026, 1, 31, 23, 59, 0, tzinfo=UTC))
    throttle = Throttle(None, clock)
    limit = MonthlyLimit(10 * GB, 10 * GB, 5 * GB, clock, used_since=lambda start: 0)
    pacer = Pacer(throttle, [limit])
    pacer.tick(clock.monotonic(), 0)
    assert throttle.paused
    real_sleep = clock.sleep

    def sleep(seconds: float) -> None:  # the coordinator ticks while a worker waits
        real_sleep(seconds)
        pacer.tick(clock.monotonic(), 0)
    clock.sleep = sleep  # type: ignore[method-assign]
    assert throttle.acquire(1000)
    assert clock.now() >= datetime(2026, 2, 1, tzinfo=UTC)  # nothing went before February
    assert clock.now() <= datetime(2026, 2, 1, 0, 0, 2, tzinfo=UTC)  # and it went at once after


def test_the_eta_counts_the_months_the_cap_spreads_the_job_over() -> None:
    now = datetime(2026, 1, 21, tzinfo=UTC)  # 11 days left in January
    rate = 10 * GB / 86_400  # the link could send 10 GB a day
    assert monthly_eta(2 * GB, rate, 10 * GB, 5 * GB, now) == pytest.approx(2 * GB / rate)
    # 25 GB with 5 GB left in January: January's 5, February's 10, March's 10 (1 day at the link's rate)
    eta = monthly_eta(25 * GB, rate, 10 * GB, 5 * GB, now)
    assert eta == pytest.approx((11 + 28) * 86_400 + 86_400)


def test_the_plan_counts_the_wait_for_next_month_when_the_allowance_is_used(tmp_path) -> None:
    import random

    from planner.journal import Journal, remember_rate
    from planner.memory_store import MemoryBlobStore
    from planner.sas import parse_sas_url
    from planner.transfer import UploadOptions, run

    url = ("http://127.0.0.1:10000/devstoreaccount1/traps?sv=2021-08-06&se=2099-01-01T00%3A00%3A00Z&sr=c"
           "&sp=racwdl&sig=c2VjcmV0c2VjcmV0c2VjcmV0")
    home = tmp_path / "home"
    src = tmp_path / "f"
    (src / "a").mkdir(parents=True)
    (src / "a" / "IMG_0001.JPG").write_bytes(b"x" * 5000)
    other = tmp_path / "other"
    other.mkdir()
    earlier = Journal.open(other, "http://127.0.0.1:1/acct", "acct", "c", "", home=home)
    earlier.add_telemetry({int(datetime(2026, 1, 5, 8, 0, tzinfo=UTC).timestamp()): [GB, 1, 0, None, None]})
    earlier.commit()
    earlier.close()
    sas = parse_sas_url(url)
    remember_rate(sas.account_url, sas.container, 8e6, "upload", home)
    clock = FakeClock()  # 5 Jan 2026 09:00 UTC
    _, plan = run(UploadOptions(source=src, sas=sas, home=home, monthly_cap="1GB", dry_run=True),
                  store=MemoryBlobStore(), clock=clock, rng=random.Random(1))
    assert plan.eta_seconds is not None
    assert plan.eta_seconds >= (datetime(2026, 2, 1, tzinfo=UTC) - clock.now()).total_seconds()
    _, plan = run(UploadOptions(source=src, sas=sas, home=home, dry_run=True),
                  store=MemoryBlobStore(), clock=clock, rng=random.Random(1))
    assert plan.eta_seconds is not None and plan.eta_seconds < 1  # without the cap: 5 kB at 8 Mbit/s
