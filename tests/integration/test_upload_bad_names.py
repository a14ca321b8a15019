"""Against a real Azurite, through the real command: a set holding a name with an escape sequence, a
trailing-dot name and NFC/NFD twins is refused before anything is sent (exit 2, the container stays
empty), every such file is named safely, and no raw control character reaches the terminal (issues 13, 17).
On main the escape sequence reached the terminal raw, `a.jpg.` overwrote `a.jpg`, one of the twins was
never sent (exit 1 on every run), and a control-character blob broke the container's listings."""

from __future__ import annotations

import os
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"),
                                reason="needs a file system that keeps any byte in a name (Linux)")

NFC = unicodedata.normalize("NFC", "café.jpg")
NFD = unicodedata.normalize("NFD", "café.jpg")


def _tree(root: Path) -> None:
    for rel in ["site1/IMG_0001.JPG", "site1/IMG_0002.JPG", "site1/IMG_0002.JPG.",
                "site1/IMG\x1b[2J\x1b]0;pwned\x07.JPG", f"site2/{NFC}", f"site2/{NFD}"]:
        p = root.joinpath(*rel.split("/"))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(500))


def _upload(root: Path, url: str, home: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MDPLAN_HOME=str(home), COLUMNS="200")
    env.pop("MDPLAN_SAS", None)
    return subprocess.run([sys.executable, "-m", "planner", "upload", str(root), url, "--yes", "--allow-sleep",
                           "--report", str(home / "r.html"), *extra],
                          capture_output=True, text=True, env=env, timeout=300, cwd=home.parent)


def test_names_that_cannot_go_up_stop_the_upload_before_anything_is_sent(azurite, container, tmp_path):
    root = tmp_path / "set"
    _tree(root)
    url = azurite.container_sas_url(container)
    p = _upload(root, url, tmp_path / "home")
    out = p.stdout + p.stderr
    assert p.returncode == 2, out
    cc = azurite.service_client().get_container_client(container)
    assert list(cc.list_blobs()) == []
    assert "3 file(s) cannot go up as they are named" in out
    assert "IMG\\x1b[2J\\x1b]0;pwned\\x07.JPG" in out and "control character" in out
    assert "IMG_0002.JPG." in out and "ends with '.'" in out
    assert "NFD" in out and "NFC" in out and "rename one of them" in out
    assert not any(ord(c) < 0x20 and c not in "\n" for c in out), repr(out)
    assert "sig=" not in out.replace("sig=REDACTED", "")

    # renamed as advised: everything goes up, nothing fails for the names that went away
    (root / "site1" / "IMG_0002.JPG.").rename(root / "site1" / "IMG_0002b.JPG")
    (root / "site1" / "IMG\x1b[2J\x1b]0;pwned\x07.JPG").rename(root / "site1" / "IMG_0003.JPG")
    (root / "site2" / NFD).rename(root / "site2" / "café-2.jpg")
    p = _upload(root, url, tmp_path / "home")
    assert p.returncode == 0, p.stdout + p.stderr
    names = sorted(b.name for b in cc.list_blobs())
    assert names == sorted(["site1/IMG_0001.JPG", "site1/IMG_0002.JPG", "site1/IMG_0002b.JPG",
                            "site1/IMG_0003.JPG", f"site2/{NFC}", unicodedata.normalize("NFC", "site2/café-2.jpg")])
