"""Sizes, rates and durations as people type them."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.errors import BadInput
from planner.units import (format_bytes, format_duration, format_rate, parse_duration, parse_rate,
                           parse_size)


@pytest.mark.parametrize("text,expected", [
    ("2TB", 2 * 10**12), ("1.5 TiB", int(1.5 * 2**40)), ("750 GB", 750 * 10**9), ("500 MiB", 500 * 2**20),
    ("123456", 123456), ("1,5 GB", 1_500_000_000), ("4tb", 4 * 10**12), ("10 kB", 10_000), ("2 GiB", 2 * 2**30),
])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("20 Mbps", 20e6), ("20Mbit/s", 20e6), ("500 kbps", 500e3), ("2.5 MB/s", 20e6), ("1 Gbit/s", 1e9),
    ("20 Mb/s", 20e6), ("2 MiB/s", 2 * 2**20 * 8), ("100 Mibit/s", 100 * 2**20), ("3 MBps", 24e6), ("20mbps", 20e6),
])
def test_parse_rate_bits_and_bytes_as_written(text, expected):
    assert parse_rate(text) == pytest.approx(expected)


@pytest.mark.parametrize("text,expected", [("14d", 14 * 86400), ("36h", 36 * 3600), ("90m", 5400), ("45s", 45),
                                           ("1d12h", 36 * 3600), ("2w", 14 * 86400), ("1.5h", 5400)])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("bad", ["", "fast", "20", "20 MBPS", "-5 Mbps", "0 Mbps", "nan Mbps", "1e400 Mbps"])
def test_bad_rates_name_the_accepted_forms(bad):
    with pytest.raises(BadInput) as e:
        parse_rate(bad)
    assert "Mbps" in str(e.value) or "zero" in str(e.value)


@pytest.mark.parametrize("bad", ["", "big", "-1 GB", "0", "2 TBs", "1 XB"])
def test_bad_sizes(bad):
    with pytest.raises(BadInput):
        parse_size(bad)


@pytest.mark.parametrize("bad", ["", "soon", "5", "1x", "h", "1h x"])
def test_bad_durations(bad):
    with pytest.raises(BadInput):
        parse_duration(bad)


def test_formatting():
    assert format_bytes(0) == "0 B"
    assert format_bytes(1_370_000_000_000) == "1.37 TB"
    assert format_bytes(2**40, binary=True) == "1 TiB"
    assert format_rate(20e6) == "20 Mbit/s"
    assert format_rate(1.5e9) == "1.5 Gbit/s"
    assert format_duration(45) == "45 s"
    assert format_duration(3 * 3600 + 20 * 60) == "3 h 20 min"
    assert format_duration(3 * 86400 + 4 * 3600) == "3 days 4 h"
    assert format_duration(math.inf) == "forever"


@given(st.text(max_size=30))
def test_parsers_only_ever_raise_bad_input(text):
    for fn in (parse_size, parse_rate, parse_duration):
        try:
            value = fn(text)
        except BadInput:
            continue
        assert value > 0 and math.isfinite(value)


@given(st.floats(min_value=0.001, max_value=1e6), st.sampled_from(["kbps", "Mbps", "Gbit/s", "MB/s", "KiB/s"]))
def test_printed_rates_parse_back_close(value, unit):
    bps = parse_rate(f"{value} {unit}")
    text = format_rate(bps)
    assert parse_rate(text.replace(" ", "").replace("bit/s", "bps")) == pytest.approx(bps, rel=0.01)


@given(st.integers(min_value=1, max_value=10**16))
def test_printed_sizes_parse_back_close(n):
    assert parse_size(format_bytes(n)) == pytest.approx(n, rel=0.01)
