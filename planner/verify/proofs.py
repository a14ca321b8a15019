"""The checks beyond size and stored MD5, one blob at a time, against any BlobStore (no SDK here).

- `by_blocks`: the blob's committed block list against the local file's block hashes, no download.
  mdplan names each block after its bytes (index + MD5 prefix, planner.transfer.files.block_id) and the
  service checked each block's MD5 as it arrived, so ids that match the local file's blocks, in order,
  with the same sizes, show the blob is made of the local file's bytes. A blob sent in one request has
  no block list: the service checked its MD5 when it stored it, so size and stored MD5 stand (fallback).
  Ids of another form (mdplan 0.1.0, another tool) say nothing about the bytes: not proved.
- `by_download`: download the blob in pieces and hash it (needs a URL that may read).

Each returns a `Proof`; a URL that may not read raises `SasProblem` with one plain line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from planner.errors import SasProblem
from planner.storage import BlobStore, StoreError
from planner.transfer.files import block_id, block_index, read_exact

Outcome = Literal["ok", "differs", "fallback", "unproven", "missing"]
PIECE = 4 * 1024 * 1024  # download and read in 4 MiB pieces: memory stays flat for any file size

SINGLE_REQUEST = "sent in one request (no block list); the service checked its MD5 when it stored it"
FOREIGN_IDS = ("its block ids do not name the blocks' bytes (written by mdplan 0.1.0 or another tool), so the "
               "block list proves nothing; --deep can prove it")


@dataclass(frozen=True)
class Proof:
    outcome: Outcome
    note: str | None = None


def need_read(level: str, allows: str | None) -> SasProblem:
    """The one line for a level that needs reading, with a URL that may not read."""
    what = ("`--deep` downloads every file to hash it" if level == "deep"
            else "`--blocks` reads each blob's block list")
    allowed = f" (it allows: {allows})" if allows else ""
    return SasProblem(f"{what}, so it needs a URL that may read, and this one may not{allowed}.",
                      hint="Run `mdplan verify` without it (size and stored MD5), or ask the MegaDetector team "
                           "for a URL with read permission.")


def _store_failure(e: StoreError, level: str) -> Exception:
    if e.kind == "sas" and e.code == "AuthorizationPermissionMismatch":
        return need_read(level, None)
    return e.error


def by_blocks(store: BlobStore, name: str, path: Path, size: int) -> Proof:
    try:
        blocks = store.committed_blocks(name)
    except StoreError as e:
        if e.kind == "not_found":
            return Proof("missing", "deleted while being checked")
        raise _store_failure(e, "blocks") from None
    if not blocks:
        return Proof("fallback", SINGLE_REQUEST)
    if any(block_index(b.block_id) != i for i, b in enumerate(blocks)):
        return Proof("unproven", FOREIGN_IDS)
    if sum(b.size for b in blocks) != size:
        return Proof("differs", "block list differs: its blocks add up to another size")
    with open(path, "rb") as f:
        for i, b in enumerate(blocks):
            data = read_exact(f, b.size)
            if len(data) != b.size or block_id(i, hashlib.md5(data).digest()) != b.block_id:
                return Proof("differs", f"block list differs: block {i + 1} of {len(blocks)} holds other bytes")
    return Proof("ok")


def by_download(store: BlobStore, name: str, size: int, local_md5: str) -> Proof:
    h = hashlib.md5()
    offset = 0
    try:
        while offset < size:
            piece = store.download_range(name, offset, min(PIECE, size - offset))
            if not piece:
                break
            h.update(piece)
            offset += len(piece)
    except StoreError as e:
        if e.kind == "not_found":
            return Proof("missing", "deleted while being checked")
        raise _store_failure(e, "deep") from None
    if offset != size:
        return Proof("differs", f"downloaded bytes differ: {offset:,} bytes, expected {size:,}")
    if h.hexdigest() != local_md5:
        return Proof("differs", "downloaded bytes differ: their MD5 is not the local file's")
    return Proof("ok")
