"""The pieces of a --bwlimit spec, read and written: rates (rclone's bytes per second), times, days.

Every error is one BadInput line that repeats the spec and shows the forms that work; a rate written
in bits gets a pointer to --cap-mbps instead (see the package docstring for the whole grammar).
"""

from __future__ import annotations

import math
import re

from planner.errors import BadInput
from planner.units import format_bytes, format_rate

KiB = 1024
MiB = 1024 * KiB

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # Python's weekday(): Monday = 0
_DAYS = {name.lower(): i for i, name in enumerate(DAY_NAMES)} | {
    full: i for i, full in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
}

BWLIMIT_FORMS = ('10M (bytes per second: B, k, M, G, x1024, as in rclone), off, polite, '
                 'or a timetable like "08:00,512k 12:00,10M 18:00,off", "Mon-08:00,1M Sat-00:00,off" '
                 'or "08:00,polite 18:00,off"')

#: mdplan's addition to the grammar: in this period polite mode (planner.polite) picks the rate, no fixed cap.
POLITE = "polite"


def is_polite(spec: str, token: str) -> bool:
    """Is this bandwidth token `polite` (any case)? `polite` in an UPLOAD:DOWNLOAD pair is refused."""
    up, sep, _ = token.partition(":")
    if up.lower() == POLITE and sep:
        raise bad_spec(spec, f"{short(token)}: polite takes no download side and no rate; write polite on its own")
    return token.lower() == POLITE

_SUFFIX = {"": KiB, "b": 1, "k": KiB, "m": MiB, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_NUM = r"(?P<num>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
# re.ASCII: without it IGNORECASE lets the Kelvin sign match "k" and \d match Arabic-Indic digits.
_BYTES_RE = re.compile(
    rf"^{_NUM}(?:(?P<prefix>[kmgtp])(?P<i>i)?(?P<B>(?-i:B))?|(?P<bare>[bB]))?(?P<per>(?-i:/s|ps))?$",
    re.ASCII | re.IGNORECASE,
)
# Bits as people write them: Mbps, Mbit/s, Mb, mbps, 20 Mbit, MBPS (all capitals: read as bits too).
BITS_RE = re.compile(rf"^\s*{_NUM}\s*(?P<prefix>[kmgtpKMGTP]?)(?:(?i:bits?)(?:/s|ps|/sec)?|bps|b/s|b|BPS)\s*$",
                     re.ASCII)
_TIME_RE = re.compile(r"^(?P<h>[0-9]{1,2}):(?P<m>[0-9]{2})$", re.ASCII)
MBPS_RE = re.compile(rf"^{_NUM}Mbit/s$", re.ASCII)
_SI_BITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12, "p": 1e15}


def short(text: str) -> str:
    shown = text if len(text) <= 60 else text[:57] + "..."
    return repr(shown)


def bad_spec(spec: str, why: str) -> BadInput:
    return BadInput(f"Cannot read the bandwidth limit {short(spec)}: {why}. Write it like {BWLIMIT_FORMS}.")


def bits_hint(spec: str, token: str, m: re.Match[str]) -> BadInput:
    bits = float(m["num"]) * _SI_BITS[m["prefix"].lower()]
    mbps = bits / 1e6
    per_kib = bits / 8 / KiB
    mbps_text = number_text(mbps) if mbps >= 0.001 else f"{mbps:.6f}".rstrip("0").rstrip(".")
    hint = (f"For a cap of {format_rate(bits)} use --cap-mbps {mbps_text}"
            + (f", or write {round(per_kib)}k (KiB/s) in a --bwlimit timetable." if per_kib >= 1 else "."))
    return BadInput(f"--bwlimit counts bytes per second, as rclone does, and {short(token)} looks like bits.",
                    hint=hint)


def number_text(x: float) -> str:
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
            raise bad_spec(spec, "'pause' on its own would never send anything; use it inside a timetable")
        return 0
    m = _BYTES_RE.match(token)
    if m is None or (m["per"] and not (m["B"] or m["bare"] == "B" or m["per"] == "/s")):
        bits = BITS_RE.match(token)
        if bits is not None:
            raise bits_hint(spec, token, bits)
        raise bad_spec(spec, f"{short(token)} is not a bandwidth")
    suffix = (m["prefix"] or m["bare"] or "").lower()
    value = float(m["num"]) * _SUFFIX[suffix]
    if not math.isfinite(value):
        raise bad_spec(spec, f"{short(token)} is too large")
    if value == 0:
        if in_timetable:
            raise bad_spec(spec, "0 in a timetable is unclear (rclone reads it as no limit); write off for no "
                             "limit or pause to send nothing in that period")
        return None  # rclone: a lone 0 means "no limit" (it is rclone's default value)
    nbytes = int(value)  # rclone keeps whole bytes, truncating
    if nbytes < 1:
        raise bad_spec(spec, f"{short(token)} is less than one byte per second")
    return nbytes


def parse_bandwidth(spec: str, token: str, *, in_timetable: bool) -> float | None:
    """A bandwidth or rclone's UPLOAD:DOWNLOAD pair; the upload side is what mdplan uses."""
    up, sep, down = token.partition(":")
    if sep and _TIME_RE.match(token):  # rclone would read "08:00" as 8k up, 0 down: never what is meant
        raise bad_spec(spec, f"{short(token)} looks like a time without a bandwidth; a timetable entry is "
                         "like 08:00,512k (an UPLOAD:DOWNLOAD pair needs suffixes, like 10M:off)")
    if sep:
        if ":" in down or not up or not down:
            raise bad_spec(spec, f"{short(token)} is not a bandwidth or an UPLOAD:DOWNLOAD pair")
        _parse_rate(spec, down, in_timetable=False)  # checked, then dropped: mdplan only uploads
    return _parse_rate(spec, up, in_timetable=in_timetable)


def parse_when(spec: str, text: str) -> tuple[int | None, int]:
    day: int | None = None
    when = text
    if "-" in text:
        name, _, when = text.partition("-")
        if name.lower() not in _DAYS:
            raise bad_spec(spec, f"{short(name)} is not a day of the week (Mon..Sun)")
        day = _DAYS[name.lower()]
    m = _TIME_RE.match(when)
    if m is None:
        raise bad_spec(spec, f"{short(when)} is not a time of day (HH:MM)")
    hour, minute = int(m["h"]), int(m["m"])
    if hour > 23 or minute > 59:
        raise bad_spec(spec, f"{short(when)} is not a time of day (00:00 to 23:59)")
    return day, hour * 60 + minute


def spec_rate(rate: float | str | None) -> str:
    """rclone's spelling of a bandwidth: the largest whole suffix (512k, 10M), else bytes (1500B)."""
    if isinstance(rate, str):  # POLITE
        return POLITE
    if rate is None:
        return "off"
    if rate == 0:
        return "pause"
    n = int(rate)
    for suffix, size in (("P", 1024**5), ("T", 1024**4), ("G", 1024**3), ("M", MiB), ("k", KiB)):
        if n % size == 0:
            return f"{n // size}{suffix}"
    return f"{n}B"


def human_rate(rate: float | str | None) -> str:
    if isinstance(rate, str):  # POLITE
        return "polite (yields to other traffic)"
    if rate is None:
        return "unlimited"
    if rate == 0:
        return "paused"
    return f"{format_bytes(rate, binary=True)}/s"


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
