"""A generated camera-trap image set, for the demo, the tests and the benchmarks.

Shaped like the real thing (see shared camera-trap facts): site/camera/DCIM folders, JPEG-sized files
with lognormal sizes, the same file names reused by every camera, a video or two, the litter that
drives carry ($RECYCLE.BIN, Thumbs.db, AppleDouble ._ files) and, on request, names with spaces, '#',
'%', accents and CJK. The bytes are random (incompressible, like JPEG data) between JPEG start and end
markers. Seeded: the same arguments always give the same tree, file times included.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from pathlib import Path

PLAIN_SITES = ["North ridge", "Lake shore", "Burnt forest", "River bend", "Salt lick", "Upper meadow"]
ODD_SITES = ["Forêt d'été", "鳥の森 #2", "Swamp 100%"]
_EPOCH = 1_700_000_000  # fixed file times (2023-11-14), so runs are comparable


@dataclass(frozen=True)
class SampleSet:
    root: Path
    files: int  # files that would be uploaded (images, videos)
    bytes: int  # their total size
    litter_files: int


def _size(rng: random.Random, mean: float, sigma: float) -> int:
    mu = math.log(max(mean, 1.0)) - sigma * sigma / 2
    return max(64, int(rng.lognormvariate(mu, sigma)))


def _write(path: Path, size: int, rng: random.Random, when: int, jpeg: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = rng.randbytes(max(0, size - 6)) if jpeg else rng.randbytes(size)
    data = (b"\xff\xd8\xff\xe0" + body + b"\xff\xd9")[:size] if jpeg else body
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (when, when))


def generate_sample_set(root: Path, *, files: int = 120, mean_bytes: int = 300_000, sigma: float = 0.5,
                        seed: int = 0, sites: int = 3, cameras: int = 2, litter: bool = True,
                        odd_names: bool = True, videos: int = 1) -> SampleSet:
    """Write the set under root (created if needed) and say what was written."""
    rng = random.Random(seed)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = (ODD_SITES[:1] + PLAIN_SITES if odd_names else PLAIN_SITES)[:max(1, sites)]
    if odd_names and sites > len(names):
        names += ODD_SITES[1:sites - len(names) + 1]
    while len(names) < sites:
        names.append(f"Site {len(names) + 1}")
    folders = [root / s / f"CAM{c + 1:02d}" / "DCIM" / "100RECNX" for s in names for c in range(max(1, cameras))]
    total = 0
    count = 0
    images = max(0, files - videos)
    for i in range(images):
        folder = folders[i % len(folders)]
        number = i // len(folders) + 1
        name = f"IMG_{number:04d}.JPG"
        if odd_names and i % 37 == 5:
            name = f"IMG {number:04d} #{i % 3} 100%.JPG"
        size = _size(rng, mean_bytes, sigma)
        _write(folder / name, size, rng, _EPOCH + i)
        total += size
        count += 1
    for v in range(videos):
        size = _size(rng, mean_bytes * 3, sigma)
        _write(folders[v % len(folders)] / f"VID_{v + 1:04d}.MP4", size, rng, _EPOCH + images + v, jpeg=False)
        total += size
        count += 1
    litter_files = 0
    if litter:
        junk = [root / ".DS_Store", root / "$RECYCLE.BIN" / "S-1-5-21-1000" / "$RABC123.JPG",
                root / "System Volume Information" / "IndexerVolumeGuid"]
        for folder in folders[:2]:
            junk += [folder / "Thumbs.db", folder / "._IMG_0001.JPG"]
        for p in junk:
            _write(p, rng.randint(64, 4096), rng, _EPOCH, jpeg=False)
            litter_files += 1
    return SampleSet(root=root, files=count, bytes=total, litter_files=litter_files)
