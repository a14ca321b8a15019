"""What the target drive is: its file system's name, free space and cluster size (read from the OS), and on
Linux the FUSE driver serving it (which decides how a batch is made durable: planner.drive.flushing).

Linux: the longest mount point in /proc/mounts that holds the target; for a FUSE mount of a block device
(`fuseblk`), the driver is the running program of a known name (exfat-fuse, ntfs-3g) given that same device
(/proc/self/mountinfo's major:minor against each process's arguments in /proc/PID/cmdline, which any user
may read), and the device is the mount's source when that is the same device.
Windows: GetVolumeInformationW. Elsewhere (macOS) the type is "unknown", which applies the safe
Windows rules.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from planner.drive.flushing import driver_named


@dataclass(frozen=True)
class TargetInfo:
    path: str
    fs_type: str
    free_bytes: int
    total_bytes: int
    cluster_bytes: int
    fuse_driver: str | None = None  # Linux: the FUSE driver serving the drive, when mdplan knows it
    fuse_device: str | None = None  # Linux: the block device a FUSE driver serves the drive from


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


def _mount_device(real: str, mountinfo_text: str) -> tuple[str, tuple[int, int], str] | None:
    """(fs type, (major, minor), source) of the longest mount point holding the resolved path `real`, from the
    text of /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [TAGS...] - FSTYPE SOURCE ..."."""
    best, found = "", None
    for line in mountinfo_text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or not tail:
            continue
        mnt = _unescape_mount(fields[4])
        inside = real == mnt or real.startswith(mnt.rstrip("/") + "/")
        if inside and len(mnt) >= len(best):
            major, _, minor = fields[2].partition(":")
            if major.isdigit() and minor.isdigit():
                source = _unescape_mount(tail[1]) if len(tail) > 1 else ""
                best, found = mnt, (tail[0], (int(major), int(minor)), source)
    return found


def fuse_driver_linux(path: Path, mountinfo_text: str, processes: Iterable[list[str]],
                      device_of: Callable[[str], tuple[int, int] | None]) -> str | None:
    """The known FUSE driver serving the block device mounted at `path`'s mount point, or None: a process whose
    program is a known driver and one of whose arguments is that device (`device_of`: a path's block device as
    (major, minor), None if it is none). None when two different known drivers claim it."""
    mount = _mount_device(os.path.realpath(path), mountinfo_text)
    if mount is None or mount[0].lower() != "fuseblk":
        return None
    found = {driver for argv in processes if argv and (driver := driver_named(argv[0]))
             and any(arg.startswith("/") and device_of(arg) == mount[1] for arg in argv[1:])}
    return found.pop() if len(found) == 1 else None


def fuse_device_linux(path: Path, mountinfo_text: str,
                      device_of: Callable[[str], tuple[int, int] | None]) -> str | None:
    """The block device a `fuseblk` mount holding `path` was made from: its source in mountinfo, when that is
    the very device mounted (`device_of` as above); None otherwise."""
    mount = _mount_device(os.path.realpath(path), mountinfo_text)
    if mount is None or mount[0].lower() != "fuseblk":
        return None
    source = mount[2]
    return source if source.startswith("/") and device_of(source) == mount[1] else None


def _block_device(arg: str) -> tuple[int, int] | None:
    try:
        st = os.stat(arg)
    except (OSError, ValueError):
        return None
    return (os.major(st.st_rdev), os.minor(st.st_rdev)) if stat.S_ISBLK(st.st_mode) else None


def _processes() -> Iterable[list[str]]:
    with os.scandir("/proc") as entries:
        for entry in entries:
            if entry.name.isdigit():
                try:
                    raw = Path(entry.path, "cmdline").read_bytes()
                except OSError:
                    continue  # gone meanwhile, or hidden (hidepid): then the driver stays unknown
                yield [a.decode("utf-8", "surrogateescape") for a in raw.rstrip(b"\0").split(b"\0")]


def fuse_device(path: Path) -> str | None:
    """Linux: the block device a FUSE driver serves the drive at `path` from; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        text = Path("/proc/self/mountinfo").read_text("utf-8", "replace")
        return fuse_device_linux(_existing(path), text, _block_device)
    except OSError:
        return None


def fuse_mount(path: Path) -> tuple[str | None, str | None]:
    """Linux, a drive mounted through FUSE from a block device: (the driver, when mdplan knows it; the device);
    (None, None) elsewhere."""
    if not sys.platform.startswith("linux"):
        return None, None
    try:
        text = Path("/proc/self/mountinfo").read_text("utf-8", "replace")
        where = _existing(path)
        return (fuse_driver_linux(where, text, _processes(), _block_device),
                fuse_device_linux(where, text, _block_device))
    except OSError:
        return None, None


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
    kind = fs_type(path)
    driver, device = fuse_mount(path) if kind.lower() == "fuseblk" else (None, None)
    return TargetInfo(str(path), kind, usage.free, usage.total, cluster, driver, device)


def free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free
