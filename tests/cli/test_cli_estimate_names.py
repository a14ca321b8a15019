"""`mdplan estimate` tells the truth about names that cannot go up as they are (issues 13, 17 item 6): it
still counts the files (they are there), and says how many `mdplan upload` will refuse, with a few
examples shown safely, in its output and in --json."""

from __future__ import annotations

import json
import sys
import unicodedata

import pytest

from planner.cli import main

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"),
                                reason="needs a file system that keeps any byte in a name (Linux)")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MDPLAN_SAS", raising=False)
    d = tmp_path / "cards" / "site1"
    d.mkdir(parents=True)
    for name in ["IMG_0000.JPG", "IMG\x1b[31m_0001.JPG", "IMG_0002.JPG.", unicodedata.normalize("NFC", "café.jpg"),
                 unicodedata.normalize("NFD", "café.jpg")]:
        (d / name).write_bytes(b"\xff\xd8" + bytes(1000))
    return d.parent


def _raw_controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F]


def test_estimate_says_how_many_names_upload_will_refuse(capfd, folder):
    code = main(["estimate", str(folder), "--bandwidth", "10Mbps"])
    out, err = capfd.readouterr()
    assert code == 0, out + err
    assert "Would send: 5 files" in out  # the files are there and counted
    line = next(x for x in out.splitlines() if "cannot go up as they are" in x)
    assert line.startswith("Names: 3 file(s) cannot go up as they are named")
    assert "IMG\\x1b[31m_0001.JPG" in line and "IMG_0002.JPG." in line and "NFC" in line
    assert "mdplan upload will refuse to start until they are renamed" in line
    assert "Names that cannot go up as they are: 3 (to rename before the upload)" in out  # the email block
    assert _raw_controls(out + err) == []


def test_estimate_json_carries_the_refused_names(capfd, folder):
    code = main(["estimate", str(folder), "--bandwidth", "10Mbps", "--json"])
    out, _ = capfd.readouterr()
    assert code == 0
    d = json.loads(out)
    assert d["files"]["upload"] == 5 and d["names_refused"] == 3
    paths = sorted(p["path"] for p in d["names_refused_examples"])
    assert paths == sorted(["site1/IMG\x1b[31m_0001.JPG", "site1/IMG_0002.JPG.",
                            "site1/" + unicodedata.normalize("NFC", "café.jpg")])
    assert all(p["reason"] for p in d["names_refused_examples"])
    assert _raw_controls(out) == []


def test_estimate_of_an_ordinary_set_says_nothing_about_names(capfd, tmp_path, monkeypatch):
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    d = tmp_path / "set" / "site1"
    d.mkdir(parents=True)
    (d / "IMG_0001.JPG").write_bytes(b"\xff\xd8" + bytes(1000))
    assert main(["estimate", str(tmp_path / "set"), "--bandwidth", "10Mbps", "--json"]) == 0
    d = json.loads(capfd.readouterr().out)
    assert d["names_refused"] == 0 and d["names_refused_examples"] == []
