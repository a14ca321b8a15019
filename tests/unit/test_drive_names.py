"""The pure rules: which relative paths each target file system can hold (issue 16)."""

from __future__ import annotations

import pytest

from planner.drive.names import FAT32_MAX_FILE, check_paths, name_problem, rules_for
from planner.drive.target import fs_type_linux

WINDOWS_FS = ["exfat", "ntfs", "vfat", "fuseblk", "ntfs3"]


@pytest.mark.parametrize("fs", WINDOWS_FS)
@pytest.mark.parametrize("name", ["a:b.jpg", "what?.jpg", 'q"uote.jpg', "x<y>.jpg", "p|ipe.jpg", "st*r.jpg",
                                  "back\\slash.jpg", "tab\there.jpg", "dot.", "space ", "CON", "con.txt",
                                  "LPT1.jpg", "nul", "COM9.tar.gz", "a" * 256])
def test_windows_file_systems_refuse_names_windows_cannot_hold(fs, name):
    assert name_problem(name, rules_for(fs)) is not None


@pytest.mark.parametrize("fs", WINDOWS_FS)
@pytest.mark.parametrize("name", ["IMG_0001.JPG", "site 1", ".hidden", "CONSOLE.jpg", "é" * 255, "a.b.c"])
def test_windows_file_systems_keep_ordinary_names(fs, name):
    assert name_problem(name, rules_for(fs)) is None


@pytest.mark.parametrize("fs", ["ext4", "xfs", "btrfs"])
def test_unix_file_systems_only_limit_the_length_in_bytes(fs):
    rules = rules_for(fs)
    assert name_problem("a:b?.jpg", rules) is None
    assert name_problem("CON", rules) is None
    assert name_problem("é" * 127, rules) is None  # 254 bytes
    assert name_problem("é" * 128, rules) is not None  # 256 bytes


def test_fat32_refuses_files_of_4_gib_and_more_but_exfat_does_not():
    entries = [("small.jpg", 10), ("video.mp4", FAT32_MAX_FILE + 1), ("edge.mp4", FAT32_MAX_FILE)]
    fat = check_paths(entries, rules_for("vfat"))
    assert [p.rel_path for p in fat] == ["video.mp4"]
    assert "4 GiB" in fat[0].reason
    assert check_paths(entries, rules_for("exfat")) == []


def test_a_bad_folder_name_is_reported_on_its_file():
    problems = check_paths([("site:1/IMG.JPG", 1), ("ok/IMG.JPG", 1)], rules_for("exfat"))
    assert [p.rel_path for p in problems] == ["site:1/IMG.JPG"]


def test_names_differing_only_in_case_collide_on_windows_file_systems_only():
    entries = [("cam/IMG_1.JPG", 1), ("cam/img_1.jpg", 1)]
    problems = check_paths(entries, rules_for("ntfs"))
    assert [p.rel_path for p in problems] == ["cam/img_1.jpg"] and "case" in problems[0].reason
    assert check_paths(entries, rules_for("ext4")) == []


def test_paths_too_long_for_windows_are_refused():
    deep = "/".join(["f" * 50] * 5) + "/x.jpg"  # 261 characters
    assert check_paths([(deep, 1)], rules_for("exfat"), bag_root_chars=10)
    assert not check_paths([(deep, 1)], rules_for("ext4"), bag_root_chars=10)


def test_an_unknown_file_system_gets_the_safe_windows_rules():
    assert rules_for("something-new").windows_names


def test_the_file_system_is_the_longest_mount_point_holding_the_target(tmp_path):
    mounts = ("/dev/sda1 / ext4 rw 0 0\n"
              f"/dev/loop0 {tmp_path} vfat rw 0 0\n"
              f"/dev/loop1 {tmp_path}/x\\040y fuseblk rw 0 0\n")
    assert fs_type_linux(tmp_path / "bag", mounts) == "vfat"
    (tmp_path / "x y").mkdir()
    assert fs_type_linux(tmp_path / "x y" / "bag", mounts) == "fuseblk"
    assert fs_type_linux(tmp_path.parent, mounts) == "ext4"


def test_map_names_gives_each_bad_name_a_safe_unique_one_and_keeps_good_names():
    from planner.drive.names import map_paths

    rels = ["a/IMG.JPG", "a/img.jpg", "a/what?.jpg", "a/what_.jpg", "CON.txt", "dir./x.jpg", "ok.jpg"]
    m = map_paths(rels, rules_for("exfat"))
    assert "ok.jpg" not in m and "a/IMG.JPG" not in m and "a/what_.jpg" not in m
    assert m["CON.txt"] == "_CON.txt" and m["dir./x.jpg"] == "dir_/x.jpg"
    assert m["a/what?.jpg"] not in rels and m["a/img.jpg"].casefold() != "a/img.jpg"
    final = [m.get(r, r) for r in rels]
    assert check_paths([(r, 1) for r in final], rules_for("exfat")) == []
    assert len({r.casefold() for r in final}) == len(rels)
