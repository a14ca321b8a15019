"""Sizes, rates and durations as people write them, parsed exactly and printed plainly.

Rules, chosen so nothing is guessed:
- SI prefixes (k, M, G, T, P) are powers of 1000; IEC prefixes (Ki, Mi, Gi, Ti, Pi) powers of 1024.
- In a rate, a lowercase ``b`` (``Mbps``, ``Mb/s``, ``Mbit/s``) means bits and an uppercase ``B``
  (``MB/s``, ``MBps``) means bytes, as written. ``mbps`` in any case of the prefix is bits.
- Sizes are bytes; ``b``/``B`` and ``bytes`` are all accepted there because a size in bits makes no sense.
- Rates are returned in **bits per second**; sizes in bytes; durations in seconds.

rclone's ``--bwlimit`` grammar (bytes/s, binary K/M/G) is different on purpose and lives in
``planner.throttle.rates``.
"""

from __future__ import annotations

import math
import re

from planner.errors import BadInput

_SI = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}
_IEC = {"ki": 2**10, "mi": 2**20, "gi": 2**30, "ti": 2**40, "pi": 2**50}

SIZE_FORMS = '"750 GB", "2TB", "1.5 TiB", "500 MiB", "123456" (bytes)'
RATE_FORMS = '"20 Mbps", "20Mbit/s", "500 kbps", "2.5 MB/s", "1 Gbit/s"'
DURATION_FORMS = '"14d", "36h", "90m", "45s", "1d12h", "2w"'

_NUMBER = r"(?P<num>[0-9]+(?:[.,][0-9]+)?|[.,][0-9]+)"
_SIZE_RE = re.compile(rf"^\s*{_NUMBER}\s*(?P<prefix>(?:[kKmMgGtTpP][iI]?)?)(?P<unit>b|B|bytes?|Bytes?|o)?\s*$")
_RATE_RE = re.compile(
    rf"^\s*{_NUMBER}\s*(?P<prefix>(?:[kKmMgGtTpP][iI]?)?)"
    r"(?P<unit>bps|bits/s|bit/s|b/s|bits|bit|Bits/s|Bit/s|Bits|Bit|Bps|B/s|bytes/s|byte/s|Bytes/s|Byte/s|BPS|MBPS)\s*$"
)
# Longest spellings first: regex alternation takes the first that fits, so a bare "d" listed before
# "days" would match "14 days" as "14 d" and leave "ays" unread.
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)",
                            re.IGNORECASE)
_DURATION_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


_THOUSANDS = re.compile(r"^[0-9]+,[0-9]{3}$")


def _number(text: str) -> float:
    if _THOUSANDS.match(text):  # "1,000": a thousands separator to some, a decimal comma to others
        raise BadInput(f"The number {text!r} is ambiguous: write it without a separator (1000) or with a "
                       "decimal point (1.5).")
    value = float(text.replace(",", "."))
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _multiplier(prefix: str) -> float:
    p = prefix.lower()
    if p in _IEC:
        return _IEC[p]
    return _SI[p]


def parse_size(text: str) -> int:
    """Bytes in a size such as ``"2TB"`` or ``"1.5 TiB"``. Raises BadInput naming the accepted forms."""
    m = _SIZE_RE.match(str(text))
    if not m:
        raise BadInput(f"Cannot read the size {text!r}. Write it like {SIZE_FORMS}.")
    value = _number(m["num"]) * _multiplier(m["prefix"])
    if value <= 0:
        raise BadInput(f"The size {text!r} must be more than zero.")
    if value < 0.5:  # '.1' (bytes) would round to 0: less than a byte is no size
        raise BadInput(f"The size {text!r} is less than one byte; write it like {SIZE_FORMS}.")
    return int(round(value))


def parse_rate(text: str) -> float:
    """Bits per second in a rate such as ``"20 Mbps"`` or ``"2.5 MB/s"``. Raises BadInput."""
    raw = str(text)
    m = _RATE_RE.match(raw)
    if not m:
        raise BadInput(f"Cannot read the rate {text!r}. Write it like {RATE_FORMS} (b = bits, B = bytes).")
    unit = m["unit"]
    prefix = m["prefix"]
    if unit in ("BPS", "MBPS"):
        raise BadInput(
            f"The rate {text!r} is ambiguous: write Mbps or Mbit/s for megabits, MB/s for megabytes per second."
        )
    in_bytes = unit.lower().startswith("byte") or (unit.startswith("B") and not unit.startswith("Bit"))
    value = _number(m["num"]) * _multiplier(prefix) * (8 if in_bytes else 1)
    if value <= 0:
        raise BadInput(f"The rate {text!r} must be more than zero.")
    return value


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``"14d"``, ``"36h"`` or ``"1d12h"``. Raises BadInput."""
    raw = str(text).strip()
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(raw):
        if raw[pos:m.start()].strip():
            break
        total += float(m.group(1)) * _DURATION_SECONDS[m.group(2)[0].lower()]
        pos = m.end()
    else:
        if raw and pos == len(raw) and total > 0:
            return total
    raise BadInput(f"Cannot read the duration {text!r}. Write it like {DURATION_FORMS}.")


def format_bytes(n: float, *, binary: bool = False) -> str:
    """``1.37 TB`` (SI, what drive labels and the guide use) or ``1.25 TiB`` with binary=True."""
    if n < 0:
        return "-" + format_bytes(-n, binary=binary)
    base, units = (1024.0, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]) if binary else (
        1000.0, ["B", "kB", "MB", "GB", "TB", "PB"])
    value = float(n)
    for unit in units:
        if value < base or unit == units[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
        value /= base
    raise AssertionError("unreachable")


def format_rate(bits_per_second: float) -> str:
    """``20.0 Mbit/s``: bits, SI, as ISPs and speed tests quote them."""
    value = float(bits_per_second)
    for unit in ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"]:
        if abs(value) < 1000 or unit == "Tbit/s":
            return f"{value:.3g} {unit}" if abs(value) < 100 else f"{value:.0f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def format_duration(seconds: float) -> str:
    """A duration a person reads at a glance: ``45 s``, ``12 min``, ``5 h 20 min``, ``3 days 4 h``."""
    if not math.isfinite(seconds):
        return "forever"
    s = max(0.0, float(seconds))
    if s < 60:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 86400:
        h, rem = divmod(int(round(s)), 3600)
        m = rem // 60
        return f"{h} h {m} min" if m else f"{h} h"
    days, rem = divmod(int(round(s)), 86400)
    h = rem // 3600
    day_word = "day" if days == 1 else "days"
    if days >= 30:
        return f"{days} {day_word}"
    return f"{days} {day_word} {h} h" if h else f"{days} {day_word}"
