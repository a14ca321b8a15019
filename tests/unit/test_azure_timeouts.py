"""The per-request stall limit (issue 14): a black-holed request is noticed in seconds, a big body on a
slow link still gets the time its queued bytes need."""

from __future__ import annotations

from planner.azure.client import READ_TIMEOUT_S, RequestTimeouts


def test_a_small_request_is_given_up_on_within_seconds() -> None:
    t = RequestTimeouts()
    assert t.for_body(0) == 15.0
    assert t.for_body(500_000) < 30.0 or t.rate < 200_000  # before any measurement: 1 Mbit/s assumed


def test_a_big_body_on_a_slow_link_gets_the_time_its_queued_bytes_need() -> None:
    t = RequestTimeouts()
    t.observe(8 * 1024 * 1024, 400.0)  # 21 kB/s per request: a shared 10 Mbit/s link with many in flight
    assert t.for_body(8 * 1024 * 1024) == READ_TIMEOUT_S  # never longer than before
    fast = RequestTimeouts()
    fast.observe(8 * 1024 * 1024, 2.0)  # 4 MB/s per request
    assert 15.0 < fast.for_body(8 * 1024 * 1024) < 20.0


def test_small_requests_do_not_skew_the_rate() -> None:
    t = RequestTimeouts()
    before = t.rate
    t.observe(1000, 0.6)  # a round trip, not a rate
    assert t.rate == before
    t.observe(1_000_000, 1.0)
    t.observe(1_000_000, 2.0)
    assert 500_000 < t.rate < 1_000_000  # a moving average
