"""What a user may type for each option, and the one rule that reads it, shared by every command.

`estimate` and `bandwidth` both take --seconds, `upload` and `estimate` (and `demo`) take
--cap-mbps: each option has one function here, with its bounds as named constants, so the same
value is accepted or refused with the same words wherever it is typed. Each function returns the
value in the unit the library uses, or raises BadInput with one plain line. The CLI calls these; the
library functions behind the commands call them too when they take the same value.

Bounds are wide enough for any real link, drive or plan, and narrow enough that a typo (a missing
unit, an exponent) is caught instead of producing "inf Tbit/s" or "54,593,958 drives".
"""

from __future__ import annotations

import math
from pathlib import Path

from planner.errors import BadInput

# Upload rates (--bandwidth, --cap-mbps): from a 1 kbit/s trickle to 100 Gbit/s (beyond any storage account)
MIN_RATE_BPS = 1e3
MAX_RATE_BPS = 1e11
MIN_CAP_MBPS = MIN_RATE_BPS / 1e6
MAX_CAP_MBPS = MAX_RATE_BPS / 1e6
# Copying to a USB drive (--drive-speed): an old USB 2 stick to a fast SSD
MIN_DRIVE_BPS = 8e6  # 1 MB/s
MAX_DRIVE_BPS = 8e10  # 10 GB/s
# One drive (--drive-size): a small USB stick to the largest hard drives
MIN_DRIVE_BYTES = 10**9  # 1 GB
MAX_DRIVE_BYTES = 100 * 10**12  # 100 TB
# A monthly data allowance (--monthly-cap): a small mobile plan to far more than any set
MIN_MONTHLY_CAP_BYTES = 10**9  # 1 GB
MAX_MONTHLY_CAP_BYTES = 10**16  # 10 PB
# Days a mailed drive takes (--shipping-days)
MAX_SHIPPING_DAYS = 365.0
# How long a speed probe measures (--seconds of `bandwidth` and `estimate`): a measurement, not an upload
MIN_PROBE_SECONDS = 1.0
MAX_PROBE_SECONDS = 30.0
DEFAULT_PROBE_SECONDS = 10.0
# How many bytes a speed probe may send (--max-bytes): enough for a fair figure, little on a metered link
MIN_PROBE_BYTES = 10**6  # 1 MB
MAX_PROBE_BYTES = 10 * 10**9  # 10 GB
DEFAULT_PROBE_BYTES = 100 * 10**6  # 100 MB
# Parallel uploads (--workers)
MAX_WORKERS_OPTION = 256
OVERWRITE_CHOICES = ("never", "if-different", "always")


def folder(text: str) -> Path:
    """The FOLDER argument: any path, but never empty (an empty name would silently mean "here")."""
    if not str(text).strip():
        raise BadInput("The folder name is empty. Give the folder that holds the images, for example "
                       "D:\\camera-traps, or . for the folder you are in.")
    return Path(text).expanduser()


def _number(value: float | str, low: float, high: float, option: str, what: str, shown: str) -> float:
    """A number typed for `option`, within [low, high]; nan, inf and words get the same one line."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise BadInput(f"{option} takes {what} from {shown}, not {str(value)[:40]!r}.")
    _within(number, low, high, option, what, shown)
    return number


def _within(number: float, low: float, high: float, option: str, what: str, shown: str,
            typed: str | None = None) -> None:
    if not low <= number <= high:
        given = repr(typed[:40]) if typed is not None else _plain(number)
        raise BadInput(f"{option} takes {what} from {shown}, not {given}.")


def _plain(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1e6 and abs(x) < 1e15 else f"{x:g}"


def cap_mbps(value: float | str | None) -> float | None:
    """--cap-mbps (AzCopy's): megabits per second, from 0.001 (1 kbit/s) to 100,000 (100 Gbit/s)."""
    if value is None:
        return None
    return _number(value, MIN_CAP_MBPS, MAX_CAP_MBPS, "--cap-mbps", "a speed cap in megabits per second",
                   f"{MIN_CAP_MBPS:g} to {MAX_CAP_MBPS:,.0f}")


def bandwidth(text: str | None) -> float | None:
    """--bandwidth RATE ("20Mbps", "2.5MB/s") in bits per second, from 1 kbit/s to 100 Gbit/s."""
    if text is None:
        return None
    from planner.units import parse_rate

    bps = parse_rate(text)
    _within(bps, MIN_RATE_BPS, MAX_RATE_BPS, "--bandwidth", "an upload speed", "1 kbit/s to 100 Gbit/s", text)
    return bps


def drive_speed(text: str | None) -> float | None:
    """--drive-speed ("60MB/s") in bytes per second, from 1 MB/s to 10 GB/s."""
    if text is None:
        return None
    from planner.units import parse_rate

    bps = parse_rate(text)
    _within(bps, MIN_DRIVE_BPS, MAX_DRIVE_BPS, "--drive-speed", "a copy speed", "1 MB/s to 10 GB/s", text)
    return bps / 8


def drive_size(text: str | None) -> int | None:
    """--drive-size ("4TB") in bytes, from 1 GB to 100 TB."""
    if text is None:
        return None
    from planner.units import parse_size

    n = parse_size(text)
    _within(n, MIN_DRIVE_BYTES, MAX_DRIVE_BYTES, "--drive-size", "the size of one drive", "1 GB to 100 TB", text)
    return n


def monthly_cap(text: str | None) -> int | None:
    """--monthly-cap ("1TB") in bytes, from 1 GB to 10 PB."""
    if text is None:
        return None
    from planner.units import parse_size

    n = parse_size(text)
    _within(n, MIN_MONTHLY_CAP_BYTES, MAX_MONTHLY_CAP_BYTES, "--monthly-cap", "a data allowance per month",
            "1 GB to 10 PB", text)
    return n


def shipping_days(value: float | str | None) -> float | None:
    """--shipping-days: days a mailed drive takes, from 0 to 365."""
    if value is None:
        return None
    return _number(value, 0.0, MAX_SHIPPING_DAYS, "--shipping-days", "a number of days",
                   f"0 to {MAX_SHIPPING_DAYS:g}")


def probe_seconds(value: float | str | None) -> float:
    """--seconds of a speed probe (`bandwidth`, `estimate`): 1 to 30, default 10. Refused outside, not clamped."""
    if value is None:
        return DEFAULT_PROBE_SECONDS
    return _number(value, MIN_PROBE_SECONDS, MAX_PROBE_SECONDS, "--seconds", "a number of seconds",
                   f"{MIN_PROBE_SECONDS:g} to {MAX_PROBE_SECONDS:g}")


def probe_bytes(text: str | None) -> int:
    """--max-bytes of a speed probe (`bandwidth`, `estimate`): a size from 1 MB to 10 GB, default 100 MB."""
    if text is None:
        return DEFAULT_PROBE_BYTES
    from planner.units import parse_size

    n = parse_size(text)
    _within(n, MIN_PROBE_BYTES, MAX_PROBE_BYTES, "--max-bytes", "the most data a speed test may send",
            "1 MB to 10 GB", text)
    return n


def workers(text: str) -> int | None:
    """--workers: "auto" (None: tuned to the link) or a whole number from 1 to 256."""
    if text == "auto":
        return None
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_WORKERS_OPTION:
        raise BadInput(f"--workers takes auto or a whole number from 1 to {MAX_WORKERS_OPTION}, not {text!r}.")
    return int(text)


def overwrite(text: str) -> str:
    """--overwrite: never | if-different | always."""
    if text not in OVERWRITE_CHOICES:
        raise BadInput(f"--overwrite takes never, if-different or always, not {text!r}.")
    return text


def job_id(text: str | None, option: str = "JOB") -> str | None:
    """A job id or its first letters (`report JOB`, `jobs --forget JOB`); never empty (it would match every job)."""
    if text is None:
        return None
    if not str(text).strip():
        raise BadInput(f"{option} is empty. Give a job id (or its first letters) from `mdplan jobs`.")
    return str(text).strip()


def speed_cap(cap_mbps_value: float | str | None, bwlimit: str | None):
    """--cap-mbps or --bwlimit (not both) as one planner.throttle.Timetable, or None for no cap."""
    from planner.throttle.timetable import Timetable

    if cap_mbps_value is not None and bwlimit is not None:
        raise BadInput("Give either --cap-mbps or --bwlimit, not both.")
    mbps = cap_mbps(cap_mbps_value)
    if mbps is not None:
        return Timetable.from_cap_mbps(mbps)
    if bwlimit is not None:
        return Timetable.parse(bwlimit)
    return None
