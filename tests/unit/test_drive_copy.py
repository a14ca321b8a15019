"""`mdplan drive copy` and `drive check` on plain folders: bags valid for the Library of Congress `bagit`
library, upload's selection, refusals, drives that fill, resumes, read-back failures (issue 16)."""

from __future__ import annotations

import os
from pathlib import Path

import bagit
import pytest

import planner.drive.prepare as prepare
from planner.cli import main
from planner.drive import DriveOptions, check_bag, copy_to_drive, read_bag
from planner.drive.copyfile import PART_SUFFIX
from planner.errors import BadInput
from planner.journal.rates import last_drive_copy_rate


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    monkeypatch.setenv("MDPLAN_HOME", str(h))
    return h


def make_set(root: Path, n: int = 6, size: int = 10_000) -> dict[str, bytes]:
    files = {f"site{i % 2}/cam/IMG_{i:04d}.JPG": os.urandom(size + i) for i in range(n)}
    files["site0/clip.mp4"] = os.urandom(3000)
    for rel, data in {**files, "Thumbs.db": b"x", "site1/.DS_Store": b"y"}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return files


def payload(bag: Path) -> dict[str, bytes]:
    data = bag / "data"
    return {p.relative_to(data).as_posix(): p.read_bytes() for p in data.rglob("*") if p.is_file()}


def test_a_set_becomes_a_valid_bag_with_upload_selection(tmp_path):
    files = make_set(tmp_path / "src")
    res = copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "drive" / "bag"))
    assert res.outcome == "finished" and res.exit_code == 0
    bag = tmp_path / "drive" / "bag"
    bagit.Bag(str(bag)).validate()  # the reference library, full checksum validation
    assert payload(bag) == files  # litter left out, names kept
    info = read_bag(bag).info
    assert info["Bag-Count"] == "1 of 1" and info["Payload-Oxum"] == f"{sum(map(len, files.values()))}.{len(files)}"
    assert check_bag(bag).exit_code == 0
    assert not list(bag.rglob(f"*{PART_SUFFIX}"))


def test_images_only_is_the_same_selection_as_upload(tmp_path):
    files = make_set(tmp_path / "src")
    copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "bag", images_only=True))
    assert set(payload(tmp_path / "bag")) == {r for r in files if r.endswith(".JPG")}


def test_names_the_file_system_cannot_hold_stop_the_copy_before_anything_is_written(tmp_path):
    make_set(tmp_path / "src")
    (tmp_path / "src" / "site0" / "what?.jpg").write_bytes(b"z")
    (tmp_path / "src" / "CON.jpg").write_bytes(b"z")
    res = copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "bag", fs_type="exfat"))
    assert res.outcome == "refused" and res.exit_code == 2
    assert sorted(p.rel_path for p in res.problems) == ["CON.jpg", "site0/what?.jpg"]
    assert not (tmp_path / "bag").exists()


def test_a_set_larger_than_a_drive_fills_it_and_the_next_run_continues_on_the_next(tmp_path, monkeypatch):
    files = make_set(tmp_path / "src", n=9, size=100_000)
    capacity = {"free": 2 * 1024 * 1024 + 350_000}  # the reserve asked for (2 MiB) plus room for 3 files

    def fake_free(path):
        used = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
        return capacity["free"] - used

    monkeypatch.setattr(prepare, "free_bytes", fake_free)
    monkeypatch.setattr(prepare, "target_info", lambda p: prepare.TargetInfo(str(p), "ext4", fake_free(tmp_path / "none"),
                                                                              capacity["free"], 4096))
    (tmp_path / "none").mkdir()
    seen: dict[str, int] = {}
    for n in range(1, 10):
        bag = tmp_path / f"drive{n}" / "bag"
        res = copy_to_drive(DriveOptions(tmp_path / "src", bag, reserve_bytes=2 * 1024 * 1024))
        bagit.Bag(str(bag)).validate()
        for rel in payload(bag):
            assert rel not in seen, f"{rel} on drives {seen[rel]} and {n}"
            seen[rel] = n
        if res.outcome == "finished":
            assert read_bag(bag).info["Bag-Count"] == f"{n} of {n}"
            break
        assert res.outcome == "drive full" and res.exit_code == 0
        assert f"drive {n} is full: {res.files_on_drive} of {len(files)} files" in res.message
        assert read_bag(bag).info["Bag-Count"] == f"{n} of ?"
    assert set(seen) == set(files) and max(seen.values()) > 1


def test_a_resumed_copy_replaces_what_a_crash_or_pulled_drive_lost(tmp_path):
    files = make_set(tmp_path / "src")
    bag = tmp_path / "bag"
    copy_to_drive(DriveOptions(tmp_path / "src", bag))
    lost = sorted(files)[0]
    (bag / "data" / lost).unlink()
    (bag / "data" / "site0" / f"~0123{PART_SUFFIX}").write_bytes(b"half")
    res = copy_to_drive(DriveOptions(tmp_path / "src", bag))
    assert res.files_copied == 1 and res.exit_code == 0
    assert check_bag(bag).exit_code == 0 and payload(bag) == files


def test_a_file_the_drive_gives_back_wrong_is_not_recorded(tmp_path, monkeypatch):
    files = make_set(tmp_path / "src")
    bad = sorted(files)[1]
    import planner.drive.copyfile as cf

    real = cf._read_back
    monkeypatch.setattr(cf, "_read_back", lambda part: "0" * 32 if part.parent.name == Path(bad).parent.name
                        and len(files[bad]) == part.stat().st_size else real(part))
    res = copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "bag"))
    assert res.exit_code == 1 and [r for r, _ in res.failed] == [bad]
    assert "drive gave back other bytes" in res.failed[0][1]
    assert bad not in payload(tmp_path / "bag")
    bagit.Bag(str(tmp_path / "bag")).validate()


def test_check_names_every_missing_changed_and_extra_file(tmp_path):
    files = make_set(tmp_path / "src")
    bag = tmp_path / "bag"
    copy_to_drive(DriveOptions(tmp_path / "src", bag))
    gone, changed = sorted(files)[:2]
    (bag / "data" / gone).unlink()
    (bag / "data" / changed).write_bytes(b"changed")
    (bag / "data" / "extra.jpg").write_bytes(b"extra")
    res = check_bag(bag)
    assert (res.missing, res.changed, res.extra, res.exit_code) == ([gone], [changed], ["extra.jpg"], 1)
    assert main(["drive", "check", str(bag)]) == 1


def test_check_through_fuse_drops_the_drives_device_cache_before_reading(tmp_path, monkeypatch):
    import planner.drive.check as check

    make_set(tmp_path / "src")
    copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "bag"))
    log = []
    real_md5 = check._md5
    monkeypatch.setattr(check, "fuse_device", lambda path: "/dev/sdb1")
    monkeypatch.setattr(check, "drop_device_cache", lambda device: log.append(("drop", device)) or True)
    monkeypatch.setattr(check, "_md5", lambda path: log.append(("read", "")) or real_md5(path))
    assert check_bag(tmp_path / "bag").exit_code == 0
    assert log[0] == ("drop", "/dev/sdb1") and {e for e, _ in log[1:]} == {"read"}


def test_check_exit_codes(tmp_path, capsys):
    make_set(tmp_path / "src")
    assert main(["drive", "copy", str(tmp_path / "src"), str(tmp_path / "bag")]) == 0
    assert main(["drive", "check", str(tmp_path / "bag")]) == 0
    assert main(["drive", "check", str(tmp_path / "src")]) == 2
    with pytest.raises(BadInput):
        check_bag(tmp_path / "src")


def test_the_target_must_be_empty_or_this_sets_bag(tmp_path):
    make_set(tmp_path / "src")
    make_set(tmp_path / "other")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(BadInput):
        copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "busy"))
    copy_to_drive(DriveOptions(tmp_path / "other", tmp_path / "bag"))
    with pytest.raises(BadInput, match="another set"):
        copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "bag"))
    with pytest.raises(BadInput, match="overlap"):
        copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "src" / "bag"))


def test_the_measured_copy_rate_is_remembered_for_estimate(tmp_path, monkeypatch, home):
    monkeypatch.setattr(prepare, "MIN_BYTES_FOR_RATE", 0)
    make_set(tmp_path / "src")
    assert last_drive_copy_rate() is None
    res = copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "bag"))
    assert last_drive_copy_rate() == pytest.approx(res.copy_bytes_per_second)
    from planner.assessment import remembered_drive_speed

    assert remembered_drive_speed() == pytest.approx(res.copy_bytes_per_second)


def test_map_names_copies_odd_names_under_safe_ones_and_the_bag_records_the_originals(tmp_path):
    files = make_set(tmp_path / "src")
    for odd in ("site0/what?.jpg", "CON.jpg"):
        (tmp_path / "src" / odd).write_bytes(odd.encode())
    res = copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "bag", fs_type="exfat", map_names=True))
    assert res.exit_code == 0, res.problems
    bag = read_bag(tmp_path / "bag")
    assert set(bag.original_names.values()) == {"site0/what?.jpg", "CON.jpg"}
    on_drive = payload(tmp_path / "bag")
    for drive_name, original in bag.original_names.items():
        assert on_drive[drive_name] == original.encode()
    assert {k: v for k, v in on_drive.items() if k not in bag.original_names} == files
    bagit.Bag(str(tmp_path / "bag")).validate()
    assert check_bag(tmp_path / "bag").exit_code == 0
