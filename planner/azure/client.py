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


def make_transport(pool: int, *, connection_timeout: float = CONNECT_TIMEOUT_S,
                   read_timeout: float = READ_TIMEOUT_S) -> Any:
    """A requests-based transport that keeps `pool` connections open.

    requests' default pool keeps 10 connections; with more requests in flight than that, each extra
    one would open a fresh connection (handshake, slow start) every time.
    """
    import requests
    from azure.core.pipeline.transport import RequestsTransport
    from requests.adapters import HTTPAdapter

    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(1, pool))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return RequestsTransport(session=session, session_owner=True, connection_timeout=connection_timeout,
                             read_timeout=read_timeout)


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
        transport = make_transport(pool, connection_timeout=connection_timeout, read_timeout=read_timeout)
    if transport is not None:
        options["transport"] = transport
    return ContainerClient.from_container_url(sas.container_url, **options)
