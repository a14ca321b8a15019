"""The scanner on generated trees: exact counts and bytes, litter, problems, links and odd names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.errors import BadInput
from planner.scan import Kind, classify, iter_files, scan


def write(root: Path, rel: str, size: int) -> None:
    p = root.joinpath(*rel.split("/"))
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"\0" * size)


TREE = {
    "site1/cam1/DCIM/IMG_0001.JPG": 1000,
    "site1/cam2/DCIM/IMG_0001.JPG": 2000,  # same name, other camera
    "site1/cam2/clip.MP4": 5000,
    "site2/notes.txt": 10,
    "site2/sub dir/IMG #1 100% été 写真.jpeg": 300,
    "site2/Thumbs.db": 7,
    "site2/._IMG.JPG": 4,
    "$RECYCLE.BIN/S-1-5/IMG_9.jpg": 50,
    "top.png": 1,
    "empty.tif": 0,
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel, size in TREE.items():
        write(tmp_path / "set", rel, size)
    return tmp_path / "set"


def test_exact_counts_bytes_and_kinds(tree):
    s = scan(tree)
    assert s.files == len(TREE) and s.bytes == sum(TREE.values())
    assert s.kind(Kind.IMAGE).files == 5 and s.kind(Kind.IMAGE).bytes == 1000 + 2000 + 300 + 1 + 0
    assert s.kind(Kind.VIDEO).files == 1 and s.kind(Kind.VIDEO).bytes == 5000
    assert s.kind(Kind.LITTER).files == 3 and s.kind(Kind.LITTER).bytes == 7 + 4 + 50
    assert s.kind(Kind.OTHER).files == 1 and s.other_extensions == {".txt": 1}
    assert s.upload_files == 7 and s.upload_bytes == sum(TREE.values()) - 61
    sites = {x.site: x for x in s.sites}
    assert sites["site1"].files == 3 and sites["site1"].bytes == 8000 and sites["site1"].videos == 1
    assert sites["(top folder)"].files == 2
    assert s.duplicate_names == 1
    assert s.sizes.largest[0] == (5000, "site1/cam2/clip.MP4")
    assert s.problems == [] and s.symlinks == 0


def test_names_with_spaces_and_unicode_come_back_exactly(tree):
    rels = {e.rel_path for e in iter_files(tree)}
    assert rels == set(TREE)


def test_size_quantiles_are_within_one_percent(tmp_path):
    sizes = [1000 * (i + 1) for i in range(200)]
    for i, n in enumerate(sizes):
        write(tmp_path / "q", f"a/{i}.jpg", n)
    s = scan(tmp_path / "q")
    assert s.sizes.median == pytest.approx(sorted(sizes)[99], rel=0.011)
    assert s.sizes.p95 == pytest.approx(sorted(sizes)[189], rel=0.011)
    assert sum(n for _, _, n in s.size_histogram) == 200


def test_unreadable_folder_is_reported_and_the_walk_goes_on(tree, monkeypatch):
    real = os.scandir
    blocked = str(tree / "site2")

    def fake(path):
        if str(path) == blocked:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", fake)
    s = scan(tree)
    assert ("site2", "permission denied") in s.problems
    assert s.files == len(TREE) - 4  # site2's four files were not reachable; the rest were counted


def test_symlinks_are_reported_not_followed_and_loops_are_cut(tree, tmp_path):
    outside = tmp_path / "outside"
    write(outside, "secret.jpg", 99)
    os.symlink(outside, tree / "site1" / "link-out")
    os.symlink(tree / "site1", tree / "site1" / "cam1" / "loop")
    s = scan(tree)
    assert s.symlinks == 2 and s.files == len(TREE)
    kinds = {e.rel_path: e.kind for e in iter_files(tree)}
    assert kinds["site1/link-out"] is Kind.SYMLINK
    followed = scan(tree, follow_symlinks=True)
    assert not any("secret" in e.rel_path for e in iter_files(tree, follow_symlinks=True))
    assert any("outside the folder" in r for _, r in followed.problems)
    assert any("loop" in r for _, r in followed.problems)


def test_bad_roots(tmp_path):
    with pytest.raises(BadInput):
        scan(tmp_path / "missing")
    f = tmp_path / "f.jpg"
    f.write_bytes(b"x")
    with pytest.raises(BadInput):
        scan(f)


def test_deep_trees_need_no_recursion(tmp_path):
    deep = tmp_path / "d"
    p = deep
    for i in range(60):
        p = p / f"l{i}"
    p.mkdir(parents=True)
    (p / "x.jpg").write_bytes(b"1")
    [e] = list(iter_files(deep))
    assert e.rel_path.count("/") == 60


@pytest.mark.parametrize("rel,kind", [
    ("a/IMG.JPG", Kind.IMAGE), ("a/b.Jpeg", Kind.IMAGE), ("x.AVIF", Kind.IMAGE), ("v.MOV", Kind.VIDEO),
    ("System Volume Information/x.jpg", Kind.LITTER), ("a/.Spotlight-V100/x", Kind.LITTER),
    ("desktop.ini", Kind.LITTER), ("a/.DS_Store", Kind.LITTER), ("a/._x.jpg", Kind.LITTER),
    ("a/readme", Kind.OTHER), ("a/data.csv", Kind.OTHER),
])
def test_classify(rel, kind):
    assert classify(rel) is kind


@given(st.text(min_size=1, max_size=40))
def test_classify_never_fails(name):
    assert isinstance(classify(name), Kind)
