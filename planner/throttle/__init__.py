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
    "08:00,polite 18:00,off"          mdplan's addition: polite hours (planner.polite picks the rate, no
                                      fixed cap: `Timetable.polite_at`); `polite` alone = always polite

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

Where each part lives: `rates` (reading and writing rates, times and days), `timetable` (the
`Timetable` value type), `eta` (`eta_seconds`, time to send under a schedule), `chunks` (request and
block sizes under a cap), `bucket` (`Throttle`, the token bucket).
"""

from planner.throttle.bucket import BURST_SECONDS, MAX_IDLE_BURST, REEVALUATE_EVERY, Throttle
from planner.throttle.chunks import CHUNK_SECONDS, MAX_BLOCKS, MAX_CHUNK, MIN_CHUNK, block_size_for, chunk_size_for
from planner.throttle.eta import eta_seconds
from planner.throttle.rates import BWLIMIT_FORMS, DAY_NAMES, KiB, MiB
from planner.throttle.timetable import Slot, Timetable

__all__ = [
    "BURST_SECONDS", "BWLIMIT_FORMS", "CHUNK_SECONDS", "DAY_NAMES", "MAX_BLOCKS", "MAX_CHUNK", "MAX_IDLE_BURST",
    "MIN_CHUNK", "REEVALUATE_EVERY", "KiB", "MiB", "Slot", "Throttle", "Timetable", "block_size_for",
    "chunk_size_for", "eta_seconds",
]
