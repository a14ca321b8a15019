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

Where each part lives: `kinds` (what a name is, which site), `walk` (listing folders, `iter_files`),
`tally` (running totals, added a folder at a time), `histogram` (sizes in bounded memory),
`summary` (the result dataclasses), `parallel` (`scan()`, over worker processes).
"""

from planner.scan.histogram import SizeHistogram
from planner.scan.kinds import (IMAGE_EXTENSIONS, LITTER_FOLDERS, LITTER_NAMES, TOP_FOLDER, VIDEO_EXTENSIONS, Kind,
                                classify, is_litter_folder, site_of)
from planner.scan.parallel import default_workers, scan
from planner.scan.summary import KindTotals, ScanSummary, SiteTotals, SizeStats
from planner.scan.walk import FileEntry, ProblemFn, is_read_failure, iter_files, source_folder

__all__ = [
    "IMAGE_EXTENSIONS", "LITTER_FOLDERS", "LITTER_NAMES", "TOP_FOLDER", "VIDEO_EXTENSIONS", "FileEntry", "Kind",
    "KindTotals", "ProblemFn", "ScanSummary", "SiteTotals", "SizeHistogram", "SizeStats", "classify",
    "default_workers", "is_litter_folder", "is_read_failure", "iter_files", "scan", "site_of", "source_folder",
]
