"""Azure's blob name rules (planner.names) and showing any name safely on a terminal (issues 13, 17)."""

from __future__ import annotations

import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from planner.journal import blob_name_for
from planner.names import MAX_NAME, MAX_SEGMENTS, blob_name_problem, safe_display


def test_ordinary_names_can_go_up():
    for name in ["IMG_0001.JPG", "site-01/cam1/DCIM/IMG_0001.JPG", "café.jpg", "ñandú/图像.png", "a b/c.d.e",
                 "x" * MAX_NAME, "/".join(["d"] * MAX_SEGMENTS), ".hidden/file", "%2E%2E/x.jpg"]:
        assert blob_name_problem(name) is None, name


def test_control_characters_are_refused_with_the_character_shown():
    for ch in ["\x00", "\x07", "\x1b", "\n", "\r", "\t", "\x7f", "\x85", "\x9b"]:
        reason = blob_name_problem(f"site/IMG{ch}1.JPG")
        assert reason and "control character" in reason, repr(ch)
        assert ch not in reason
    assert "\\x1b" in blob_name_problem("a\x1b[31mred.jpg")


def test_too_long_too_deep_empty_and_trailing_dot():
    assert "1,025 characters" in blob_name_problem("x" * (MAX_NAME + 1))
    # counted as the service counts: a character outside the BMP is two UTF-16 units
    assert blob_name_problem("\U0001F98A" * 512) is None
    assert blob_name_problem("\U0001F98A" * 513)
    assert "255 folders deep" in blob_name_problem("/".join(["d"] * (MAX_SEGMENTS + 1)))
    assert "empty folder name" in blob_name_problem("a//b.jpg")
    assert "empty folder name" in blob_name_problem("a/b/")
    assert "ends with '.'" in blob_name_problem("a.jpg.")
    assert "ends with '.'" in blob_name_problem("site./a.jpg")
    assert "only dots" in blob_name_problem("x/.../a.jpg")
    assert "stored as 'a.jpg'" in blob_name_problem("s/a.jpg.")
    assert blob_name_problem("")


def test_undecodable_bytes_from_a_linux_name_are_refused():
    name = b"IMG_\xff.jpg".decode("utf-8", "surrogateescape")
    assert "not valid text" in blob_name_problem(name)
    assert safe_display(name) == "IMG_\\udcff.jpg"


def test_dot_segments_are_already_escaped_by_the_naming_so_they_pass():
    assert blob_name_for("../../x.jpg", "p") == "p/%2E%2E/%2E%2E/x.jpg"
    assert blob_name_problem(blob_name_for("../../x.jpg", "p")) is None
    assert blob_name_problem(blob_name_for("./x.jpg", "")) is None


def test_safe_display_shows_escapes_visibly_and_leaves_ordinary_names_alone():
    assert safe_display("café/IMG_0001.JPG") == "café/IMG_0001.JPG"
    assert safe_display("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert safe_display("x\ny\rz\t") == "x\\x0ay\\x0dz\\x09"
    assert safe_display("evil\u202egpj.exe") == "evil\\u202egpj.exe"
    assert safe_display("\x9b31m") == "\\x9b31m"


@settings(max_examples=300, derandomize=True)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60))
def test_safe_display_never_lets_a_control_or_override_through(name):
    shown = safe_display(name)
    for ch in shown:
        o = ord(ch)
        assert not (o < 0x20 or 0x7F <= o <= 0x9F), repr(shown)
        assert unicodedata.category(ch) not in ("Cs", "Zl", "Zp")
        assert ch not in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


@settings(max_examples=300, derandomize=True)
@given(st.text(alphabet=st.characters(codec="utf-8", blacklist_characters="/\\"), min_size=1, max_size=40))
def test_a_plain_file_name_is_refused_exactly_when_it_breaks_a_rule(seg):
    name = f"site/{seg}"
    has_control = any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in seg)
    expected_bad = has_control or seg.endswith(".")  # '...' too ("only dots")
    assert (blob_name_problem(name) is not None) == expected_bad, repr(name)
