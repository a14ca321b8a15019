"""The receiving side of a mailed drive against a real Azurite (issue 16): `mdplan upload BAG SAS` sends
the payload under the original names (not data/...), and a file whose bytes differ from the bag's
manifest fails by name and is never committed; `mdplan verify BAG SAS` uses the manifest."""

from __future__ import annotations

import os
from pathlib import Path

from planner.cli import main
from planner.drive import DriveOptions, copy_to_drive


def make_set(root: Path) -> dict[str, bytes]:
    files = {f"site{i % 2}/cam/IMG_{i:04d}.JPG": os.urandom(20_000 + i) for i in range(6)}
    files["site0/big/video.mp4"] = os.urandom(9 * 1024 * 1024 + 5)  # over one request: sent in blocks
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def names(azurite, container: str) -> set[str]:
    return {b.name for b in azurite.service_client().get_container_client(container).list_blobs()}


def test_a_bag_uploads_under_its_original_names_and_verifies_against_its_manifest(azurite, container, tmp_path,
                                                                                    monkeypatch, capsys):
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    files = make_set(tmp_path / "src")
    bag = tmp_path / "drive" / "bag"
    assert copy_to_drive(DriveOptions(tmp_path / "src", bag)).exit_code == 0
    url = azurite.container_sas_url(container, permission="racwdl")
    assert main(["upload", str(bag), url, "--yes", "--report", str(tmp_path / "r.html")]) == 0
    assert names(azurite, container) == set(files)
    assert main(["verify", str(bag), url]) == 0
    assert "under their original names" in capsys.readouterr().err


def test_a_file_damaged_on_the_drive_fails_by_name_and_is_not_sent(azurite, container, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    files = make_set(tmp_path / "src")
    bag = tmp_path / "bag"
    copy_to_drive(DriveOptions(tmp_path / "src", bag))
    small, large = "site1/cam/IMG_0001.JPG", "site0/big/video.mp4"
    for rel in (small, large):  # same size, other bytes: only the MD5 can tell
        p = bag / "data" / rel
        data = bytearray(p.read_bytes())
        data[100] ^= 0xFF
        p.write_bytes(bytes(data))
    url = azurite.container_sas_url(container, permission="racwdl")
    code = main(["upload", str(bag), url, "--yes", "--json", "--report", str(tmp_path / "r.html")])
    assert code == 1
    assert names(azurite, container) == set(files) - {small, large}
    import csv

    rows = {r["relative_path"]: r for r in csv.DictReader(open(tmp_path / "r.csv", encoding="utf-8-sig"))}
    for rel in (small, large):
        assert "bag's manifest" in rows[rel]["note"], rows[rel]
    # verify holds the container to the manifest: the two are missing
    assert main(["verify", str(bag), url]) == 1


def test_a_bag_with_mapped_names_uploads_under_the_original_names(azurite, container, tmp_path, monkeypatch):
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    files = make_set(tmp_path / "src")
    (tmp_path / "src" / "site0" / "what?.jpg").write_bytes(b"odd")
    files["site0/what?.jpg"] = b"odd"
    bag = tmp_path / "bag"
    assert copy_to_drive(DriveOptions(tmp_path / "src", bag, fs_type="exfat", map_names=True)).exit_code == 0
    assert not (bag / "data" / "site0" / "what?.jpg").exists()
    url = azurite.container_sas_url(container, permission="racwdl")
    assert main(["upload", str(bag), url, "--yes", "--report", str(tmp_path / "r.html")]) == 0
    assert names(azurite, container) == set(files)
    assert main(["verify", str(bag), url]) == 0
