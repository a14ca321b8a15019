"""`mdplan drive check`: is every file of a bag on the drive, whole? MD5 against the bag's manifest."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from planner.drive.bag import NotABag, read_bag
from planner.drive.copyfile import CHUNK, drop_device_cache
from planner.drive.target import fuse_device
from planner.errors import BadInput, ExitCode


@dataclass
class CheckResult:
    bag: str
    exit_code: int
    files_expected: int
    files_ok: int
    bytes_checked: int
    seconds: float
    missing: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    info: dict[str, str] = field(default_factory=dict)

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.changed) + len(self.extra) + len(self.unreadable)


READERS = 4


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        if hasattr(os, "posix_fadvise"):
            try:  # read the drive, not what the page cache remembers of it
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            except OSError:
                pass
        for buf in iter(lambda: f.read(CHUNK), b""):
            h.update(buf)
    return h.hexdigest()


def _on_disk(data: Path) -> set[str]:
    found = set()
    for dirpath, _dirs, files in os.walk(data):
        rel_dir = os.path.relpath(dirpath, data).replace(os.sep, "/")
        for f in files:
            found.add(f if rel_dir == "." else f"{rel_dir}/{f}")
    return found


def check_bag(bag_dir: Path, progress: Callable[[int, int], None] | None = None) -> CheckResult:
    """Every manifest entry present and MD5-right, and no file in data/ the manifest does not list."""
    try:
        bag = read_bag(Path(bag_dir))
    except NotABag as e:
        raise BadInput(str(e), hint="Give the folder that holds bagit.txt and data/.") from None
    t0 = time.monotonic()
    data = Path(bag_dir) / "data"
    device = fuse_device(data)  # through FUSE the drive's device keeps its own cache, which _md5 cannot drop
    if device:
        drop_device_cache(device)
    res = CheckResult(str(bag_dir), 0, len(bag.md5), 0, 0, 0.0, info=bag.info)
    present = _on_disk(data)
    res.extra = sorted(present - set(bag.md5))
    entries = sorted(bag.md5.items())
    res.missing = [rel for rel, _ in entries if rel not in present]
    todo = [(rel, want) for rel, want in entries if rel in present]

    def one(item: tuple[str, str]) -> tuple[str, str, str | None, int, str]:
        rel, want = item
        try:
            return rel, want, _md5(data / rel), (data / rel).stat().st_size, ""
        except OSError as e:
            return rel, want, None, 0, e.strerror or str(e)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=READERS) as pool:  # hashlib releases the GIL: reads overlap
        for i, (rel, want, got, size, err) in enumerate(pool.map(one, todo)):
            if got is None:
                res.unreadable.append((rel, err))
            elif got.lower() != want.lower():
                res.changed.append(rel)
            else:
                res.files_ok += 1
            res.bytes_checked += size
            if progress:
                progress(i + 1, len(todo))
    res.seconds = time.monotonic() - t0
    res.exit_code = int(ExitCode.OK if res.problems == 0 else ExitCode.PARTIAL)
    return res
