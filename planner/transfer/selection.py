"""What is sent: the per-file decision (litter, symlinks, --include/--exclude, --images-only) and the
scan of the source folder into the job's journal with that decision recorded for every entry."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from planner.errors import BadInput
from planner.journal import Journal, ScanRow, blob_name_for
from planner.names import blob_name_problem, safe_display
from planner.outputs import OwnOutputs

NAME_EXAMPLES = 5


def _is_text(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class BadNames:
    """Selected files whose blob name Azure would refuse or change: a count and the first few examples
    (the file shown safely, the reason), so two million bad names cost no memory."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[tuple[str, str]] = []

    def add(self, rel_path: str, reason: str) -> None:
        self.count += 1
        if len(self.examples) < NAME_EXAMPLES:
            self.examples.append((safe_display(rel_path), reason))


class Selector:
    """Decides, per scanned file, whether it is sent and, if not, the reason shown to the user."""

    def __init__(self, images_only: bool, include: Sequence[str], exclude: Sequence[str]) -> None:
        for g in [*include, *exclude]:
            if not g or not g.strip():
                raise BadInput("An --include/--exclude pattern is empty; give one such as '*.jpg' or 'site1/*'.")
        self.images_only = images_only
        self.include = [g.strip().replace("\\", "/").lower() for g in include]
        self.exclude = [g.strip().replace("\\", "/").lower() for g in exclude]

    @staticmethod
    def _match(pattern: str, rel: str) -> bool:
        if "/" in pattern:
            return fnmatch.fnmatchcase(rel, pattern.lstrip("/"))
        return fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], pattern) or fnmatch.fnmatchcase(rel, pattern)

    def decide(self, rel_path: str, kind: str) -> tuple[bool, str | None]:
        if kind == "litter":
            return False, "drive litter (Thumbs.db, .DS_Store, recycle bin...)"
        if kind == "symlink":
            return False, "symbolic link (not followed)"
        rel = rel_path.lower()
        for g in self.exclude:
            if self._match(g, rel):
                return False, f"excluded by --exclude {g}"
        if self.include and not any(self._match(g, rel) for g in self.include):
            return False, "not matched by any --include"
        if self.images_only and kind != "image":
            return False, f"not an image (--images-only): {kind}"
        return True, None



def scan_into_journal(journal: Journal, source: Path, selector: Selector, prefix: str,
                      follow_symlinks: bool, own: OwnOutputs | None = None,
                      original_names: Mapping[str, str] | None = None) -> BadNames:
    """Scan `source` into the journal with the decision for every entry. `own` tells mdplan's own files
    (journals, reports written into the set) apart, so they are listed as left out, never sent.
    Returns the selected files whose names cannot go up as they are (planner.names' rules)."""
    from planner.scan.kinds import site_of
    from planner.scan.walk import iter_files

    problems: list[tuple[str, str]] = []
    bad = BadNames()

    def on_problem(path: Any, reason: Any) -> None:
        problems.append((str(path), str(reason)))

    def rows():
        for e in iter_files(source, follow_symlinks=follow_symlinks, on_problem=on_problem):
            kind = getattr(e.kind, "value", str(e.kind)).lower()
            selected, reason = selector.decide(e.rel_path, kind)
            if selected and own is not None:
                why = own.reason(e.path)
                if why:
                    selected, reason = False, f"{why}: mdplan's own output, not sent"
            rel = e.rel_path
            blob = blob_name_for((original_names or {}).get(rel, rel), prefix)  # a bag's --map-names: the original
            why_not = blob_name_problem(blob) if selected else None
            if why_not:
                bad.add(rel, why_not)
            if not _is_text(rel):  # bytes that are not UTF-8 (Linux): the journal holds text, so keep it shown
                rel = blob = safe_display(rel)
                selected, reason = False, reason or "the name is not valid text (UTF-8); rename it to send it"
            yield ScanRow(rel, blob, site_of(rel), kind, e.size, e.mtime_ns, selected, reason)

    journal.record_scan(rows())
    journal.mark_vanished()
    journal.record_problems(problems)
    return bad


