"""The one way mdplan builds an Azure SDK client: one transport, one set of timeouts.

Every command that talks to Azure (check, bandwidth, upload, verify) gets its client here. The SDK's own
retries are off: mdplan retries itself, with its own backoff, progress and journal, so a dead link is
reported instead of silently retried ten times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from planner.sas import SasUrl

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

# Long enough for a satellite link or a congested rural uplink to open a connection and for the
# service to answer after the last byte of a block; short enough that a dead link is noticed within
# minutes rather than hours (mdplan's own retry loop takes over from there).
CONNECT_TIMEOUT_S = 30.0
READ_TIMEOUT_S = 120.0

# Per request, the store asks RequestTimeouts instead: a black-holed link (packets silently dropped, no
# reset) then shows as a stalled request within seconds, not after the two minutes above.
MIN_STALL_S = 15.0  # the service's own time to answer plus a few satellite round trips
ASSUMED_BYTES_PER_S = 125_000.0  # per request, before any upload was measured (1 Mbit/s)
SOCKET_BACKLOG_BYTES = 4 * 1024 * 1024  # what the OS may still hold unsent when the last write returns


class RequestTimeouts:
    """How long one request may go without progress before it counts as stalled (seconds).

    The socket timeout covers each wait: for room to write the next piece of the body, and for the answer
    after the last piece. The longest legitimate one is the answer to a big body, which comes only once the
    bytes still queued in the socket (up to the body, at most SOCKET_BACKLOG_BYTES) have crossed the link
    at this request's share of it. So: MIN_STALL_S + 3 x that time at the measured per-request rate,
    capped at READ_TIMEOUT_S. Thread-safe enough: one float, replaced whole.
    """

    def __init__(self, floor: float = MIN_STALL_S, ceiling: float = READ_TIMEOUT_S) -> None:
        self.floor, self.ceiling = floor, max(floor, ceiling)
        self.rate = ASSUMED_BYTES_PER_S  # bytes per second one request moves (EWMA of uploads)
        self._measured = False

    def for_body(self, nbytes: int) -> float:
        queued = min(max(0, nbytes), SOCKET_BACKLOG_BYTES)
        return min(self.ceiling, self.floor + 3.0 * queued / max(self.rate, 1.0))

    def observe(self, nbytes: int, seconds: float) -> None:
        """One upload of `nbytes` took `seconds` from start to answer."""
        if nbytes < 64 * 1024 or seconds <= 0:
            return  # a small request's time is its round trips, not the link's rate
        rate = nbytes / seconds
        self.rate = rate if not self._measured else 0.8 * self.rate + 0.2 * rate
        self._measured = True


def make_transport(pool: int, *, connection_timeout: float = CONNECT_TIMEOUT_S,
                   read_timeout: float = READ_TIMEOUT_S, url: str | None = None) -> Any:
    """A requests-based transport that keeps `pool` connections open.

    requests' default pool keeps 10 connections; with more requests in flight than that, each extra
    one would open a fresh connection (handshake, slow start) every time.

    With `url` (the one host every request goes to), what requests would look up in the environment for
    every request (HTTP(S)_PROXY and NO_PROXY for that host, REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE) is looked
    up once here instead: about 0.4 ms of CPU a request (issue 14), same settings. ~/.netrc is not read
    (a SAS URL carries its own authorisation).
    """
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    if url is not None:
        _environment_once(session, url)
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=True, connection_timeout=connection_timeout,
                             read_timeout=read_timeout)


def _environment_once(session: Any, url: str) -> None:
    import os

    from requests.utils import get_environ_proxies

    session.proxies.update(get_environ_proxies(url))
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False


def container_client(
    sas: SasUrl,
    *,
    retry_total: int = 0,
    connection_timeout: float = CONNECT_TIMEOUT_S,
    read_timeout: float = READ_TIMEOUT_S,
    transport: Any = None,
    pool: int | None = None,
    **kw: Any,
) -> ContainerClient:
    """An azure-storage-blob ContainerClient for `sas`.

    `pool` (connections kept open) builds a transport with these timeouts; `transport` supplies one.
    """
    from azure.storage.blob import ContainerClient

    from planner import __version__

    options: dict[str, Any] = {
        "retry_total": retry_total,
        "connection_timeout": connection_timeout,
        "read_timeout": read_timeout,
        "user_agent": f"mdplan/{__version__}",
        **kw,
    }
    if transport is None and pool is not None:
        transport = make_transport(pool, connection_timeout=connection_timeout, read_timeout=read_timeout,
                                   url=sas.account_url)
    if transport is not None:
        options["transport"] = transport
    return ContainerClient.from_container_url(sas.container_url, **options)
