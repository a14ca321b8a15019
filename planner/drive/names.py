"""Which relative paths a target file system can hold: the pure rules per file system, no I/O.

A drive is usually formatted exFAT, NTFS or FAT32 and read on Windows at the other end, so those file
systems get Windows' rules (forbidden characters, reserved device names, no trailing dot or space, one
name per folder whatever its case); FAT32 also refuses files of 4 GiB or more. Unix file systems only
limit a name to 255 bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

FAT32_MAX_FILE = 4 * 1024**3 - 1
WINDOWS_FORBIDDEN = set('<>:"\\|?*') | {chr(c) for c in range(32)}
RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
WINDOWS_MAX_PATH = 259  # "X:\" + path + NUL within MAX_PATH (260), what Explorer and many tools still need


@dataclass(frozen=True)
class FsRules:
    family: str  # fat32 | exfat | ntfs | exfat/ntfs | unix | unknown
    windows_names: bool
    max_file_bytes: int | None
    case_insensitive: bool
    max_name_units: int = 255  # UTF-16 code units on Windows file systems, bytes on Unix ones


@dataclass(frozen=True)
class NameProblem:
    rel_path: str
    reason: str


_FAMILY = {
    "vfat": "fat32", "msdos": "fat32", "fat": "fat32", "fat32": "fat32",
    "exfat": "exfat", "ntfs": "ntfs", "ntfs3": "ntfs", "fuseblk": "exfat/ntfs", "fuse.exfat": "exfat",
    "fuse.fusefat": "fat32",
    "ext2": "unix", "ext3": "unix", "ext4": "unix", "xfs": "unix", "btrfs": "unix", "zfs": "unix",
    "tmpfs": "unix", "overlay": "unix", "apfs": "unix", "hfs": "unix", "f2fs": "unix",
}


def rules_for(fs_type: str) -> FsRules:
    """The rules of a file system named as the OS names it (/proc/mounts, GetVolumeInformation, statfs)."""
    family = _FAMILY.get(fs_type.lower(), "unknown")
    if family == "unix":
        return FsRules(family, False, None, fs_type.lower() in ("apfs", "hfs"))
    if family == "unknown":  # be safe: the drive may be read on Windows
        return FsRules(family, True, None, True)
    return FsRules(family, True, FAT32_MAX_FILE if family == "fat32" else None, True)


def name_problem(name: str, rules: FsRules) -> str | None:
    """Why one path component cannot be held, or None."""
    if rules.windows_names:
        bad = sorted({c for c in name if c in WINDOWS_FORBIDDEN})
        if bad:
            shown = " ".join(repr(c)[1:-1] if ord(c) >= 32 else f"\\x{ord(c):02x}" for c in bad)
            return f"the name holds characters {rules.family} cannot: {shown}"
        if name.endswith((".", " ")):
            return f"the name ends with a dot or a space, which {rules.family} drops"
        if name.split(".", 1)[0].rstrip(" ").upper() in RESERVED:
            return "the name is a reserved Windows device name (CON, PRN, AUX, NUL, COM1, LPT1...)"
        if len(name.encode("utf-16-le")) // 2 > rules.max_name_units:
            return f"the name is longer than {rules.max_name_units} characters"
    elif len(name.encode("utf-8", "surrogateescape")) > rules.max_name_units:
        return f"the name is longer than {rules.max_name_units} bytes"
    return None


def check_paths(entries: Iterable[tuple[str, int]], rules: FsRules, bag_root_chars: int = 0) -> list[NameProblem]:
    """Every (relative path, size) the target cannot hold, with the reason. `bag_root_chars` is the length
    of the bag's folder on the drive plus `data/`, counted in the Windows path length."""
    problems: list[NameProblem] = []
    seen: dict[str, str] = {}
    for rel, size in entries:
        parts = rel.split("/")
        why = next((w for w in (name_problem(p, rules) for p in parts) if w), None)
        if why is None and rules.max_file_bytes is not None and size > rules.max_file_bytes:
            why = f"the file is {size:,} bytes; {rules.family} holds files up to 4 GiB (use exFAT or NTFS)"
        if why is None and rules.windows_names and 3 + bag_root_chars + len(rel) > WINDOWS_MAX_PATH:
            why = f"the path on the drive would be longer than {WINDOWS_MAX_PATH} characters, too long for Windows"
        if why is None and rules.case_insensitive:
            key = rel.casefold()
            other = seen.setdefault(key, rel)
            if other != rel:
                why = f"differs from {other!r} only in upper/lower case, which {rules.family} treats as one name"
        if why:
            problems.append(NameProblem(rel, why))
    return problems


def safe_name(name: str, rules: FsRules) -> str:
    """One path component the file system can hold: forbidden characters become '_', a trailing dot or
    space becomes '_', a reserved device name gets a '_' in front."""
    if not rules.windows_names:
        return name
    out = "".join("_" if c in WINDOWS_FORBIDDEN else c for c in name)
    if out.endswith((".", " ")):
        out = out.rstrip(". ") + "_"
    if out.split(".", 1)[0].rstrip(" ").upper() in RESERVED:
        out = "_" + out
    return out


def map_paths(rels: Iterable[str], rules: FsRules) -> dict[str, str]:
    """For `--map-names`: relative path -> a name the file system can hold, for the paths that need one
    (bad characters, trailing dot/space, reserved names, clashes of case). Paths already fine are left
    out. Length and size limits cannot be mapped away and stay problems for `check_paths`."""
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    rels = list(rels)
    fine = [r for r in rels if all(name_problem(p, rules) is None for p in r.split("/"))]
    for rel in fine:  # names that need no change keep them; clashes are resolved on the others
        key = rel.casefold() if rules.case_insensitive else rel
        if key not in taken:
            taken.add(key)
        else:
            mapping[rel] = rel
    for rel in rels:
        if rel in fine and rel not in mapping:
            continue
        mapped = "/".join(safe_name(p, rules) for p in rel.split("/"))
        stem, dot, ext = mapped.rpartition(".") if "." in mapped.rsplit("/", 1)[-1] else (mapped, "", "")
        n = 1
        while (mapped.casefold() if rules.case_insensitive else mapped) in taken:
            n += 1
            mapped = f"{stem}~{n}{dot}{ext}" if dot else f"{mapped.rsplit('~', 1)[0] if n > 2 else mapped}~{n}"
        taken.add(mapped.casefold() if rules.case_insensitive else mapped)
        mapping[rel] = mapped
    return mapping
