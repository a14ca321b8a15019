"""`mdplan upload` and `--dry-run` with names that cannot go up (issues 13, 17): exit 2 before anything is
sent, the plan and the error name the files with visible escapes, and no raw control character or escape
sequence reaches the terminal; `verify` and `estimate` show such names safely too."""

from __future__ import annotations

import io
import json
import signal
import sys
import unicodedata

import pytest

from planner.cli import main
from planner.cli.output import terminal_safe

# port 9 on loopback: nothing listens; the refusal comes before any request is needed
FAKE_SAS = ("http://127.0.0.1:9/devstoreaccount1/box?sv=2023-01-03&se=2099-01-01T00%3A00%3A00Z&sp=racwdl&sr=c"
            "&sig=S3cretSigValue%2Bx%3D")
ESC_NAME = "IMG\x1b[31m\x9b2J_0001.JPG"

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"),
                                reason="needs a file system that keeps any byte in a name (Linux)")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MDPLAN_SAS", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    d = tmp_path / "cards" / "site1"
    d.mkdir(parents=True)
    for name in ["IMG_0000.JPG", ESC_NAME, "IMG_0002.JPG.", unicodedata.normalize("NFC", "café.jpg"),
                 unicodedata.normalize("NFD", "café.jpg")]:
        (d / name).write_bytes(b"\xff\xd8" + bytes(1000))
    yield d.parent
    for s, h in saved.items():
        signal.signal(s, h)


def _raw_controls(text: str) -> list[str]:
    return [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7F <= ord(c) <= 0x9F]


@pytest.mark.parametrize("extra", [["--dry-run"], []])
def test_upload_refuses_with_exit_2_and_names_the_files_safely(capfd, folder, extra):
    code = main(["upload", str(folder), FAKE_SAS, "--yes", "--allow-sleep", *extra])
    out, err = capfd.readouterr()
    assert code == 2, out + err
    assert "Names:    3 file(s) cannot go up as they are named" in err  # the plan line
    assert "mdplan: 3 file(s) cannot go up as they are named, so nothing was sent" in err
    assert "IMG\\x1b[31m\\x9b2J_0001.JPG" in err and "IMG_0002.JPG." in err and "NFD" in err
    assert "Rename them" in err
    assert _raw_controls(out + err) == []
    assert "S3cretSig" not in out + err


def test_json_error_carries_the_message_with_visible_escapes(capfd, folder):
    code = main(["upload", str(folder), FAKE_SAS, "--yes", "--allow-sleep", "--json"])
    out, _ = capfd.readouterr()
    assert code == 2
    data = json.loads(out)
    assert data["exit_code"] == 2 and "cannot go up as they are named" in data["message"]
    assert "\x1b" not in data["message"] and "\\x1b" in data["message"]
    assert _raw_controls(out) == []


def test_estimate_shows_a_folder_with_an_escape_sequence_safely(capfd, tmp_path, monkeypatch):
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    d = tmp_path / "set" / "site\x1b]0;pwned\x07"
    d.mkdir(parents=True)
    (d / "IMG_0001.JPG").write_bytes(b"\xff\xd8" + bytes(1000))
    code = main(["estimate", str(tmp_path / "set"), "--bandwidth", "10Mbps"])
    out, err = capfd.readouterr()
    assert code == 0, out + err
    assert _raw_controls(out + err) == [] and "site\\x1b]0;pwned\\x07" in out


def test_terminal_safe_keeps_line_breaks_and_escapes_the_rest():
    assert terminal_safe("a\nb\x1b[2Jc\rd") == "a\nb\\x1b[2Jc\\x0dd"


def test_json_output_escapes_c1_controls_and_stays_json(capsys):
    from planner.cli.output import print_json

    print_json({"name": "IMG\x9b2J\x1b\x7f_é.jpg"})
    out = capsys.readouterr().out
    assert _raw_controls(out) == []
    assert json.loads(out) == {"name": "IMG\x9b2J\x1b\x7f_é.jpg"}
