"""What is already in the container: the destination check before the scan, and the listing the transfer
starts from (so a re-run after a crash finds instead of re-sends).

The check lists the destination folder (a refused URL must fail before the scan, leaving no job). When that
listing holds the whole folder (at most CHECK_LISTING_MOST names, read to the end) and is fresh when the
transfer starts, it IS the transfer's listing: one round trip less before the first byte (issue 14; 0.6 s on
a 600 ms satellite link). Its time, less the connection it opened, gives the first worker count's round trip.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner.clock import Clock
from planner.retry import Backoff
from planner.storage import BlobStore, RemoteBlob, StoreError

CHECK_LISTING_MOST = 5000  # names the check reads at most: one page of Azure's listing
CHECK_LISTING_FRESH_S = 60.0  # a check listing older than this when the transfer starts is read again


@dataclass
class Listing:
    """The blobs under `prefix` by name, complete, as seen at `at` (the clock's monotonic seconds)."""

    prefix: str
    blobs: dict[str, RemoteBlob]
    at: float
    rtt_ms: float | None  # one request's round trip, if it could be told


def check_listing(store: BlobStore, prefix: str, clock: Clock, *, https: bool) -> Listing | None:
    """List `prefix` as the destination check: StoreError as raised; the Listing when it was read whole.

    The first request opens the connection: over http one round trip for TCP and one for the listing, over
    https one or two more for TLS; the round trip is counted as the time over 2 (http) or 3 (https)."""
    started = clock.monotonic()
    blobs: dict[str, RemoteBlob] = {}
    for blob in store.list_blobs(prefix):
        blobs[blob.name] = blob
        if len(blobs) >= CHECK_LISTING_MOST:
            return None  # a big folder: the transfer lists it whole, after the scan
    took = clock.monotonic() - started
    return Listing(prefix, blobs, clock.monotonic(), took * 1000 / (3 if https else 2) if 0 < took < 30 else None)


def fresh(listing: Listing | None, prefix: str, clock: Clock) -> Listing | None:
    """The check's listing if it can stand for a new one now (same folder, young enough)."""
    if listing is None or listing.prefix != prefix or clock.monotonic() - listing.at > CHECK_LISTING_FRESH_S:
        return None
    return listing


def list_remote(store: BlobStore, prefix: str, backoff: Backoff | None = None, *,
                need_list: bool = False, patience: float | None = None) -> dict[str, RemoteBlob]:
    """Blobs already under the prefix by name. Empty when the URL may not list (unless `need_list`:
    then the StoreError is raised as it is).

    Transient failures (503, reset, timeout, a black-holed link) are retried with `backoff` for up to
    `patience` seconds (or the backoff's attempts): one busy answer, or a link that is down for a while,
    at the start of a run must not end the job."""
    attempt = 0
    started = backoff.clock.monotonic() if backoff is not None else 0.0
    while True:
        attempt += 1
        try:
            return {b.name: b for b in store.list_blobs(prefix)}
        except StoreError as e:
            if need_list:
                raise
            if e.kind == "sas" and e.code == "AuthorizationPermissionMismatch":
                return {}  # a write-only intake URL: rely on the journal, never fail for lack of list permission
            out_of_time = (backoff is not None and patience is not None
                           and backoff.clock.monotonic() - started > patience)
            if backoff is None or not e.retryable or not backoff.should_retry(attempt) or out_of_time:
                raise e.error from None
            backoff.sleep(attempt)
