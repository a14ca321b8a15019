"""Which names can go up as they are (Azure's blob name rules), and showing any name safely on a terminal.

Pure functions; a leaf (imports nothing of mdplan). The rules, from Azure's "Naming and Referencing
Containers, Blobs, and Metadata" and what the service and Azurite do:

- a blob name is 1 to 1,024 characters (counted as the service counts them: UTF-16 code units);
- at most 254 path segments ('/'-separated parts);
- no control characters (C0 U+0000-U+001F, DEL U+007F, C1 U+0080-U+009F): the service refuses them,
  and one such blob made every Azurite listing of its container fail;
- no segment ending in '.': the service trims trailing dots, so `a.jpg.` would overwrite `a.jpg`;
- no empty segment (`a//b`, a name ending in '/'): the service or its listing folds them away;
- the name must be text (a Linux file name with bytes that are not UTF-8 cannot be put in a URL).

'.' and '..' segments never reach these rules: `blob_path` escapes them (`%2E%2E`).
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME = 1024  # characters (UTF-16 code units, as the service counts)
MAX_SEGMENTS = 254

# Shown as escapes, never raw: controls (C0, DEL, C1), lone surrogates, line/paragraph separators and the
# invisible direction marks and overrides that can make a name read as another ("Trojan source").
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_HIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029" + "".join(sorted(_BIDI)) + "]")


def is_control(ch: str) -> bool:
    """C0 controls, DEL and C1 controls."""
    o = ord(ch)
    return o < 0x20 or 0x7F <= o <= 0x9F


def _hidden(ch: str) -> bool:
    return is_control(ch) or ch in _BIDI or unicodedata.category(ch) in ("Cs", "Zl", "Zp")


def safe_display(name: str) -> str:
    """The name as it can be printed on any terminal: control characters, escape sequences, lone
    surrogates (undecodable bytes) and direction overrides appear as visible escapes (`\\x1b`,
    `\\u202e`); everything else, accents included, is shown as it is."""
    if not _HIDDEN.search(name):
        return name
    parts = []
    for ch in name:
        if not _hidden(ch):
            parts.append(ch)
        elif ord(ch) <= 0xFF:
            parts.append(f"\\x{ord(ch):02x}")
        else:
            parts.append(f"\\u{ord(ch):04x}")
    return "".join(parts)


def blob_path(rel_path: str) -> str:
    """The blob name of a file, before any destination prefix: the relative path with '/' separators, NFC.

    '.' and '..' segments are escaped (%2E): on Linux and macOS a file may be called `..\\..\\x.jpg`
    (a zip made on Windows), a backslash becomes a '/' here and at the service alike, and a '..'
    segment would be resolved by it, so the blob would land outside the prefix. Upload
    (planner.journal.naming) and the scan's count of refused names (planner.scan) both use it."""
    segments = unicodedata.normalize("NFC", rel_path.replace("\\", "/")).split("/")
    return "/".join("%2E" * len(s) if s in (".", "..") else s for s in segments)


def _utf16_length(name: str) -> int:
    return len(name.encode("utf-16-le", "surrogatepass")) // 2


def blob_name_problem(blob_name: str) -> str | None:
    """Why this blob name cannot go up as it is, in plain words; None when it can."""
    if not blob_name:
        return "the name is empty"
    if not blob_name.isprintable():  # isprintable (C speed) clears the common case of all three checks
        if _SURROGATE.search(blob_name):
            return "the name holds bytes that are not valid text (UTF-8), which cannot be put in a URL"
        bad = _CONTROL.search(blob_name)
        if bad is not None:
            return f"the name holds a control character ({safe_display(bad.group())}), which Azure does not accept"
    length = len(blob_name) if blob_name.isascii() else _utf16_length(blob_name)
    if length > MAX_NAME:
        return f"the name is {length:,} characters long (with the folders); Azure allows at most {MAX_NAME:,}"
    depth = blob_name.count("/") + 1
    if depth > MAX_SEGMENTS:
        return f"the name is {depth:,} folders deep; Azure allows at most {MAX_SEGMENTS}"
    if "//" in blob_name or blob_name.startswith("/") or blob_name.endswith("/"):
        return "the name has an empty folder name (two '/' in a row, or a '/' or '\\' at an end)"
    if "./" not in blob_name and not blob_name.endswith("."):
        return None
    dotted = next(s for s in blob_name.split("/") if s.endswith("."))
    trimmed = dotted.rstrip(".")
    return (f"'{safe_display(dotted)}' ends with '.', which Azure removes: it would be stored as "
            f"'{safe_display(trimmed)}', over any file of that name" if trimmed else
            f"'{safe_display(dotted)}' is only dots, which Azure removes")
