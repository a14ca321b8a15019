"""What the target drive is: its file system's name, free space and cluster size (read from the OS).

Linux: the longest mount point in /proc/mounts that holds the target. Windows: GetVolumeInformationW.
Elsewhere (macOS) the type is "unknown", which applies the safe Windows rules.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TargetInfo:
    path: str
    fs_type: str
    free_bytes: int
    total_bytes: int
    cluster_bytes: int


def _existing(path: Path) -> Path:
    p = path.absolute()
    while not p.exists() and p.parent != p:
        p = p.parent
    return p


def _unescape_mount(s: str) -> str:
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def fs_type_linux(path: Path, mounts_text: str) -> str:
    """The type of the longest mount point holding `path`, from the text of /proc/mounts."""
    real = os.path.realpath(path)
    best, kind = "", "unknown"
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mnt = _unescape_mount(fields[1])
        inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
        if inside and len(mnt) >= len(best):
            best, kind = mnt, fields[2]
    return kind


def _fs_type_windows(path: Path) -> str:
    import ctypes  # Windows only: the volume's file system name (NTFS, exFAT, FAT32)

    root = os.path.splitdrive(str(path.absolute()))[0] + "\\"
    buf = ctypes.create_unicode_buffer(64)
    ok = ctypes.windll.kernel32.GetVolumeInformationW(  # type: ignore[attr-defined]
        ctypes.c_wchar_p(root), None, 0, None, None, None, buf, len(buf))
    return buf.value if ok else "unknown"


def fs_type(path: Path) -> str:
    try:
        if sys.platform.startswith("linux"):
            return fs_type_linux(_existing(path), Path("/proc/mounts").read_text("utf-8", "replace"))
        if os.name == "nt":
            return _fs_type_windows(_existing(path))
    except (OSError, AttributeError, ValueError):
        pass
    return "unknown"


def target_info(path: Path) -> TargetInfo:
    where = _existing(path)
    usage = shutil.disk_usage(where)
    cluster = 4096
    if hasattr(os, "statvfs"):
        try:
            cluster = os.statvfs(where).f_frsize or cluster
        except OSError:
            pass
    return TargetInfo(str(path), fs_type(path), usage.free, usage.total, cluster)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free
