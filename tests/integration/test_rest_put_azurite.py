"""Put Blob and Put Block without the SDK's pipeline (planner.azure.rest, issue 14's cost per gigabyte) must
leave the same blobs and fail the same way as the SDK did, against a real Azurite, with SAS URLs carrying
se/sp and with a stored access policy only (si=)."""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import datetime, timedelta, timezone

import pytest

from planner.azure import AzureBlobStore
from planner.azure.client import container_client
from planner.sas import parse_sas_url
from planner.storage import StoreError

pytestmark = pytest.mark.usefixtures("azurite")


def _stores(url: str) -> dict[str, AzureBlobStore]:
    sas = parse_sas_url(url)
    return {"rest": AzureBlobStore(sas), "sdk": AzureBlobStore(sas, client=container_client(sas))}


def _policy_url(azurite, container: str) -> str:
    from azure.storage.blob import AccessPolicy, ContainerSasPermissions

    client = azurite.service_client().get_container_client(container)
    expiry = datetime.now(timezone.utc) + timedelta(hours=1)
    client.set_container_access_policy({"upload": AccessPolicy(ContainerSasPermissions(read=True, add=True,
                                        create=True, write=True, list=True), expiry=expiry)})
    return azurite.container_sas_url(container, policy_id="upload")


@pytest.fixture(params=["se-sp", "policy-only"])
def url(request, azurite, container) -> str:
    return azurite.container_sas_url(container) if request.param == "se-sp" else _policy_url(azurite, container)


def test_the_store_sends_puts_without_the_sdk_pipeline(url):
    assert _stores(url)["rest"]._rest is not None


def test_a_put_blob_leaves_the_same_blob_as_the_sdk(url):
    data = os.urandom(70_000)
    md5 = hashlib.md5(data).digest()
    for how, store in _stores(url).items():
        store.put_blob(f"{how}/ü #1/a b.JPG", data, content_md5=md5, content_type="image/jpeg", overwrite=False,
                       job="job42")
    store = _stores(url)["sdk"]
    blobs = {b.name: b for b in store.list_blobs("")}
    assert set(blobs) == {"rest/ü #1/a b.JPG", "sdk/ü #1/a b.JPG"}
    for name, blob in blobs.items():
        assert (blob.size, blob.md5, blob.job) == (len(data), md5.hex(), "job42"), name
        assert store.download_range(name, 0, len(data)) == data
    client = container_client(parse_sas_url(url))
    kinds = {client.get_blob_client(n).get_blob_properties().content_settings.content_type for n in blobs}
    assert kinds == {"image/jpeg"}


def test_blocks_put_by_rest_are_listed_and_committed_under_the_ids_given(url):
    stores = _stores(url)
    parts = [os.urandom(300_000), os.urandom(1000)]
    ids = ["AAAAAAAAAAAAAAAAAAA+", "AAAAAQ/AAAAAAAAAAAA="]  # base64 with '+', '/' and '=' in it
    for bid, part in zip(ids, parts):
        stores["rest"].stage_block("video.mp4", bid, part, md5=hashlib.md5(part).digest())
    assert [(b.block_id, b.size) for b in stores["sdk"].staged_blocks("video.mp4")] == [(i, len(p)) for i, p in zip(ids, parts)]
    whole = b"".join(parts)
    stores["sdk"].commit_blocks("video.mp4", ids, content_md5=hashlib.md5(whole).digest(), content_type="video/mp4",
                                overwrite=False)
    assert stores["sdk"].download_range("video.mp4", 0, len(whole)) == whole


def _failure(store: AzureBlobStore, name: str, data: bytes, md5: bytes, *, overwrite: bool = True) -> StoreError:
    with pytest.raises(StoreError) as caught:
        store.put_blob(name, data, content_md5=md5, content_type="image/jpeg", overwrite=overwrite)
    return caught.value


def _same(a: StoreError, b: StoreError) -> None:
    assert (a.kind, a.status, a.code, a.retryable, a.timeout) == (b.kind, b.status, b.code, b.retryable, b.timeout)
    assert type(a.error) is type(b.error)
    assert str(a.error) == str(b.error)


def test_failures_are_sorted_exactly_as_the_sdks(url):
    stores = _stores(url)
    data = b"x" * 5000
    good, wrong = hashlib.md5(data).digest(), hashlib.md5(b"other").digest()
    stores["sdk"].put_blob("there.jpg", data, content_md5=good, content_type="image/jpeg", overwrite=True)
    exists = {how: _failure(s, "there.jpg", data, good, overwrite=False) for how, s in stores.items()}
    assert exists["rest"].kind == "exists" and exists["rest"].status == 409
    _same(exists["rest"], exists["sdk"])
    damaged = {how: _failure(s, f"{how}.jpg", data, wrong) for how, s in stores.items()}
    assert damaged["rest"].kind == "checksum" and damaged["rest"].retryable
    _same(damaged["rest"], damaged["sdk"])
    with pytest.raises(StoreError) as block:
        stores["rest"].stage_block("v.mp4", "AAAAAAAAAAAAAAAAAAAA", data, md5=wrong)
    assert block.value.kind == "checksum"


def test_a_refused_signature_is_the_urls_problem_and_never_shows_the_signature(azurite, container):
    url = azurite.container_sas_url(container)
    sig = parse_sas_url(url).query.split("sig=", 1)[1].split("&", 1)[0]
    forged = url.replace(sig, "A" + sig[1:] if sig[0] != "A" else "B" + sig[1:])
    stores = _stores(forged)
    data = b"y" * 100
    refused = {how: _failure(s, "a.jpg", data, hashlib.md5(data).digest()) for how, s in stores.items()}
    assert refused["rest"].kind == "sas" and refused["rest"].status == 403
    _same(refused["rest"], refused["sdk"])
    assert sig[1:20] not in repr(refused["rest"]) + str(refused["rest"].error)


def test_a_dead_address_is_a_transient_link_failure_without_the_url(azurite, container):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once the socket is closed
    url = azurite.container_sas_url(container)
    dead = url.replace(url.split("://", 1)[1].split("/", 1)[0], f"127.0.0.1:{port}")
    stores = _stores(dead)
    data = b"z" * 100
    down = {how: _failure(s, "a.jpg", data, hashlib.md5(data).digest()) for how, s in stores.items()}
    assert down["rest"].kind == "transient" and down["rest"].retryable
    _same(down["rest"], down["sdk"])
    text = str(down["rest"].error) + repr(down["rest"])
    assert "sig=" not in text and "a.jpg" not in text
