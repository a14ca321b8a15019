"""`mdplan demo` never deletes what mdplan did not make (issue 13).

Seen on main: the demo deleted an existing `sample-camera-traps` folder with whatever the user had put
in it. These run the practice demo (`demo --serve`, which starts its own emulator) on folders a user
could have.
"""

from __future__ import annotations

from pathlib import Path

from planner.demo import serve_practice

SAMPLE_NAME = "sample-camera-traps"  # the name the demo has always used


def _serve(workdir: Path) -> Path:
    seen: list[Path] = []
    serve_practice(workdir, files=10, say=lambda _: None, ready=lambda p: seen.append(p.sample_folder))
    return seen[0]


def test_a_users_folder_with_the_sample_name_survives_the_demo(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    mine = workdir / SAMPLE_NAME / "my photos" / "IMG_9999.JPG"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"\xff\xd8 my only copy \xff\xd9")

    first = _serve(workdir)
    assert mine.read_bytes() == b"\xff\xd8 my only copy \xff\xd9"
    assert first == (workdir / f"{SAMPLE_NAME}-2").resolve()
    assert any(first.rglob("*.JPG"))

    again = _serve(workdir)  # the folder mdplan made is replaced in place, the user's is still left alone
    assert again == first and mine.exists()


def test_a_file_added_to_the_sample_set_keeps_the_whole_folder(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    made = _serve(workdir)
    assert made == (workdir / SAMPLE_NAME).resolve()
    added = made / "site-01" / "my-own.jpg"
    added.write_bytes(b"practised with my own file")
    camera_file = next(made.rglob("IMG_*.JPG"))

    second = _serve(workdir)
    assert second == (workdir / f"{SAMPLE_NAME}-2").resolve()
    assert added.read_bytes() == b"practised with my own file" and camera_file.exists()
