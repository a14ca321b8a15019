"""A seeded, camera-trap-shaped image set on disk, for the demo, the tests and the benchmarks.

What it imitates, and why each part is there:
- Layout site/camera/DCIM/100MEDIA/IMG_0001.JPG, a new DCIM subfolder every 1000 files, numbering
  restarting at IMG_0001 on every camera: different cameras reuse file names, which is what the
  scanner's duplicate-name count and the uploader's blob naming must cope with.
- Sizes drawn from a lognormal distribution whose *mean* is `mean_bytes` (public camera-trap sets
  average 370-650 KB per JPEG with a long right tail).
- Contents are random bytes between JPEG start/end markers: incompressible, so no layer on the way
  (TLS, a proxy, a benchmark link) can make them smaller than they are.
- Drive litter (Thumbs.db, desktop.ini, .DS_Store, AppleDouble ._ files, $RECYCLE.BIN, System Volume
  Information, .Trashes) as real card and drive copies carry it.
- Odd names (spaces, #, %, +, &, accents in composed and decomposed form, CJK) in one extra folder,
  because those are the names that break URL encoding and Unicode normalisation.
- Fixed modification times (a camera firing every few minutes from 2024-05-01), so two runs with the
  same arguments give the same tree, byte for byte and timestamp for timestamp.
"""

from __future__ import annotations

import math
import os
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from planner.errors import BadInput

JPEG_HEAD = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
JPEG_TAIL = b"\xff\xd9"
MIN_FILE_BYTES = len(JPEG_HEAD) + len(JPEG_TAIL) + 1
FILES_PER_DCIM_FOLDER = 1000
VIDEO_SIZE_FACTOR = 10  # a camera-trap clip is about ten photos' worth of bytes, before the tail
START_NS = 1_714_550_400 * 10**9  # 2024-05-01 08:00:00 UTC
STEP_NS = 173 * 10**9  # one trigger every ~3 minutes

ODD_FOLDER = "Extra #2 100% été 写真"
ODD_NAMES = (
    "IMG 0001 (copy).JPG",
    "#12 morning.jpg",
    "100% moon.JPG",
    "café été Ñandú.jpg",
    "Ame\u0301lie decomposed.jpg",  # NFD, as macOS writes it
    "カメラ 写真 01.jpg",
    "Zürich+Straße & more.jpeg",
    "a;b=c,d'e~f.JPG",
)
VIDEO_EXTENSIONS = (".MP4", ".AVI", ".MOV")


@dataclass(frozen=True)
class SampleSet:
    """What was written. `files`/`bytes` count images and videos only, never the litter."""

    root: Path
    files: int
    bytes: int
    litter_files: int
    images: int = 0
    videos: int = 0
    litter_bytes: int = 0
    odd_names: int = 0


def _lognormal_size(rng: random.Random, mean: float, sigma: float) -> int:
    # E[exp(N(mu, sigma))] = exp(mu + sigma^2/2), so mu = ln(mean) - sigma^2/2 keeps the mean at `mean`.
    mu = math.log(mean) - sigma * sigma / 2
    return max(MIN_FILE_BYTES, int(round(rng.lognormvariate(mu, sigma))))


def _jpeg_like(rng: random.Random, size: int) -> bytes:
    body = size - len(JPEG_HEAD) - len(JPEG_TAIL)
    return JPEG_HEAD + rng.randbytes(body) + JPEG_TAIL


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


class _Writer:
    """Writes files with fixed, increasing modification times and counts the images and videos."""

    def __init__(self, rng: random.Random, mean_bytes: int, sigma: float) -> None:
        self.rng = rng
        self.mean_bytes = mean_bytes
        self.sigma = sigma
        self.mtime = START_NS
        self.made_dirs: set[Path] = set()
        self.files = 0  # images and videos written (litter is counted by its caller)
        self.bytes = 0

    def put(self, path: Path, data: bytes) -> None:
        parent = path.parent
        if parent not in self.made_dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self.made_dirs.add(parent)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, ns=(self.mtime, self.mtime))
        self.mtime += STEP_NS

    def image(self, path: Path) -> None:
        size = _lognormal_size(self.rng, self.mean_bytes, self.sigma)
        self.put(path, _jpeg_like(self.rng, size))
        self.files += 1
        self.bytes += size

    def video(self, path: Path) -> None:
        size = _lognormal_size(self.rng, self.mean_bytes * VIDEO_SIZE_FACTOR, self.sigma)
        self.put(path, self.rng.randbytes(size))
        self.files += 1
        self.bytes += size


def _empty_root(root: Path, replace: bool) -> Path:
    """`root`, created if missing; refused if it is a file or holds anything (unless replace)."""
    root = Path(root)
    if root.exists():
        if not root.is_dir():
            raise BadInput(f"{root} is a file; give a folder for the sample set.")
        if any(root.iterdir()):
            if not replace:
                raise BadInput(f"{root} is not empty; give an empty or new folder for the sample set.")
            shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    return root


def _litter_items(root: Path, site_names: list[str], camera_names: list[str], thumbs_files: int,
                  mean_bytes: int) -> list[tuple[Path, int]]:
    """Drive litter as real card and drive copies carry it: (path, size), in the order written."""
    items: list[tuple[Path, int]] = [
        (root / ".DS_Store", 6148),
        (root / "$RECYCLE.BIN" / "S-1-5-21-1004" / "$R3K9QZ.JPG", 2 * mean_bytes),
        (root / "$RECYCLE.BIN" / "S-1-5-21-1004" / "$I3K9QZ.JPG", 544),
        (root / "$RECYCLE.BIN" / "S-1-5-21-1004" / "desktop.ini", 129),
        (root / "System Volume Information" / "IndexerVolumeGuid", 76),
        (root / ".Trashes" / "501" / "IMG_0007.JPG", mean_bytes),
        (root / ".fseventsd" / "fseventsd-uuid", 36),
    ]
    for site in site_names:
        items.append((root / site / "desktop.ini", 282))
        for camera in camera_names:
            items.append((root / site / camera / "DCIM" / "100MEDIA" / "Thumbs.db", 4096 + 64 * thumbs_files))
    items.append((root / site_names[0] / camera_names[0] / "DCIM" / "100MEDIA" / "._IMG_0001.JPG", 4096))
    return items


def generate_sample_set(
    root: Path,
    *,
    files: int = 120,
    mean_bytes: int = 300_000,
    sigma: float = 0.5,
    seed: int = 0,
    sites: int = 3,
    cameras: int = 2,
    litter: bool = True,
    odd_names: bool = True,
    videos: int = 1,
    replace: bool = False,
) -> SampleSet:
    """Write a camera-trap-like set under `root` and say what is in it. Same arguments, same tree.

    files: images + videos (litter comes on top); videos: how many of them are video clips;
    sites x cameras camera folders; odd_names: put up to 8 of the images under odd names in one extra
    folder; litter: add drive litter. `root` must be missing or empty, unless replace=True, which
    deletes it first.
    """
    if files < 0 or videos < 0 or sites < 1 or cameras < 1 or mean_bytes < MIN_FILE_BYTES or sigma < 0:
        raise BadInput("generate_sample_set needs files >= 0, videos >= 0, sites >= 1, cameras >= 1, "
                       f"mean_bytes >= {MIN_FILE_BYTES} and sigma >= 0.")
    root = _empty_root(root, replace)
    writer = _Writer(random.Random(seed), mean_bytes, sigma)
    n_videos = min(videos, files)
    n_odd = min(len(ODD_NAMES), files - n_videos) if odd_names else 0
    site_names = [f"site-{s + 1:02d}" for s in range(sites)]
    camera_names = [f"cam-{chr(ord('A') + c)}" if c < 26 else f"cam-{c + 1:03d}" for c in range(cameras)]
    folders = [(s, c) for s in site_names for c in camera_names]
    counts = _split(files - n_videos - n_odd, len(folders))
    for (site, camera), n, nv in zip(folders, counts, _split(n_videos, len(folders))):
        cam_dir = root / site / camera / "DCIM"
        for i in range(n):
            writer.image(cam_dir / f"{100 + i // FILES_PER_DCIM_FOLDER}MEDIA" / f"IMG_{i + 1:04d}.JPG")
        for v in range(nv):
            writer.video(cam_dir / "100MEDIA" / f"VID_{v + 1:04d}{VIDEO_EXTENSIONS[v % len(VIDEO_EXTENSIONS)]}")
    for name in ODD_NAMES[:n_odd]:
        writer.image(root / site_names[0] / camera_names[0] / ODD_FOLDER / name)
    litter_files = litter_bytes = 0
    if litter:
        for path, size in _litter_items(root, site_names, camera_names, counts[0], mean_bytes):
            writer.put(path, writer.rng.randbytes(size))
            litter_files += 1
            litter_bytes += size
    return SampleSet(root=root, files=writer.files, bytes=writer.bytes, litter_files=litter_files,
                     images=writer.files - n_videos, videos=n_videos, litter_bytes=litter_bytes, odd_names=n_odd)
