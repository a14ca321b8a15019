"""How a batch of files is made durable before it is read back (issue 16, copy speed): one syncfs for the
whole batch where the OS has it and the file system is a kernel one; one fsync of the batch's last file through
a FUSE driver known to flush its whole device on fsync (exfat-fuse, ntfs-3g); an fsync of every file otherwise
(other FUSE drivers, Windows, macOS); never a read-back before the flush."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import planner.drive.copyfile as cf


def make_pairs(tmp_path: Path, n: int = 5, size: int = 300_000) -> list[tuple[Path, Path]]:
    pairs = []
    for i in range(n):
        src = tmp_path / "src" / f"IMG_{i}.JPG"
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_bytes(os.urandom(size + i))
        pairs.append((src, tmp_path / "drive" / "data" / f"IMG_{i}.JPG"))
    return pairs


@pytest.fixture
def events(monkeypatch):
    log: list[tuple[str, str]] = []
    real_read_back, real_fsync = cf._read_back, cf._fsync_file
    monkeypatch.setattr(cf, "_syncfs", lambda path: log.append(("syncfs", "")) or True)
    monkeypatch.setattr(cf, "_fsync_file", lambda part: log.append(("fsync", part.name)) or real_fsync(part))
    monkeypatch.setattr(cf, "_read_back", lambda part: log.append(("read", part.name)) or real_read_back(part))
    return log


def test_a_batch_on_a_kernel_file_system_is_flushed_once_before_any_read_back(tmp_path, events):
    pairs = make_pairs(tmp_path)
    out = cf.copy_batch(pairs, fs_type="ext4")
    assert [e for e, _ in events] == ["syncfs"] + ["read"] * len(pairs)
    for (src, dest), c in zip(pairs, out):
        assert isinstance(c, cf.Copied) and c.md5 == hashlib.md5(src.read_bytes()).hexdigest()
        assert dest.read_bytes() == src.read_bytes()


def test_on_fuse_every_file_is_fsynced_before_any_read_back(tmp_path, events):
    pairs = make_pairs(tmp_path)
    cf.copy_batch(pairs, fs_type="fuseblk")  # syncfs does not reach a FUSE driver's device
    kinds = [e for e, _ in events]
    assert kinds == ["fsync"] * len(pairs) + ["read"] * len(pairs)
    assert sorted(n for e, n in events if e == "fsync") == sorted(n for e, n in events if e == "read")


@pytest.mark.parametrize("driver", ["exfat-fuse", "ntfs-3g"])
def test_through_a_driver_that_flushes_its_whole_device_one_fsync_of_the_last_file_covers_the_batch(
        tmp_path, events, monkeypatch, driver):
    real_write = cf._write_one
    monkeypatch.setattr(cf, "_write_one",
                        lambda src, dest, *ahead: events.append(("written", dest.name)) or real_write(src, dest, *ahead))
    pairs = make_pairs(tmp_path)
    out = cf.copy_batch(pairs, fs_type="fuseblk", driver=driver)
    kinds = [e for e, _ in events]
    assert kinds == ["written"] * len(pairs) + ["fsync"] + ["read"] * len(pairs)  # after every file was closed
    assert events[len(pairs)][1] == cf.part_name(pairs[-1][1]).name
    assert all(isinstance(c, cf.Copied) for c in out)
    assert all(dest.read_bytes() == src.read_bytes() for src, dest in pairs)


def test_through_fusefat_a_batch_is_flushed_by_one_sync_of_every_device(tmp_path, events, monkeypatch):
    monkeypatch.setattr(cf, "_sync_all", lambda: events.append(("sync", "")) or True)
    pairs = make_pairs(tmp_path, n=3)
    cf.copy_batch(pairs, fs_type="fuse.fusefat")  # its fsync is a stub: only sync(2) reaches its device
    assert [e for e, _ in events] == ["sync"] + ["read"] * 3


def test_through_fuse_the_devices_cached_pages_are_dropped_after_the_flush_and_before_the_read_back(tmp_path, events,
                                                                                                   monkeypatch):
    monkeypatch.setattr(cf, "drop_device_cache", lambda device: events.append(("drop", device)) or True)
    pairs = make_pairs(tmp_path, n=3)
    cf.copy_batch(pairs, fs_type="fuseblk", driver="exfat-fuse", device="/dev/sdb1")
    assert events[:2] == [("fsync", cf.part_name(pairs[-1][1]).name), ("drop", "/dev/sdb1")]
    assert [e for e, _ in events[2:]] == ["read"] * 3
    events.clear()
    cf.copy_batch(make_pairs(tmp_path / "k", n=2), fs_type="ext4")  # a kernel file system: no device to drop
    assert [e for e, _ in events] == ["syncfs", "read", "read"]


def test_an_unknown_fuse_driver_still_gets_an_fsync_a_file(tmp_path, events):
    pairs = make_pairs(tmp_path, n=3)
    cf.copy_batch(pairs, fs_type="fuseblk", driver=None)
    assert [e for e, _ in events] == ["fsync"] * 3 + ["read"] * 3


@pytest.mark.parametrize("flush,fs_type,driver", [("_fsync_file", "fuseblk", "exfat-fuse"), ("_syncfs", "ext4", None)],
                         ids=["fsync-of-the-last-file", "syncfs"])
def test_a_failed_flush_stops_the_run_and_leaves_no_temporary_files(tmp_path, monkeypatch, flush, fs_type, driver):
    def broken(path):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(cf, flush, broken)
    pairs = make_pairs(tmp_path, n=3)
    with pytest.raises(cf.TargetError):
        cf.copy_batch(pairs, fs_type=fs_type, driver=driver)
    assert not list((tmp_path / "drive").rglob(f"*{cf.PART_SUFFIX}"))
    assert not any(dest.exists() for _src, dest in pairs)


def test_where_syncfs_is_missing_every_file_is_fsynced(tmp_path, events, monkeypatch):
    monkeypatch.setattr(cf, "_syncfs", lambda path: False)  # not Linux, or no syncfs in the C library
    pairs = make_pairs(tmp_path, n=3)
    cf.copy_batch(pairs, fs_type="ext4")
    assert [e for e, _ in events] == ["fsync"] * 3 + ["read"] * 3




def test_a_file_over_several_buffers_and_an_empty_file_copy_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(cf, "CHUNK", 64 * 1024)
    big, empty = tmp_path / "big.mp4", tmp_path / "empty.jpg"
    big.write_bytes(os.urandom(1_000_003))
    empty.write_bytes(b"")
    out = cf.copy_batch([(big, tmp_path / "d" / "big.mp4"), (empty, tmp_path / "d" / "empty.jpg")], fs_type="ext4")
    assert [c.md5 for c in out] == [hashlib.md5(big.read_bytes()).hexdigest(), hashlib.md5(b"").hexdigest()]
    assert (tmp_path / "d" / "big.mp4").read_bytes() == big.read_bytes()


class _ShortWriter:
    """A file that takes at most 1000 bytes a call, as a raw write may (signals, pipes, some drivers)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b) -> int:
        take = bytes(b[:1000])
        self.data += take
        return len(take)


def test_short_writes_are_carried_on_until_every_byte_is_written():
    w = _ShortWriter()
    data = os.urandom(12_345)
    cf._write_all(w, memoryview(data))
    assert bytes(w.data) == data
