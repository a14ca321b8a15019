"""The CSV manifest: every file of a job, its blob name, size, MD5, state and why, streamed row by row."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Iterable

from planner.report.data import ManifestRow
from planner.report.paths import write_private
from planner.report.safe import redact_name, redact_text


MANIFEST_COLUMNS = ("relative_path", "blob_name", "bytes", "md5", "state", "note")


# OWASP's rule for CSV injection: a cell starting with one of these is a formula to Excel, LibreOffice
# and Google Sheets. Such a cell gets one "'" in front, which spreadsheets show as text; a cell that
# already starts with "'" gets one too, so the rule can be undone without doubt: drop ONE leading "'".
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A cell spreadsheets show as text, never run as a formula; `unneutralise` gives the original back."""
    return "'" + cell if cell.startswith(FORMULA_STARTS + ("'",)) else cell


def unneutralise(cell: str) -> str:
    """The original text of a manifest cell: one leading "'" removed, if there is one."""
    return cell[1:] if cell.startswith("'") else cell


def manifest_cells(r: ManifestRow) -> list[object]:
    """One row of the CSV as written: names as they are unless they hold a URL, the note (error text)
    redacted, every cell neutralised."""
    return [neutralise(redact_name(r.rel_path)), neutralise(redact_name(r.blob_name)), int(r.bytes),
            neutralise(r.md5_hex or ""), neutralise(redact_text(r.state or "")),
            neutralise(redact_text(r.note or ""))]


def write_manifest(csv_path: Path, rows: Iterable[ManifestRow]) -> int:
    """The CSV manifest, streamed row by row (jobs can hold millions of files). Returns the row count.

    UTF-8 with a byte-order mark so that Excel on Windows shows accented and CJK names correctly.
    Cells that a spreadsheet would run as a formula start with "'" (see `neutralise`).
    """
    count = 0

    def write(f: io.TextIOBase) -> None:
        nonlocal count
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(MANIFEST_COLUMNS)
        for r in rows:
            w.writerow(manifest_cells(r))
            count += 1

    write_private(csv_path, write, encoding="utf-8-sig")
    return count
