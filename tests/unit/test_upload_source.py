"""What upload and verify read for a folder (planner.drive.upload_source): a plain folder as it is, a bag's
payload with its manifest; the library says it, the CLI only prints the note."""

from __future__ import annotations

import hashlib

import pytest

from planner.drive import upload_source
from planner.errors import BadInput


def test_a_plain_folder_is_read_as_it_is(tmp_path):
    (tmp_path / "IMG_0001.JPG").write_bytes(b"x")
    found = upload_source(tmp_path)
    assert (found.folder, found.expected_md5, found.blob_names, found.note) == (tmp_path, None, None, None)


def test_a_bag_gives_its_payload_and_its_manifest(tmp_path):
    bagit = pytest.importorskip("bagit")
    (tmp_path / "site A").mkdir()
    (tmp_path / "site A" / "IMG_0001.JPG").write_bytes(b"jpeg bytes")
    bagit.make_bag(str(tmp_path), checksums=["md5"])
    found = upload_source(tmp_path)
    assert found.folder == tmp_path / "data"
    assert found.expected_md5 == {"site A/IMG_0001.JPG": hashlib.md5(b"jpeg bytes").hexdigest()}
    assert found.note and "is a bag" in found.note and "1 files" in found.note


def test_a_broken_bag_is_bad_input(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "bagit.txt").write_text("not a bag declaration\n")
    with pytest.raises(BadInput):
        upload_source(tmp_path)
