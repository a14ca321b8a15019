"""Reading a source file for upload, safely: no links followed, no blocking on pipes, no mixing of
two versions of a file, and block ids that name a block's bytes.

- `open_source(root, rel)` opens only a regular file that is really inside the source folder now: the
  last component is opened without following a link (O_NOFOLLOW where the OS has it), a parent folder
  swapped for a link is caught by comparing the real path with the source's, and a FIFO or device is
  refused before `open()` could block on it. The opened file must be the one that was looked at
  (same device and inode).
- `FileChanged` is raised when size, mtime or inode differ between the scan, the open, and the end of
  the read: the caller sends the file again rather than committing a mix of two versions.
- `block_id(i, md5)` is derived from the block's own bytes, so a block staged by an earlier attempt is
  reused only if its bytes are the file's bytes now (not merely the same length).
"""

from __future__ import annotations

import hashlib
import os
import stat
from base64 import b64decode, b64encode
from pathlib import Path
from typing import Any, BinaryIO

MiB = 1024 * 1024
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class FileChanged(Exception):
    """The file on disk is not the one that was scanned (or it changed while being read)."""

    def __init__(self, size: int, mtime_ns: int) -> None:
        super().__init__(f"changed: {size} bytes, mtime {mtime_ns}")
        self.size, self.mtime_ns = size, mtime_ns


class NotRegular(Exception):
    """Not a regular file inside the source folder any more (a link, a pipe, a device, a folder)."""


def _inside(root_real: str, path: Path) -> bool:
    real_parent = os.path.realpath(path.parent)
    return real_parent == root_real or real_parent.startswith(root_real.rstrip(os.sep) + os.sep)


def open_source(root: Path, rel_path: str, size: int, mtime_ns: int) -> tuple[BinaryIO, os.stat_result]:
    """Open `rel_path` under `root` for reading, refusing anything but the regular file that was scanned."""
    path = root.joinpath(*rel_path.split("/"))
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise NotRegular("is now a link to somewhere else; not followed")
    if stat.S_ISDIR(st.st_mode):
        raise NotRegular("is now a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise NotRegular("is not a regular file (a pipe, socket or device); left out")
    if not _inside(os.path.realpath(root), path):
        raise NotRegular("a folder on its path was replaced by a link that leads out of the source folder; not followed")
    if st.st_size != size or st.st_mtime_ns != mtime_ns:
        raise FileChanged(st.st_size, st.st_mtime_ns)
    fd = open_fd(path)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (st.st_dev, st.st_ino):
            raise FileChanged(opened.st_size, opened.st_mtime_ns)
        f = os.fdopen(fd, "rb")
        f.raw.name = str(path)  # type: ignore[misc]  # (an fd-opened file is otherwise named by its number)
        return f, opened
    except BaseException:
        os.close(fd)
        raise


def open_fd(path: Path) -> int:
    """os.open without following a final link and without blocking on a pipe (tests replace this)."""
    return os.open(path, _OPEN_FLAGS)


def still_same(f: BinaryIO, before: os.stat_result, bytes_read: int) -> None:
    """Raise FileChanged unless all of the file was read and it is, open and by its name, as it was.

    The name is looked at again too: a file renamed over, or deleted, after the read is not the file
    the folder holds now (FileNotFoundError then says it disappeared)."""
    for after in (os.fstat(f.fileno()), os.lstat(f.name)):
        if (bytes_read != before.st_size or after.st_size != before.st_size
                or after.st_mtime_ns != before.st_mtime_ns or after.st_ino != before.st_ino):
            raise FileChanged(after.st_size, after.st_mtime_ns)


def read_exact(f: Any, n: int) -> bytes:
    """Read n bytes or up to EOF, looping over short reads (a short read must never truncate a blob)."""
    parts = []
    got = 0
    while got < n:
        chunk = f.read(n - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def block_id(index: int, block_md5: bytes) -> str:
    """The id of block `index` holding bytes whose MD5 is `block_md5`.

    Always 15 bytes (20 base64 characters; Azure wants every block id of a blob to have the same
    length, and mdplan 0.1.0's ids had this length too, so blocks it staged are simply not matched).
    """
    return b64encode(index.to_bytes(4, "big") + block_md5[:11]).decode()


def block_index(block_id_text: str) -> int | None:
    """The index a content-derived block id (see `block_id`) names, or None for an id of another form
    (mdplan 0.1.0's size/mtime fingerprints, another tool's ids): those say nothing about the bytes."""
    try:
        raw = b64decode(block_id_text, validate=True)
    except (ValueError, TypeError):
        return None
    if len(raw) != 15:
        return None
    return int.from_bytes(raw[:4], "big")


def md5_file(path: Path) -> str:
    """Hex MD5 of a file, read in 1 MiB pieces (also used by verify)."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MiB), b""):
            h.update(chunk)
    return h.hexdigest()


def looks_network(e: OSError) -> bool:
    """An OSError from reading that is really the network (a source folder on a network share)."""
    import errno

    return e.errno in (errno.ECONNRESET, errno.ECONNREFUSED, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                       errno.ENETUNREACH, errno.EPIPE, errno.ECONNABORTED)
