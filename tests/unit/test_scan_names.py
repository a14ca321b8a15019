"""The scan counts the names that cannot go up as they are (issues 13, 17 item 6), so `estimate` can say so:
Azure's rules (planner.names) on the blob name upload would use, and NFC/NFD twins (two files that become
one blob). Checked a folder at a time, with the same verdict as the full per-file check."""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.journal import blob_name_for
from planner.names import blob_name_problem
from planner.scan import scan

NFC = unicodedata.normalize("NFC", "café.jpg")
NFD = unicodedata.normalize("NFD", "café.jpg")

pytestmark = pytest.mark.skipif(sys.platform in ("win32", "darwin"),
                                reason="needs a file system that keeps any byte in a name (Linux)")


def write(root: Path, rel: str, size: int = 10) -> None:
    p = root.joinpath(*rel.split("/"))
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"\xff\xd8" + bytes(size))


@pytest.fixture
def odd_set(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    for rel in ["site1/IMG_0001.JPG", f"site1/{NFC}", f"site1/{NFD}", "site1/IMG_0002.JPG.",
                "site1/IMG\x01_0003.JPG", "site1/notes\x1b[2J.txt", "site2/IMG_0001.JPG", f"site2/{NFC}",
                "$RECYCLE.BIN/S-1/IMG_9.JPG.",  # litter: never sent, so never refused
                "site3/old./IMG_0004.JPG", "site3/old./IMG_0005.JPG"]:  # a folder ending in '.': both files
        write(root, rel)
    return root


@pytest.mark.parametrize("workers", [1, 2])
def test_the_scan_counts_names_that_cannot_go_up_with_examples(odd_set, workers):
    s = scan(odd_set, workers=workers)
    assert s.files == 11 and s.upload_files == 10  # still counted as there: they are there
    assert s.names_refused == 6  # one twin, trailing dot, two control chars, two files in 'old.'
    assert s.names_refused_images == 4  # neither the .txt nor 'IMG_0002.JPG.' (its type is '.') is an image
    by_path = {p: (why, kind) for p, why, kind in s.names_refused_examples}
    twin = f"site1/{NFC}"  # the NFD one sorts first and is kept; the NFC one is the second of the pair
    assert set(by_path) == {twin, "site1/IMG_0002.JPG.", "site1/IMG\x01_0003.JPG", "site1/notes\x1b[2J.txt",
                            "site3/old./IMG_0004.JPG", "site3/old./IMG_0005.JPG"}
    assert "NFD" in by_path[twin][0] and "NFC" in by_path[twin][0] and "rename one" in by_path[twin][0]
    assert "ends with '.'" in by_path["site1/IMG_0002.JPG."][0]
    assert "\\x01" in by_path["site1/IMG\x01_0003.JPG"][0] and "\x01" not in by_path["site1/IMG\x01_0003.JPG"][0]
    assert by_path["site1/notes\x1b[2J.txt"][1] == "other" and by_path[twin][1] == "image"
    assert s.refused(images_only=True) == (4, [(p, by_path[p][0]) for p in sorted(by_path) if by_path[p][1] == "image"])


def test_examples_stay_few_however_many_names_are_refused(tmp_path):
    for i in range(40):
        write(tmp_path / "set", f"site{i % 4}/IMG\x01_{i:04d}.JPG")
    s = scan(tmp_path / "set", workers=1)
    assert s.names_refused == 40 and s.names_refused_images == 40
    assert len(s.names_refused_examples) == 5
    assert [p for p, _, _ in s.names_refused_examples] == sorted(p for p, _, _ in s.names_refused_examples)


def test_twin_folders_are_counted_once_each(tmp_path):
    for folder in (unicodedata.normalize("NFC", "dépôt"), unicodedata.normalize("NFD", "dépôt")):
        write(tmp_path / "set", f"site1/{folder}/IMG_0001.JPG")
    s = scan(tmp_path / "set", workers=1)
    assert s.names_refused == 1 and s.names_refused_images == 1
    (path, why, kind), = s.names_refused_examples
    assert kind == "folder" and "folder" in why and "NFC" in why and "NFD" in why


def test_an_ordinary_set_has_no_refused_names(tmp_path):
    for rel in ["site1/IMG_0001.JPG", "site1/été 写真.jpeg", f"site1/{NFD}", "site2/a b.c.JPG"]:
        write(tmp_path / "set", rel)
    s = scan(tmp_path / "set", workers=1)
    assert s.names_refused == 0 and s.names_refused_examples == []


NAME_CHARS = st.sampled_from(list("aZ09._- \\é\u0301\x01\x7f\u200e") + ["\udcff", "\u0958", "\ufb2c"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.text(NAME_CHARS, min_size=1, max_size=12), min_size=0, max_size=3),
       st.lists(st.text(NAME_CHARS, min_size=1, max_size=12).filter(lambda n: n not in (".", "..")),
                min_size=1, max_size=6, unique=True),
       st.integers(0, 200))
def test_the_folder_check_agrees_with_the_full_check_of_every_name(folders, names, pad):
    from planner.scan.namecheck import refused_names

    rel = "/".join(folders + (["p" * pad] if pad else []))
    prefix = rel + "/" if rel else ""
    expected = [(i, blob_name_problem(blob_name_for(prefix + n, ""))) for i, n in enumerate(names)]
    assert refused_names(rel, names) == [(i, why) for i, why in expected if why]


def test_long_names_are_checked_in_full():
    from planner.scan.namecheck import refused_names

    assert refused_names("a" * 1000, ["b" * 30]) == [(0, blob_name_problem("a" * 1000 + "/" + "b" * 30))]
    assert refused_names("/".join("d" * 253), ["x.jpg"]) == []
    assert refused_names("/".join("d" * 254), ["x.jpg"])[0][1].startswith("the name is 255 folders deep")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="worker processes need fork")
def test_worker_processes_merge_the_refused_names(odd_set):
    """In a fresh interpreter (a pytest session may have threads, and then scan() does not fork): the
    subtrees walked by worker processes give the same counts and examples as one process."""
    import json
    import os
    import subprocess

    code = """
import json, sys
from dataclasses import asdict
import planner.scan.parallel as m
m.SUBTREES_PER_WORKER = 1
used, real = [], m._tally_in_workers
m._tally_in_workers = lambda fr, *a: (used.append(len(fr)), real(fr, *a))
a, b = m.scan(sys.argv[1], workers=1), m.scan(sys.argv[1], workers=2)
keys = ("names_refused", "names_refused_images", "names_refused_examples")
print(json.dumps({"used": used, "same": all(getattr(a, k) == getattr(b, k) for k in keys), "n": b.names_refused}))
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", code, str(odd_set)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["used"] and got["same"] and got["n"] == 6
