"""What a scan found: the result dataclasses (totals by kind and by site, sizes, the summary)."""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.scan.kinds import Kind


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
    # Names that cannot go up as they are (planner.names' rules on the blob name upload would use, and
    # NFC/NFD twins): files that would be sent, plus twin folders. Upload refuses to start while any remain.
    names_refused: int = 0
    names_refused_images: int = 0  # of which images and twin folders: what counts with --images-only
    names_refused_examples: list[tuple[str, str, str]] = field(default_factory=list)  # (rel_path, reason,
    # kind: "image", "video", "other" or "folder"), the first few of each kind in path order

    def refused(self, images_only: bool = False, limit: int = 5) -> tuple[int, list[tuple[str, str]]]:
        """(how many names cannot go up, up to `limit` examples (rel_path, reason) in path order), of
        the files that would be sent (only images with images_only)."""
        kinds = ("image", "folder") if images_only else ("image", "video", "other", "folder")
        examples = [(path, why) for path, why, kind in self.names_refused_examples if kind in kinds]
        return (self.names_refused_images if images_only else self.names_refused), examples[:limit]

    def kind(self, k: Kind) -> KindTotals:
        return self.kinds.get(k.value, KindTotals())

    @property
    def upload_files(self) -> int:
        return sum(v.files for k, v in self.kinds.items() if k in ("image", "video", "other"))

    @property
    def upload_bytes(self) -> int:
        return sum(v.bytes for k, v in self.kinds.items() if k in ("image", "video", "other"))
