"""Bandwidth caps: the schedule a user writes, and the one token bucket every upload worker draws from.

Two ways to say a cap, as the tools our users already know say it:

- ``--cap-mbps 20`` (AzCopy): megabits per second, constant.  -> ``Timetable.from_cap_mbps(20)``
- ``--bwlimit SPEC`` (rclone): **bytes** per second, 1024-based suffixes, or a timetable.
                                                              -> ``Timetable.parse(spec)``

``--bwlimit`` grammar (rclone's, checked against rclone's fs/bwtimetable.go and its docs)::

    10M  512k  1.5G  100B  250        bytes/s; suffix B, K/k, M, G, T, P (x1024); no suffix = KiB/s
    10MiB  10Mi  10MB  10M/s          also read as 10 MiB/s (rclone prints "10Mi"; MB is read as MiB)
    off  0                            no limit (rclone reads a lone 0 as "no limit" too)
    10M:off                           rclone's UPLOAD:DOWNLOAD pair; mdplan only uploads, so the
                                      upload side is kept and the download side is checked, then dropped
                                      (a lone "08:00" is refused: rclone would read it as 8k:0)
    "08:00,512k 12:00,10M 18:00,off"  timetable; entries repeat every day
    "Mon-08:00,1M Sat-00:00,off"      weekday entries (Mon or Monday, any case); each holds until the
                                      next entry across the week and the last wraps round to the first
    "08:00,pause 18:00,off"           mdplan's addition: send nothing in that period

Entries are separated by spaces or semicolons (newer rclone accepts both). When two entries land on
the same weekday and minute, the one written later wins (as in rclone). Times are local wall-clock
times: a timetable does not know about time zones or daylight saving, it reads the clock's
hours and minutes, exactly as rclone does.

Where mdplan differs from rclone, on purpose:

- Before the first entry of the week, rclone uses the *last entry written*; mdplan uses the entry
  that is latest in the week, which is what rclone's documentation describes (for
  ``"Mon-00:00,512 Fri-23:59,10M Sat-10:00,1M Sun-20:00,off"`` Sunday morning is 1 MiB/s, not off).
- ``0`` inside a timetable is refused: rclone reads it as "no limit", but someone writing
  ``08:00,0`` almost always means "do not send during the day". Write ``off`` or ``pause``.
- A rate written in bits (``20Mbps``, ``20Mbit/s``) is refused with a pointer to ``--cap-mbps``:
  confusing bits and bytes is rclone's most reported --bwlimit mistake (rclone #2711).

The bucket (``Throttle``) is charged *before* each request, for the request's whole body, because
azure-storage-blob reads a whole blob or block into memory before sending it: pacing the file
stream would only delay when requests start, not how fast bytes leave. See ``Throttle`` for the
sizing rules and ``chunk_size_for`` for how the uploader keeps each request small.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

from planner.clock import Clock
from planner.errors import BadInput
from planner.units import format_bytes, format_rate

KiB = 1024
MiB = 1024 * KiB

#: Smallest and largest request the uploader should make under a cap (Azure blocks are happiest at
#: powers of two; 4 MiB is where block uploads stop getting faster per request).
MIN_CHUNK = 64 * KiB
MAX_CHUNK = 4 * MiB
#: A request is at most this many seconds of the cap, so one request is never a burst over 1 s.
CHUNK_SECONDS = 0.25
#: The bucket holds at most this many seconds of the cap when idle...
BURST_SECONDS = 0.25
#: ...and never more than this (unless a single request is larger: see Throttle).
MAX_IDLE_BURST = 256 * KiB
#: The cap is looked up again at least this often, and at every change in the timetable.
REEVALUATE_EVERY = 60.0
#: Azure Blob Storage allows at most this many blocks in one blob.
MAX_BLOCKS = 50_000

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # Python's weekday(): Monday = 0
_DAYS = {name.lower(): i for i, name in enumerate(DAY_NAMES)} | {
    full: i for i, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}
_DAY_MINUTES = 24 * 60
_WEEK_MINUTES = 7 * _DAY_MINUTES
_WEEK_SECONDS = _WEEK_MINUTES * 60.0

BWLIMIT_FORMS = ('10M (bytes per second: B, k, M, G, x1024, as in rclone), off, '
                 'or a timetable like "08:00,512k 12:00,10M 18:00,off" or "Mon-08:00,1M Sat-00:00,off"')

_SUFFIX = {"": KiB, "b": 1, "k": KiB, "m": MiB, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_NUM = r"(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
# re.ASCII: without it IGNORECASE lets the Kelvin sign match "k" and \d match Arabic-Indic digits.
_BYTES_RE = re.compile(
    rf"^{_NUM}(?:(?P<prefix>[kmgtp])(?P<i>i)?(?P<B>(?-i:B))?|(?P<bare>[bB]))?(?P<per>(?-i:/s|ps))?$",
    re.ASCII | re.IGNORECASE,
)
# Bits as people write them: Mbps, Mbit/s, Mb, mbps, 20 Mbit, MBPS (all capitals: read as bits too).
_BITS_RE = re.compile(rf"^\s*{_NUM}\s*(?P<prefix>[kmgtpKMGTP]?)(?:(?i:bits?)(?:/s|ps|/sec)?|bps|b/s|b|BPS)\s*$",
                      re.ASCII)
_TIME_RE = re.compile(r"^(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})$", re.ASCII)
_MBPS_RE = re.compile(rf"^{_NUM}Mbit/s$", re.ASCII)
_SI_BITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}


@dataclass(frozen=True)
class Slot:
    """One timetable entry as written: from `minute` on `day` (or every day), send at `rate`."""

    day: int | None  # 0 = Monday ... 6 = Sunday (datetime.weekday()); None = every day
    minute: int | None  # minutes after midnight; None only for a lone constant rate ("10M")
    rate: float | None  # bytes/s; None = no limit; 0 = paused


def _short(text: str) -> str:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return repr(shown)


def _bad(spec: str, why: str) -> BadInput:
    return BadInput(f"Cannot read the bandwidth limit {_short(spec)}: {why}. Write it like {BWLIMIT_FORMS}.")


def _bits_hint(spec: str, token: str, m: re.Match[str]) -> BadInput:
    bits = float(m["num"]) * _SI_BITS[m["prefix"].lower()]
    mbps = bits / 1e6
    per_kib = bits / 8 / KiB
    mbps_text = _number_text(mbps) if mbps >= 0.001 else f"{mbps:.6f}".rstrip("0").rstrip(".")
    hint = (f"For a cap of {format_rate(bits)} use --cap-mbps {mbps_text}"
            + (f", or write {round(per_kib)}k (KiB/s) in a --bwlimit timetable." if per_kib >= 1 else "."))
    return BadInput(f"--bwlimit counts bytes per second, as rclone does, and {_short(token)} looks like bits.",
                    hint=hint)


def _number_text(x: float) -> str:
    """Shortest text that reads back as exactly `x` (20.0 -> "20", 0.3 -> "0.3")."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def _parse_rate(spec: str, token: str, *, in_timetable: bool) -> float | None:
    """One bandwidth (no pair), as bytes/s; None = no limit; 0 = paused."""
    low = token.lower()
    if low == "off":
        return None
    if low == "pause":
        if not in_timetable:
            raise _bad(spec, "'pause' on its own would never send anything; use it inside a timetable")
        return 0
    m = _BYTES_RE.match(token)
    if m is None or (m["per"] and not (m["B"] or m["bare"] == "B" or m["per"] == "/s")):
        bits = _BITS_RE.match(token)
        if bits is not None:
            raise _bits_hint(spec, token, bits)
        raise _bad(spec, f"{_short(token)} is not a bandwidth")
    suffix = (m["prefix"] or m["bare"] or "").lower()
    value = float(m["num"]) * _SUFFIX[suffix]
    if not math.isfinite(value):
        raise _bad(spec, f"{_short(token)} is too large")
    if value == 0:
        if in_timetable:
            raise _bad(spec, "0 in a timetable is unclear (rclone reads it as no limit); write off for no "
                             "limit or pause to send nothing in that period")
        return None  # rclone: a lone 0 means "no limit" (it is rclone's default value)
    nbytes = int(value)  # rclone keeps whole bytes, truncating
    if nbytes < 1:
        raise _bad(spec, f"{_short(token)} is less than one byte per second")
    return nbytes


def _parse_bandwidth(spec: str, token: str, *, in_timetable: bool) -> float | None:
    """A bandwidth or rclone's UPLOAD:DOWNLOAD pair; the upload side is what mdplan uses."""
    up, sep, down = token.partition(":")
    if sep and _TIME_RE.match(token):  # rclone would read "08:00" as 8k up, 0 down: never what is meant
        raise _bad(spec, f"{_short(token)} looks like a time without a bandwidth; a timetable entry is "
                         "like 08:00,512k (an UPLOAD:DOWNLOAD pair needs suffixes, like 10M:off)")
    if sep:
        if ":" in down or not up or not down:
            raise _bad(spec, f"{_short(token)} is not a bandwidth or an UPLOAD:DOWNLOAD pair")
        _parse_rate(spec, down, in_timetable=False)  # checked, then dropped: mdplan only uploads
    return _parse_rate(spec, up, in_timetable=in_timetable)


def _parse_when(spec: str, text: str) -> tuple[int | None, int]:
    day: int | None = None
    when = text
    if "-" in text:
        name, _, when = text.partition("-")
        if name.lower() not in _DAYS:
            raise _bad(spec, f"{_short(name)} is not a day of the week (Mon..Sun)")
        day = _DAYS[name.lower()]
    m = _TIME_RE.match(when)
    if m is None:
        raise _bad(spec, f"{_short(when)} is not a time of day (HH:MM)")
    hour, minute = int(m["h"]), int(m["m"])
    if hour > 23 or minute > 59:
        raise _bad(spec, f"{_short(when)} is not a time of day (00:00 to 23:59)")
    return day, hour * 60 + minute


def _fmt_rate(rate: float | None) -> str:
    """rclone's spelling of a bandwidth: the largest whole suffix (512k, 10M), else bytes (1500B)."""
    if rate is None:
        return "off"
    if rate == 0:
        return "pause"
    n = int(rate)
    for suffix, size in (("P", 1024**5), ("T", 1024**4), ("G", 1024**3), ("M", MiB), ("k", KiB)):
        if n % size == 0:
            return f"{n // size}{suffix}"
    return f"{n}B"


def _human_rate(rate: float | None) -> str:
    if rate is None:
        return "unlimited"
    if rate == 0:
        return "paused"
    return f"{format_bytes(rate, binary=True)}/s"


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _naive(dt: datetime) -> datetime:
    """Schedules read the wall clock: keep the local hours and minutes, drop the zone."""
    return dt.replace(tzinfo=None) if dt.tzinfo is not None else dt


@dataclass(frozen=True)
class Timetable:
    """A bandwidth cap that may change with the time of day and the day of the week.

    A value type: ``str()`` gives the canonical spec (``Timetable.parse(str(t)) == t`` for --bwlimit
    timetables; ``Timetable.from_string(str(t)) == t`` for every timetable, which is what the journal
    stores); ``describe()`` gives plain words for people. Construct with ``parse``,
    ``from_cap_mbps`` or ``from_string``.
    """

    slots: tuple[Slot, ...]
    mbps: float | None = None  # set when the cap came from --cap-mbps (shown in bits, as typed)

    # -- constructing ---------------------------------------------------------------------------
    @classmethod
    def parse(cls, spec: str) -> Timetable:
        """rclone's --bwlimit syntax (see the module docstring). Raises BadInput, one line."""
        text = str(spec).strip()
        if not text:
            raise _bad(text, "it is empty")
        bits = _BITS_RE.match(text) if re.search(r"\s", text) else None  # "20 Mbps" would split in two
        if bits is not None:
            raise _bits_hint(text, text, bits)
        tokens = [t for t in re.split(r"[\s;]+", text) if t]
        if not tokens:
            raise _bad(text, "it has no entries")
        if len(tokens) == 1 and "," not in tokens[0]:
            return cls((Slot(None, None, _parse_bandwidth(text, tokens[0], in_timetable=False)),))
        slots = []
        for token in tokens:
            when, comma, bandwidth = token.partition(",")
            if not comma or "," in bandwidth or not bandwidth:
                raise _bad(text, f"{_short(token)} is not an entry like 08:00,512k or Mon-08:00,1M")
            day, minute = _parse_when(text, when)
            slots.append(Slot(day, minute, _parse_bandwidth(text, bandwidth, in_timetable=True)))
        table = cls(tuple(slots))
        if all(rate == 0 for _, rate in table._points):
            raise _bad(text, "every entry is pause, so nothing would ever be sent")
        return table

    @classmethod
    def from_cap_mbps(cls, mbps: float) -> Timetable:
        """AzCopy's --cap-mbps: megabits per second (1 Mbit = 1,000,000 bits); 0 = no cap, as in AzCopy."""
        try:
            value = float(mbps)
        except (TypeError, ValueError):
            raise BadInput(f"--cap-mbps takes a number of megabits per second, such as 20, not {_short(str(mbps))}."
                           ) from None
        if not math.isfinite(value) or value < 0:
            raise BadInput(f"--cap-mbps takes a number of megabits per second, such as 20, not {_short(str(mbps))}.")
        if value == 0:
            return cls((Slot(None, None, None),))
        if value * 125_000 < 1:
            raise BadInput(f"--cap-mbps {_number_text(value)} is less than one byte per second; "
                           "give megabits per second, such as 20.")
        return cls((Slot(None, None, value * 125_000),), mbps=value)

    @classmethod
    def from_string(cls, text: str) -> Timetable:
        """Read back what ``str()`` wrote (the journal's form): a --bwlimit spec or "20Mbit/s"."""
        m = _MBPS_RE.match(str(text).strip())
        if m is not None:
            return cls.from_cap_mbps(float(m["num"]))
        return cls.parse(text)

    # -- printing -------------------------------------------------------------------------------
    def __str__(self) -> str:
        if self.mbps is not None:
            return f"{_number_text(self.mbps)}Mbit/s"
        if len(self.slots) == 1 and self.slots[0].minute is None:
            return _fmt_rate(self.slots[0].rate)
        out = []
        for s in self.slots:
            day = f"{DAY_NAMES[s.day]}-" if s.day is not None else ""
            out.append(f"{day}{_hhmm(s.minute or 0)},{_fmt_rate(s.rate)}")
        return " ".join(out)

    def __repr__(self) -> str:
        return f"Timetable.from_string({str(self)!r})"

    def to_string(self) -> str:
        """The journal's form; ``Timetable.from_string`` reads it back. Same as ``str()``."""
        return str(self)

    def describe(self) -> str:
        """Plain words for the plan and the report: "20 Mbit/s cap", "512 KiB/s 08:00-12:00, ..."."""
        if self.mbps is not None:
            return f"{format_rate(self.mbps * 1e6)} cap"
        points = self._points
        if len(points) == 1:
            rate = points[0][1]
            return "no cap (unlimited)" if rate is None else f"{_human_rate(rate)} cap"
        if self._is_daily:
            day = [(wm, r) for wm, r in points if wm < _DAY_MINUTES]
            parts = []
            for i, (start, rate) in enumerate(day):
                end = day[(i + 1) % len(day)][0]
                parts.append(f"{_human_rate(rate)} {_hhmm(start)}-{_hhmm(end)}")
            return ", ".join(parts)
        parts = []
        for i, (start, rate) in enumerate(points):
            end = points[(i + 1) % len(points)][0]
            parts.append(f"{_human_rate(rate)} {_week_time(start)}-{_week_time(end)}")
        return ", ".join(parts)

    # -- reading --------------------------------------------------------------------------------
    @property
    def is_unlimited(self) -> bool:
        """True when no entry limits anything (``off``, ``0``, ``--cap-mbps 0``)."""
        return all(rate is None for _, rate in self._points)

    @property
    def changes(self) -> bool:
        """True when the cap changes with the time (a timetable with more than one rate)."""
        return len(self._points) > 1

    def rate_at(self, dt: datetime) -> float | None:
        """The cap in bytes/s at local wall-clock time `dt`; None = no limit; 0 = paused."""
        wm = _week_minute(_naive(dt))
        i = bisect.bisect_right(self._keys, wm) - 1  # -1 = before the first entry: the last one wraps
        return self._points[i][1]

    def next_change(self, dt: datetime) -> datetime | None:
        """When the cap next changes after `dt` (same tzinfo as `dt`, wall-clock arithmetic); None if never."""
        if len(self._points) == 1:
            return None
        wm = _week_minute(_naive(dt))
        i = bisect.bisect_right(self._keys, wm)
        delta = self._keys[i] - wm if i < len(self._keys) else self._keys[0] + _WEEK_MINUTES - wm
        return dt.replace(second=0, microsecond=0) + timedelta(minutes=delta)

    def lowest_rate(self) -> float | None:
        """The smallest cap above zero anywhere in the week (None if nothing is limited)."""
        rates = [r for _, r in self._points if r]
        return min(rates) if rates else None

    # -- the week, resolved -----------------------------------------------------------------------
    @cached_property
    def _points(self) -> tuple[tuple[int, float | None], ...]:
        """(minute of the week from Monday 00:00, rate) at each point where the cap changes."""
        if len(self.slots) == 1 and self.slots[0].minute is None:
            return ((0, self.slots[0].rate),)
        at: dict[int, float | None] = {}
        for s in self.slots:  # later entries override earlier ones at the same minute, as in rclone
            for day in (range(7) if s.day is None else (s.day,)):
                at[day * _DAY_MINUTES + (s.minute or 0)] = s.rate
        items = sorted(at.items())
        merged = [(wm, r) for i, (wm, r) in enumerate(items) if r != items[i - 1][1]]
        return tuple(merged) if merged else ((0, items[0][1]),)

    @cached_property
    def _keys(self) -> list[int]:
        return [wm for wm, _ in self._points]

    @cached_property
    def _is_daily(self) -> bool:
        shifted = sorted(((wm + _DAY_MINUTES) % _WEEK_MINUTES, r) for wm, r in self._points)
        return tuple(shifted) == self._points

    def _week_segments(self, start: datetime) -> list[tuple[float, float | None]]:
        """One week from `start` as (seconds, rate) pieces, in order; durations add up to a week."""
        s0 = _week_second(_naive(start))
        current = self._points[bisect.bisect_right(self._keys, int(s0 // 60)) - 1][1]
        events = sorted(((wm * 60.0 - s0) % _WEEK_SECONDS, r) for wm, r in self._points)
        if events[0][0] != 0:
            events.insert(0, (0.0, current))
        out = []
        for i, (t, rate) in enumerate(events):
            end = events[i + 1][0] if i + 1 < len(events) else _WEEK_SECONDS
            if end > t:
                out.append((end - t, rate))
        return out


def _week_minute(dt: datetime) -> int:
    return dt.weekday() * _DAY_MINUTES + dt.hour * 60 + dt.minute


def _week_second(dt: datetime) -> float:
    return _week_minute(dt) * 60.0 + dt.second + dt.microsecond / 1e6


def _week_time(wm: int) -> str:
    return f"{DAY_NAMES[wm // _DAY_MINUTES]} {_hhmm(wm % _DAY_MINUTES)}"


# ------------------------------------------------------------------------------------------------
# Time to send, with the schedule
# ------------------------------------------------------------------------------------------------
def eta_seconds(remaining_bytes: float, link_bytes_per_s: float, timetable: Timetable | None,
                start: datetime) -> float:
    """Seconds to send `remaining_bytes` from `start`, at min(link, cap) in each part of the timetable.

    Paused periods count as waiting; an unlimited period runs at the link rate (an infinite link
    finishes at the start of it). Whole weeks are skipped arithmetically, so the walk is bounded by
    the number of changes in two weeks however much is left. ``math.inf`` when nothing can ever be
    sent (a link of 0).
    """
    remaining = float(remaining_bytes)
    if not remaining > 0:
        return 0.0
    link = float(link_bytes_per_s)
    if not link > 0 or not math.isfinite(remaining):
        return math.inf

    def effective(rate: float | None) -> float:
        return link if rate is None else min(link, float(rate))

    if timetable is None or not timetable.changes:
        rate = effective(timetable.rate_at(start) if timetable is not None else None)
        return 0.0 if math.isinf(rate) else (remaining / rate if rate > 0 else math.inf)
    pieces = [(seconds, effective(rate)) for seconds, rate in timetable._week_segments(start)]
    elapsed = 0.0
    if not any(math.isinf(r) for _, r in pieces):
        per_week = sum(seconds * r for seconds, r in pieces)
        if per_week <= 0:
            return math.inf
        whole = max(0, math.ceil(remaining / per_week) - 1)
        elapsed = whole * _WEEK_SECONDS
        remaining -= whole * per_week
    else:
        per_week = math.inf
    for _ in range(3):  # two weeks are always enough; the third only absorbs rounding
        for seconds, rate in pieces:
            if rate == 0:
                elapsed += seconds
            elif math.isinf(rate):
                return elapsed
            elif remaining <= seconds * rate:
                return elapsed + remaining / rate
            else:
                remaining -= seconds * rate
                elapsed += seconds
    return elapsed + remaining / (per_week / _WEEK_SECONDS)


# ------------------------------------------------------------------------------------------------
# Request sizes
# ------------------------------------------------------------------------------------------------
def chunk_size_for(rate: float | None) -> int:
    """Largest request (single Put Blob or one block) to make at `rate` bytes/s.

    About a quarter of a second of the cap, rounded down to a power of two and clamped to
    [64 KiB, 4 MiB]: 20 Mbit/s (2.5 MB/s) -> 512 KiB, 10 MiB/s -> 2 MiB, 512 KiB/s -> 128 KiB.
    No limit -> 4 MiB; paused (0) -> 64 KiB (the rate after the pause is not known here; prefer
    ``Throttle.chunk_size()``, which looks ahead). Below 256 KiB/s the 64 KiB floor is more than a
    quarter second, so one request can be up to 64 KiB over a 1-second window there.
    """
    if rate is None:
        return MAX_CHUNK
    r = float(rate)
    if not r > 0:
        return MIN_CHUNK
    target = r * CHUNK_SECONDS
    if target >= MAX_CHUNK:
        return MAX_CHUNK
    if target <= MIN_CHUNK:
        return MIN_CHUNK
    return 1 << int(math.floor(math.log2(target)))


def block_size_for(file_size: int, rate: float | None) -> int:
    """Block size for a file sent in blocks: `chunk_size_for(rate)`, grown (by powers of two) only
    as far as Azure's 50,000-blocks-per-blob limit needs (64 KiB blocks stop at ~3 GiB)."""
    size = chunk_size_for(rate)
    while size * MAX_BLOCKS < file_size:
        size *= 2
    return size


# ------------------------------------------------------------------------------------------------
# The bucket
# ------------------------------------------------------------------------------------------------
class Throttle:
    """One token bucket shared by every upload worker (thread-safe).

    How a worker uses it: before each request, ``acquire(len(body))`` (or ``reserve`` and sleep
    yourself), then send the request at full speed. Bytes that are sent again after a failure are
    charged again: the cap is on what goes over the wire.

    Design (s3transfer's "try later", golang.org/x/time/rate's reservations, rclone's timetable):

    - Reservations are a queue: each call claims its bytes at once and learns when they are paid
      for; the bucket may go into debt. A request larger than the bucket is fine: it simply waits
      for the tokens it lacks (nothing is ever refused or busy-looped).
    - The bucket starts empty (as rclone's does), so the first request already waits its share.
    - Idle tokens are capped at ``max(min(rate x 0.25 s, 256 KiB), largest request so far at this
      rate)``: small enough that an idle minute cannot turn into a burst, and never smaller than one
      request, so a lone worker that spends time sending is not held below the cap.
    - Consequence, for the uploader: in any window of w seconds the bytes released are at most
      ``rate x w + max(idle cap, largest request)``. With requests sized by ``chunk_size_for``
      (<= 1/4 s of the cap) that is <= 125% over the worst 1-second window, <= 105% over 5 s, and
      the cap exactly over a whole run.
    - The rate is looked up in the timetable at every change and at least every 60 s (so a wall
      clock that jumps, e.g. after the laptop sleeps, is noticed). Debt already owed is paid at the
      new rate. A paused period (0) makes waiters sleep until the next change; an unlimited period
      releases every waiter at once, and when a limit returns the bucket starts empty again.
    - Waits never exceed 60 s in one sleep, and with ``cancel`` given, 0.5 s, so Ctrl-C is prompt.
    """

    CANCEL_POLL = 0.5

    def __init__(self, timetable: Timetable | None, clock: Clock, *, reevaluate_every: float = REEVALUATE_EVERY,
                 burst_seconds: float = BURST_SECONDS, max_idle_burst: int = MAX_IDLE_BURST) -> None:
        self.timetable = timetable
        self.clock = clock
        self._reevaluate_every = float(reevaluate_every)
        self._burst_seconds = float(burst_seconds)
        self._max_idle_burst = float(max_idle_burst)
        self._lock = threading.Lock()
        now = clock.monotonic()
        self._t = now  # tokens are accrued up to here
        self._granted = 0.0  # every token ever made available (A)
        self._claimed = 0.0  # every byte ever reserved (C); A - C = tokens in hand (< 0: debt)
        self._largest = 0
        self._rate: float | None = None
        self._change_at: float | None = None
        self._evaluated_at = now
        self._ceiling: float | None = None  # set_ceiling: a limit below the timetable (polite mode, monthly cap)
        self._set_rate(now)

    # -- public ---------------------------------------------------------------------------------
    def reserve(self, nbytes: int) -> float:
        """Claim `nbytes` now; return how many seconds to wait before sending them (0 = go now).

        The wait already walks the timetable (pauses, rate changes), so a caller that sleeps exactly
        this long and then sends stays within the cap. ``acquire`` does that for you, re-checking
        at each change, so prefer it.
        """
        n = int(nbytes)
        if n <= 0:
            return 0.0
        with self._lock:
            now = self.clock.monotonic()
            target = self._claim(n, now)
            return 0.0 if target is None else self._wait_for(target, now)

    def acquire(self, nbytes: int, cancel: threading.Event | None = None) -> bool:
        """Block (via the clock) until `nbytes` may be sent. False if `cancel` was set while waiting;
        the claim is then given back so the other workers do not pay for it."""
        n = int(nbytes)
        if n <= 0:
            return True
        with self._lock:
            target = self._claim(n, self.clock.monotonic())
        if target is None:
            return True
        while True:
            with self._lock:
                now = self.clock.monotonic()
                self._advance(now)
                wait = self._wait_for(target, now)
                if self._rate == 0:  # a scheduled pause: banked tokens do not buy a send, the pause must end
                    wait = max(wait, (self._change_at - now) if self._change_at is not None else math.inf, 1e-3)
            if wait <= 0:
                return True
            if cancel is not None and cancel.is_set():
                self._give_back(n)
                return False
            step = min(wait, self._reevaluate_every)
            if cancel is not None:
                step = min(step, self.CANCEL_POLL)
            self.clock.sleep(step)

    @property
    def rate(self) -> float | None:
        """The cap in force now, bytes/s (None = no limit, 0 = paused)."""
        with self._lock:
            self._advance(self.clock.monotonic())
            return self._rate

    @property
    def paused(self) -> bool:
        return self.rate == 0

    def set_ceiling(self, bytes_per_s: float | None) -> None:
        """A limit on top of the timetable (the lower of the two wins); None removes it, 0 holds every
        send until a later call raises it. Used by controllers that move the rate while sending (polite
        mode, a monthly data cap). Debt already owed is paid at the new rate."""
        ceiling = None if bytes_per_s is None else max(0.0, float(bytes_per_s))
        with self._lock:
            now = self.clock.monotonic()
            self._advance(now)
            self._ceiling = ceiling
            self._set_rate(now)

    def chunk_size(self) -> int:
        """`chunk_size_for` the cap now, or during a pause the cap that follows it."""
        rate = self.rate
        if rate == 0 and self.timetable is not None:
            now = self.clock.now()
            change = self.timetable.next_change(now)
            rate = self.timetable.rate_at(change) if change is not None else rate
        return chunk_size_for(rate)

    # -- inside ---------------------------------------------------------------------------------
    def _claim(self, n: int, now: float) -> float | None:
        """Under the lock: reserve n bytes; the cumulative target to wait for (None = no wait)."""
        self._advance(now)
        self._claimed += n
        if self._rate is None:
            self._granted = self._claimed
            return None
        self._largest = max(self._largest, n)
        return self._claimed

    def _give_back(self, n: int) -> None:
        with self._lock:
            self._advance(self.clock.monotonic())
            self._granted = min(self._granted + n, self._claimed + self._burst())

    def _wall(self, m: float) -> datetime:
        return self.clock.now() - timedelta(seconds=self.clock.monotonic() - m)

    def _burst(self) -> float:
        rate = self._rate or 0.0
        return max(min(rate * self._burst_seconds, self._max_idle_burst), float(self._largest))

    def _set_rate(self, at: float) -> None:
        if self.timetable is None:
            rate, change_at = None, None
        else:
            wall = self._wall(at)
            rate = self.timetable.rate_at(wall)
            change = self.timetable.next_change(wall)
            change_at = at + max((change - wall).total_seconds(), 1e-6) if change is not None else None
        if self._ceiling is not None:
            rate = self._ceiling if rate is None else min(rate, self._ceiling)
        if rate != self._rate:
            self._largest = 0
            if self._rate is None:
                self._granted = self._claimed  # a limit starts (or returns) with an empty bucket
        self._rate = rate
        self._change_at = change_at
        self._evaluated_at = at
        if rate:
            self._granted = min(self._granted, self._claimed + self._burst())

    def _accrue(self, to: float) -> None:
        if to <= self._t:
            return
        if self._rate is None:
            self._granted = self._claimed
        elif self._rate > 0:
            self._granted = min(self._granted + self._rate * (to - self._t), self._claimed + self._burst())
        self._t = to

    def _advance(self, now: float) -> None:
        for _ in range(10_000):  # bounded: the changes passed since the last call (a week has few)
            if self._change_at is None or self._change_at > now:
                break
            self._accrue(self._change_at)
            self._set_rate(self._change_at)
        self._accrue(now)
        if now - self._evaluated_at >= self._reevaluate_every or (self._change_at is not None
                                                                   and self._change_at <= now):
            self._set_rate(now)

    def _wait_for(self, target: float, now: float) -> float:
        """Under the lock, after _advance(now): seconds until the tokens reach `target`."""
        deficit = target - self._granted
        if deficit <= max(1e-6, abs(target) * 1e-12):
            return 0.0
        rate = self._rate
        if rate is None:
            return 0.0
        if rate > 0 and (self._change_at is None or now + deficit / rate <= self._change_at):
            return deficit / rate
        if self.timetable is None:  # held at 0 by set_ceiling: until a later call raises it
            return math.inf
        link = math.inf if self._ceiling is None else self._ceiling
        return eta_seconds(deficit, link, self.timetable, self._wall(now))
