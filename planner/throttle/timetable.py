"""`Timetable`: a bandwidth cap that may change with the time of day and the day of the week.

A value type that parses (--bwlimit, --cap-mbps), prints itself back (the journal's form), describes
itself in words, and answers "what is the cap at this wall-clock time, and when does it change?".
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property

from planner.errors import BadInput
from planner.throttle.rates import (BITS_RE, DAY_NAMES, MBPS_RE, POLITE, bad_spec, bits_hint, hhmm, human_rate,
                                    is_polite, number_text, parse_bandwidth, parse_when, short, spec_rate)
from planner.units import format_rate

DAY_MINUTES = 24 * 60
WEEK_MINUTES = 7 * DAY_MINUTES
WEEK_SECONDS = WEEK_MINUTES * 60.0


@dataclass(frozen=True)
class Slot:
    """One timetable entry as written: from `minute` on `day` (or every day), send at `rate`."""

    day: int | None  # 0 = Monday ... 6 = Sunday (datetime.weekday()); None = every day
    minute: int | None  # minutes after midnight; None only for a lone constant rate ("10M")
    rate: float | None  # bytes/s; None = no limit; 0 = paused
    polite: bool = False  # polite mode picks the rate in this period (rate is None: no fixed cap)

    @property
    def level(self) -> float | str | None:
        """The rate, or POLITE ("polite") for a polite period."""
        return POLITE if self.polite else self.rate


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
    polite_share: float | None = None  # for ETAs only: polite hours move at this share of the link (`priced`)

    # -- constructing ---------------------------------------------------------------------------
    @classmethod
    def parse(cls, spec: str) -> Timetable:
        """rclone's --bwlimit syntax (see the module docstring). Raises BadInput, one line."""
        text = str(spec).strip()
        if not text:
            raise bad_spec(text, "it is empty")
        bits = BITS_RE.match(text) if re.search(r"\s", text) else None  # "20 Mbps" would split in two
        if bits is not None:
            raise bits_hint(text, text, bits)
        tokens = [t for t in re.split(r"[\s;]+", text) if t]
        if not tokens:
            raise bad_spec(text, "it has no entries")
        if len(tokens) == 1 and "," not in tokens[0]:
            return cls((_slot(text, None, None, tokens[0], in_timetable=False),))
        slots = []
        for token in tokens:
            when, comma, bandwidth = token.partition(",")
            if not comma or "," in bandwidth or not bandwidth:
                raise bad_spec(text, f"{short(token)} is not an entry like 08:00,512k or Mon-08:00,1M")
            day, minute = parse_when(text, when)
            slots.append(_slot(text, day, minute, bandwidth, in_timetable=True))
        table = cls(tuple(slots))
        if all(rate == 0 for _, rate in table._points):
            raise bad_spec(text, "every entry is pause, so nothing would ever be sent")
        return table

    @classmethod
    def from_cap_mbps(cls, mbps: float) -> Timetable:
        """AzCopy's --cap-mbps: megabits per second (1 Mbit = 1,000,000 bits); 0 = no cap, as in AzCopy."""
        try:
            value = float(mbps)
        except (TypeError, ValueError):
            raise BadInput(f"--cap-mbps takes a number of megabits per second, such as 20, not {short(str(mbps))}."
                           ) from None
        if not math.isfinite(value) or value < 0:
            raise BadInput(f"--cap-mbps takes a number of megabits per second, such as 20, not {short(str(mbps))}.")
        if value == 0:
            return cls((Slot(None, None, None),))
        if value * 125_000 < 1:
            raise BadInput(f"--cap-mbps {number_text(value)} is less than one byte per second; "
                           "give megabits per second, such as 20.")
        return cls((Slot(None, None, value * 125_000),), mbps=value)

    @classmethod
    def from_string(cls, text: str) -> Timetable:
        """Read back what ``str()`` wrote (the journal's form): a --bwlimit spec or "20Mbit/s"."""
        m = MBPS_RE.match(str(text).strip())
        if m is not None:
            return cls.from_cap_mbps(float(m["num"]))
        return cls.parse(text)

    # -- printing -------------------------------------------------------------------------------
    def __str__(self) -> str:
        if self.mbps is not None:
            return f"{number_text(self.mbps)}Mbit/s"
        if len(self.slots) == 1 and self.slots[0].minute is None:
            return spec_rate(self.slots[0].level)
        out = []
        for s in self.slots:
            day = f"{DAY_NAMES[s.day]}-" if s.day is not None else ""
            out.append(f"{day}{hhmm(s.minute or 0)},{spec_rate(s.level)}")
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
            if rate == POLITE:
                return f"{human_rate(rate)} all the time"
            return "no cap (unlimited)" if rate is None else f"{human_rate(rate)} cap"
        if self._is_daily:
            day = [(wm, r) for wm, r in points if wm < DAY_MINUTES]
            parts = []
            for i, (start, rate) in enumerate(day):
                end = day[(i + 1) % len(day)][0]
                parts.append(f"{human_rate(rate)} {hhmm(start)}-{hhmm(end)}")
            return ", ".join(parts)
        parts = []
        for i, (start, rate) in enumerate(points):
            end = points[(i + 1) % len(points)][0]
            parts.append(f"{human_rate(rate)} {_week_time(start)}-{_week_time(end)}")
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
        """The cap in bytes/s at local wall-clock time `dt`; None = no limit (also in polite hours: the
        fixed cap is off and polite mode picks the rate); 0 = paused."""
        return _rate(self._level_at(dt))

    def polite_at(self, dt: datetime) -> bool:
        """Is `dt` in polite hours (a `polite` entry of the timetable)?"""
        return self._level_at(dt) == POLITE

    @property
    def has_polite(self) -> bool:
        """Does polite mode run at some time of the week?"""
        return any(level == POLITE for _, level in self._points)

    def priced(self, share: float) -> Timetable:
        """The same timetable, its polite hours counted at `share` of the link by `week_segments(link=...)`
        (so by `eta_seconds`): the estimate's price of polite mode. Prints and describes itself as before."""
        return replace(self, polite_share=share)

    def _level_at(self, dt: datetime) -> float | str | None:
        wm = _week_minute(_naive(dt))
        i = bisect.bisect_right(self._keys, wm) - 1  # -1 = before the first entry: the last one wraps
        return self._points[i][1]

    def next_change(self, dt: datetime) -> datetime | None:
        """When the cap next changes after `dt` (same tzinfo as `dt`, wall-clock arithmetic); None if never."""
        if len(self._points) == 1:
            return None
        wm = _week_minute(_naive(dt))
        i = bisect.bisect_right(self._keys, wm)
        delta = self._keys[i] - wm if i < len(self._keys) else self._keys[0] + WEEK_MINUTES - wm
        return dt.replace(second=0, microsecond=0) + timedelta(minutes=delta)

    def lowest_rate(self) -> float | None:
        """The smallest cap above zero anywhere in the week (None if nothing is limited)."""
        rates = [r for _, r in self._points if r and not isinstance(r, str)]
        return min(rates) if rates else None

    # -- the week, resolved -----------------------------------------------------------------------
    @cached_property
    def _points(self) -> tuple[tuple[int, float | str | None], ...]:
        """(minute of the week from Monday 00:00, rate or POLITE) at each point where the cap changes."""
        if len(self.slots) == 1 and self.slots[0].minute is None:
            return ((0, self.slots[0].level),)
        at: dict[int, float | str | None] = {}
        for s in self.slots:  # later entries override earlier ones at the same minute, as in rclone
            for day in (range(7) if s.day is None else (s.day,)):
                at[day * DAY_MINUTES + (s.minute or 0)] = s.level
        items = sorted(at.items())
        merged = [(wm, r) for i, (wm, r) in enumerate(items) if r != items[i - 1][1]]
        return tuple(merged) if merged else ((0, items[0][1]),)

    @cached_property
    def _keys(self) -> list[int]:
        return [wm for wm, _ in self._points]

    @cached_property
    def _is_daily(self) -> bool:
        shifted = sorted(((wm + DAY_MINUTES) % WEEK_MINUTES, r) for wm, r in self._points)
        return tuple(shifted) == self._points

    def week_segments(self, start: datetime, *, link: float | None = None) -> list[tuple[float, float | None]]:
        """One week from `start` as (seconds, rate) pieces, in order; durations add up to a week. Polite
        hours are unlimited (no fixed cap), or `polite_share` of `link` when both are known (`priced`)."""
        def rate(level: float | str | None) -> float | None:
            if isinstance(level, str) and self.polite_share is not None and link is not None:
                return link * self.polite_share
            return _rate(level)
        s0 = _week_second(_naive(start))
        current = rate(self._points[bisect.bisect_right(self._keys, int(s0 // 60)) - 1][1])
        events = sorted(((wm * 60.0 - s0) % WEEK_SECONDS, rate(r)) for wm, r in self._points)
        if events[0][0] != 0:
            events.insert(0, (0.0, current))
        out = []
        for i, (t, rate) in enumerate(events):
            end = events[i + 1][0] if i + 1 < len(events) else WEEK_SECONDS
            if end > t:
                out.append((end - t, rate))
        return out


def _rate(level: float | str | None) -> float | None:
    return None if isinstance(level, str) else level


def _slot(spec: str, day: int | None, minute: int | None, bandwidth: str, *, in_timetable: bool) -> Slot:
    if is_polite(spec, bandwidth):
        return Slot(day, minute, None, polite=True)
    return Slot(day, minute, parse_bandwidth(spec, bandwidth, in_timetable=in_timetable))


def _week_minute(dt: datetime) -> int:
    return dt.weekday() * DAY_MINUTES + dt.hour * 60 + dt.minute


def _week_second(dt: datetime) -> float:
    return _week_minute(dt) * 60.0 + dt.second + dt.microsecond / 1e6


def _week_time(wm: int) -> str:
    return f"{DAY_NAMES[wm // DAY_MINUTES]} {hhmm(wm % DAY_MINUTES)}"
