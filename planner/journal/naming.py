"""Blob names from local paths and destination prefixes: never outside the prefix, always NFC."""

from __future__ import annotations

import unicodedata

from planner.errors import BadInput
from planner.names import blob_name_problem, blob_path, safe_display


def blob_name_for(rel_path: str, prefix: str) -> str:
    """Blob name for a file: the relative path with '/' separators, NFC, '.' and '..' segments escaped
    (planner.names.blob_path), under the prefix."""
    name = blob_path(rel_path)
    return f"{prefix}/{name}" if prefix else name


def clean_prefix(*parts: str | None) -> str:
    """Join destination prefixes ('a/b', '/c/') into 'a/b/c'; refuse ones that would climb out."""
    segments: list[str] = []
    for part in parts:
        if not part:
            continue
        text = unicodedata.normalize("NFC", part.replace("\\", "/"))
        if len(text) >= 2 and text[1] == ":":
            raise BadInput(f"The prefix {safe_display(part)!r} looks like a local drive path; give a folder name such as 2024/site-a.")
        for seg in text.split("/"):
            if seg in ("", "."):
                continue
            if seg == "..":
                raise BadInput(f"The prefix {safe_display(part)!r} contains '..'; give a plain folder name such as "
                               "2024/site-a.")
            problem = blob_name_problem(seg)
            if problem is not None:
                raise BadInput(f"The prefix {safe_display(part)!r} cannot be a folder name in Azure: {problem}; "
                               "give a plain folder name such as 2024/site-a.")
            segments.append(seg)
    return "/".join(segments)
