"""Walk an image set: what is there, by type and by site, in bounded memory.

- Iterative `os.scandir` walk (no recursion limit), entries sorted per folder so runs are repeatable.
- Symbolic links are never followed by default; they are reported (kind SYMLINK), not dropped. With
  follow_symlinks, only links that stay inside the source folder are followed, and loops are cut.
- A folder or file that cannot be read is reported through `on_problem(path, reason)` and the walk
  goes on: nothing the user has is skipped silently.
- Memory stays bounded for millions of files: entries stream out one by one; the summary keeps
  counters, a log-spaced size histogram (quantiles within 1%), the largest files in a heap and
  64-bit hashes of file names for the duplicate count.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import os
import stat
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from planner.errors import BadInput

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".gif", ".png", ".tif", ".tiff", ".bmp", ".webp", ".avif"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mpeg", ".mpg", ".mov", ".mkv", ".flv"})
LITTER_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
LITTER_FOLDERS = frozenset({"$recycle.bin", "system volume information", ".trashes", ".spotlight-v100",
                            ".fseventsd"})


class Kind(str, Enum):
    IMAGE = "image"
    VIDEO = "video"
    LITTER = "litter"
    OTHER = "other"
    SYMLINK = "symlink"  # a link that was not followed (reported, never sent)


def classify(rel_path: str) -> Kind:
    """Kind of a file from its '/'-separated path relative to the set's root (case-insensitive)."""
    parts = rel_path.replace("\\", "/").split("/")
    name = parts[-1].lower()
    if name in LITTER_NAMES or name.startswith("._"):
        return Kind.LITTER
    if any(p.lower() in LITTER_FOLDERS for p in parts[:-1]):
        return Kind.LITTER
    ext = os.path.splitext(name)[1]
    if ext in IMAGE_EXTENSIONS:
        return Kind.IMAGE
    if ext in VIDEO_EXTENSIONS:
        return Kind.VIDEO
    return Kind.OTHER


@dataclass(frozen=True)
class FileEntry:
    rel_path: str  # '/'-separated, relative to the root, the name as stored on disk
    path: Path
    size: int
    mtime_ns: int
    kind: Kind

    @property
    def site(self) -> str:
        return site_of(self.rel_path)


def site_of(rel_path: str) -> str:
    """The top-level folder a file is in ("(top folder)" for files right in the root)."""
    return rel_path.split("/", 1)[0] if "/" in rel_path else "(top folder)"


ProblemFn = Callable[[str, str], None]


def _reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, FileNotFoundError):
        return "disappeared while being read"
    return e.strerror or str(e) or type(e).__name__


def iter_files(root: Path | str, *, follow_symlinks: bool = False, on_problem: ProblemFn | None = None
               ) -> Iterator[FileEntry]:
    """Every file under root, streamed. Problems go to on_problem(rel_path, reason)."""
    root = Path(root)
    report = on_problem or (lambda p, r: None)
    root_real = os.path.realpath(root)
    seen_dirs: set[tuple[int, int]] = set()
    try:
        st = os.stat(root)
        seen_dirs.add((st.st_dev, st.st_ino))
    except OSError as e:
        report(".", _reason(e))
        return
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        folder, rel = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda d: d.name)
        except OSError as e:
            report(rel or ".", _reason(e))
            continue
        subdirs: list[tuple[str, str]] = []
        for d in entries:
            rel_path = f"{rel}/{d.name}" if rel else d.name
            try:
                is_link = d.is_symlink()
                if is_link and not follow_symlinks:
                    yield FileEntry(rel_path, Path(d.path), 0, 0, Kind.SYMLINK)
                    continue
                if is_link:
                    target = os.path.realpath(d.path)
                    if os.path.commonpath([root_real, target]) != root_real:
                        report(rel_path, "symbolic link pointing outside the folder (not followed)")
                        yield FileEntry(rel_path, Path(d.path), 0, 0, Kind.SYMLINK)
                        continue
                st = d.stat(follow_symlinks=True)
            except OSError as e:
                report(rel_path, _reason(e))
                continue
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in seen_dirs:
                    report(rel_path, "folder already visited (a link loop); not walked again")
                    continue
                seen_dirs.add(key)
                subdirs.append((d.path, rel_path))
            elif stat.S_ISREG(st.st_mode):
                yield FileEntry(rel_path, Path(d.path), st.st_size, st.st_mtime_ns, classify(rel_path))
            else:
                report(rel_path, "not a regular file (device, pipe or socket); not sent")
        stack.extend(reversed(subdirs))  # depth-first, in name order


# ------------------------------------------------------------------------------------------------
# Summary
# ------------------------------------------------------------------------------------------------
@dataclass
class KindTotals:
    files: int = 0
    bytes: int = 0


@dataclass
class SiteTotals:
    site: str
    files: int = 0
    bytes: int = 0
    images: int = 0
    videos: int = 0
    upload_files: int = 0
    upload_bytes: int = 0


@dataclass
class SizeStats:
    """Sizes of the files that would be sent (images, videos and other; not litter)."""

    count: int = 0
    mean: float = 0.0
    median: int = 0
    p95: int = 0
    largest: list[tuple[int, str]] = field(default_factory=list)  # (bytes, rel_path), largest first


@dataclass
class ScanSummary:
    root: str
    files: int
    bytes: int
    kinds: dict[str, KindTotals]
    sites: list[SiteTotals]
    sizes: SizeStats
    other_extensions: dict[str, int]  # extension -> files ("(none)" for no extension)
    duplicate_names: int  # file names that occur in more than one folder (normal for camera traps)
    symlinks: int
    problems: list[tuple[str, str]]
    problems_total: int
    seconds: float
    size_histogram: list[tuple[int, int, int]] = field(default_factory=list)  # (low, high, files)

    def kind(self, k: Kind) -> KindTotals:
        return self.kinds.get(k.value, KindTotals())

    @property
    def upload_files(self) -> int:
        return sum(v.files for k, v in self.kinds.items() if k in ("image", "video", "other"))

    @property
    def upload_bytes(self) -> int:
        return sum(v.bytes for k, v in self.kinds.items() if k in ("image", "video", "other"))


class _Quantiles:
    """Log-spaced histogram: bounded memory, quantiles within 1% of the true value."""

    RATIO = math.log(1.01)

    def __init__(self) -> None:
        self.buckets: Counter[int] = Counter()
        self.zero = 0
        self.n = 0
        self.total = 0

    def add(self, size: int) -> None:
        self.n += 1
        self.total += size
        if size <= 0:
            self.zero += 1
        else:
            self.buckets[int(math.log(size) / self.RATIO)] += 1

    def quantile(self, q: float) -> int:
        if self.n == 0:
            return 0
        rank = q * (self.n - 1)
        seen = self.zero
        if rank < seen:
            return 0
        for b in sorted(self.buckets):
            seen += self.buckets[b]
            if rank < seen:
                return int(round(math.exp((b + 0.5) * self.RATIO)))
        return int(round(math.exp((max(self.buckets) + 0.5) * self.RATIO)))

    def histogram(self) -> list[tuple[int, int, int]]:
        """Files per power-of-two size band, for the report."""
        bands: Counter[int] = Counter()
        for b, n in self.buckets.items():
            size = math.exp((b + 0.5) * self.RATIO)
            bands[int(math.log2(max(size, 1)))] += n
        out = [(0, 1, self.zero)] if self.zero else []
        out += [(2 ** k, 2 ** (k + 1), bands[k]) for k in sorted(bands)]
        return out


def scan(root: Path | str, *, follow_symlinks: bool = False, progress: Callable[[int, int], None] | None = None,
         keep_problems: int = 1000, keep_largest: int = 10) -> ScanSummary:
    """Walk root and summarise it. progress(files, bytes) is called about four times a second."""
    root = Path(root)
    if not root.exists():
        raise BadInput(f"The folder {root} does not exist. Check the drive is plugged in and the path is right.")
    if not root.is_dir():
        raise BadInput(f"{root} is a file, not a folder. Give the folder that holds the images.")
    t0 = time.monotonic()
    problems: list[tuple[str, str]] = []
    problems_total = 0

    def on_problem(path: str, reason: str) -> None:
        nonlocal problems_total
        problems_total += 1
        if len(problems) < keep_problems:
            problems.append((path, reason))

    kinds: dict[str, KindTotals] = {}
    sites: dict[str, SiteTotals] = {}
    other_ext: Counter[str] = Counter()
    quant = _Quantiles()
    largest: list[tuple[int, str]] = []
    name_folders: dict[int, int] = {}  # hash(name) -> hash(first folder), or -1 once seen in a second folder
    duplicates = 0
    files = nbytes = symlinks = 0
    next_tick = t0 + 0.25
    for e in iter_files(root, follow_symlinks=follow_symlinks, on_problem=on_problem):
        if e.kind is Kind.SYMLINK:
            symlinks += 1
            continue
        files += 1
        nbytes += e.size
        kt = kinds.setdefault(e.kind.value, KindTotals())
        kt.files += 1
        kt.bytes += e.size
        site = sites.get(e.site) or sites.setdefault(e.site, SiteTotals(e.site))
        site.files += 1
        site.bytes += e.size
        if e.kind is Kind.IMAGE:
            site.images += 1
        elif e.kind is Kind.VIDEO:
            site.videos += 1
        if e.kind is not Kind.LITTER:
            site.upload_files += 1
            site.upload_bytes += e.size
            quant.add(e.size)
            if len(largest) < keep_largest:
                heapq.heappush(largest, (e.size, e.rel_path))
            elif e.size > largest[0][0]:
                heapq.heapreplace(largest, (e.size, e.rel_path))
            folder, _, name = e.rel_path.rpartition("/")
            hn, hf = _h64(name.lower()), _h64(folder)
            prev = name_folders.get(hn)
            if prev is None:
                name_folders[hn] = hf
            elif prev != -1 and prev != hf:
                name_folders[hn] = -1
                duplicates += 1
        if e.kind is Kind.OTHER:
            other_ext[os.path.splitext(e.rel_path)[1].lower() or "(none)"] += 1
        if progress is not None and files % 512 == 0:
            now = time.monotonic()
            if now >= next_tick:
                progress(files, nbytes)
                next_tick = now + 0.25
    if progress is not None:
        progress(files, nbytes)
    sizes = SizeStats(count=quant.n, mean=quant.total / quant.n if quant.n else 0.0, median=quant.quantile(0.5),
                      p95=quant.quantile(0.95), largest=sorted(largest, reverse=True))
    return ScanSummary(
        root=str(root.resolve()), files=files, bytes=nbytes, kinds=kinds,
        sites=sorted(sites.values(), key=lambda s: s.site), sizes=sizes, other_extensions=dict(other_ext.most_common()),
        duplicate_names=duplicates, symlinks=symlinks, problems=problems, problems_total=problems_total,
        seconds=time.monotonic() - t0, size_histogram=quant.histogram(),
    )


def _h64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
