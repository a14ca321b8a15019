"""Request sizes under a cap: small enough that one request is never a burst, within Azure's block limit."""

from __future__ import annotations

import math

from planner.throttle.rates import KiB, MiB

#: Smallest and largest request the uploader should make under a cap (Azure blocks are happiest at
#: powers of two; 4 MiB is where block uploads stop getting faster per request).
MIN_CHUNK = 64 * KiB
MAX_CHUNK = 4 * MiB
#: A request is at most this many seconds of the cap, so one request is never a burst over 1 s.
CHUNK_SECONDS = 0.25
#: Azure Blob Storage allows at most this many blocks in one blob.
MAX_BLOCKS = 50_000


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
