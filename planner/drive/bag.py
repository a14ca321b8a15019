"""The BagIt (RFC 8493) side: writing a bag's tag files from the job's MD5s, and reading a bag back.

The payload is written by mdplan itself (each file read back from the drive), so the manifests are made
from the MD5s already measured instead of hashing the whole drive again, as the `bagit` library's own
writer (which also moves files in place) would. Reading and validating uses the `bagit` library.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "mdplan-drive.txt"  # a tag file: which job and which drive of the set this bag is
NAMES = "mdplan-names.txt"  # a tag file (--map-names): one JSON object a line, {"drive": ..., "original": ...}


def encode_path(rel: str) -> str:
    """A payload path as manifests write it: CR and LF percent-encoded. RFC 8493 also encodes '%', but the
    Library of Congress `bagit` library (the reference validator) does not decode it, so neither do we."""
    return "data/" + rel.replace("\r", "%0D").replace("\n", "%0A")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _file_digest(path: Path, alg: str) -> str:
    h = hashlib.new(alg)
    with open(path, "rb") as f:
        for buf in iter(lambda: f.read(1 << 20), b""):
            h.update(buf)
    return h.hexdigest()


def write_marker(bag_dir: Path, group: str, drive_no: int, source: str) -> None:
    bag_dir.mkdir(parents=True, exist_ok=True)
    _write_text(bag_dir / MARKER, f"Group: {group}\nDrive: {drive_no}\nSource: {source}\n")


def read_marker(bag_dir: Path) -> tuple[str, int] | None:
    try:
        text = (bag_dir / MARKER).read_text("utf-8")
    except OSError:
        return None
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    try:
        return fields["Group"], int(fields["Drive"])
    except (KeyError, ValueError):
        return None


@dataclass
class BagInfo:
    source: str
    group: str
    drive_no: int
    drive_count: int | None  # None while later drives may follow
    files_total: int
    bytes_total: int
    version: str
    date: str


def write_bag(bag_dir: Path, entries: Iterable[tuple[str, int, str]], info: BagInfo,
              renamed: dict[str, str] | None = None) -> tuple[int, int]:
    """Write bagit.txt, manifest-md5.txt, bag-info.txt and tagmanifest-md5.txt for the payload already in
    data/ (entries: relative path, size, MD5). Returns (files, bytes)."""
    lines, nbytes, nfiles = [], 0, 0
    for rel, size, md5 in entries:
        lines.append(f"{md5}  {encode_path(rel)}\n")
        nbytes += size
        nfiles += 1
    (bag_dir / "data").mkdir(parents=True, exist_ok=True)
    _write_text(bag_dir / "bagit.txt", "BagIt-Version: 0.97\nTag-File-Character-Encoding: UTF-8\n")
    _write_text(bag_dir / "manifest-md5.txt", "".join(lines))
    count = f"{info.drive_no} of {info.drive_count if info.drive_count else '?'}"
    tags = [
        ("Bag-Software-Agent", f"mdplan {info.version}"), ("Bagging-Date", info.date),
        ("Source-Organization", "mdplan drive copy"), ("External-Description", f"Copied from {info.source}"),
        ("Bag-Group-Identifier", info.group), ("Bag-Count", count),
        ("Payload-Oxum", f"{nbytes}.{nfiles}"),
        ("Set-Files-Total", str(info.files_total)), ("Set-Bytes-Total", str(info.bytes_total)),
    ]
    _write_text(bag_dir / "bag-info.txt", "".join(f"{k}: {v.replace(chr(10), ' ')}\n" for k, v in tags))
    if renamed:
        import json

        _write_text(bag_dir / NAMES, "".join(json.dumps({"drive": k, "original": v}, ensure_ascii=False) + "\n"
                                             for k, v in sorted(renamed.items())))
    tag_files = ["bagit.txt", "bag-info.txt", "manifest-md5.txt", MARKER, NAMES]
    tag_lines = [f"{_file_digest(bag_dir / t, 'md5')} {t}\n" for t in tag_files if (bag_dir / t).exists()]
    _write_text(bag_dir / "tagmanifest-md5.txt", "".join(tag_lines))
    return nfiles, nbytes


class NotABag(Exception):
    pass


@dataclass
class BagManifest:
    path: Path
    md5: dict[str, str]  # relative payload path (no data/) -> MD5
    info: dict[str, str]
    original_names: dict[str, str] = field(default_factory=dict)  # path on the drive -> the set's own name


def read_bag(bag_dir: Path) -> BagManifest:
    """The bag's payload MD5s and bag-info, through the `bagit` library. NotABag if it is not one."""
    import bagit

    if not (bag_dir / "bagit.txt").is_file():
        raise NotABag(f"{bag_dir} is not a BagIt bag (no bagit.txt)")
    try:
        bag = bagit.Bag(str(bag_dir))
    except bagit.BagError as e:
        raise NotABag(f"{bag_dir} is not a readable bag: {e}") from e
    if "md5" not in bag.algorithms:
        raise NotABag(f"{bag_dir} has no MD5 manifest (manifest-md5.txt)")
    md5 = {}
    for entry, hashes in bag.payload_entries().items():
        md5[entry.replace(os.sep, "/")[len("data/"):]] = hashes["md5"]  # bagit decoded CR/LF already
    info = {k: (v[0] if isinstance(v, list) else v) for k, v in bag.info.items()}
    return BagManifest(bag_dir, md5, info, _original_names(bag_dir))


def _original_names(bag_dir: Path) -> dict[str, str]:
    import json

    try:
        lines = (bag_dir / NAMES).read_text("utf-8").splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        try:
            d = json.loads(line)
            out[str(d["drive"])] = str(d["original"])
        except (ValueError, KeyError, TypeError):
            continue
    return out


def bag_or_none(folder: Path) -> BagManifest | None:
    """The bag in `folder` if it is one (bagit.txt and data/), else None; BadInput for a broken bag."""
    from planner.errors import BadInput

    if not is_bag(folder):
        return None
    try:
        return read_bag(folder)
    except NotABag as e:
        raise BadInput(str(e), hint="Run `mdplan drive check` on it, or give its data folder as a plain folder.") from None


@dataclass(frozen=True)
class UploadSource:
    """What `upload` and `verify` read for a folder: a bag's payload under the original names, each file held
    to the bag's MD5; anything else, the folder as it is."""

    folder: Path
    expected_md5: dict[str, str] | None = None  # relative path -> MD5 hex, from the bag's manifest
    blob_names: dict[str, str] | None = None  # relative path on the drive -> original name (--map-names)
    note: str | None = None  # one line for the user when the folder is a bag


def upload_source(folder: Path) -> UploadSource:
    """The folder, or the bag's payload with its manifest (see UploadSource). BadInput for a broken bag."""
    bag = bag_or_none(folder)
    if bag is None:
        return UploadSource(folder)
    return UploadSource(folder / "data", bag.md5, bag.original_names,
                        f"{folder} is a bag: its {len(bag.md5):,} files under their original names, each held to "
                        "the bag's MD5.")


def is_bag(folder: Path) -> bool:
    """True for a folder holding bagit.txt and data/. A path the system cannot look at (a name too long,
    no permission) is not a bag here: the command's own folder checks then say what is wrong with it."""
    try:
        return (folder / "bagit.txt").is_file() and (folder / "data").is_dir()
    except OSError:
        return False
