"""Running totals of a walk, added up a whole folder at a time, and merged across worker processes."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable
from itertools import compress, repeat
from operator import eq, ne

from planner.scan.histogram import SIZE_EDGES, SizeHistogram, size_bin
from planner.scan.kinds import CODE_IMAGE, CODE_LITTER, CODE_OTHER, CODE_VIDEO, KINDS, TOP_FOLDER, name_codes
from planner.scan.namecheck import refused_names, twin_reason, twins
from planner.scan.summary import KindTotals, ScanSummary, SiteTotals, SizeStats
from planner.scan.walk import Listing

MAX_TRACKED_NAMES = 500_000  # distinct names remembered for the duplicate count (~50 MB at most)
NAME_EXAMPLES = 5  # names that cannot go up kept as examples, per kind (image, video, other, folder)
CODE_FOLDER = 4  # in the refused-name counts: a twin folder


class Tally:
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
        self.hist = [0] * (len(SIZE_EDGES) + 1)
        self.largest: list[tuple[int, str]] = []  # a min-heap of (size, rel_path)
        self.largest_min = -1  # the smallest size that could still enter `largest`
        self.smallest = -1
        self.names: Counter[str] = Counter()  # name -> folders holding it (names are unique in a folder)
        self.names_full = False
        self.problems: list[tuple[str, str]] = []
        self.problems_total = 0
        self.refused = [0] * 5  # names that cannot go up, by code (CODE_FOLDER: twin folders)
        self.refused_examples: list[tuple[str, str, int]] = []  # (rel_path, reason, code)
        self.symlinks = 0
        self.folders = 0
        self.files = 0
        self.bytes = 0

    def add(self, job: Listing) -> None:
        self.folders += 1
        if job.problems:
            self._add_problems(job.problems, len(job.problems))
        self.symlinks += len(job.links)
        if len(job.dirs) > 1:
            self._check_folders(job.dirs)
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
            c[CODE_LITTER], b[CODE_LITTER] = n, sum(sizes)
        else:
            codes = name_codes(names)
            if codes.count(codes[0]) == n:
                k = codes[0]
                c[k], b[k] = n, sum(sizes)
            else:
                for k in range(4):
                    c[k] = codes.count(k)
                    if c[k]:
                        b[k] = sum(compress(sizes, map(eq, codes, repeat(k))))
        if c[CODE_LITTER] != n:
            if c[CODE_LITTER]:
                keep = list(map(ne, codes, repeat(CODE_LITTER)))
                up_names = list(compress(names, keep))
                up_sizes = list(compress(sizes, keep))
                self._check_names(rel, up_names, list(compress(codes, keep)))
            else:
                up_names, up_sizes = names, sizes
                self._check_names(rel, names, codes)
            hist = self.hist
            for i, count in Counter(map(size_bin, up_sizes)).items():
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
            if c[CODE_OTHER]:
                self._add_other(names, sizes, codes)
        site_name = rel.split("/", 1)[0] if rel else TOP_FOLDER
        site = self.sites.get(site_name)
        if site is None:
            site = self.sites[site_name] = SiteTotals(site_name)
        bytes_here = b[0] + b[1] + b[2] + b[3]
        site.files += n
        site.bytes += bytes_here
        site.images += c[CODE_IMAGE]
        site.image_bytes += b[CODE_IMAGE]
        site.videos += c[CODE_VIDEO]
        site.video_bytes += b[CODE_VIDEO]
        site.litter += c[CODE_LITTER]
        site.litter_bytes += b[CODE_LITTER]
        site.upload_files += n - c[CODE_LITTER]
        site.upload_bytes += bytes_here - b[CODE_LITTER]
        for k in range(4):
            self.n_files[k] += c[k]
            self.n_bytes[k] += b[k]
        self.files += n
        self.bytes += bytes_here

    def _add_other(self, names: list[str], sizes: list[int], codes: list[int]) -> None:
        for name, size, code in zip(names, sizes, codes):
            if code == CODE_OTHER:
                dot = name.rfind(".")
                ext = name[dot:].lower() if dot >= 0 else "(none)"
                self.other_ext[ext] += 1
                self.other_ext_bytes[ext] += size

    def _check_names(self, rel: str, names: list[str], codes: list[int]) -> None:
        """Count the files to send (names, their kind codes) whose names cannot go up as they are."""
        found = refused_names(rel, names)
        bad = {i for i, _ in found}
        found += [(i, twin_reason(names[i], names[j])) for i, j in twins(names) if i not in bad]
        if found:
            prefix = rel + "/" if rel else ""
            self._add_refused([(prefix + names[i], why, codes[i]) for i, why in found])

    def _check_folders(self, dirs: list[tuple[str, str, bool]]) -> None:
        """Count the twin folders among these (rel, path, litter): their files would go into one folder."""
        rels = [r for r, _, litter in dirs if not litter]
        names = [r.rsplit("/", 1)[-1] for r in rels]
        pairs = twins(names)
        if pairs:
            self._add_refused([(rels[i], twin_reason(names[i], names[j], "folder"), CODE_FOLDER) for i, j in pairs])

    def _add_refused(self, found: list[tuple[str, str, int]]) -> None:
        for _, _, code in found:
            self.refused[code] += 1
        self.refused_examples.extend(found)
        if len(self.refused_examples) > 8 * NAME_EXAMPLES:
            self._trim_refused()

    def _trim_refused(self) -> None:
        """Keep the first NAME_EXAMPLES of each kind, in path order (the same whatever the walk's order)."""
        kept, per = [], [0] * 5
        for item in sorted(self.refused_examples):
            if per[item[2]] < NAME_EXAMPLES:
                per[item[2]] += 1
                kept.append(item)
        self.refused_examples = kept

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

    def merge(self, other: Tally) -> None:
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
        self.refused = list(map(int.__add__, self.refused, other.refused))
        self.refused_examples.extend(other.refused_examples)
        self._trim_refused()
        self.symlinks += other.symlinks
        self.folders += other.folders
        self.files += other.files
        self.bytes += other.bytes

    def summary(self, root: str, seconds: float) -> ScanSummary:
        hist = SizeHistogram()
        hist.counts = self.hist
        hist.n = sum(self.hist)
        nf, nb = self.n_files, self.n_bytes
        upload_n = nf[CODE_IMAGE] + nf[CODE_VIDEO] + nf[CODE_OTHER]
        upload_b = nb[CODE_IMAGE] + nb[CODE_VIDEO] + nb[CODE_OTHER]
        sizes = SizeStats(count=upload_n, mean=upload_b / upload_n if upload_n else 0.0,
                          median=hist.quantile(0.5), p95=hist.quantile(0.95), smallest=max(self.smallest, 0),
                          largest=sorted(self.largest, reverse=True))
        repeated = [(n, name) for name, n in self.names.items() if n > 1]
        examples = heapq.nlargest(5, repeated)
        return ScanSummary(
            root=root, files=self.files, bytes=self.bytes,
            kinds={KINDS[k].value: KindTotals(nf[k], nb[k]) for k in range(4) if nf[k]},
            sites=sorted(self.sites.values(), key=lambda s: s.site), sizes=sizes,
            other_extensions=dict(self.other_ext.most_common()), duplicate_names=len(repeated),
            symlinks=self.symlinks, problems=sorted(self.problems)[:self.keep_problems],
            problems_total=self.problems_total, seconds=seconds, size_histogram=hist.bins_125(),
            duplicate_name_files=sum(n for n, _ in repeated), duplicate_examples=[(name, n) for n, name in examples],
            duplicates_exact=not self.names_full, folders=self.folders,
            other_extension_bytes=dict(self.other_ext_bytes), **self._refused_fields(),
        )

    def _refused_fields(self) -> dict:
        self._trim_refused()
        kind = [*(k.value for k in KINDS), "folder"]
        return {"names_refused": sum(self.refused),
                "names_refused_images": self.refused[CODE_IMAGE] + self.refused[CODE_FOLDER],
                "names_refused_examples": [(path, why, kind[code]) for path, why, code in self.refused_examples]}
