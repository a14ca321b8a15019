"""BENCHMARKS.md: a scenario's run rewrites only its own section; hand-written text after a section (how to
read its figures) stays with it (a run of `drive` once dropped the polite section's reading notes)."""

from __future__ import annotations

from benchmarks.runner import HEADER, write_sections


def test_hand_written_text_after_a_section_survives_a_rerun_of_another(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    polite = "<!-- bench:polite -->\n## Polite\nold table\n<!-- /bench:polite -->"
    drive = "<!-- bench:drive -->\n## Drive\nold\n<!-- /bench:drive -->"
    notes = "\n\n### Reading the polite figures\n\nWhat limits it here, honestly.\n"
    path.write_text(HEADER + "\n" + polite + notes + "\n" + drive + "\n\n### Reading the drive figures\n\nx\n",
                    encoding="utf-8")
    write_sections({"drive": "<!-- bench:drive -->\n## Drive\nnew\n<!-- /bench:drive -->"}, path)
    text = path.read_text(encoding="utf-8")
    assert "What limits it here, honestly." in text and "### Reading the drive figures" in text
    assert "new" in text and "\nold\n" not in text and "old table" in text
    assert text.index("Reading the polite figures") < text.index("<!-- bench:drive -->") < text.index("Reading the drive")
    write_sections({"drive": "<!-- bench:drive -->\n## Drive\nnewer\n<!-- /bench:drive -->"}, path)
    assert path.read_text(encoding="utf-8").count("### Reading the drive figures") == 1
