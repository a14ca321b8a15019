"""`AzureBlobStore`: planner.storage.BlobStore on azure-storage-blob.

Every request goes through `_call`, which turns any failure into a `StoreError` (see
planner.azure.errors.classify), so nothing above this module ever sees an SDK exception.
Writes send the transactional MD5 as the Content-MD5 header (the service checks it on arrival) from
the digest the caller already computed while reading, rather than letting the SDK hash the bytes again.
"""

from __future__ import annotations

import time
from base64 import b64encode
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from planner.azure.client import RequestTimeouts, container_client, make_transport
from planner.azure.errors import classify
from planner.azure.rest import RestPut
from planner.sas import SasUrl
from planner.storage import Block, RemoteBlob

T = TypeVar("T")


JOB_METADATA = "mdplanjob"  # Azure metadata names must be C# identifiers


def _metadata(job: str | None) -> dict[str, str] | None:
    return {JOB_METADATA: job} if job else None


def _md5_header(md5: bytes) -> dict[str, str]:
    return {"Content-MD5": b64encode(md5).decode()}


class AzureBlobStore:
    """One container, reached through one SDK client with `pool` connections kept open.

    Put Blob and Put Block (one or more a file) go through `RestPut` on the same connections; the rest
    through the SDK. A `client` given from outside (tests) is used for everything.
    """

    def __init__(self, sas: SasUrl, *, pool: int = 8, client: Any = None, timeouts: RequestTimeouts | None = None,
                 **client_kw: Any) -> None:
        self.sas = sas
        self._rest: RestPut | None = None
        if client is None:
            from planner import __version__

            limits = {k: client_kw[k] for k in ("connection_timeout", "read_timeout") if k in client_kw}
            transport = make_transport(pool, url=sas.account_url, **limits)
            client = container_client(sas, transport=transport, **client_kw)
            self._rest = RestPut(sas, transport.session, api_version=client.api_version,
                                 user_agent=f"mdplan/{__version__}")
        self._client = client
        self.timeouts = timeouts if timeouts is not None else RequestTimeouts()

    def _call(self, fn: Callable[[], T], doing: str) -> T:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - every SDK/transport failure becomes a StoreError
            raise classify(exc, self.sas, doing=doing) from None

    def _limits(self, nbytes: int = 0) -> dict[str, float]:
        """Per-request socket timeouts (azure-core passes them to the transport): see RequestTimeouts."""
        t = self.timeouts.for_body(nbytes)
        return {"connection_timeout": t, "read_timeout": t}

    def _upload(self, fn: Callable[[dict[str, float]], T], nbytes: int) -> T:
        started = time.monotonic()
        out = self._call(lambda: fn(self._limits(nbytes)), "uploading")
        self.timeouts.observe(nbytes, time.monotonic() - started)
        return out

    def list_blobs(self, prefix: str) -> Iterator[RemoteBlob]:
        pages = self._call(lambda: self._client.list_blobs(name_starts_with=prefix or None, include=["metadata"],
                                                           **self._limits()).by_page(),
                           "listing the container")
        while True:
            page = self._call(lambda: next(pages, None), "listing the container")
            if page is None:
                return
            for b in self._call(lambda: list(page), "listing the container"):
                md5 = b.content_settings.content_md5 if b.content_settings else None
                yield RemoteBlob(b.name, int(b.size or 0), bytes(md5).hex() if md5 else None,
                                 (b.metadata or {}).get(JOB_METADATA))

    def put_blob(self, name: str, data: bytes, *, content_md5: bytes, content_type: str, overwrite: bool,
                 job: str | None = None) -> None:
        rest = self._rest
        if rest is not None:
            self._upload(lambda limits: rest.put_blob(
                name, data, content_md5=content_md5, content_type=content_type, overwrite=overwrite,
                metadata=_metadata(job), timeout=(limits["connection_timeout"], limits["read_timeout"])), len(data))
            return
        from azure.storage.blob import ContentSettings

        cond: dict[str, Any] = {} if overwrite else {"if_none_match": "*"}
        settings = ContentSettings(content_type=content_type, content_md5=content_md5)
        self._upload(lambda limits: self._client.get_blob_client(name).upload_blob(
            data, overwrite=overwrite, length=len(data), content_settings=settings, max_concurrency=1,
            metadata=_metadata(job), headers=_md5_header(content_md5), **cond, **limits), len(data))

    def stage_block(self, name: str, block_id: str, data: bytes, *, md5: bytes) -> None:
        rest = self._rest
        if rest is not None:
            self._upload(lambda limits: rest.put_block(
                name, block_id, data, md5=md5, timeout=(limits["connection_timeout"], limits["read_timeout"])),
                len(data))
            return
        self._upload(lambda limits: self._client.get_blob_client(name).stage_block(
            block_id, data, length=len(data), headers=_md5_header(md5), **limits), len(data))

    def staged_blocks(self, name: str) -> list[Block]:
        _committed, uncommitted = self._call(
            lambda: self._client.get_blob_client(name).get_block_list("uncommitted", **self._limits()), "reading files back")
        return [Block(b.id, int(b.size)) for b in uncommitted]

    def committed_blocks(self, name: str) -> list[Block]:
        committed, _uncommitted = self._call(
            lambda: self._client.get_blob_client(name).get_block_list("committed", **self._limits()), "reading files back")
        return [Block(b.id, int(b.size)) for b in committed]

    def commit_blocks(self, name: str, block_ids: Sequence[str], *, content_md5: bytes, content_type: str,
                      overwrite: bool, job: str | None = None) -> None:
        from azure.storage.blob import BlobBlock, ContentSettings

        cond: dict[str, Any] = {} if overwrite else {"if_none_match": "*"}
        blob = self._client.get_blob_client(name)
        settings = ContentSettings(content_type=content_type, content_md5=content_md5)
        # the service assembles the blob before it answers: allow for a long block list (50,000 ids)
        self._call(lambda: blob.commit_block_list([BlobBlock(block_id=i) for i in block_ids],
                                                  content_settings=settings, metadata=_metadata(job), **cond,
                                                  **self._limits(64 * len(block_ids))),
                   "uploading")

    def properties(self, name: str) -> RemoteBlob:
        p = self._call(lambda: self._client.get_blob_client(name).get_blob_properties(**self._limits()), "reading files back")
        md5 = p.content_settings.content_md5 if p.content_settings else None
        return RemoteBlob(name, int(p.size or 0), bytes(md5).hex() if md5 else None,
                          (p.metadata or {}).get(JOB_METADATA))

    def download_range(self, name: str, offset: int, length: int) -> bytes:
        if length <= 0:  # the SDK would ask for the whole blob (and an empty one answers with a failure)
            return b""
        return self._call(lambda: self._client.download_blob(name, offset=offset, length=length).readall(),
                          "reading files back")

    def delete_blob(self, name: str) -> None:
        self._call(lambda: self._client.delete_blob(name), "deleting the test file")

    def close(self) -> None:
        self._client.close()
