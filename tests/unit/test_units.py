"""Sizes, rates and durations as people type them."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
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


@example(".1")  # found by hypothesis in CI: 0.1 byte rounded to a size of 0
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


@pytest.mark.parametrize("text,expected", [
    ("14 days", 14 * 86400), ("1 day", 86400), ("2 hours", 7200), ("3 hrs", 3 * 3600), ("14min", 840),
    ("90 minutes", 5400), ("1 week", 7 * 86400), ("3 weeks", 21 * 86400), ("3 secs", 3), ("10 seconds", 10),
    ("1 day 2 hrs", 26 * 3600), ("1D12H", 36 * 3600),
])
def test_parse_duration_spelled_out(text, expected):
    # regression: the unit alternation listed "d" before "days", so "14 days" read as "14 d" + "ays"
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text,expected", [("20 MBit/s", 20e6), ("100 kBit/s", 100e3), ("1 GBits/s", 1e9),
                                           ("5 Bit/s", 5.0), ("20 Mbit", 20e6)])
def test_a_spelled_out_bit_is_bits_whatever_its_case(text, expected):
    assert parse_rate(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["1,000 GB", "2,500 TB", "1,000"])
def test_a_thousands_separator_is_refused_not_read_as_a_decimal_comma(text):
    # regression: "1,000 GB" used to be read as 1.000 GB, a thousand times too small
    with pytest.raises(BadInput, match="ambiguous"):
        parse_size(text)


def test_a_thousands_separator_in_a_rate_is_refused_too():
    with pytest.raises(BadInput, match="ambiguous"):
        parse_rate("1,000 kbps")
    assert parse_rate("2,5 Mbps") == pytest.approx(2.5e6)


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["", "k", "M", "G", "T", "Ki", "Mi", "Gi"]),
       st.sampled_from(["B", "", " B", " bytes"]))
def test_sizes_scale_exactly_with_their_prefix(n, prefix, unit):
    mult = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}[prefix]
    text = f"{n} {prefix}{unit.strip()}" if prefix or unit.strip() else str(n)
    assert parse_size(text) == n * mult


@given(st.integers(min_value=1, max_value=10**5), st.sampled_from(["k", "M", "G"]))
def test_bits_and_bytes_differ_by_exactly_eight(n, prefix):
    assert parse_rate(f"{n} {prefix}B/s") == pytest.approx(8 * parse_rate(f"{n} {prefix}bit/s"))
    assert parse_rate(f"{n}{prefix}bps") == pytest.approx(parse_rate(f"{n} {prefix}bit/s"))


@given(st.lists(st.tuples(st.integers(1, 500), st.sampled_from(["w", "d", "h", "m", "s", " days", " hours",
                                                                 " minutes", " seconds", "weeks"])),
                min_size=1, max_size=4))
def test_durations_add_their_parts(parts):
    seconds = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
    text = " ".join(f"{n}{u}" for n, u in parts)
    assert parse_duration(text) == sum(n * seconds[u.strip()[0]] for n, u in parts)


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False))
def test_format_duration_never_fails_and_is_short(seconds):
    text = format_duration(seconds)
    assert text and len(text) <= 20
