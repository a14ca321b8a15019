"""Names that cannot go up as they are (control characters, a trailing '.', NFC/NFD twins, too long, bytes
that are not UTF-8) stop the upload before anything is sent: exit 2, the files named safely (issues 13, 17).
Against the in-memory store; tests/integration/test_upload_bad_names.py does the same against Azurite."""

from __future__ import annotations

import os
import random
import sys
import unicodedata
from pathlib import Path

import pytest

from planner.clock import FakeClock
from planner.errors import BadInput, ExitCode
from planner.memory_store import MemoryBlobStore
from planner.sas import parse_sas_url
from planner.transfer import UploadOptions, run

URL = ("http://127.0.0.1:10000/devstoreaccount1/traps?sv=2021-08-06&se=2099-01-01T00%3A00%3A00Z&sr=c"
       "&sp=racwdl&sig=c2VjcmV0c2VjcmV0c2VjcmV0")
NFC = unicodedata.normalize("NFC", "café.jpg")
NFD = unicodedata.normalize("NFD", "café.jpg")

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"),
                                reason="needs a file system that keeps any byte in a name (Linux)")


def write(root: Path, rel: str, data: bytes = b"x" * 100) -> None:
    p = root.joinpath(*rel.split("/"))
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def go(root: Path, home: Path, store: MemoryBlobStore, **kw):
    return run(UploadOptions(source=root, sas=parse_sas_url(URL), home=home, workers=2, **kw), store=store,
               clock=FakeClock(), rng=random.Random(3))


@pytest.mark.parametrize("bad, words", [
    ("site/IMG\x1b[31m_0001.JPG", "control character (\\x1b)"),
    ("site/IMG_0002.JPG.", "ends with '.'"),
    ("site./IMG_0003.JPG", "ends with '.'"),
    ("/".join(["d" * 200] * 6) + "/x.jpg", "characters long"),
])
def test_a_name_azure_would_refuse_or_change_stops_the_upload_before_sending(tmp_path, bad, words):
    root = tmp_path / "src"
    write(root, "site/IMG_0000.JPG")
    try:
        write(root, bad)
    except OSError as e:  # a name over the file system's 255 bytes per part
        pytest.skip(f"this file system cannot hold the name: {e}")
    store = MemoryBlobStore()
    with pytest.raises(BadInput) as caught:
        go(root, tmp_path / "h", store)
    message = str(caught.value)
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert "1 file(s) cannot go up as they are named" in message and words in message
    assert "Rename" in message and "nothing was sent" in message
    assert "\x1b" not in message
    assert store.blobs == {} and store.requests["put"] == 0


def test_nfc_and_nfd_twins_stop_the_upload_and_say_which_to_rename(tmp_path):
    root = tmp_path / "src"
    write(root, f"s/{NFC}", b"one")
    write(root, f"s/{NFD}", b"two-two")
    write(root, "s/other.jpg")
    store = MemoryBlobStore()
    with pytest.raises(BadInput) as caught:
        go(root, tmp_path / "h", store)
    message = str(caught.value)
    assert "1 file(s) cannot go up" in message
    assert "NFD" in message and "NFC" in message and "rename one of them" in message
    assert store.blobs == {}
    (root / "s" / NFD).rename(root / "s" / "café-2.jpg")
    result, _ = go(root, tmp_path / "h", store)
    assert result.exit_code == 0 and len(store.blobs) == 3


def test_a_dry_run_shows_them_in_the_plan_and_says_the_same(tmp_path):
    root = tmp_path / "src"
    write(root, "a.jpg.")
    write(root, "b\x07.jpg")
    seen = []

    class UI:
        def plan(self, plan):
            seen.append(plan)

        def __getattr__(self, name):
            return lambda *a, **k: None

    with pytest.raises(BadInput, match="2 file"):
        run(UploadOptions(source=root, sas=parse_sas_url(URL), home=tmp_path / "h", dry_run=True), UI(),
            store=MemoryBlobStore(), clock=FakeClock())
    assert seen[0].bad_names == 2
    assert all("\x07" not in name for name, _ in seen[0].bad_name_examples)


def test_bytes_that_are_not_utf8_are_named_safely_not_a_crash(tmp_path):
    root = tmp_path / "src"
    write(root, "ok.jpg")
    (root / os.fsdecode(b"IMG_\xff.jpg")).write_bytes(b"y")
    store = MemoryBlobStore()
    with pytest.raises(BadInput) as caught:
        go(root, tmp_path / "h", store)
    assert "IMG_\\udcff.jpg" in str(caught.value) and "not valid text" in str(caught.value)
    assert store.blobs == {}


def test_once_renamed_everything_goes_up(tmp_path):
    root = tmp_path / "src"
    write(root, "s/ok.jpg")
    write(root, "s/bad.jpg.")
    store = MemoryBlobStore()
    with pytest.raises(BadInput):
        go(root, tmp_path / "h", store)
    (root / "s" / "bad.jpg.").rename(root / "s" / "bad.jpg")
    result, _ = go(root, tmp_path / "h", store)
    assert result.exit_code == 0 and set(store.blobs) == {"s/ok.jpg", "s/bad.jpg"}


def test_a_left_out_file_with_a_bad_name_does_not_stop_the_upload(tmp_path):
    root = tmp_path / "src"
    write(root, "s/ok.jpg")
    write(root, "s/notes\x1b.txt")
    store = MemoryBlobStore()
    result, _ = go(root, tmp_path / "h", store, exclude=["*.txt"])
    assert result.exit_code == 0 and set(store.blobs) == {"s/ok.jpg"}


def test_verify_calls_twins_and_bad_names_by_their_name_not_md5_differs(tmp_path):
    """Issue 17: with twins uploaded by an older mdplan, verify said "MD5 differs" for one of them."""
    from planner.scan import iter_files
    from planner.verify import verify

    root = tmp_path / "src"
    write(root, f"s/{NFC}", b"one")
    write(root, f"s/{NFD}", b"two-two")
    write(root, "s/a.jpg.", b"dotted")
    write(root, "s/a.jpg", b"plain!")
    store = MemoryBlobStore()
    first = next(e for e in iter_files(root) if e.rel_path.endswith(".jpg") and "caf" in e.rel_path)
    store.add(unicodedata.normalize("NFC", first.rel_path), Path(first.path).read_bytes())
    store.add("s/a.jpg", b"dotted")  # what Azure made of 'a.jpg.': it trimmed the dot, over a.jpg
    res = verify(root, parse_sas_url(URL), home=tmp_path / "h", store=store)
    problems = {d.rel_path: d.problem for d in res.differences}
    assert problems["s/a.jpg."] == "bad name"
    assert problems["s/a.jpg"] == "MD5 differs"
    twin = NFD if first.rel_path.endswith(NFC) else NFC
    assert problems[f"s/{twin}"] == "name twin"
    assert first.rel_path not in problems  # the one the blob holds matches
