"""What a file is (image, video, litter, other) from its name, and which site it belongs to.

`classify` reads one path; `name_codes` classifies a whole folder's names with list operations that
run in C (the scan's hot loop), and agrees with `classify` name for name.
"""

from __future__ import annotations

import os
from enum import Enum
from operator import itemgetter

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".gif", ".png", ".tif", ".tiff", ".bmp", ".webp", ".avif"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mpeg", ".mpg", ".mov", ".mkv", ".flv"})
LITTER_NAMES = frozenset({"thumbs.db", "desktop.ini", ".ds_store"})
LITTER_FOLDERS = frozenset({"$recycle.bin", "system volume information", ".trashes", ".spotlight-v100",
                            ".fseventsd"})
TOP_FOLDER = "(top folder)"  # the "site" of files that sit right in the root


class Kind(str, Enum):
    IMAGE = "image"
    VIDEO = "video"
    LITTER = "litter"
    OTHER = "other"
    SYMLINK = "symlink"  # a link that was not followed (reported, never sent)


# Kind codes used in the hot loop (list indexes are cheaper than enum members); KINDS[code] is the Kind.
CODE_IMAGE, CODE_VIDEO, CODE_LITTER, CODE_OTHER, _CHECK = 0, 1, 2, 3, 4
KINDS = (Kind.IMAGE, Kind.VIDEO, Kind.LITTER, Kind.OTHER)
_EXT_CODE: dict[str, int] = {
    **{e: CODE_IMAGE for e in IMAGE_EXTENSIONS},
    **{e: CODE_VIDEO for e in VIDEO_EXTENSIONS},
    **{os.path.splitext(n)[1]: _CHECK for n in LITTER_NAMES if not n.startswith(".")},  # .db, .ini
}


def name_code(name: str) -> int:
    """Kind code of a file name (not its folders). Case-insensitive."""
    if name[:1] == ".":
        if name[:2] == "._" or name.lower() == ".ds_store":
            return CODE_LITTER
    dot = name.rfind(".")
    if dot < 0:
        return CODE_OTHER
    code = _EXT_CODE.get(name[dot:].lower(), CODE_OTHER)
    if code == _CHECK:
        return CODE_LITTER if name.lower() in LITTER_NAMES else CODE_OTHER
    return code


_last5 = itemgetter(slice(-5, None))
_SUFFIX_CODE: dict[str, int] = {}  # raw last-5-characters -> kind code, when they decide it
_SUFFIX_CACHE_MAX = 4096


def name_codes(names: list[str]) -> list[int]:
    """`name_code` of every name, as whole-list operations that run in C (Tally.add's hot loop).

    Most names' kind is decided by their last five characters (".JPG", "1.JPG", ".jpeg"), so those
    are looked up in a cache; names it cannot decide (no dot near the end, .db/.ini/.ds_store that
    are litter only under their exact names) and AppleDouble "._" names go one by one."""
    suffixes = list(map(_last5, names))
    codes = list(map(_SUFFIX_CODE.get, suffixes))
    if None in codes:
        for i, code in enumerate(codes):
            if code is None:
                codes[i] = name_code(names[i])
                sfx = suffixes[i]
                dot = sfx.rfind(".")
                if dot >= 0 and len(_SUFFIX_CODE) < _SUFFIX_CACHE_MAX:
                    by_ext = _EXT_CODE.get(sfx[dot:].lower(), CODE_OTHER)
                    if by_ext != _CHECK:  # what the suffix alone says (never a name-based verdict)
                        _SUFFIX_CODE[sfx] = by_ext
    if "/._" in "/" + "/".join(names):
        for i, name in enumerate(names):
            if name[:2] == "._":
                codes[i] = CODE_LITTER
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
    return KINDS[name_code(parts[-1])]


def site_of(rel_path: str) -> str:
    """The top-level folder a file is in ("(top folder)" for files right in the root)."""
    return rel_path.split("/", 1)[0] if "/" in rel_path else TOP_FOLDER
