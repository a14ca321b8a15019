"""What mdplan needs from blob storage, with no storage SDK in sight.

`BlobStore` is the seam between the transfer engine (and verify, and the probe) and the service: the
Azure implementation lives in `planner.azure.store`, an in-memory one that behaves like the service in
`planner.memory_store` (tests). Every failure a store raises is a `StoreError` that already says what it
means for the job, so callers decide on `kind` and never look at SDK exception types:

- ``transient``: the link or the service failed (reset, timeout, black hole, 5xx, 408/429, a garbled
  answer, anything not proven permanent). Retry; counts against the link, not the file.
- ``checksum``: the service received bytes other than those sent (transactional MD5 refused). Retry.
- ``sas``: the URL itself does not work (signature refused or expired, no permission, no container).
  Stop the job: every other request would fail the same way.
- ``exists``: a blob with this name is there and a conditional write refused to replace it.
- ``not_found``: the blob (not the container) does not exist.
- ``refused``: the service refused this one request for a reason about this blob (bad name, too big).
  Fail this file, carry on with the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from planner.errors import MdplanError

ErrorKind = Literal["transient", "checksum", "sas", "exists", "not_found", "refused"]


@dataclass(frozen=True)
class RemoteBlob:
    """One committed blob as a listing shows it."""

    name: str
    size: int
    md5: str | None  # hex of the Content-MD5 property; None when the writer stored none
    job: str | None = None  # the mdplan job that wrote it (blob metadata), None for anyone else


@dataclass(frozen=True)
class Block:
    """One block of a blob (staged or committed)."""

    block_id: str
    size: int


class StoreError(Exception):
    """A storage request failed; `kind` says what that means, `error` is the line for the user."""

    def __init__(self, kind: ErrorKind, error: MdplanError, *, status: int | None = None, code: str | None = None,
                 timeout: bool = False, answered: bool | None = None) -> None:
        super().__init__(str(error))
        self.kind: ErrorKind = kind
        self.error = error
        self.status = status
        self.code = code
        self.timeout = timeout  # the request timed out (the concurrency tuner backs off on these)
        # Did the service answer? Only an answer (an HTTP status) can be about the file; a timeout, a reset,
        # a black-holed or garbled reply is about the link and is never charged to a file's attempts.
        self.answered = status is not None if answered is None else answered

    @property
    def retryable(self) -> bool:
        return self.kind in ("transient", "checksum")


class BlobStore(Protocol):
    """The requests mdplan makes of one container. Names are full blob names (prefix included).

    Writes carry a transactional MD5 that the service checks on arrival; `content_md5` (put_blob,
    commit_blocks) is the whole blob's MD5, stored as its Content-MD5 property.
    """

    def list_blobs(self, prefix: str) -> Iterator[RemoteBlob]:
        """Committed blobs whose names start with `prefix` ("" for all). Raises StoreError."""
        ...

    def put_blob(self, name: str, data: bytes, *, content_md5: bytes, content_type: str,
                 overwrite: bool, job: str | None = None) -> None:
        """One-shot upload. overwrite=False: refuse (kind "exists") when a blob is there."""
        ...

    def stage_block(self, name: str, block_id: str, data: bytes, *, md5: bytes) -> None: ...

    def staged_blocks(self, name: str) -> list[Block]:
        """Uncommitted blocks of `name` ([] when none). Raises StoreError (e.g. "sas" without read)."""
        ...

    def committed_blocks(self, name: str) -> list[Block]:
        """The committed block list of `name`, in order ([] for a blob put in one piece). not_found if absent;
        needs read permission, as download_range."""
        ...

    def commit_blocks(self, name: str, block_ids: Sequence[str], *, content_md5: bytes, content_type: str,
                      overwrite: bool, job: str | None = None) -> None:
        """Commit the blob from staged blocks (`job` is kept with it, as with put_blob)."""
        ...

    def properties(self, name: str) -> RemoteBlob:
        """Size and stored MD5 of one blob; StoreError(not_found) when there is none."""
        ...

    def download_range(self, name: str, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length) of the blob (b"" for length 0; fewer at its end). Needs a URL that
        may read (StoreError "sas", code AuthorizationPermissionMismatch, otherwise); not_found if absent."""
        ...

    def delete_blob(self, name: str) -> None: ...

    def close(self) -> None: ...
