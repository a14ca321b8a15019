"""Integrity the service itself proves (issue 13), against a real Azurite."""

from __future__ import annotations

import hashlib
import os

import pytest

from planner.azure import AzureBlobStore
from planner.sas import parse_sas_url
from planner.storage import StoreError
from planner.transfer import StopFlag, UploadOptions, run


def test_the_service_checks_the_transactional_md5_of_every_write(azurite, container):
    store = AzureBlobStore(parse_sas_url(azurite.container_sas_url(container)))
    data = os.urandom(4096)
    wrong = hashlib.md5(b"other bytes").digest()
    with pytest.raises(StoreError) as put:
        store.put_blob("a.jpg", data, content_md5=wrong, content_type="image/jpeg", overwrite=True)
    assert put.value.kind == "checksum" and put.value.retryable
    with pytest.raises(StoreError) as stage:
        store.stage_block("b.mp4", "AAAAAAAAAAAAAAAAAAAA", data, md5=wrong)
    assert stage.value.kind == "checksum"
    assert list(store.list_blobs("")) == []
    store.put_blob("a.jpg", data, content_md5=hashlib.md5(data).digest(), content_type="image/jpeg",
                   overwrite=True, job="job1")
    [blob] = list(store.list_blobs(""))
    assert (blob.name, blob.size, blob.md5, blob.job) == ("a.jpg", 4096, hashlib.md5(data).hexdigest(), "job1")
    store.close()


def test_a_big_file_changed_in_place_with_the_same_size_and_mtime_is_not_mixed(azurite, container, tmp_path,
                                                                               monkeypatch):
    """The defect: cut off mid-upload, then rewritten in place keeping size and mtime (cp -p, rsync -a,
    FAT's 2-second times): 0.1.0 reused the staged blocks of the old bytes and committed a mix whose
    Content-MD5 claimed the new file's MD5, and verify said all was well."""
    from planner.azure.rest import RestPut

    root = tmp_path / "src"
    root.mkdir()
    video = root / "VID_0001.MP4"
    video.write_bytes(os.urandom(6 * 1024 * 1024))
    st = video.stat()
    real, sent, stop = RestPut.put_block, [], StopFlag()

    def put_block(self, name, block_id, data, **kw):
        out = real(self, name, block_id, data, **kw)
        sent.append(len(data))
        if len(sent) >= 2:
            stop.soft.set(), stop.hard.set()
        return out

    monkeypatch.setattr(RestPut, "put_block", put_block)
    url = azurite.container_sas_url(container)
    opts = UploadOptions(source=root, sas=parse_sas_url(url), home=tmp_path / "h", cap_mbps=40, workers=2)
    assert run(opts, stop=stop)[0].exit_code == 130
    new = os.urandom(6 * 1024 * 1024)
    video.write_bytes(new)
    os.utime(video, ns=(st.st_atime_ns, st.st_mtime_ns))
    monkeypatch.setattr(RestPut, "put_block", real)
    res, _ = run(UploadOptions(source=root, sas=parse_sas_url(url), home=tmp_path / "h", cap_mbps=40, workers=2))
    assert res.exit_code == 0, res.message
    blob = azurite.service_client().get_container_client(container).get_blob_client("VID_0001.MP4")
    held = blob.download_blob().readall()
    assert held == new
    stored = bytes(blob.get_blob_properties().content_settings.content_md5)
    assert stored == hashlib.md5(held).digest()
