"""The fault proxy itself, against Azurite: it forwards faithfully, and its faults look like the real ones
to the Azure SDK (so the uploader tests built on it exercise the real error paths)."""

from __future__ import annotations

import hashlib
import os
import socket

import pytest

from planner.azure import container_client, error_code, is_transient
from planner.sas import parse_sas_url
from helpers.faultproxy import FaultProxy


@pytest.fixture
def proxy(azurite):
    with FaultProxy(azurite.host, azurite.port, seed=7, max_seconds=60) as p:
        yield p


def _client(proxy, azurite, container):
    return container_client(parse_sas_url(proxy.rewrite(azurite.container_sas_url(container))),
                            connection_timeout=5, read_timeout=10)


def test_forwards_uploads_downloads_and_listings_unchanged(proxy, azurite, container):
    cc = _client(proxy, azurite, container)
    data = os.urandom(200_000)
    cc.upload_blob("a b/#1 ü.jpg", data, overwrite=True)
    assert cc.download_blob("a b/#1 ü.jpg").readall() == data
    props = cc.get_blob_client("a b/#1 ü.jpg").get_blob_properties()  # HEAD: size survives the proxy
    assert props.size == len(data)
    assert [b.name for b in cc.list_blobs()] == ["a b/#1 ü.jpg"]
    assert {r.action for r in proxy.log} == {"forwarded"}
    assert all("sig=" not in r.path and "?" not in r.path for r in proxy.log)
    direct = azurite.service_client().get_container_client(container).download_blob("a b/#1 ü.jpg").readall()
    assert hashlib.md5(direct).digest() == hashlib.md5(data).digest()


def test_503_is_azure_shaped_and_transient(proxy, azurite, container):
    from azure.core.exceptions import HttpResponseError

    proxy.set_rates(error_rate=1.0)
    cc = _client(proxy, azurite, container)
    with pytest.raises(HttpResponseError) as e:
        cc.upload_blob("x.jpg", b"123", overwrite=True)
    assert e.value.status_code == 503 and error_code(e.value) == "ServerBusy"
    assert is_transient(e.value)
    assert proxy.count("503") == 1
    assert not azurite.service_client().get_container_client(container).get_blob_client("x.jpg").exists()


def test_reset_is_a_transient_connection_error(proxy, azurite, container):
    from azure.core.exceptions import AzureError

    proxy.set_rates(reset_rate=1.0)
    cc = _client(proxy, azurite, container)
    actions = set()
    for i in range(6):  # seeded: both kinds of reset show up within a few requests
        with pytest.raises(AzureError) as e:
            cc.upload_blob(f"r{i}.jpg", b"123", overwrite=True)
        assert is_transient(e.value), repr(e.value)
        actions = {r.action for r in proxy.log}
    assert actions == {"reset-before", "reset-after"}
    # a reset after forwarding means the service stored the blob while the client heard nothing
    stored = {b.name for b in azurite.service_client().get_container_client(container).list_blobs()}
    after = {f"r{i}.jpg" for i, r in enumerate(proxy.log) if r.action == "reset-after"}
    assert after <= stored


def test_cut_refuses_and_restore_comes_back_on_the_same_port(proxy, azurite, container):
    from azure.core.exceptions import AzureError, ServiceRequestError

    cc = _client(proxy, azurite, container)
    cc.upload_blob("before.jpg", b"1", overwrite=True)  # leaves a keep-alive connection open
    port = proxy.port
    proxy.cut()
    with pytest.raises(AzureError) as e:  # the open connection was reset
        cc.upload_blob("during.jpg", b"2", overwrite=True)
    assert is_transient(e.value)
    with pytest.raises(ServiceRequestError) as e2:  # and a new one is refused
        cc.upload_blob("during.jpg", b"2", overwrite=True)
    assert is_transient(e2.value) and "refused" in str(e2.value).lower()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    proxy.restore()
    assert proxy.port == port
    cc.upload_blob("after.jpg", b"3", overwrite=True)
    names = {b.name for b in azurite.service_client().get_container_client(container).list_blobs()}
    assert names == {"before.jpg", "after.jpg"}


def test_stops_by_itself(azurite):
    p = FaultProxy(azurite.host, azurite.port, max_seconds=0.3).start()
    port = p.port
    assert p._stopped.wait(5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
