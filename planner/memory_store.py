"""An in-memory BlobStore that behaves like the service, for tests of the transfer engine.

It keeps what Azure keeps (committed blobs with their Content-MD5, staged blocks per blob, committed
block lists), checks what Azure checks (the transactional MD5 of every write, equal-length block ids,
conditional writes, commits naming only blocks it holds) and can be told to fail: `fail_next(op, kind)`
queues a failure for the next request of one kind ("put", "stage", "commit", "list", "staged",
"committed", "properties", "download", "delete"), and `faults` is a hook called before every request
that may raise a StoreError itself (a black-holed link, a revoked URL, a 503 storm). `may` is what the
URL allows (e.g. "cwl" for an intake URL): a request it does not cover is refused as Azure refuses it
(403 AuthorizationPermissionMismatch), so reads of block lists and bytes fail for a URL that may not read.

It also counts requests and bytes, so tests can assert "nothing sent twice".
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from planner.errors import NetworkUnreachable, PartialFailure, SasProblem
from planner.storage import Block, ErrorKind, RemoteBlob, StoreError

_MESSAGES = {
    "transient": lambda: NetworkUnreachable("The connection to the storage service failed."),
    "checksum": lambda: NetworkUnreachable("The data arrived damaged (its MD5 checksum did not match)."),
    "sas": lambda: SasProblem("The storage service refused this URL."),
    "exists": lambda: PartialFailure("The storage service answered 409 (BlobAlreadyExists)."),
    "not_found": lambda: PartialFailure("The storage service answered 404 (BlobNotFound)."),
    "refused": lambda: PartialFailure("The storage service answered 400 (InvalidResourceName)."),
}


def store_error(kind: ErrorKind, *, timeout: bool = False, answered: bool = True) -> StoreError:
    """`answered=False`: the link failed (reset, timeout, black hole) and no HTTP status came back."""
    status = {"sas": 403, "exists": 409, "not_found": 404, "refused": 400, "checksum": 400}.get(kind, 503)
    return StoreError(kind, _MESSAGES[kind](), status=status if answered else None, timeout=timeout)


# the SAS permissions of which each request needs one (as Azure checks them), and the words for a refusal
_NEEDS = {"list": "l", "put": "cw", "stage": "cw", "commit": "cw", "staged": "r", "committed": "r",
          "properties": "r", "download": "r", "delete": "d"}
_DOING = {"list": "listing the container", "put": "uploading", "stage": "uploading", "commit": "uploading",
          "staged": "reading files back", "committed": "reading files back", "properties": "reading files back",
          "download": "reading files back", "delete": "deleting the test file"}


@dataclass
class _Blob:
    data: bytes
    md5: bytes | None
    content_type: str
    blocks: list[Block] = field(default_factory=list)  # [] when put in one piece
    job: str | None = None


class MemoryBlobStore:
    """A container in a dict. Thread-safe: the engine's workers share one."""

    def __init__(self, *, faults: Callable[[str, str], None] | None = None, may: str = "racwdl") -> None:
        self.may = may
        self.blobs: dict[str, _Blob] = {}
        self.staged: dict[str, dict[str, bytes]] = {}
        self.faults = faults
        self.requests: Counter[str] = Counter()
        self.bytes_received = 0
        self.writes: Counter[str] = Counter()  # blob name -> commits (put or block list)
        self._queued: list[tuple[str, StoreError]] = []
        self._lock = threading.RLock()

    # -- test controls ---------------------------------------------------------------------------
    def fail_next(self, op: str, kind: ErrorKind, times: int = 1, *, timeout: bool = False,
                  answered: bool = True) -> None:
        with self._lock:
            self._queued.extend((op, store_error(kind, timeout=timeout, answered=answered)) for _ in range(times))

    def add(self, name: str, data: bytes, *, md5: bool = True) -> None:
        """A blob put there by someone else (another job, another tool)."""
        with self._lock:
            self.blobs[name] = _Blob(data, hashlib.md5(data).digest() if md5 else None, "application/octet-stream")

    def data(self, name: str) -> bytes:
        return self.blobs[name].data

    # -- the service -----------------------------------------------------------------------------
    def _request(self, op: str, name: str = "") -> None:
        with self._lock:
            self.requests[op] += 1
            if not any(letter in self.may for letter in _NEEDS[op]):
                raise StoreError("sas", SasProblem(f"This URL does not give permission for {_DOING[op]}."),
                                 status=403, code="AuthorizationPermissionMismatch")
            for i, (queued_op, err) in enumerate(self._queued):
                if queued_op == op:
                    del self._queued[i]
                    raise err
        if self.faults is not None:
            self.faults(op, name)

    def list_blobs(self, prefix: str) -> Iterator[RemoteBlob]:
        self._request("list")
        with self._lock:
            found = [RemoteBlob(n, len(b.data), b.md5.hex() if b.md5 else None, b.job)
                     for n, b in sorted(self.blobs.items()) if n.startswith(prefix)]
        yield from found

    def put_blob(self, name: str, data: bytes, *, content_md5: bytes, content_type: str, overwrite: bool,
                 job: str | None = None) -> None:
        self._request("put", name)
        with self._lock:
            self.bytes_received += len(data)
            if hashlib.md5(data).digest() != content_md5:
                raise store_error("checksum")
            if not overwrite and name in self.blobs:
                raise store_error("exists")
            self.blobs[name] = _Blob(bytes(data), content_md5, content_type, job=job)
            self.staged.pop(name, None)
            self.writes[name] += 1

    def stage_block(self, name: str, block_id: str, data: bytes, *, md5: bytes) -> None:
        self._request("stage", name)
        with self._lock:
            self.bytes_received += len(data)
            if hashlib.md5(data).digest() != md5:
                raise store_error("checksum")
            staged = self.staged.setdefault(name, {})
            if any(len(other) != len(block_id) for other in staged):
                raise store_error("refused")  # Azure: InvalidBlobOrBlock, block ids of unequal length
            staged[block_id] = bytes(data)

    def staged_blocks(self, name: str) -> list[Block]:
        self._request("staged", name)
        with self._lock:
            return [Block(i, len(d)) for i, d in self.staged.get(name, {}).items()]

    def committed_blocks(self, name: str) -> list[Block]:
        self._request("committed", name)
        with self._lock:
            if name not in self.blobs:
                raise store_error("not_found")
            return list(self.blobs[name].blocks)

    def commit_blocks(self, name: str, block_ids: Sequence[str], *, content_md5: bytes, content_type: str,
                      overwrite: bool, job: str | None = None) -> None:
        self._request("commit", name)
        with self._lock:
            staged = self.staged.get(name, {})
            if any(i not in staged for i in block_ids):
                raise store_error("refused")  # Azure: InvalidBlockList
            if not overwrite and name in self.blobs:
                raise store_error("exists")
            data = b"".join(staged[i] for i in block_ids)
            self.blobs[name] = _Blob(data, content_md5, content_type, [Block(i, len(staged[i])) for i in block_ids],
                                     job)
            self.staged.pop(name, None)  # Azure drops uncommitted blocks on commit
            self.writes[name] += 1

    def properties(self, name: str) -> RemoteBlob:
        self._request("properties", name)
        with self._lock:
            if name not in self.blobs:
                raise store_error("not_found")
            b = self.blobs[name]
            return RemoteBlob(name, len(b.data), b.md5.hex() if b.md5 else None, b.job)

    def download_range(self, name: str, offset: int, length: int) -> bytes:
        self._request("download", name)
        with self._lock:
            if name not in self.blobs:
                raise store_error("not_found")
            return self.blobs[name].data[offset:offset + length]

    def delete_blob(self, name: str) -> None:
        self._request("delete", name)
        with self._lock:
            if self.blobs.pop(name, None) is None:
                raise store_error("not_found")

    def close(self) -> None:
        pass
