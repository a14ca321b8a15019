"""Walk an image set: what is there, by type and by site, in bounded memory, about as fast as `du`.

- Iterative `os.scandir` walk (no recursion limit). On POSIX each folder is opened once and its
  files are `lstat`ed relative to that folder (`fstatat`), as `du` does, instead of resolving the
  whole path again for every file: on deep camera-trap trees that is a third of the kernel's work.
- `scan()` splits a large tree into subtrees walked by one worker process per core (where fork is
  available), merging their tallies: the per-file cost is system calls plus interpreter work that
  threads cannot overlap under the GIL. Folders are added up whole, with list operations that run
  in C, not a Python loop per file (benchmarks/scan_bench compares it with `du -sb`).
  `iter_files()` streams one folder at a time, sorted by name, so runs and journals are repeatable.
- Symbolic links are never followed by default; they are reported (kind SYMLINK), not dropped. With
  follow_symlinks, only links that stay inside the source folder are followed, and loops are cut.
  On Windows, junctions are treated as links (they are how Windows makes folder loops).
- A folder or file that cannot be read is reported through `on_problem(rel_path, reason)` and the
  walk goes on: nothing the user has is skipped silently. Only an unreadable *root* is an error,
  because an empty result would look like "the drive is empty" to the uploader.
- Memory stays bounded for millions of files: folders stream through one at a time (a few in flight
  when threaded); the summary keeps counters, a fixed log-spaced size histogram (quantiles within 1%,
  exact 1-2-5 size bins for the report), the largest files in a small heap and, for the duplicate-name
  count, one dictionary entry per distinct name up to `MAX_TRACKED_NAMES` (camera names repeat: a
  million-image set typically has only tens of thousands of distinct names).
"""

from __future__ import annotations

import heapq
import math
import os
import stat
import sys
import threading
import time
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from functools import partial
from itertools import compress, repeat
from operator import eq, itemgetter, ne
from pathlib import Path

from planner.errors import BadInput

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".gif", ".png", ".tif", ".tiff", ".bmp", ".webp", ".avif"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mpeg", ".mpg", ".mov", ".mkv", ".flv"})
LITTER_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
LITTER_FOLDERS = frozenset({"$recycle.bin", "system volume information", ".trashes", ".spotlight-v100",
                            ".fseventsd"})
TOP_FOLDER = "(top folder)"  # the "site" of files that sit right in the root
MAX_TRACKED_NAMES = 500_000  # distinct names remembered for the duplicate count (~50 MB at most)


class Kind(str, Enum):
    IMAGE = "image"
    VIDEO = "video"
    LITTER = "litter"
    OTHER = "other"
    SYMLINK = "symlink"  # a link that was not followed (reported, never sent)


# Kind codes used in the hot loop (list indexes are cheaper than enum members).
_IMAGE, _VIDEO, _LITTER, _OTHER, _CHECK = 0, 1, 2, 3, 4
_KINDS = (Kind.IMAGE, Kind.VIDEO, Kind.LITTER, Kind.OTHER)
_EXT_CODE: dict[str, int] = {
    **{e: _IMAGE for e in IMAGE_EXTENSIONS},
    **{e: _VIDEO for e in VIDEO_EXTENSIONS},
    **{os.path.splitext(n)[1]: _CHECK for n in LITTER_NAMES if not n.startswith(".")},  # .db, .ini
}


def _name_code(name: str) -> int:
    """Kind code of a file name (not its folders). Case-insensitive."""
    if name[:1] == ".":
        if name[:2] == "._" or name.lower() == ".ds_store":
            return _LITTER
    dot = name.rfind(".")
    if dot < 0:
        return _OTHER
    code = _EXT_CODE.get(name[dot:].lower(), _OTHER)
    if code == _CHECK:
        return _LITTER if name.lower() in LITTER_NAMES else _OTHER
    return code




_last5 = itemgetter(slice(-5, None))
_SUFFIX_CODE: dict[str, int] = {}  # raw last-5-characters -> kind code, when they decide it
_SUFFIX_CACHE_MAX = 4096


def _codes(names: list[str]) -> list[int]:
    """`_name_code` of every name, as whole-list operations that run in C (see scan).

    Most names' kind is decided by their last five characters (".JPG", "1.JPG", ".jpeg"), so those
    are looked up in a cache; names it cannot decide (no dot near the end, .db/.ini/.ds_store that
    are litter only under their exact names) and AppleDouble "._" names go one by one."""
    suffixes = list(map(_last5, names))
    codes = list(map(_SUFFIX_CODE.get, suffixes))
    if None in codes:
        for i, code in enumerate(codes):
            if code is None:
                codes[i] = _name_code(names[i])
                sfx = suffixes[i]
                dot = sfx.rfind(".")
                if dot >= 0 and len(_SUFFIX_CODE) < _SUFFIX_CACHE_MAX:
                    by_ext = _EXT_CODE.get(sfx[dot:].lower(), _OTHER)
                    if by_ext != _CHECK:  # what the suffix alone says (never a name-based verdict)
                        _SUFFIX_CODE[sfx] = by_ext
    if "/._" in "/" + "/".join(names):
        for i, name in enumerate(names):
            if name[:2] == "._":
                codes[i] = _LITTER
    return codes  # type: ignore[return-value]


def is_litter_folder(name: str) -> bool:
    return name.lower() in LITTER_FOLDERS


def classify(rel_path: str) -> Kind:
    """Kind of a file from its '/'-separated path relative to the set's root (case-insensitive).

    Litter: Thumbs.db, desktop.ini, .DS_Store, AppleDouble `._*` files, and anything inside
    $RECYCLE.BIN, System Volume Information, .Trashes, .Spotlight-V100 or .fseventsd at any depth.
    """
    parts = rel_path.replace("\\", "/").split("/")
    if any(is_litter_folder(p) for p in parts[:-1]):
        return Kind.LITTER
    return _KINDS[_name_code(parts[-1])]


def site_of(rel_path: str) -> str:
    """The top-level folder a file is in ("(top folder)" for files right in the root)."""
    return rel_path.split("/", 1)[0] if "/" in rel_path else TOP_FOLDER


@dataclass(frozen=True, slots=True)
class FileEntry:
    rel_path: str  # '/'-separated, relative to the root, the name exactly as stored on disk
    path: Path
    size: int
    mtime_ns: int
    kind: Kind

    @property
    def site(self) -> str:
        return site_of(self.rel_path)


ProblemFn = Callable[[str, str], None]


# Problems that are a rule, not a failure: the entry was looked at and deliberately not walked or sent.
_BY_RULE = ("folder already visited (a link loop)", "not a regular file (device, pipe or socket)",
            "symbolic link pointing outside the folder", "broken symbolic link")


def is_read_failure(reason: str) -> bool:
    """True when a scan problem means data in the set could not be read (it must not pass silently)."""
    return not reason.startswith(_BY_RULE)


def _reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, FileNotFoundError):
        return "disappeared while being read"
    return (e.strerror or str(e) or type(e).__name__).lower()


# ------------------------------------------------------------------------------------------------
# Listing one folder
# ------------------------------------------------------------------------------------------------
# POSIX: open the folder and stat its files relative to it (fstatat), as du does. Windows has no
# scandir(fd), and its scandir already carries sizes without a stat per file.
_USE_FD = os.scandir in os.supports_fd and hasattr(os, "O_DIRECTORY")
_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_WINDOWS = sys.platform == "win32"
_REPARSE_POINT = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT


@dataclass(slots=True)
class _Listing:
    """One folder's direct contents. Files are three parallel lists (cheaper than a tuple each)."""

    rel: str  # the folder, '/'-separated, '' for the root
    path: str  # its OS path
    litter: bool  # inside a litter folder ($RECYCLE.BIN, ...): every file in it is litter
    names: list[str] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    mtimes: list[int] = field(default_factory=list)  # ns
    links: list[str] = field(default_factory=list)  # names of links not followed
    dirs: list[tuple[str, str, bool]] = field(default_factory=list)  # (rel, path, litter) to walk next
    problems: list[tuple[str, str]] = field(default_factory=list)  # (rel_path, reason)


def source_folder(folder: Path | str) -> Path:
    """The folder the user named, checked: one plain error for missing, a file, or an unusable name."""
    path = Path(folder).expanduser()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as e:  # e.g. a name too long for this system: the user's path, not a bug
        raise BadInput(f"The folder {path} cannot be opened ({e.strerror or e}). Check the path.") from None
    if not exists:
        raise BadInput(f"The folder {path} does not exist. Check the drive is plugged in and the path is right.")
    if not is_dir:
        raise BadInput(f"{path} is a file, not a folder. Give the folder that holds the images.")
    return path


class _Walker:
    """Lists folders; shared by iter_files (one thread) and scan (several)."""

    def __init__(self, root: Path | str, follow_symlinks: bool) -> None:
        root_path = source_folder(root)
        self.root = str(root_path)
        self.follow = follow_symlinks
        self.root_real = os.path.realpath(self.root)
        self._seen: set[tuple[int, int]] = set()
        self._lock = threading.Lock()
        if follow_symlinks:
            st = os.stat(self.root)
            self._seen.add((st.st_dev, st.st_ino))
        try:  # an unreadable root is an error, not an empty set
            with os.scandir(self.root) as it:
                for _ in it:
                    break
        except OSError as e:
            raise BadInput(f"Cannot read the folder {root_path} ({_reason(e)}). Check you may open it, "
                           "e.g. in your file browser, and try again.") from None

    def first(self) -> _Listing:
        return _Listing("", self.root, False)

    def _first_visit(self, st: os.stat_result) -> bool:
        key = (st.st_dev, st.st_ino)
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def list(self, job: _Listing) -> _Listing:
        """Fill `job` with the folder's files, links, subfolders and problems. (A plain loop: listing
        all entries first and stat-ing them with map() measured ~10% slower.)"""
        fd = -1
        try:
            if _USE_FD:
                fd = os.open(job.path, _DIR_FLAGS)
                it = os.scandir(fd)
            else:
                it = os.scandir(job.path)
        except OSError as e:
            if fd >= 0:
                os.close(fd)
            job.problems.append((job.rel or ".", _reason(e)))
            return job
        add_name, add_size, add_mtime = job.names.append, job.sizes.append, job.mtimes.append
        try:
            with it:
                for e in it:
                    try:
                        if e.is_file(follow_symlinks=False):
                            st = e.stat(follow_symlinks=False)  # fstatat on POSIX: the fd is open
                            add_name(e.name)
                            add_size(st.st_size)
                            add_mtime(st.st_mtime_ns)
                        else:
                            self._one_by_one(job, (e,))
                    except OSError as exc:
                        job.problems.append((job.rel + "/" + e.name if job.rel else e.name, _reason(exc)))
        except OSError as exc:  # the folder itself failed part-way (I/O error, drive unplugged)
            job.problems.append((job.rel or ".", f"could not read the whole folder: {_reason(exc)}"))
        finally:
            if fd >= 0:
                os.close(fd)
        return job

    def _one_by_one(self, job: _Listing, entries: Iterable[os.DirEntry]) -> None:
        """Entries that are not plain regular files: folders, links, devices."""
        prefix = job.rel + "/" if job.rel else ""
        base = job.path if job.path.endswith(os.sep) else job.path + os.sep
        for e in entries:
            name = e.name
            try:
                if e.is_file(follow_symlinks=False):
                    st = e.stat(follow_symlinks=False)
                    job.names.append(name)
                    job.sizes.append(st.st_size)
                    job.mtimes.append(st.st_mtime_ns)
                elif e.is_dir(follow_symlinks=False):
                    if _WINDOWS and e.stat(follow_symlinks=False).st_file_attributes & _REPARSE_POINT:
                        job.links.append(name)  # a junction: Windows' way to make folder loops
                    elif self.follow and not self._first_visit(os.stat(base + name)):
                        job.problems.append((prefix + name, "folder already visited (a link loop); not walked again"))
                    else:
                        job.dirs.append((prefix + name, base + name, job.litter or is_litter_folder(name)))
                elif e.is_symlink():
                    if self.follow:
                        self._follow(prefix + name, base + name, job, e)
                    else:
                        job.links.append(name)
                else:
                    job.problems.append((prefix + name, "not a regular file (device, pipe or socket); not sent"))
            except OSError as exc:
                job.problems.append((prefix + name, _reason(exc)))

    def _follow(self, rel_path: str, path: str, job: _Listing, e: os.DirEntry) -> None:
        target = os.path.realpath(path)
        if os.path.commonpath([self.root_real, target]) != self.root_real:
            job.problems.append((rel_path, "symbolic link pointing outside the folder (not followed)"))
            job.links.append(e.name)
            return
        try:
            st = os.stat(path)
        except OSError as exc:
            job.problems.append((rel_path, f"broken symbolic link ({_reason(exc)})"))
            return
        if stat.S_ISDIR(st.st_mode):
            if not self._first_visit(st):
                job.problems.append((rel_path, "folder already visited (a link loop); not walked again"))
            else:
                job.dirs.append((rel_path, path, job.litter or is_litter_folder(e.name)))
        elif stat.S_ISREG(st.st_mode):
            job.names.append(e.name)
            job.sizes.append(st.st_size)
            job.mtimes.append(st.st_mtime_ns)
        else:
            job.problems.append((rel_path, "not a regular file (device, pipe or socket); not sent"))

    def walk(self, *, ordered: bool) -> Iterator[_Listing]:
        """Folders depth-first in name order, one listing at a time."""
        stack = [self.first()]
        while stack:
            job = self.list(stack.pop())
            if ordered:
                if job.names:
                    order = sorted(range(len(job.names)), key=job.names.__getitem__)
                    job.names = [job.names[i] for i in order]
                    job.sizes = [job.sizes[i] for i in order]
                    job.mtimes = [job.mtimes[i] for i in order]
                job.links.sort()
                job.dirs.sort(reverse=True)  # popped from the end: name order
            yield job
            stack.extend(_Listing(r, p, lit) for r, p, lit in job.dirs)


def iter_files(root: Path | str, *, follow_symlinks: bool = False, on_problem: ProblemFn | None = None
               ) -> Iterator[FileEntry]:
    """Every file under root, streamed folder by folder in name order; links not followed come out as
    kind SYMLINK. Problems go to on_problem(rel_path, reason). Raises BadInput (on the first `next`)
    when root is missing, a file, or cannot be read."""
    walker = _Walker(root, follow_symlinks)
    report = on_problem or (lambda p, r: None)
    join = os.path.join
    for job in walker.walk(ordered=True):
        prefix = job.rel + "/" if job.rel else ""
        for rel_path, reason in job.problems:
            report(rel_path, reason)
        litter = job.litter
        for name, size, mtime_ns in zip(job.names, job.sizes, job.mtimes):
            kind = _KINDS[_LITTER if litter else _name_code(name)]
            yield FileEntry(prefix + name, Path(join(job.path, name)), size, mtime_ns, kind)
        for name in job.links:
            yield FileEntry(prefix + name, Path(join(job.path, name)), 0, 0, Kind.SYMLINK)


# ------------------------------------------------------------------------------------------------
# Summary
# ------------------------------------------------------------------------------------------------
@dataclass
class KindTotals:
    files: int = 0
    bytes: int = 0


@dataclass
class SiteTotals:
    """One top-level folder ("site"). upload_* = everything but litter."""

    site: str
    files: int = 0
    bytes: int = 0
    images: int = 0
    videos: int = 0
    upload_files: int = 0
    upload_bytes: int = 0
    image_bytes: int = 0
    video_bytes: int = 0
    litter: int = 0
    litter_bytes: int = 0


@dataclass
class SizeStats:
    """Sizes of the files that would be sent (images, videos and other; not litter).

    median and p95 come from a log-spaced histogram and are within 1% of the exact value; mean and
    largest are exact."""

    count: int = 0
    mean: float = 0.0
    median: int = 0
    p95: int = 0
    smallest: int = 0
    largest: list[tuple[int, str]] = field(default_factory=list)  # (bytes, rel_path), largest first


@dataclass
class ScanSummary:
    root: str
    files: int  # every regular file, litter included
    bytes: int
    kinds: dict[str, KindTotals]  # "image", "video", "litter", "other"
    sites: list[SiteTotals]  # by name
    sizes: SizeStats
    other_extensions: dict[str, int]  # extension -> files ("(none)" for no extension), most first
    duplicate_names: int  # distinct file names found in more than one folder (normal for camera traps)
    symlinks: int  # links not followed (or pointing outside the folder)
    problems: list[tuple[str, str]]  # (rel_path, reason), the first `keep_problems` in path order
    problems_total: int
    seconds: float
    size_histogram: list[tuple[int, int, int]] = field(default_factory=list)  # 1-2-5 bins (low, high, files)
    duplicate_name_files: int = 0  # files whose name is also used in another folder
    duplicate_examples: list[tuple[str, int]] = field(default_factory=list)  # (name, folders), most used first
    duplicates_exact: bool = True  # False when more than MAX_TRACKED_NAMES distinct names: counts are a minimum
    folders: int = 0
    other_extension_bytes: dict[str, int] = field(default_factory=dict)

    def kind(self, k: Kind) -> KindTotals:
        return self.kinds.get(k.value, KindTotals())

    @property
    def upload_files(self) -> int:
        return sum(v.files for k, v in self.kinds.items() if k in ("image", "video", "other"))

    @property
    def upload_bytes(self) -> int:
        return sum(v.bytes for k, v in self.kinds.items() if k in ("image", "video", "other"))


def _size_edges() -> list[int]:
    """Histogram bin edges: every integer up to 100, then steps of at most 1%, plus every 1-2-5 edge
    (1 kB, 2 kB, 5 kB, 10 kB, ...) so the report's bins are sums of whole bins. Up to 100 TB."""
    edges = set(range(1, 101))
    x = 100.0
    while x < 1e14:
        x *= 1.01
        edges.add(int(x))
    decade = 1000
    while decade <= 10**14:
        edges.update((decade, 2 * decade, 5 * decade))
        decade *= 10
    return sorted(edges)


_EDGES = _size_edges()
_bin_of = partial(bisect_right, _EDGES)


class SizeHistogram:
    """Counts of sizes in fixed log-spaced bins (bounded memory). Bin i holds [edge[i-1], edge[i])."""

    def __init__(self) -> None:
        self.edges = _EDGES
        self.counts = [0] * (len(_EDGES) + 1)
        self.n = 0

    def add(self, size: int) -> None:
        self.counts[bisect_right(self.edges, size)] += 1
        self.n += 1

    def _bounds(self, i: int) -> tuple[int, int]:
        low = self.edges[i - 1] if i > 0 else 0
        high = self.edges[i] if i < len(self.edges) else max(low * 2, low + 1)
        return low, high

    def quantile(self, q: float) -> int:
        """The q-quantile (0..1) by the nearest-rank rule, interpolated inside its bin."""
        if self.n == 0:
            return 0
        rank = min(self.n, max(1, math.ceil(q * self.n)))
        seen = 0
        for i, c in enumerate(self.counts):
            if c and seen + c >= rank:
                low, high = self._bounds(i)
                if high - low <= 1:
                    return low
                return int(low + (high - 1 - low) * (rank - seen - 0.5) / c)
            seen += c
        raise AssertionError("unreachable")

    def bins_125(self) -> list[tuple[int, int, int]]:
        """Files per 1-2-5 bin (below 1 kB, 1-2 kB, 2-5 kB, 5-10 kB, ...), from the first to the last
        non-empty one, empty bins between kept. Exact: every 1-2-5 edge is a histogram edge."""
        out: list[tuple[int, int, int]] = []
        edges125 = [0] + [e for e in self.edges if e >= 1000 and str(e).rstrip("0") in ("1", "2", "5")]
        j = 0
        totals = [0] * len(edges125)
        for i, c in enumerate(self.counts):
            if not c:
                continue
            low, _ = self._bounds(i)
            while j + 1 < len(edges125) and edges125[j + 1] <= low:
                j += 1
            totals[j] += c
        used = [k for k, t in enumerate(totals) if t]
        if not used:
            return out
        for k in range(used[0], used[-1] + 1):
            high = edges125[k + 1] if k + 1 < len(edges125) else edges125[k] * 2
            out.append((edges125[k], high, totals[k]))
        return out


class _Tally:
    """Running totals of a walk. Folders are added whole; two tallies of disjoint parts of a tree
    merge into the tally of both (how the worker processes' results come together)."""

    def __init__(self, keep_largest: int, keep_problems: int) -> None:
        self.keep_largest = keep_largest
        self.keep_problems = keep_problems
        self.n_files = [0, 0, 0, 0]
        self.n_bytes = [0, 0, 0, 0]
        self.sites: dict[str, SiteTotals] = {}
        self.other_ext: Counter[str] = Counter()
        self.other_ext_bytes: Counter[str] = Counter()
        self.hist = [0] * (len(_EDGES) + 1)
        self.largest: list[tuple[int, str]] = []  # a min-heap of (size, rel_path)
        self.largest_min = -1  # the smallest size that could still enter `largest`
        self.smallest = -1
        self.names: Counter[str] = Counter()  # name -> folders holding it (names are unique in a folder)
        self.names_full = False
        self.problems: list[tuple[str, str]] = []
        self.problems_total = 0
        self.symlinks = 0
        self.folders = 0
        self.files = 0
        self.bytes = 0

    def add(self, job: _Listing) -> None:
        self.folders += 1
        if job.problems:
            self._add_problems(job.problems, len(job.problems))
        self.symlinks += len(job.links)
        names = job.names
        if not names:
            return
        rel = job.rel
        # Whole-folder operations run in C (map/filter/Counter over lists): the per-file cost of a
        # Python loop would be most of the scan's time on million-file sets.
        sizes = job.sizes
        n = len(names)
        c = [0, 0, 0, 0]
        b = [0, 0, 0, 0]
        codes: list[int] = []
        if job.litter:
            c[_LITTER], b[_LITTER] = n, sum(sizes)
        else:
            codes = _codes(names)
            if codes.count(codes[0]) == n:
                k = codes[0]
                c[k], b[k] = n, sum(sizes)
            else:
                for k in range(4):
                    c[k] = codes.count(k)
                    if c[k]:
                        b[k] = sum(compress(sizes, map(eq, codes, repeat(k))))
        if c[_LITTER] != n:
            if c[_LITTER]:
                keep = list(map(ne, codes, repeat(_LITTER)))
                up_names = list(compress(names, keep))
                up_sizes = list(compress(sizes, keep))
            else:
                up_names, up_sizes = names, sizes
            hist = self.hist
            for i, count in Counter(map(_bin_of, up_sizes)).items():
                hist[i] += count
            low = min(up_sizes)
            if low < self.smallest or self.smallest < 0:
                self.smallest = low
            if max(up_sizes) >= self.largest_min:
                prefix = rel + "/" if rel else ""
                self._offer_largest((size, prefix + name)
                                    for size, name in heapq.nlargest(self.keep_largest, zip(up_sizes, up_names)))
            if not self.names_full:
                self.names.update(up_names)
                self.names_full = len(self.names) >= MAX_TRACKED_NAMES
            else:  # only names already known are counted from here on
                self.names.update(filter(self.names.__contains__, up_names))
            if c[_OTHER]:
                for name, size, code in zip(names, sizes, codes):
                    if code == _OTHER:
                        dot = name.rfind(".")
                        ext = name[dot:].lower() if dot >= 0 else "(none)"
                        self.other_ext[ext] += 1
                        self.other_ext_bytes[ext] += size
        site_name = rel.split("/", 1)[0] if rel else TOP_FOLDER
        site = self.sites.get(site_name)
        if site is None:
            site = self.sites[site_name] = SiteTotals(site_name)
        bytes_here = b[0] + b[1] + b[2] + b[3]
        site.files += n
        site.bytes += bytes_here
        site.images += c[_IMAGE]
        site.image_bytes += b[_IMAGE]
        site.videos += c[_VIDEO]
        site.video_bytes += b[_VIDEO]
        site.litter += c[_LITTER]
        site.litter_bytes += b[_LITTER]
        site.upload_files += n - c[_LITTER]
        site.upload_bytes += bytes_here - b[_LITTER]
        for k in range(4):
            self.n_files[k] += c[k]
            self.n_bytes[k] += b[k]
        self.files += n
        self.bytes += bytes_here

    def _add_problems(self, problems: list[tuple[str, str]], total: int) -> None:
        self.problems_total += total
        self.problems.extend(problems)
        if len(self.problems) > 4 * self.keep_problems:
            self.problems = sorted(self.problems)[:self.keep_problems]

    def _offer_largest(self, items: Iterable[tuple[int, str]]) -> None:
        """Offer candidates, largest first (stops at the first that does not get in)."""
        largest = self.largest
        for item in items:
            if len(largest) < self.keep_largest:
                heapq.heappush(largest, item)
            elif item > largest[0]:
                heapq.heapreplace(largest, item)
            else:
                break
        if len(largest) == self.keep_largest:
            self.largest_min = largest[0][0]

    def merge(self, other: _Tally) -> None:
        for k in range(4):
            self.n_files[k] += other.n_files[k]
            self.n_bytes[k] += other.n_bytes[k]
        for name, o in other.sites.items():
            mine = self.sites.get(name)
            if mine is None:
                self.sites[name] = o
            else:
                for f in ("files", "bytes", "images", "videos", "upload_files", "upload_bytes", "image_bytes",
                          "video_bytes", "litter", "litter_bytes"):
                    setattr(mine, f, getattr(mine, f) + getattr(o, f))
        self.other_ext.update(other.other_ext)
        self.other_ext_bytes.update(other.other_ext_bytes)
        self.hist = list(map(int.__add__, self.hist, other.hist))
        self._offer_largest(sorted(other.largest, reverse=True))
        if other.smallest >= 0 and (self.smallest < 0 or other.smallest < self.smallest):
            self.smallest = other.smallest
        self.names.update(other.names)
        self.names_full = self.names_full or other.names_full or len(self.names) >= MAX_TRACKED_NAMES
        self._add_problems(other.problems, other.problems_total)
        self.symlinks += other.symlinks
        self.folders += other.folders
        self.files += other.files
        self.bytes += other.bytes

    def summary(self, root: str, seconds: float) -> ScanSummary:
        hist = SizeHistogram()
        hist.counts = self.hist
        hist.n = sum(self.hist)
        nf, nb = self.n_files, self.n_bytes
        upload_n = nf[_IMAGE] + nf[_VIDEO] + nf[_OTHER]
        upload_b = nb[_IMAGE] + nb[_VIDEO] + nb[_OTHER]
        sizes = SizeStats(count=upload_n, mean=upload_b / upload_n if upload_n else 0.0,
                          median=hist.quantile(0.5), p95=hist.quantile(0.95), smallest=max(self.smallest, 0),
                          largest=sorted(self.largest, reverse=True))
        repeated = [(n, name) for name, n in self.names.items() if n > 1]
        examples = heapq.nlargest(5, repeated)
        return ScanSummary(
            root=root, files=self.files, bytes=self.bytes,
            kinds={_KINDS[k].value: KindTotals(nf[k], nb[k]) for k in range(4) if nf[k]},
            sites=sorted(self.sites.values(), key=lambda s: s.site), sizes=sizes,
            other_extensions=dict(self.other_ext.most_common()), duplicate_names=len(repeated),
            symlinks=self.symlinks, problems=sorted(self.problems)[:self.keep_problems],
            problems_total=self.problems_total, seconds=seconds, size_histogram=hist.bins_125(),
            duplicate_name_files=sum(n for n, _ in repeated), duplicate_examples=[(name, n) for n, name in examples],
            duplicates_exact=not self.names_full, folders=self.folders,
            other_extension_bytes=dict(self.other_ext_bytes),
        )


# ------------------------------------------------------------------------------------------------
# Several processes (POSIX with fork): the walk is mostly system calls and interpreter work per
# file, which threads cannot overlap (measured: two threads were 15% *slower* than one under the
# GIL), so large trees are split into subtrees walked by worker processes.
# ------------------------------------------------------------------------------------------------
_CAN_FORK = sys.platform.startswith("linux")  # macOS: fork is unsafe with system frameworks; Windows: none
SUBTREES_PER_WORKER = 8  # enough pieces that one big camera folder does not leave a core idle


def default_workers() -> int:
    """Processes scan() uses: one per core, at most 4 (a USB drive gives nothing more), 1 without fork."""
    if not _CAN_FORK:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def _worker_init() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool, no tracebacks


def _tally_subtree(args: tuple[str, str, bool, int, int]) -> _Tally:
    """Walk one subtree in a worker process (no loop detection needed: links are not followed)."""
    path, rel, litter, keep_largest, keep_problems = args
    walker = _Walker.__new__(_Walker)
    walker.follow = False
    tally = _Tally(keep_largest, keep_problems)
    stack = [_Listing(rel, path, litter)]
    while stack:
        job = walker.list(stack.pop())
        tally.add(job)
        stack.extend(_Listing(r, p, lit) for r, p, lit in job.dirs)
    return tally


def scan(root: Path | str, *, follow_symlinks: bool = False, progress: Callable[[int, int], None] | None = None,
         keep_problems: int = 1000, keep_largest: int = 10, workers: int | None = None,
         clock: Callable[[], float] = time.monotonic) -> ScanSummary:
    """Walk root and summarise it. Raises BadInput for a missing, file or unreadable root; everything
    else that cannot be read is listed in `problems`.

    progress(files, bytes) is called from this thread at most about four times a second and once at
    the end. workers: processes to walk with (default `default_workers()`; 1 = this process only).
    One process is used anyway when following links (loop detection needs one memory) and when
    other threads are running (forking them is unsafe).
    """
    t0 = clock()
    walker = _Walker(root, follow_symlinks)
    tally = _Tally(keep_largest, keep_problems)
    next_tick = t0 + 0.25

    def tick(force: bool = False) -> None:
        nonlocal next_tick
        if progress is None:
            return
        now = clock()
        if force or now >= next_tick:
            progress(tally.files, tally.bytes)
            next_tick = now + 0.25

    n = default_workers() if workers is None else max(1, workers)
    # fork only from a single-threaded process: a thread holding a lock at fork time can deadlock the child
    if n > 1 and not follow_symlinks and _CAN_FORK and threading.active_count() == 1:
        frontier = _expand(walker, tally, n * SUBTREES_PER_WORKER)
        tick()
        if frontier:
            _tally_in_workers(frontier, tally, n, tick)
    else:
        for job in walker.walk(ordered=False):
            tally.add(job)
            tick()
    tick(force=True)
    return tally.summary(str(Path(root).resolve()), clock() - t0)


def _expand(walker: _Walker, tally: _Tally, pieces: int) -> list[_Listing]:
    """List folders breadth-first here until there are `pieces` unlisted subtrees (or none left)."""
    from collections import deque

    frontier = deque([walker.first()])
    while frontier and len(frontier) < pieces:
        job = walker.list(frontier.popleft())
        tally.add(job)
        frontier.extend(_Listing(r, p, lit) for r, p, lit in job.dirs)
    return list(frontier)


def _tally_in_workers(frontier: list[_Listing], tally: _Tally, n: int, tick: Callable[[], None]) -> None:
    import multiprocessing

    args = [(job.path, job.rel, job.litter, tally.keep_largest, tally.keep_problems) for job in frontier]
    try:
        pool = multiprocessing.get_context("fork").Pool(min(n, len(args)), initializer=_worker_init)
    except (OSError, ValueError):  # no fork here after all (sandbox, no /dev/shm): walk them here
        for a in args:
            tally.merge(_tally_subtree(a))
            tick()
        return
    try:
        for part in pool.imap_unordered(_tally_subtree, args):
            tally.merge(part)
            tick()
    finally:
        pool.terminate()
        pool.join()
