"""The drive copy's batches overlap: the next batch is copied while the one before is made durable in the
background; a file still counts only after its batch's flush and its own read-back (issue 16, copy speed)."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

import planner.drive.copyfile as cf
from planner.drive.pipeline import Pipeline


def batch(tmp_path: Path, tag: str, n: int = 3) -> list[tuple[Path, Path]]:
    pairs = []
    for i in range(n):
        src = tmp_path / "src" / f"{tag}_{i}.JPG"
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(os.urandom(50_000 + i))
        pairs.append((src, tmp_path / "drive" / "data" / f"{tag}_{i}.JPG"))
    return pairs


def parts_left(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "drive").rglob(f"*{cf.PART_SUFFIX}"))


def test_the_next_batch_is_written_while_the_one_before_is_flushed(tmp_path, monkeypatch):
    a, b = batch(tmp_path, "A"), batch(tmp_path, "B")
    b_started = threading.Event()
    seen: list[str] = []
    real_write, real_flush = cf._write_one, cf._flush
    a_part = cf.part_name(a[0][1]).name

    def write_one(src, dest, *ahead):
        if src.name.startswith("B"):
            b_started.set()
        return real_write(src, dest, *ahead)

    def flush(parts, fs_type):
        if any(p.name == a_part for p in parts):  # a sequential run would wait here the full 10 s, then fail
            seen.append("B written during A's flush" if b_started.wait(10) else "A flushed alone")
        real_flush(parts, fs_type)

    monkeypatch.setattr(cf, "_write_one", write_one)
    monkeypatch.setattr(cf, "_flush", flush)
    with Pipeline("ext4") as pipe:
        pipe.write(a)
        assert pipe.settle() is None  # nothing flushed yet: A's flush starts in the background
        pipe.write(b)
        got_a = pipe.settle()
        got_b = pipe.settle()
    assert seen == ["B written during A's flush"]
    for pairs, got in ((a, got_a), (b, got_b)):
        assert [c.md5 for c in got] == [hashlib.md5(s.read_bytes()).hexdigest() for s, _d in pairs]
        assert all(d.read_bytes() == s.read_bytes() for s, d in pairs)
    assert not parts_left(tmp_path)


def test_a_file_is_read_back_only_after_its_batch_was_flushed(tmp_path, monkeypatch):
    log: list[tuple[str, str]] = []
    real_flush, real_read = cf._flush, cf._read_back
    monkeypatch.setattr(cf, "_flush", lambda parts, fs: [log.append(("flushed", p.name)) for p in parts] and real_flush(parts, fs))
    monkeypatch.setattr(cf, "_read_back", lambda part: log.append(("read", part.name)) or real_read(part))
    with Pipeline("ext4") as pipe:
        for tag in "ABC":
            pipe.write(batch(tmp_path, tag))
            pipe.settle()
        pipe.drain()
    reads = [n for e, n in log if e == "read"]
    assert len(reads) == 9
    for name in reads:
        assert log.index(("flushed", name)) < log.index(("read", name))


def test_a_drive_error_while_writing_still_settles_the_batch_before(tmp_path, monkeypatch):
    a, b = batch(tmp_path, "A"), batch(tmp_path, "B")
    real_write = cf._write_one

    def write_one(src, dest, *ahead):
        if src.name == "B_1.JPG":
            raise cf.TargetError("No space left on device", 28)
        return real_write(src, dest, *ahead)

    monkeypatch.setattr(cf, "_write_one", write_one)
    with Pipeline("ext4") as pipe:
        pipe.write(a)
        pipe.settle()
        with pytest.raises(cf.TargetError) as e:
            pipe.write(b)
        assert e.value.full
        got_a = pipe.drain()
    assert [type(c) for c in got_a[0]] == [cf.Copied] * 3
    assert all(d.exists() for _s, d in a) and not any(d.exists() for _s, d in b)
    assert not parts_left(tmp_path)


def test_a_failed_flush_drops_both_batches_temporary_files(tmp_path, monkeypatch):
    def broken(parts, fs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(cf, "_flush", broken)
    with Pipeline("ext4") as pipe:
        pipe.write(batch(tmp_path, "A"))
        pipe.settle()
        pipe.write(batch(tmp_path, "B"))
        with pytest.raises(cf.TargetError, match="durable"):
            pipe.settle()
    assert not parts_left(tmp_path)
    assert not list((tmp_path / "drive").rglob("*.JPG"))


def test_closing_with_batches_in_flight_removes_their_temporary_files(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with Pipeline("ext4") as pipe:
            pipe.write(batch(tmp_path, "A"))
            pipe.settle()
            pipe.write(batch(tmp_path, "B"))
            raise KeyboardInterrupt
    assert not parts_left(tmp_path)
    assert not list((tmp_path / "drive").rglob("*.JPG"))  # nothing renamed that was not read back


def make_set(root: Path, n: int = 7) -> dict[str, bytes]:
    files = {f"site{i % 2}/IMG_{i:04d}.JPG": os.urandom(20_000 + i) for i in range(n)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))


def test_a_run_of_many_batches_records_every_file_after_its_read_back(tmp_path, monkeypatch, home):
    import bagit

    import planner.drive.prepare as prepare
    from planner.drive import DriveOptions, copy_to_drive

    monkeypatch.setattr(prepare, "BATCH_FILES", 2)  # 7 files: four batches through the pipeline
    read: list[str] = []
    real_read = cf._read_back
    monkeypatch.setattr(cf, "_read_back", lambda part: read.append(part.name) or real_read(part))
    files = make_set(tmp_path / "src")
    res = copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "bag"))
    assert res.outcome == "finished" and res.files_copied == len(files) and len(read) == len(files)
    bagit.Bag(str(tmp_path / "bag")).validate()


def test_a_drive_that_fills_mid_run_keeps_the_batches_before_and_is_a_valid_bag(tmp_path, monkeypatch, home):
    import bagit

    import planner.drive.prepare as prepare
    from planner.drive import DriveOptions, copy_to_drive

    monkeypatch.setattr(prepare, "BATCH_FILES", 2)
    real_write = cf._write_one
    full_at = sorted(make_set(tmp_path / "src"))[4]  # the third batch

    def write_one(src, dest, *ahead):
        if src.as_posix().endswith(full_at):
            raise cf.TargetError("No space left on device", 28)
        return real_write(src, dest, *ahead)

    monkeypatch.setattr(cf, "_write_one", write_one)
    res = copy_to_drive(DriveOptions(tmp_path / "src", tmp_path / "bag"))
    assert res.outcome == "drive full" and res.files_copied == 4  # batches one and two: written, flushed, read back
    bagit.Bag(str(tmp_path / "bag")).validate()
    assert not list((tmp_path / "bag").rglob(f"*{cf.PART_SUFFIX}"))
