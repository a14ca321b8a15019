"""Issue 13: manifest cells a spreadsheet would run are neutralised, and file names are never redacted.

OWASP's rule for CSV injection: a cell that starts with =, +, -, @, a tab or a carriage return gets a
single quote in front. The name stays recoverable: a cell that starts with a quote has had exactly one
added (names that start with a quote get one too), so dropping one leading quote gives the name back.
"""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from planner.report import FailureRow, ManifestRow, write_manifest, write_upload_report
from helpers.report_samples import FAKE_SIG, SAS_URL, upload_data

FORMULAS = ["=HYPERLINK(\"http://evil.example\",\"x\").jpg", "+cmd.jpg", "-2+3.jpg", "@SUM(A1).jpg",
            "\tIMG.jpg", "\rIMG.jpg", "'quoted.jpg"]


def _read(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("name", FORMULAS)
def test_formula_cells_start_with_a_quote_and_the_name_is_recoverable(tmp_path, name):
    rows = [ManifestRow(f"site/{name}", f"site/{name}", 1, None, "done"),  # not at the start: as is
            ManifestRow(name, name, 2, None, "failed", "=1+1 in a note")]
    write_manifest(tmp_path / "m.csv", rows)
    header, inner, top = _read(tmp_path / "m.csv")
    assert inner[0] == f"site/{name}" and inner[1] == f"site/{name}"
    assert top[0] == "'" + name and top[1] == "'" + name  # a spreadsheet shows it as text
    assert top[0][1:] == name  # drop one leading quote: the exact name again
    assert top[5] == "'=1+1 in a note"
    for cell in top:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_ordinary_names_are_untouched(tmp_path):
    write_manifest(tmp_path / "m.csv", [ManifestRow("site/IMG_0001.JPG", "p/site/IMG_0001.JPG", 5, "abc", "done")])
    assert _read(tmp_path / "m.csv")[1] == ["site/IMG_0001.JPG", "p/site/IMG_0001.JPG", "5", "abc", "done", ""]


def test_a_name_with_sig_in_it_is_shown_as_it_is(tmp_path):
    name = "cam_sig=3_IMG0001.jpg"
    data = replace(upload_data("interrupted"), failures=[FailureRow(f"north/{name}", "timed out", 3)])
    data = replace(data, totals=replace(data.totals, files_failed=1))
    rows = [ManifestRow(f"north/{name}", f"season/north/{name}", 10, None, "failed", "timed out")]
    files = write_upload_report(data, tmp_path / "r.html", rows)
    body = _read(files.csv)[1]
    assert body[0] == f"north/{name}" and body[1] == f"season/north/{name}"
    html = files.html.read_text("utf-8")
    assert f"north/{name}" in html and "cam_sig=REDACTED" not in html


def test_a_url_inside_a_name_or_a_note_is_still_redacted(tmp_path):
    rows = [ManifestRow(f"a/{SAS_URL}.jpg", f"b?sig={FAKE_SIG}", 1, None, "failed", f"403 for {SAS_URL}")]
    write_manifest(tmp_path / "m.csv", rows)
    text = (tmp_path / "m.csv").read_text("utf-8-sig")
    assert FAKE_SIG not in text and text.count("REDACTED") == 3
