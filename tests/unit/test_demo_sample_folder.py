"""The demo's sample folder: replaced only while it holds exactly what mdplan made (no emulator)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from planner.demo import MARKER_SUFFIX, SAMPLE_NAME, mark_sample_folder, prepare_sample_folder, remove_sample_folder
from planner.errors import BadInput
from planner.sample import generate_sample_set


def _made(workdir: Path) -> Path:
    folder = prepare_sample_folder(workdir, say=lambda _: None)
    generate_sample_set(folder, files=12, mean_bytes=2_000, seed=1)
    mark_sample_folder(folder)
    return folder


def test_missing_and_empty_folders_are_used_and_a_made_one_is_replaced(tmp_path: Path) -> None:
    assert prepare_sample_folder(tmp_path) == tmp_path / SAMPLE_NAME
    (tmp_path / SAMPLE_NAME).mkdir()
    assert prepare_sample_folder(tmp_path) == tmp_path / SAMPLE_NAME
    folder = _made(tmp_path)
    assert (tmp_path / (SAMPLE_NAME + MARKER_SUFFIX)).exists()
    assert prepare_sample_folder(tmp_path) == folder and not folder.exists()
    assert not (tmp_path / (SAMPLE_NAME + MARKER_SUFFIX)).exists()


def _changed_file(folder: Path) -> None:
    f = next(folder.rglob("IMG_*.JPG"))
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))  # a photo copied over it


def _added_folder(folder: Path) -> None:
    (folder / "site-01" / "mine").mkdir()


def _link(folder: Path) -> None:
    (folder / "link").symlink_to(folder.parent)


@pytest.mark.parametrize("change", [_changed_file, _added_folder, _link])
def test_anything_changed_or_added_keeps_the_folder_whole(tmp_path: Path, change) -> None:
    folder = _made(tmp_path)
    before = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    change(folder)
    said: list[str] = []
    assert prepare_sample_folder(tmp_path, say=said.append) == tmp_path / f"{SAMPLE_NAME}-2"
    assert set(before) <= {p.relative_to(folder).as_posix() for p in folder.rglob("*")}
    assert said and "did not make" in said[0]


def test_no_marker_or_a_damaged_one_means_someone_elses(tmp_path: Path) -> None:
    folder = _made(tmp_path)
    marker = tmp_path / (SAMPLE_NAME + MARKER_SUFFIX)
    marker.write_text("{not json", encoding="utf-8")
    assert not remove_sample_folder(folder) and folder.exists()
    marker.unlink()
    assert not remove_sample_folder(folder) and folder.exists()


def test_a_file_with_the_sample_name_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / SAMPLE_NAME).write_text("notes", encoding="utf-8")
    assert prepare_sample_folder(tmp_path, say=lambda _: None) == tmp_path / f"{SAMPLE_NAME}-2"
    assert (tmp_path / SAMPLE_NAME).read_text(encoding="utf-8") == "notes"


def test_when_every_name_is_taken_it_says_so(tmp_path: Path) -> None:
    for n in range(1, 100):
        (tmp_path / (SAMPLE_NAME if n == 1 else f"{SAMPLE_NAME}-{n}")).write_text("x", encoding="utf-8")
    with pytest.raises(BadInput, match="--workdir"):
        prepare_sample_folder(tmp_path, say=lambda _: None)
