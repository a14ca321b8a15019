"""planner.throttle: the --bwlimit/--cap-mbps value type, the shared token bucket, schedule-aware ETA.

Pure logic: a FakeClock stands in for time everywhere, so nothing here sleeps for real.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.clock import FakeClock
from planner.errors import BadInput
from planner.throttle import (
    MAX_BLOCKS,
    MAX_CHUNK,
    MIN_CHUNK,
    Slot,
    Throttle,
    Timetable,
    block_size_for,
    chunk_size_for,
    eta_seconds,
)

KiB = 1024
MiB = 1024 * KiB
# 2026-01-05 is a Monday.
MON = datetime(2026, 1, 5)


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    """Naive local time on the test week's `day` (0 = Monday ... 6 = Sunday)."""
    return MON + timedelta(days=day, hours=hh, minutes=mm, seconds=ss)


# ------------------------------------------------------------------------------------------------
# Parsing and printing
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "printed", "described"),
    [
        ("10M", "10M", "10 MiB/s cap"),
        ("512k", "512k", "512 KiB/s cap"),
        ("512K", "512k", "512 KiB/s cap"),
        ("250", "250k", "250 KiB/s cap"),  # rclone: no suffix = KiB/s
        ("1.5M", "1536k", "1.5 MiB/s cap"),
        ("100B", "100B", "100 B/s cap"),
        ("100b", "100B", "100 B/s cap"),  # rclone: b and B are both bytes
        ("1500B", "1500B", "1.46 KiB/s cap"),
        ("1G", "1G", "1 GiB/s cap"),
        ("10Mi", "10M", "10 MiB/s cap"),
        ("10MiB", "10M", "10 MiB/s cap"),
        ("10MB", "10M", "10 MiB/s cap"),
        ("10MB/s", "10M", "10 MiB/s cap"),
        ("off", "off", "no cap (unlimited)"),
        ("OFF", "off", "no cap (unlimited)"),
        ("0", "off", "no cap (unlimited)"),  # rclone's default value means no limit
        ("10M:off", "10M", "10 MiB/s cap"),  # rclone's UPLOAD:DOWNLOAD pair: upload side kept
        ("10M:100k", "10M", "10 MiB/s cap"),
        ("off:10M", "off", "no cap (unlimited)"),
        (" 10M ", "10M", "10 MiB/s cap"),
        ("08:00,512k 12:00,10M 18:00,off", "08:00,512k 12:00,10M 18:00,off",
         "512 KiB/s 08:00-12:00, 10 MiB/s 12:00-18:00, unlimited 18:00-08:00"),
        ("08:00,512k;12:00,10M;18:00,off", "08:00,512k 12:00,10M 18:00,off",
         "512 KiB/s 08:00-12:00, 10 MiB/s 12:00-18:00, unlimited 18:00-08:00"),
        ("8:00,512k  18:00,off", "08:00,512k 18:00,off", "512 KiB/s 08:00-18:00, unlimited 18:00-08:00"),
        ("Mon-08:00,1M Sat-00:00,off", "Mon-08:00,1M Sat-00:00,off",
         "1 MiB/s Mon 08:00-Sat 00:00, unlimited Sat 00:00-Mon 08:00"),
        ("monday-08:00,1M SATURDAY-00:00,off", "Mon-08:00,1M Sat-00:00,off",
         "1 MiB/s Mon 08:00-Sat 00:00, unlimited Sat 00:00-Mon 08:00"),
        ("08:00,pause 18:00,off", "08:00,pause 18:00,off", "paused 08:00-18:00, unlimited 18:00-08:00"),
        ("10:20,666:333", "10:20,666k", "666 KiB/s cap"),
        ("08:00,1M 20:00,1M", "08:00,1M 20:00,1M", "1 MiB/s cap"),  # one rate all week: a plain cap
    ],
)
def test_parse_print_describe(spec: str, printed: str, described: str) -> None:
    t = Timetable.parse(spec)
    assert str(t) == printed
    assert t.describe() == described
    assert Timetable.parse(str(t)) == t
    assert Timetable.from_string(t.to_string()) == t


@pytest.mark.parametrize(
    ("spec", "rate"),
    [("10M", 10 * MiB), ("512k", 512 * KiB), ("250", 250 * KiB), ("1.5M", 1.5 * MiB), ("0.5k", 512),
     ("1.0001k", 1024), ("off", None), ("0", None), ("10M:off", 10 * MiB), ("1P", 1024**5)],
)
def test_constant_rates_in_bytes_per_second(spec: str, rate: float | None) -> None:
    t = Timetable.parse(spec)
    assert t.rate_at(at(0, 9)) == rate
    assert t.rate_at(at(6, 23, 59)) == rate
    assert t.next_change(at(2, 12)) is None
    assert t.changes is False


@pytest.mark.parametrize(
    ("spec", "in_message"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("fast", "'fast' is not a bandwidth"),
        ("10X", "'10X' is not a bandwidth"),
        ("-5M", "'-5M' is not a bandwidth"),
        ("1e3", "'1e3' is not a bandwidth"),
        ("nan", "'nan' is not a bandwidth"),
        ("inf", "'inf' is not a bandwidth"),
        ("0.5B", "less than one byte per second"),
        ("9" * 400 + "P", "too large"),
        ("pause", "would never send anything"),
        ("08:00,pause", "nothing would ever be sent"),
        ("08:00,0 18:00,off", "0 in a timetable is unclear"),
        ("08:00", "looks like a time without a bandwidth"),
        ("24:00,1M", "00:00 to 23:59"),
        ("08:60,1M", "00:00 to 23:59"),
        ("0800,1M", "is not a time of day"),
        ("08:00 1M", "is not an entry like 08:00,512k"),
        ("08:00,1M,2M", "is not an entry like 08:00,512k"),
        ("08:00,", "is not an entry like 08:00,512k"),
        ("Funday-08:00,1M", "'Funday' is not a day of the week"),
        ("Mon-Tue-08:00,1M", "is not a time of day"),
        ("08:00,1M:2M:3M", "is not a bandwidth or an UPLOAD:DOWNLOAD pair"),
        ("10M:", "is not a bandwidth or an UPLOAD:DOWNLOAD pair"),
        ("10M:fast", "'fast' is not a bandwidth"),
    ],
)
def test_bad_specs_say_what_and_how_in_one_line(spec: str, in_message: str) -> None:
    with pytest.raises(BadInput) as err:
        Timetable.parse(spec)
    text = str(err.value)
    assert in_message in text
    assert "\n" not in text
    assert '"08:00,512k 12:00,10M 18:00,off"' in text  # names the accepted forms


@pytest.mark.parametrize(
    ("spec", "suggestion"),
    [
        ("20Mbps", "--cap-mbps 20"),
        ("20 Mbps", "--cap-mbps 20"),
        ("20mbps", "--cap-mbps 20"),
        ("20Mbit/s", "--cap-mbps 20"),
        ("20 Mbit", "--cap-mbps 20"),
        ("20Mb", "--cap-mbps 20"),
        ("500kbps", "--cap-mbps 0.5"),
        ("1Gbps", "--cap-mbps 1000"),
        ("10MBPS", "--cap-mbps 10"),
        ("08:00,20Mbps 18:00,off", "--cap-mbps 20"),
    ],
)
def test_bits_get_a_pointer_to_cap_mbps(spec: str, suggestion: str) -> None:
    with pytest.raises(BadInput) as err:
        Timetable.parse(spec)
    text = str(err.value)
    assert "bytes per second" in text and "looks like bits" in text
    assert suggestion in text
    assert "\n" not in text


def test_bits_hint_offers_the_bytes_spelling_too() -> None:
    with pytest.raises(BadInput) as err:
        Timetable.parse("20Mbps")
    assert "2441k" in str(err.value)  # 20 Mbit/s = 2,500,000 B/s = 2441 KiB/s
    assert Timetable.parse("2441k").rate_at(MON) == pytest.approx(2.5e6, rel=1e-3)


def test_cap_mbps_is_megabits_and_prints_as_typed() -> None:
    t = Timetable.from_cap_mbps(20)
    assert t.rate_at(MON) == 2_500_000
    assert str(t) == "20Mbit/s"
    assert t.describe() == "20 Mbit/s cap"
    assert Timetable.from_string(str(t)) == t
    half = Timetable.from_cap_mbps(0.5)
    assert half.rate_at(MON) == 62_500
    assert half.describe() == "500 kbit/s cap"
    assert Timetable.from_string(str(half)) == half
    odd = Timetable.from_cap_mbps(12.345678901)
    assert Timetable.from_string(str(odd)) == odd


def test_cap_mbps_zero_means_no_cap_as_in_azcopy() -> None:
    t = Timetable.from_cap_mbps(0)
    assert t.is_unlimited
    assert t.rate_at(MON) is None


@pytest.mark.parametrize("bad", [-1, float("nan"), float("inf"), "twenty", None, 1e-9])
def test_cap_mbps_rejects_nonsense(bad: object) -> None:
    with pytest.raises(BadInput) as err:
        Timetable.from_cap_mbps(bad)  # type: ignore[arg-type]
    assert "--cap-mbps" in str(err.value)


def test_cap_in_bits_is_not_a_bwlimit() -> None:
    # The journal form of --cap-mbps reads back with from_string, never as a user's --bwlimit.
    with pytest.raises(BadInput) as err:
        Timetable.parse("20Mbit/s")
    assert "--cap-mbps 20" in str(err.value)


def test_repr_reads_back() -> None:
    t = Timetable.parse("Mon-08:00,1M Sat-00:00,off")
    assert repr(t) == "Timetable.from_string('Mon-08:00,1M Sat-00:00,off')"


def test_slots_keep_what_was_written() -> None:
    t = Timetable.parse("08:00,512k Sat-09:30,off")
    assert t.slots == (Slot(None, 480, 512 * KiB), Slot(5, 570, None))


# ------------------------------------------------------------------------------------------------
# Property tests: any text either parses to something that prints and reads back, or is BadInput
# ------------------------------------------------------------------------------------------------
_alphabet = st.sampled_from(list("0123456789.:,;- kKmMgGtTpPbBiIsS/offpausenMonTueSatSunday\t") + ["\u212a", "٣"])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=40), st.text(alphabet=_alphabet, max_size=40)))
def test_parse_never_raises_anything_but_badinput(text: str) -> None:
    try:
        t = Timetable.parse(text)
    except BadInput as e:
        assert "\n" not in str(e)
        return
    assert Timetable.parse(str(t)) == t
    assert Timetable.from_string(str(t)) == t


_rates = st.one_of(
    st.just("off"), st.just("pause"),
    st.builds(lambda n, s: f"{n}{s}", st.integers(1, 5000), st.sampled_from(["", "k", "K", "M", "G", "B", "b"])),
    st.builds(lambda a, b: f"{a}.{b}M", st.integers(0, 99), st.integers(1, 9)),
)
_entry = st.builds(
    lambda day, h, m, rate: f"{day}{h:02d}:{m:02d},{rate}",
    st.sampled_from(["", "", "Mon-", "Tue-", "Wed-", "Thu-", "Fri-", "Sat-", "Sun-", "saturday-"]),
    st.integers(0, 23), st.integers(0, 59), _rates,
)
_specs = st.lists(_entry, min_size=1, max_size=6).map(" ".join)


def _reference_week(t: Timetable) -> list[float | None]:
    """Brute force: the rate for each of the week's 10,080 minutes, filled forward from the entries."""
    marks: dict[int, float | None] = {}
    for s in t.slots:  # the entry written last wins
        for day in range(7):
            if s.day is None or s.day == day:
                marks[day * 1440 + (s.minute or 0)] = s.rate
    last = marks[max(marks)]  # before the first mark of the week, the week's last one holds
    week = []
    for minute in range(7 * 1440):
        last = marks.get(minute, last)
        week.append(last)
    return week


@settings(max_examples=200, deadline=None)
@given(_specs, st.integers(0, 7 * 24 * 60 - 1), st.integers(0, 59))
def test_timetables_round_trip_and_match_a_brute_force_reading(spec: str, minute: int, second: int) -> None:
    try:
        t = Timetable.parse(spec)
    except BadInput as e:
        assert "nothing would ever be sent" in str(e)
        return
    again = Timetable.parse(str(t))
    assert again == t
    dt = MON + timedelta(minutes=minute, seconds=second)
    week = _reference_week(t)
    assert t.rate_at(dt) == week[minute]
    change = t.next_change(dt)
    if change is None:
        assert len(set(week)) == 1
    else:
        assert dt < change <= dt + timedelta(days=7)
        steps = int((change - dt.replace(second=0)).total_seconds() // 60)
        assert all(week[(minute + k) % len(week)] == week[minute] for k in range(steps))
        assert week[(minute + steps) % len(week)] != week[minute]
        assert t.rate_at(change) == week[(minute + steps) % len(week)]


# ------------------------------------------------------------------------------------------------
# Reading a timetable at a time
# ------------------------------------------------------------------------------------------------
DAILY = Timetable.parse("08:00,512k 12:00,10M 18:00,off")
WEEKLY = Timetable.parse("Mon-08:00,1M Sat-00:00,off")


@pytest.mark.parametrize(
    ("when", "rate"),
    [
        (at(0, 7, 59, 59), None),  # before the first entry of the day: yesterday's last wraps round
        (at(0, 8), 512 * KiB),
        (at(0, 11, 59, 59), 512 * KiB),
        (at(0, 12), 10 * MiB),
        (at(3, 17, 59), 10 * MiB),
        (at(3, 18), None),
        (at(6, 23, 59, 59), None),
        (at(0, 0), None),
    ],
)
def test_daily_entries_repeat_every_day(when: datetime, rate: float | None) -> None:
    assert DAILY.rate_at(when) == rate


@pytest.mark.parametrize(
    ("when", "rate"),
    [
        (at(0, 7, 59), None),  # Monday early: Saturday's "off" has held across the week wrap
        (at(0, 8), MiB),
        (at(2, 3), MiB),  # Wednesday night: Monday's entry still holds
        (at(4, 23, 59), MiB),
        (at(5, 0), None),
        (at(6, 12), None),
        (at(6, 23, 59, 59), None),
    ],
)
def test_weekday_entries_hold_until_the_next_entry_across_the_week(when: datetime, rate: float | None) -> None:
    assert WEEKLY.rate_at(when) == rate


def test_rclone_doc_example_sunday_morning_keeps_saturdays_rate() -> None:
    # rclone's docs: 1 MiB/s from Saturday 10:00, unlimited from Sunday 20:00 (rclone's code would
    # use the last-written entry, "off", on Sunday morning; mdplan follows the docs).
    t = Timetable.parse("Mon-00:00,512 Fri-23:59,10M Sat-10:00,1M Sun-20:00,off")
    assert t.rate_at(at(6, 10)) == MiB
    assert t.rate_at(at(6, 20)) is None
    assert t.rate_at(at(0, 0)) == 512 * KiB
    assert t.rate_at(at(4, 23, 59)) == 10 * MiB


def test_later_entries_override_earlier_ones_at_the_same_minute() -> None:
    t = Timetable.parse("08:00,1M 18:00,off Sat-08:00,pause")
    assert t.rate_at(at(5, 9)) == 0
    assert t.rate_at(at(4, 9)) == MiB
    assert t.rate_at(at(6, 9)) == MiB
    flipped = Timetable.parse("Sat-08:00,pause 08:00,1M 18:00,off")
    assert flipped.rate_at(at(5, 9)) == MiB


@pytest.mark.parametrize(
    ("table", "when", "change"),
    [
        (DAILY, at(0, 9), at(0, 12)),
        (DAILY, at(0, 12), at(0, 18)),  # exactly at a change: the next one
        (DAILY, at(0, 11, 59, 59), at(0, 12)),
        (DAILY, at(0, 19), at(1, 8)),  # across midnight
        (DAILY, at(6, 19), at(7, 8)),  # across the week's end into next Monday
        (WEEKLY, at(2, 9), at(5, 0)),
        (WEEKLY, at(5, 12), at(7, 8)),  # Saturday -> next Monday 08:00
        (WEEKLY, at(0, 7, 59), at(0, 8)),
    ],
)
def test_next_change(table: Timetable, when: datetime, change: datetime) -> None:
    assert table.next_change(when) == change


def test_repeated_rate_is_not_a_change() -> None:
    t = Timetable.parse("08:00,1M 12:00,1M 18:00,off")
    assert t.next_change(at(0, 9)) == at(0, 18)


def test_times_are_local_wall_clock_whatever_the_zone() -> None:
    # DST-agnostic: the hours and minutes on the clock decide, as in rclone.
    london = ZoneInfo("Europe/London")
    utc_plus_5 = timezone(timedelta(hours=5))
    for dt in (datetime(2026, 3, 29, 8, 30, tzinfo=london), datetime(2026, 3, 29, 8, 30, tzinfo=utc_plus_5),
               datetime(2026, 3, 29, 8, 30)):
        assert DAILY.rate_at(dt) == 512 * KiB
        change = DAILY.next_change(dt)
        assert change is not None and change.tzinfo is dt.tzinfo
        assert (change.hour, change.minute) == (12, 0)


def test_lowest_rate_and_flags() -> None:
    assert DAILY.lowest_rate() == 512 * KiB
    assert Timetable.parse("off").lowest_rate() is None
    assert Timetable.parse("off").is_unlimited
    assert not DAILY.is_unlimited and DAILY.changes


# ------------------------------------------------------------------------------------------------
# Schedule-aware ETA
# ------------------------------------------------------------------------------------------------
def test_eta_without_timetable_is_bytes_over_link() -> None:
    assert eta_seconds(10_000_000, 1_000_000, None, MON) == 10
    assert eta_seconds(0, 1_000_000, None, MON) == 0
    assert eta_seconds(-5, 1_000_000, None, MON) == 0
    assert eta_seconds(10, 0, None, MON) == math.inf


def test_eta_uses_the_slower_of_link_and_cap() -> None:
    cap = Timetable.parse("1M")
    assert eta_seconds(10 * MiB, 100 * MiB, cap, MON) == 10
    assert eta_seconds(10 * MiB, 0.5 * MiB, cap, MON) == 20
    assert eta_seconds(10 * MiB, MiB, Timetable.parse("off"), MON) == 10


def test_eta_walks_the_timetable() -> None:
    # Start Monday 09:00: 3 h at 512 KiB/s, then 6 h at min(link 2 MiB/s, 10 MiB/s), then unlimited (link).
    link = 2 * MiB
    first = 3 * 3600 * 512 * KiB
    assert eta_seconds(first, link, DAILY, at(0, 9)) == pytest.approx(3 * 3600)
    assert eta_seconds(first + 60 * link, link, DAILY, at(0, 9)) == pytest.approx(3 * 3600 + 60)


def test_eta_waits_through_pauses() -> None:
    t = Timetable.parse("08:00,pause 18:00,1M")
    # Monday 07:00: one hour at 1 MiB/s, then paused 10 h, then 1 MiB/s again.
    assert eta_seconds(3600 * MiB, 10 * MiB, t, at(0, 7)) == pytest.approx(3600)
    assert eta_seconds(3600 * MiB + MiB, 10 * MiB, t, at(0, 7)) == pytest.approx(3600 + 10 * 3600 + 1)


def test_eta_with_an_infinite_link_ends_where_the_limit_is_lifted() -> None:
    t = Timetable.parse("08:00,1M 18:00,off")
    assert eta_seconds(10**15, math.inf, t, at(0, 17)) == pytest.approx(3600)


def test_eta_for_huge_jobs_is_bounded_and_consistent_with_the_weekly_average() -> None:
    t = Timetable.parse("Mon-08:00,1M Sat-00:00,pause")
    per_week = (4 * 86400 + 16 * 3600) * MiB  # Mon 08:00 -> Sat 00:00
    weeks = 1000
    eta = eta_seconds(weeks * per_week, 100 * MiB, t, at(0, 8))
    # 1000 weeks of sending, less the pause after the last Saturday that is never needed
    assert eta == pytest.approx(weeks * 7 * 86400 - (2 * 86400 + 8 * 3600), rel=1e-9)


def _eta_by_simulation(nbytes: float, link: float, t: Timetable, start: datetime) -> float:
    """Second-by-second reference for eta_seconds (slow; small jobs only)."""
    elapsed, left = 0.0, nbytes
    while left > 0:
        cap = t.rate_at(start + timedelta(seconds=elapsed))
        rate = link if cap is None else min(link, cap)
        left -= rate
        elapsed += 1
    return elapsed


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 23), st.sampled_from(["1M", "2M", "off", "pause"])), min_size=1,
                max_size=4),
       st.integers(1, 3000), st.integers(0, 7 * 1440 - 1))
def test_eta_matches_a_second_by_second_simulation(entries: list[tuple[int, str]], mib: int, minute: int) -> None:
    spec = " ".join(f"{h:02d}:00,{r}" for h, r in entries)
    try:
        t = Timetable.parse(spec)
    except BadInput:
        return
    start = MON + timedelta(minutes=minute)
    eta = eta_seconds(mib * MiB, 3 * MiB, t, start)
    assert _eta_by_simulation(mib * MiB, 3 * MiB, t, start) == pytest.approx(eta, abs=1.0)


# ------------------------------------------------------------------------------------------------
# Request sizes
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rate", "size"),
    [
        (None, MAX_CHUNK),
        (0, MIN_CHUNK),
        (2_500_000, 512 * KiB),  # --cap-mbps 20
        (10 * MiB, 2 * MiB),
        (512 * KiB, 128 * KiB),
        (100 * KiB, MIN_CHUNK),
        (1, MIN_CHUNK),
        (125_000_000, MAX_CHUNK),  # 1 Gbit/s
        (float("inf"), MAX_CHUNK),
    ],
)
def test_chunk_size_for(rate: float | None, size: int) -> None:
    assert chunk_size_for(rate) == size


@given(st.floats(min_value=1, max_value=1e12))
def test_chunk_is_a_power_of_two_and_at_most_a_quarter_second_when_it_can_be(rate: float) -> None:
    size = chunk_size_for(rate)
    assert size & (size - 1) == 0
    assert MIN_CHUNK <= size <= MAX_CHUNK
    if rate * 0.25 >= MIN_CHUNK:
        assert size <= rate * 0.25


def test_block_size_grows_only_for_azures_block_count_limit() -> None:
    assert block_size_for(100 * MiB, 100 * KiB) == MIN_CHUNK
    huge = 10 * 1024 * MiB  # 10 GiB at a low cap: 64 KiB blocks would need 163,840 blocks
    size = block_size_for(huge, 100 * KiB)
    assert size * MAX_BLOCKS >= huge and (size // 2) * MAX_BLOCKS < huge


# ------------------------------------------------------------------------------------------------
# The token bucket, on a fake clock
# ------------------------------------------------------------------------------------------------
def make(spec: str, wall: datetime = at(0, 9)) -> tuple[Throttle, FakeClock]:
    clock = FakeClock(wall=wall)
    return Throttle(Timetable.parse(spec), clock), clock


def test_starts_empty_and_queues_reservations() -> None:
    th, clock = make("1M")
    assert [th.reserve(256 * KiB) for _ in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.25]


def test_acquire_sleeps_exactly_the_wait() -> None:
    th, clock = make("1M")
    for _ in range(4):
        assert th.acquire(256 * KiB) is True
    assert clock.sleeps == [0.25, 0.25, 0.25, 0.25]
    assert clock.monotonic() == 1001.0


def test_idle_tokens_are_capped_small() -> None:
    th, clock = make("1M")  # idle cap = min(0.25 s x 1 MiB/s, 256 KiB) = 256 KiB
    clock.advance(3600)
    assert th.reserve(256 * KiB) == 0
    assert th.reserve(256 * KiB) == pytest.approx(0.25)


def test_after_idle_a_crowd_of_workers_gets_one_burst_not_a_flood() -> None:
    rate = 2_500_000.0
    clock = FakeClock(wall=at(0, 9))
    th = Throttle(Timetable.from_cap_mbps(20), clock)
    chunk = chunk_size_for(rate)
    th.reserve(chunk)
    clock.advance(600)  # ten idle minutes
    released = sorted((th.reserve(chunk), chunk) for _ in range(32))
    assert sum(n for w, n in released if w == 0) <= chunk
    assert _max_window(released, 1.0) <= rate + chunk


def test_idle_cap_grows_to_the_largest_request_so_a_lone_worker_keeps_up() -> None:
    th, clock = make("1M")
    assert th.reserve(MiB) == 1.0  # larger than the idle cap: waits for what it lacks
    clock.advance(1.0)
    clock.advance(1.0)  # the worker spends 1 s sending; tokens for the next request build up meanwhile
    assert th.reserve(MiB) == 0.0


def test_a_request_larger_than_the_bucket_waits_instead_of_failing() -> None:
    th, clock = make("64k")
    assert th.reserve(4 * MiB) == 64.0


def test_unlimited_never_waits() -> None:
    th, clock = make("off")
    assert th.reserve(10**12) == 0
    assert th.acquire(10**12) is True
    assert clock.sleeps == []
    no_table = Throttle(None, clock)
    assert no_table.reserve(10**12) == 0
    assert no_table.rate is None
    assert clock.sleeps == []


def test_zero_or_negative_requests_pass() -> None:
    th, clock = make("1M")
    assert th.reserve(0) == 0 and th.acquire(-5) is True
    assert clock.sleeps == []


def test_rate_change_mid_wait_pays_the_rest_at_the_new_rate() -> None:
    th, clock = make("08:00,1M 09:01,2M", wall=at(0, 9, 0, 59))
    # 1 s at 1 MiB/s gives 1 MiB; the other 1 MiB comes at 2 MiB/s in 0.5 s.
    assert th.reserve(2 * MiB) == pytest.approx(1.5)
    th2, clock2 = make("08:00,1M 09:01,2M", wall=at(0, 9, 0, 59))
    assert th2.acquire(2 * MiB)
    assert sum(clock2.sleeps) == pytest.approx(1.5)
    assert th2.rate == 2 * MiB


def test_pause_waits_until_the_next_change() -> None:
    th, clock = make("08:00,pause 18:00,1M", wall=at(0, 17, 30))
    assert th.paused
    assert th.reserve(MiB) == pytest.approx(30 * 60 + 1)
    th2, clock2 = make("08:00,pause 18:00,1M", wall=at(0, 17, 30))
    assert th2.acquire(MiB)
    assert clock2.sleeps == [60.0] * 30 + [pytest.approx(1.0)]  # re-checked every minute
    assert clock2.now() == at(0, 18, 0, 1)


def test_pause_that_starts_mid_wait_holds_the_rest_until_it_ends() -> None:
    th, clock = make("08:00,1M 18:00,pause", wall=at(0, 17, 59, 59))
    assert th.acquire(2 * MiB)
    assert clock.now() == at(1, 8, 0, 1)  # 1 s before the pause, 1 s after it (next morning)


def test_limit_lifted_mid_wait_releases_at_once() -> None:
    th, clock = make("08:00,1M 18:00,off", wall=at(0, 17, 59, 59))
    assert th.reserve(100 * MiB) == pytest.approx(1.0)
    assert th.acquire(100 * MiB)
    assert clock.now() == at(0, 18)


def test_limit_returning_after_unlimited_starts_with_an_empty_bucket() -> None:
    th, clock = make("08:00,1M 18:00,off", wall=at(1, 7, 59))
    assert th.reserve(10 * MiB) == 0  # unlimited
    clock.advance(60)  # 08:00: the limit returns
    assert th.reserve(MiB) == pytest.approx(1.0)


def test_rate_is_reevaluated_every_minute_even_if_the_wall_clock_jumps() -> None:
    class JumpClock(FakeClock):
        offset = timedelta(0)

        def now(self) -> datetime:
            return super().now() + self.offset

    clock = JumpClock(wall=at(0, 8, 10))
    th = Throttle(Timetable.parse("08:00,1M 09:00,pause 10:00,off"), clock)
    assert th.rate == MiB
    clock.offset = timedelta(hours=1)  # e.g. the laptop slept, or the clock was corrected
    clock.advance(30)
    assert th.rate == MiB  # not looked at again yet
    clock.advance(31)
    assert th.rate == 0


def test_cancel_gives_the_claim_back() -> None:
    th, clock = make("1M")
    stop = threading.Event()
    stop.set()
    assert th.acquire(4 * MiB, cancel=stop) is False
    assert th.reserve(256 * KiB) == pytest.approx(0.25)  # as if the cancelled claim never was


def test_cancel_is_checked_at_least_every_half_second() -> None:
    class StopAfter(FakeClock):
        def sleep(self, seconds: float) -> None:
            super().sleep(seconds)
            if len(self.sleeps) == 3:
                stop.set()

    stop = threading.Event()
    clock = StopAfter(wall=at(0, 9))
    th = Throttle(Timetable.parse("1k"), clock)
    assert th.acquire(MiB, cancel=stop) is False
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_chunk_size_looks_past_a_pause() -> None:
    th, clock = make("08:00,pause 18:00,1M", wall=at(0, 9))
    assert th.chunk_size() == 256 * KiB
    th2, _ = make("10M")
    assert th2.chunk_size() == 2 * MiB


def test_reservations_from_many_threads_are_each_counted_once() -> None:
    th, clock = make("1M")  # the clock never moves: every wait is a distinct place in the queue
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            w = th.reserve(64 * KiB)
            with lock:
                waits.append(w)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([k / 16 for k in range(1, 401)])


# ------------------------------------------------------------------------------------------------
# The cap over 1- and 5-second windows: a simulated job with many workers, no threads
# ------------------------------------------------------------------------------------------------
def _simulate(th: Throttle, clock: FakeClock, *, workers: int, total: int, link: float, rtt: float,
              sizes: random.Random, chunk: int) -> list[tuple[float, int]]:
    """Event-driven: each worker reserves a request, waits, sends it (size/link + rtt), repeats.

    Returns (release time, bytes) for every request, in release order.
    """
    ready = [(clock.monotonic(), w) for w in range(workers)]
    heapq.heapify(ready)
    released: list[tuple[float, int]] = []
    sent = 0
    while sent < total:
        t, w = heapq.heappop(ready)
        if t > clock.monotonic():
            clock.advance(t - clock.monotonic())
        n = min(total - sent, sizes.randint(chunk // 8, chunk))
        sent += n
        go = clock.monotonic() + th.reserve(n)
        released.append((go, n))
        heapq.heappush(ready, (go + n / link + rtt, w))
    return sorted(released)


def _max_window(released: list[tuple[float, int]], width: float) -> int:
    """Most bytes released in any window [t, t + width) that starts at a release."""
    best, j, inside = 0, 0, 0
    for i in range(len(released)):
        while j < len(released) and released[j][0] < released[i][0] + width:
            inside += released[j][1]
            j += 1
        best = max(best, inside)
        inside -= released[i][1]
    return best


@pytest.mark.parametrize(("workers", "rtt"), [(1, 0.0), (4, 0.1), (16, 0.1), (32, 0.3)])
def test_cap_holds_over_every_1s_and_5s_window(workers: int, rtt: float) -> None:
    rate = 2_500_000.0  # --cap-mbps 20
    clock = FakeClock(wall=at(0, 9))
    th = Throttle(Timetable.from_cap_mbps(20), clock)
    chunk = chunk_size_for(rate)
    released = _simulate(th, clock, workers=workers, total=int(rate * 120), link=50 * MiB, rtt=rtt,
                         sizes=random.Random(workers), chunk=chunk)
    largest = max(n for _, n in released)
    allowance = max(min(rate * 0.25, 256 * KiB), largest)  # the documented bound: one burst or request
    one, five = _max_window(released, 1.0), _max_window(released, 5.0)
    assert one <= rate * 1.0 + allowance
    assert five <= rate * 5.0 + allowance
    assert one <= rate * 1.25  # with chunk_size_for requests
    assert five <= rate * 5 * 1.05
    span = released[-1][0] - released[0][0]
    mean = sum(n for _, n in released[1:]) / span
    assert mean <= rate * 1.0001
    if workers > 1:
        assert mean >= rate * 0.99  # enough requests in flight: the cap, not the throttle, is the limit


def test_cap_holds_across_a_timetable_change() -> None:
    clock = FakeClock(wall=at(0, 8, 59))
    th = Throttle(Timetable.parse("08:00,2M 09:00,512k 10:00,off"), clock)
    released = _simulate(th, clock, workers=8, total=int(2 * MiB * 60 + 512 * KiB * 120), link=50 * MiB,
                         rtt=0.05, sizes=random.Random(3), chunk=chunk_size_for(512 * KiB))
    start = clock.monotonic() - (clock.now() - at(0, 8, 59)).total_seconds()
    change = start + 60.0  # 09:00 on the monotonic clock
    before = [(t, n) for t, n in released if t < change]
    after = [(t, n) for t, n in released if t >= change]
    assert sum(n for _, n in before) <= 2 * MiB * 60 + 256 * KiB
    assert _max_window(after, 5.0) <= 512 * KiB * 5 * 1.05
    assert _max_window(after, 1.0) <= 512 * KiB * 1.25


# -- set_ceiling: a limit on top of the timetable (polite mode, monthly cap; issues 15, 17) ----------
def test_set_ceiling_limits_an_unlimited_throttle_and_can_be_removed() -> None:
    clock = FakeClock()
    th = Throttle(None, clock)
    assert th.reserve(10_000_000) == 0.0
    th.set_ceiling(100_000)
    assert th.rate == 100_000
    assert th.reserve(100_000) == pytest.approx(1.0)  # the bucket starts empty under the new limit
    th.set_ceiling(None)
    assert th.rate is None and th.reserve(10_000_000) == 0.0


def test_set_ceiling_never_raises_the_timetable_and_the_lower_wins() -> None:
    clock = FakeClock()
    th = Throttle(Timetable.parse("100k"), clock)
    th.set_ceiling(1_000_000)
    assert th.rate == 100 * 1024
    th.set_ceiling(10_000)
    assert th.rate == 10_000
    clock.advance(120)  # a timetable re-evaluation keeps the ceiling
    assert th.rate == 10_000


def test_a_ceiling_of_zero_holds_sends_until_raised() -> None:
    clock = FakeClock()
    th = Throttle(None, clock)
    th.set_ceiling(0)
    assert th.paused
    stop = threading.Event()
    done: list[bool] = []

    def raise_later(seconds: float) -> None:  # the FakeClock's sleep: raise the ceiling after 3 s
        FakeClock.sleep(clock, seconds)
        if clock.monotonic() >= 1003:
            th.set_ceiling(1000)
    clock.sleep = raise_later  # type: ignore[method-assign]
    done.append(th.acquire(500, stop))
    assert done == [True] and 1003 <= clock.monotonic() <= 1004
