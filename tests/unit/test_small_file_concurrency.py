"""Issue 14 part 2: small files over long round trips fill the link with the defaults.

A simulated link, the model both the start choice and the tuner are held to: N requests in flight,
each moving `size` bytes in size/link + t seconds (t: its answer's round trip and TCP slow start),
move min(link, N x size / (size/link + t)) bytes a second. Pure: no clock, no network, no threads.
"""

from __future__ import annotations

import random

import pytest

from planner.estimate import (MAX_WORKERS, MIN_WORKERS, BandwidthFigure, EstimateSettings, auto_workers,
                              estimate, max_workers_for, request_seconds)
from planner.transfer.concurrency import Tuner


def link_rate(workers: int, link_bps: float, rtt_ms: float, size: float) -> float:
    """Bytes a second the simulated link moves with `workers` requests of `size` bytes in flight."""
    link = link_bps / 8
    per_request = size / link + request_seconds(size, rtt_ms)
    return min(link, workers * size / per_request)


def run_tuner(tuner: Tuner, rate_of, windows: int, *, noise: float = 0.0, seed: int = 1) -> list[tuple[int, float]]:
    """Feed the tuner one window's bytes a window at a time; (limit, rate) for each window."""
    rng = random.Random(seed)
    now, seen = 0.0, []
    tuner.observe(now, 0, 0)
    for _ in range(windows):
        rate = rate_of(tuner.limit) * (1 + rng.uniform(-noise, noise))
        now += tuner.window
        seen.append((tuner.limit, rate))
        new = tuner.observe(now, int(rate * tuner.window), 0)
        assert new is None or MIN_WORKERS <= new <= tuner.maximum
    return seen


# the bench's two links (BENCHMARKS.md "Small files over long round trips") and issue 14's grid corners
LINKS = [(50e6, 300, 350_000), (10e6, 600, 350_000), (10e6, 100, 100_000), (50e6, 600, 600_000),
         (200e6, 100, 600_000), (100e6, 300, 600_000), (10e6, 600, 100_000)]


@pytest.mark.parametrize("bps,rtt,size", LINKS)
def test_the_start_choice_fills_a_long_link_with_small_files(bps, rtt, size):
    n = auto_workers(bps, rtt, size)
    assert link_rate(n, bps, rtt, size) >= 0.95 * bps / 8, n
    assert n <= max_workers_for(size)


def test_the_start_choice_keeps_big_files_and_short_round_trips_as_they_were():
    # 8 MiB blocks on a fast near link: a handful, as before issue 14 (main chose 2 here)
    assert 2 <= auto_workers(50e6, 20, 8 * 2**20) <= 3
    assert auto_workers(None, None) == 4
    # memory bound: workers x request size stays within 256 MiB (32 x 8 MiB blocks)
    assert max_workers_for(8 * 2**20) == 32 and auto_workers(1e9, 300, 8 * 2**20) <= 32
    assert max_workers_for(350_000) == MAX_WORKERS == 64


def test_the_tuner_climbs_from_a_blind_start_to_95_percent_within_a_dozen_windows():
    """First run to a new container: no rate known, so the uploader starts at 4; the link needs ~42."""
    bps, rtt, size = 50e6, 300, 350_000
    tuner = Tuner(4, max_workers_for(size), window=4.0)
    seen = run_tuner(tuner, lambda n: link_rate(n, bps, rtt, size), 40)
    first_full = next(i for i, (_, rate) in enumerate(seen) if rate >= 0.95 * bps / 8)
    assert first_full <= 12, seen[:14]
    tail = [rate for _, rate in seen[first_full:]]
    assert sum(tail) / len(tail) >= 0.95 * bps / 8  # probing later costs little
    assert max(limit for limit, _ in seen) <= max_workers_for(size)


def test_the_tuner_never_passes_the_memory_bound():
    bps, rtt, size = 200e6, 600, 8 * 2**20  # would want more than 32 blocks of 8 MiB in flight
    tuner = Tuner(4, max_workers_for(size))
    seen = run_tuner(tuner, lambda n: link_rate(n, bps, rtt, size), 60)
    assert max(limit for limit, _ in seen) == 32


def test_a_noisy_link_still_ends_near_the_ceiling():
    bps, rtt, size = 10e6, 600, 350_000
    tuner = Tuner(4, max_workers_for(size))
    seen = run_tuner(tuner, lambda n: link_rate(n, bps, rtt, size), 60, noise=0.08, seed=7)
    last = [link_rate(limit, bps, rtt, size) for limit, _ in seen[-30:]]
    assert sum(last) / len(last) >= 0.95 * bps / 8, [limit for limit, _ in seen]


def test_one_timeout_is_not_the_end_of_growing():
    """Main halved the limit for good on one timeout; now it eases off and probes its way back."""
    bps, rtt, size = 50e6, 300, 350_000
    tuner = Tuner(auto_workers(bps, rtt, size), max_workers_for(size))
    before = tuner.limit
    new = tuner.observe(0.0, 0, 1)
    assert new is not None and before // 2 < new < before
    assert tuner.observe(1.0, 0, 3) is None  # the same burst of timeouts cuts once
    seen = run_tuner(tuner, lambda n: link_rate(n, bps, rtt, size), 40)
    assert link_rate(seen[-1][0], bps, rtt, size) >= 0.95 * bps / 8, [limit for limit, _ in seen]


def test_more_requests_than_the_link_needs_are_given_back():
    """Over-started (a fast link assumed, a slow one found): fewer requests in flight for the same rate."""
    bps, rtt, size = 10e6, 100, 350_000  # needs ~6
    tuner = Tuner(40, max_workers_for(size))
    seen = run_tuner(tuner, lambda n: link_rate(n, bps, rtt, size), 150)
    assert seen[-1][0] <= 16, [limit for limit, _ in seen]
    assert link_rate(seen[-1][0], bps, rtt, size) >= 0.95 * bps / 8


def test_the_estimate_uses_the_same_model_for_small_files_on_long_links():
    """Planning truth: 1,500 files of 350 kB at 50 Mbit/s and 300 ms are link-bound (the uploader's
    workers fill it), not per-file bound as 23 workers at ~0.6 s each would have said."""
    files, size = 1500, 350_000
    bw = BandwidthFigure(50e6, "destination", rtt_ms=300)
    e = estimate(files * size, files, bw, EstimateSettings())
    assert e.workers == auto_workers(50e6, 300, size)
    wire = files * size * 8 / 50e6
    assert e.upload_seconds == pytest.approx(wire, rel=0.01)
    # at the memory cap the per-file cost wins, and the estimate says so
    tiny = estimate(files * 20_000, files, BandwidthFigure(200e6, "destination", rtt_ms=600), EstimateSettings())
    assert tiny.workers == MAX_WORKERS and tiny.overhead_seconds > tiny.transfer_seconds


def test_a_first_upload_starts_from_the_listing_round_trip_and_the_files_size(tmp_path, monkeypatch):
    """The engine (in-memory store, fake clock): no rate remembered, the container's listing takes 300 ms,
    the files are ~350 kB, so the first worker count is the model's for that link, not 4 (main); the
    round trip is remembered for the next run."""
    import random as _random

    import planner.transfer.job as job_module
    from planner.clock import FakeClock
    from planner.journal import last_rtt_ms
    from planner.memory_store import MemoryBlobStore
    from planner.transfer import run
    from planner.transfer.concurrency import first_limit
    from test_transfer_engine import URL, assert_holds, opts, tree

    files = tree(tmp_path / "src", n=6, size=350_000)
    clock = FakeClock()

    lists: list[str] = []

    def faults(op: str, name: str) -> None:  # 300 ms a round trip; the first listing opens the connection too
        if op == "list":
            lists.append(name)
        clock.advance((0.6 if len(lists) == 1 else 0.3) if op == "list" else 0.05)

    gates: list[int] = []

    class Spy(job_module.WorkerGate):
        def __init__(self, limit: int) -> None:
            gates.append(limit)
            super().__init__(limit)

    monkeypatch.setattr(job_module, "WorkerGate", Spy)
    store = MemoryBlobStore(faults=faults)
    result, _ = run(opts(tmp_path / "src", tmp_path / "h", workers=None), store=store, clock=clock,
                    rng=_random.Random(3))
    assert result.exit_code == 0, result.message
    assert_holds(store, files)
    mean = sum(len(d) for d in files.values()) / len(files)
    assert gates == [first_limit(None, 300, mean)] and gates[0] > 16
    from planner.sas import parse_sas_url

    sas = parse_sas_url(URL)
    assert last_rtt_ms(sas.account_url, sas.container, tmp_path / "h") == pytest.approx(300)


def test_on_a_slow_link_the_tuner_keeps_each_requests_share_under_the_share_limit():
    """10 Mbit/s x 600 ms, 350 kB files: the memory bound allows 64, but 64 requests on this link get
    ~20 kB/s each, and behind a shallow queue that loses packets some pass the stall limit (issue 14). The
    tuner stops where a request's share of the measured rate still sends it within SHARE_S, and the link
    is still full."""
    from planner.transfer.concurrency import SHARE_S

    bps, rtt, size = 10e6, 600, 350_000
    tuner = Tuner(4, max_workers_for(size), request_bytes=size)
    seen = run_tuner(tuner, lambda n: link_rate(n, bps, rtt, size), 40)
    most = max(limit for limit, _ in seen)
    assert most <= int(bps / 8 * SHARE_S / size) + 1 < max_workers_for(size)
    last = [rate for _, rate in seen[-20:]]  # the link stays full, probes down (12: 87%) included
    assert sum(last) / len(last) >= 0.95 * bps / 8, [limit for limit, _ in seen]
    unbounded = run_tuner(Tuner(4, max_workers_for(size)), lambda n: link_rate(n, bps, rtt, size), 40)
    assert max(limit for limit, _ in unbounded) > most  # without the rule it climbs further


def test_the_tuner_keeps_climbing_while_each_step_still_gains_a_little():
    """Issue 14's fast corner (200 Mbit/s x 100 ms, 350 kB files, on 2 cores shared with the service): the
    rate rises slowly with requests in flight (n / (n + k) of the most), 9 -> 13 gains 4%; with a 5% step
    rule the tuner went back to 9 and held there (87.9% of the ceiling; 95.9% with --workers 32)."""
    most = 200e6 / 8

    def rate_of(n: int) -> float:
        return most * n / (n + 1.23)  # 88% of the most at 9 requests, 96% at 32

    for seed in range(1, 6):  # 1% noise a window, as on the lab link
        tuner = Tuner(6, max_workers_for(350_000))
        seen = run_tuner(tuner, rate_of, 40, noise=0.01, seed=seed)
        last = [rate_of(limit) for limit, _ in seen[-20:]]
        assert sum(last) / len(last) >= 0.93 * most, (seed, [limit for limit, _ in seen])


def test_probes_down_do_not_let_the_limit_sink_step_by_step():
    """Each probe down was kept when the rate stayed within 1-2.5% of the count before it, so on a link where
    more requests gain little the limit could sink probe after probe (28 -> 22 -> 17 in a simulation);
    a probe down is now measured against the best rate held since the last timeout."""
    most = 200e6 / 8

    def rate_of(n: int) -> float:
        return most * n / (n + 1.23)

    for seed in range(1, 8):
        tuner = Tuner(6, max_workers_for(350_000))
        seen = run_tuner(tuner, rate_of, 80, noise=0.01, seed=seed)
        top = max(limit for limit, _ in seen[:20])
        assert min(limit for limit, _ in seen[40:]) >= top * 0.5, (seed, [limit for limit, _ in seen])


def _feed(tuner: Tuner, rate_of, seconds: float, tick: float = 0.1) -> list[tuple[float, int]]:
    """Acknowledged bytes every `tick` seconds at rate_of(limit); (time, new limit) for every change."""
    now, changes = 0.0, []
    tuner.observe(now, 0, 0)
    while now < seconds:
        now = round(now + tick, 6)
        new = tuner.observe(now, int(rate_of(tuner.limit) * tick), 0)
        if new is not None:
            changes.append((now, new))
    return changes


def test_on_a_fast_link_growth_steps_come_every_few_seconds_not_every_eight():
    """Issue 14's fast corner (200 Mbit/s x 100 ms, 350 kB files): a request takes a fifth of a second, yet
    each step waited a 4-second window to be discarded and one to be measured, so the first 13 s ran at
    6-9 requests (87-92% of the ceiling). A window now ends once every request in flight has had time to
    send PER_WORKER requests (MIN_WINDOW at least): 6 -> 19 within ~7 s."""
    from planner.transfer.concurrency import MIN_WINDOW

    size = 350_000
    changes = _feed(Tuner(6, max_workers_for(size), request_bytes=size),
                    lambda n: 25e6 * min(1.0, n / 16), 10.0)
    assert [new for _, new in changes][:3] == [9, 13, 19], changes
    first_steps = [t for t, _ in changes][:3]
    # the first window sets the rate to compare with and the one after a change is waited out: half as long
    assert first_steps[0] == pytest.approx(MIN_WINDOW / 2, abs=0.15), changes
    assert first_steps[1] - first_steps[0] == pytest.approx(1.5 * MIN_WINDOW, abs=0.25), changes
    assert first_steps[2] <= 4 * MIN_WINDOW, changes


def test_on_a_slow_link_windows_stay_four_seconds():
    """10 Mbit/s x 600 ms, 350 kB files: a request takes seconds, so a window runs its full length."""
    size = 350_000
    changes = _feed(Tuner(6, max_workers_for(size), request_bytes=size), lambda n: link_rate(n, 10e6, 600, size), 20.0)
    assert [t for t, _ in changes][:2] == [pytest.approx(4.0), pytest.approx(12.0)], changes


def test_a_step_that_gains_little_is_kept_as_headroom_and_one_that_loses_is_undone():
    """Going back from the step that no longer gained 2% left the fast corner at its knee, 1-2% under its
    plateau on a noisy link (+-5% a second); the step is now kept unless it clearly lost rate (LOSS)."""
    def step_to(rate_after: float) -> int:
        tuner = Tuner(10, 64, window=1.0)
        tuner.observe(0.0, 0, 0)
        assert tuner.observe(1.0, 1000, 0) == 15  # the first window: a step up
        assert tuner.observe(2.0, 1000, 0) is None  # discarded: requests of the old limit finishing
        tuner.observe(3.0, int(rate_after), 0)
        return tuner.limit

    assert step_to(1005) == 15  # gained 0.5%: kept as headroom (went back to 10 on main)
    assert step_to(975) == 15  # 2.5% lower in one window: noise as likely as not; held, probes settle it
    assert step_to(920) == 10  # lost 8%: back at once
    assert step_to(1100) == 22  # gained 10%: on up


def test_probes_down_stop_at_what_the_model_says_the_measured_rate_needs():
    """A probe down that costs a percent passes a noisy window now and then, so probes alone let the limit
    sink below what the link needs (issue 14's fast corner: 19 -> 15 -> 12 -> 9 over a 2-minute upload).
    The concurrency model is the floor: no probe down below auto_workers(best rate held, round trip, size)."""
    size, most = 350_000, 200e6 / 8

    def flat(n: int) -> float:  # no count gains or loses here: only the noise could move the limit down
        return most

    tuner = Tuner(20, max_workers_for(size), request_bytes=size, rtt_ms=50)
    seen = run_tuner(tuner, flat, 80, noise=0.04, seed=3)
    floor = tuner.floor()
    assert floor >= auto_workers(0.95 * most * 8, 50, size) >= 20
    assert min(limit for limit, _ in seen[2:]) >= floor, [limit for limit, _ in seen]
    blind = run_tuner(Tuner(20, max_workers_for(size), request_bytes=size), flat, 80, noise=0.04, seed=3)
    assert min(limit for limit, _ in blind[2:]) < floor  # without the round trip, only the probes decide


def test_a_probe_down_needs_two_windows_in_a_row_within_the_tolerance():
    from planner.transfer.concurrency import DOWN_WINDOWS

    assert DOWN_WINDOWS == 2
    tuner = Tuner(20, 20, window=1.0, probe_every=1)  # at its most: it holds and probes only down
    tuner.observe(0.0, 0, 0)
    assert tuner.observe(1.0, 1000, 0) is None  # held; no room for a probe up
    assert tuner.observe(2.0, 1000, 0) == 16  # probe down
    assert tuner.observe(3.0, 1000, 0) is None  # waited out
    assert tuner.observe(4.0, 1000, 0) is None  # the first window within the tolerance: one more
    assert tuner.observe(5.0, 900, 0) == 20  # the second lost 10%: back to 20
    assert tuner.observe(6.0, 1000, 0) is None  # waited out
    assert tuner.observe(7.0, 1000, 0) is None  # held (no room up)
    assert tuner.observe(8.0, 1000, 0) == 16  # down again
    assert tuner.observe(9.0, 1000, 0) is None
    assert tuner.observe(10.0, 1000, 0) is None
    assert tuner.observe(11.0, 1000, 0) is None  # two windows in a row held the rate: kept
    assert tuner.limit == 16
