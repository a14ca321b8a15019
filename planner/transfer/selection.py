"""What is sent: the per-file decision (litter, symlinks, --include/--exclude, --images-only) and the
scan of the source folder into the job's journal with that decision recorded for every entry."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from planner.errors import BadInput
from planner.journal import Journal, ScanRow, blob_name_for
from planner.outputs import OwnOutputs


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
                      original_names: Mapping[str, str] | None = None) -> None:
    """Scan `source` into the journal with the decision for every entry. `own` tells mdplan's own files
    (journals, reports written into the set) apart, so they are listed as left out, never sent."""
    from planner.scan import iter_files, site_of

    problems: list[tuple[str, str]] = []

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
            blob_rel = (original_names or {}).get(e.rel_path, e.rel_path)  # a bag's --map-names: the original name
            yield ScanRow(e.rel_path, blob_name_for(blob_rel, prefix), site_of(e.rel_path), kind, e.size,
                          e.mtime_ns, selected, reason)

    journal.record_scan(rows())
    journal.mark_vanished()
    journal.record_problems(problems)


