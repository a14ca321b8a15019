"""Which files of one folder cannot go up as they are named, a whole folder at a time (issues 13, 17).

The verdict is upload's: planner.names.blob_name_problem of the blob name (planner.names.blob_path, no
prefix), and twins: two names of one folder that become the same blob name once accents are stored one
way (NFC; `café.jpg` composed and decomposed). Twins always share a folder (the file's or a parent's),
so a folder's own names are all it takes. The full check runs only on names that could fail it; the rest
of a folder is cleared with string operations over the whole listing, which run in C.
"""

from __future__ import annotations

import unicodedata
from functools import partial

from planner.names import MAX_NAME, blob_name_problem, blob_path, safe_display

# NFC can make a name up to three times longer, and UTF-16 counts a character as up to two units: a path
# of at most this many characters is within MAX_NAME whatever it holds.
SHORT_ENOUGH = MAX_NAME // 6
_nfc = partial(unicodedata.normalize, "NFC")


def refused_names(rel: str, names: list[str]) -> list[tuple[int, str]]:
    """(index, reason) of the names (files of folder `rel`, '/'-separated, '' for the root) whose blob name
    cannot go up as it is, in the order given."""
    if not names:
        return []
    prefix = rel + "/" if rel else ""
    if blob_name_problem(blob_path(prefix + "x")) or len(prefix) + max(map(len, names)) > SHORT_ENOUGH:
        suspects = range(len(names))  # the folder itself fails (every file does), or long paths
    else:
        joined = "/".join(names) + "/"  # '/' is in no file name
        if joined.isprintable() and "\\" not in joined and "./" not in joined:
            return []
        suspects = [i for i, n in enumerate(names) if not n.isprintable() or "\\" in n or n.endswith(".")]
    found = []
    for i in suspects:
        why = blob_name_problem(blob_path(prefix + names[i]))
        if why:
            found.append((i, why))
    return found


def twins(names: list[str]) -> list[tuple[int, int]]:
    """(index, index of its twin) for each name that becomes the same as another once accents are stored
    one way (NFC). In each group the first in name order is kept (as upload keeps it); the others are
    the twins that cannot go up."""
    if "".join(names).isascii():  # ASCII names are their own NFC: a folder cannot hold twins of them
        return []
    keys = list(map(_nfc, names))
    if len(set(keys)) == len(keys):
        return []
    kept: dict[str, int] = {}
    found = []
    for i in sorted(range(len(names)), key=names.__getitem__):
        first = kept.setdefault(keys[i], i)
        if first != i:
            found.append((i, first))
    return found


def _form(name: str) -> str:
    return "accents composed, NFC" if _nfc(name) == name else "accents decomposed, NFD"


def twin_reason(name: str, other: str, what: str = "file") -> str:
    """Why `name` cannot go up beside `other` (in the same folder): the form each is stored in, as they look
    identical on screen, the other shown safely."""
    into = "both would become one blob" if what == "file" else "their files would go into one folder"
    return (f"{'a folder ' if what == 'folder' else ''}stored with {_form(name)}, the same name as the {what} "
            f"{safe_display(other)} ({_form(other)}) once accents are stored one way, so {into}; rename one of them")
