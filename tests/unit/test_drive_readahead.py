"""The drive copy reads and hashes a batch's source files ahead of the drive's writes, within a byte budget,
and asks the OS for the next batch's files before the batch before is flushed (issue 16, copy speed on
exFAT: a flush holds up the drive and, where they share a disk, the source's reads)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import planner.drive.copyfile as cf
import planner.drive.readahead as ra
from planner.drive.pipeline import Pipeline


def batch(tmp_path: Path, tag: str, sizes: list[int]) -> list[tuple[Path, Path]]:
    pairs = []
    for i, size in enumerate(sizes):
        src = tmp_path / "src" / f"{tag}_{i}.JPG"
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(os.urandom(size))
        pairs.append((src, tmp_path / "drive" / "data" / f"{tag}_{i}.JPG"))
    return pairs


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_the_next_batchs_files_are_asked_for_before_the_batch_before_is_flushed(tmp_path, monkeypatch):
    a, b = batch(tmp_path, "A", [30_000] * 3), batch(tmp_path, "B", [30_000] * 3)
    log: list[tuple[str, list[str]]] = []
    real_flush = cf._flush
    monkeypatch.setattr(ra, "prefetch", lambda srcs: log.append(("asked for", [p.name for p in srcs])))
    monkeypatch.setattr(cf, "_flush", lambda parts, mode: log.append(("flush", [p.name for p in parts]))
                        or real_flush(parts, mode))
    with Pipeline("ext4") as pipe:
        pipe.write(a)
        pipe.settle(upcoming=[s for s, _d in b])
        pipe.write(b)
        got = pipe.drain()
    assert log[0] == ("asked for", ["B_0.JPG", "B_1.JPG", "B_2.JPG"])
    assert log[1][0] == "flush" and len(log[1][1]) == 3  # A's flush starts after B's files were asked for
    assert [c.md5 for c in got[0] + got[1]] == [md5(s) for s, _d in a + b]


def test_a_run_asks_for_each_next_batch_before_flushing_the_one_before(tmp_path, monkeypatch):
    import planner.drive.prepare as prepare
    from planner.drive import DriveOptions, copy_to_drive

    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(prepare, "BATCH_FILES", 2)
    for i in range(5):
        (tmp_path / "src" / f"IMG_{i}.JPG").parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / f"IMG_{i}.JPG").write_bytes(os.urandom(10_000 + i))
    asked: list[list[str]] = []
    monkeypatch.setattr(ra, "prefetch", lambda srcs: asked.append([p.name for p in srcs]))
    res = copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "bag"))
    assert res.outcome == "finished" and res.files_copied == 5
    assert asked == [["IMG_2.JPG", "IMG_3.JPG"], ["IMG_4.JPG"]]  # batches [0, 1], [2, 3], [4]


def test_files_read_ahead_never_hold_more_than_the_budget(tmp_path, monkeypatch):
    monkeypatch.setattr(ra, "READ_AHEAD_BYTES", 120_000)
    pairs = batch(tmp_path, "A", [50_000] * 12 + [200_000])  # the last one is larger than the whole budget
    with Pipeline("ext4") as pipe:
        pipe.write(pairs)
        peak = pipe._budget.peak
        got = pipe.drain()[0]
    assert 0 < peak <= 120_000
    assert [c.md5 for c in got] == [md5(s) for s, _d in pairs]
    assert all(d.read_bytes() == s.read_bytes() for s, d in pairs)


def test_a_file_too_large_to_read_ahead_is_streamed(tmp_path, monkeypatch):
    monkeypatch.setattr(ra, "READ_AHEAD_FILE", 60_000)
    pairs = batch(tmp_path, "A", [20_000, 3 * cf.CHUNK + 5, 20_000])
    with Pipeline("ext4") as pipe:
        pipe.write(pairs)
        assert pipe._budget.peak <= 40_000  # only the two small files were held
        got = pipe.drain()[0]
    assert [c.md5 for c in got] == [md5(s) for s, _d in pairs]
    assert all(d.read_bytes() == s.read_bytes() for s, d in pairs)


def test_a_source_that_cannot_be_read_fails_alone(tmp_path):
    pairs = batch(tmp_path, "A", [20_000] * 4)
    pairs[1][0].unlink()  # gone between the listing and the copy
    with Pipeline("ext4") as pipe:
        pipe.write(pairs)
        got = pipe.drain()[0]
    assert isinstance(got[1], FileNotFoundError)
    assert [type(c) for i, c in enumerate(got) if i != 1] == [cf.Copied] * 3
    assert not pairs[1][1].exists() and not list((tmp_path / "drive").rglob(f"*{cf.PART_SUFFIX}"))


def test_a_source_that_grows_after_it_was_read_ahead_is_not_recorded(tmp_path, monkeypatch):
    pairs = batch(tmp_path, "A", [20_000] * 2)
    real_read = ra.read_ahead

    def read_then_grow(src, ticket, budget):
        got = real_read(src, ticket, budget)
        if src.name == "A_0.JPG":
            with open(src, "ab") as f:  # a camera still writing, a sync client
                f.write(b"more")
        return got

    monkeypatch.setattr(ra, "read_ahead", read_then_grow)
    with Pipeline("ext4") as pipe:
        pipe.write(pairs)
        got = pipe.drain()[0]
    assert isinstance(got[0], cf.SourceChanged) and isinstance(got[1], cf.Copied)
    assert not pairs[0][1].exists()
