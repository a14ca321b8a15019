"""The probe's byte budget (`--max-bytes`, issue 17): the budget itself, the option's rule, the
speedtest request cap, and the destination probe on an in-memory store under a fake clock, where only
the budget or the window can end it. No network, no sleeping."""

from __future__ import annotations

import threading
import time

import pytest

from planner import options
from planner.clock import FakeClock
from planner.errors import BadInput
from planner.memory_store import MemoryBlobStore
from planner.probe import DestinationProbe, describe
from planner.probe.meter import MAX_BLOCK, ByteBudget
from planner.probe.speedtest import requests_within, speedtest_config
from planner.sas import parse_sas_url

URL = ("https://acct01.blob.core.windows.net/cams?sv=2022-11-02&st=2026-01-01T00%3A00%3A00Z"
       "&se=2026-12-31T00%3A00%3A00Z&sr=c&sp=racwdl&sig=c2lnbmF0dXJlMTIzNDU2Nzg5MA%3D%3D")


# ------------------------------------------------------------------------------------------------
# ByteBudget
# ------------------------------------------------------------------------------------------------
def test_budget_lets_through_only_what_fits_and_says_when_it_is_spent() -> None:
    b = ByteBudget(1000)
    assert b.take(600) and not b.spent
    assert not b.take(500)  # would end at 1100: refused, nothing booked
    assert b.spent and b.used == 600 and b.remaining == 400
    assert b.take(400) and b.remaining == 0


def test_budget_charges_the_warm_up_whatever_is_left_and_none_means_no_limit() -> None:
    b = ByteBudget(100)
    b.charge(150)
    assert b.used == 150 and b.remaining == 0 and not b.spent
    free = ByteBudget(None)
    assert free.take(10**12) and free.remaining is None and free.seconds_left(1e6) is None


def test_budget_says_how_long_the_rest_lasts() -> None:
    b = ByteBudget(10_000_000)
    b.take(2_000_000)
    assert b.seconds_left(1_000_000) == pytest.approx(8.0)
    assert b.seconds_left(None) is None and b.seconds_left(0) is None


# ------------------------------------------------------------------------------------------------
# --max-bytes: one rule (planner.options), the project's size parsing
# ------------------------------------------------------------------------------------------------
def test_max_bytes_option_defaults_to_100_mb_and_reads_sizes() -> None:
    assert options.probe_bytes(None) == 100_000_000 == options.DEFAULT_PROBE_BYTES
    assert options.probe_bytes("20MB") == 20_000_000
    assert options.probe_bytes("1.5 GiB") == int(1.5 * 2**30)
    assert options.probe_bytes("1MB") == options.MIN_PROBE_BYTES


@pytest.mark.parametrize("typed", ["500kB", "20GB", "0", "lots", "", "1e308"])
def test_max_bytes_option_refuses_what_makes_no_sense_in_one_line(typed: str) -> None:
    with pytest.raises(BadInput) as e:
        options.probe_bytes(typed)
    assert "\n" not in str(e.value)


# ------------------------------------------------------------------------------------------------
# speedtest-cli: the budget caps its request count
# ------------------------------------------------------------------------------------------------
def test_speedtest_sends_only_the_requests_that_fit_in_the_budget() -> None:
    config = speedtest_config(10, upload_sizes=(262144, 524288), count=8)  # 8 x 256 KiB, then 8 x 512 KiB
    assert requests_within(config, None) == 16
    assert requests_within(config, 8 * 262144 + 2 * 524288) == 10
    assert requests_within(config, 1) == 1  # at least one request, or there is no figure at all
    assert requests_within(config, 10**12) == 16


# ------------------------------------------------------------------------------------------------
# The destination probe under a fake clock: a simulated link that takes time per byte
# ------------------------------------------------------------------------------------------------
class LinkClock(FakeClock):
    """A fake clock whose sleeps first let the probe's stream threads run (a GIL yield, no real wait),
    so fake time moves with the simulated link rather than racing ahead of it."""

    def sleep(self, seconds: float) -> None:
        for _ in range(200):
            time.sleep(0)  # yields the GIL only
        super().sleep(seconds)


class SlowStore(MemoryBlobStore):
    """The in-memory container behind a link of `bytes_per_second`: each request moves the fake clock."""

    def __init__(self, clock: FakeClock, bytes_per_second: float) -> None:
        super().__init__()
        self.clock = clock
        self.rate = bytes_per_second
        self.sent = 0
        self._send = threading.Lock()

    def _wire(self, nbytes: int) -> None:
        with self._send:
            self.sent += nbytes
            self.clock.advance(0.002 + nbytes / self.rate)

    def put_blob(self, name, data, **kw) -> None:  # type: ignore[override]
        self._wire(len(data))
        super().put_blob(name, data, **kw)

    def stage_block(self, name, block_id, data, **kw) -> None:  # type: ignore[override]
        self._wire(len(data))
        super().stage_block(name, block_id, data, **kw)


def _probe(bytes_per_second: float, max_bytes: int | None, seconds: float = 10.0):
    clock = LinkClock()
    store = SlowStore(clock, bytes_per_second)
    probe = DestinationProbe(parse_sas_url(URL), seconds=seconds, clock=clock, store=store, max_bytes=max_bytes,
                             max_streams=4)
    return probe, store, probe.measure()


def test_a_fast_link_stops_at_the_byte_budget_and_says_so() -> None:
    probe, store, m = _probe(bytes_per_second=500e6, max_bytes=2_000_000)
    assert store.sent <= 2_000_000 + 1024  # the budget, plus the tiny marker rewrite at the end
    assert m.bytes == store.sent  # what it reports is what went on the wire
    assert (m.max_bytes, m.stopped_by) == (2_000_000, "bytes")
    assert m.bits_per_second > 0
    assert "--max-bytes" in m.note
    assert "budget 2 MB, used up" in describe(m)[1]


def test_a_slow_link_stops_at_the_time_budget_well_under_the_byte_budget() -> None:
    probe, store, m = _probe(bytes_per_second=250_000, max_bytes=100_000_000, seconds=4.0)
    assert m.stopped_by == "time"
    assert store.sent < 100_000_000 and m.bytes == store.sent
    assert m.seconds <= 4.0 + 2 * MAX_BLOCK / 250_000  # never starts a request it cannot finish in time


def test_no_byte_budget_means_only_the_window_ends_it() -> None:
    probe, store, m = _probe(bytes_per_second=50e6, max_bytes=None, seconds=2.0)
    assert m.max_bytes is None and m.stopped_by == "time"
    assert store.sent > 2_000_000
