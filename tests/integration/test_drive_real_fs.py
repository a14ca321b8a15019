"""`mdplan drive copy` and `drive check` on real, loop-mounted exFAT, FAT32 and NTFS images (issue 16).

Needs root (loop devices, mounts) and the tools `make drivefs` installs (exfatprogs + exfat-fuse,
dosfstools + fusefat, ntfs-3g); the kernel's own driver is used when it has one. Each test skips with
the reason when something is missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import bagit
import pytest

from planner.cli import main
from planner.drive import DriveOptions, check_bag, copy_to_drive
from planner.drive import copyfile as cf
from planner.drive.flushing import LAST, SYNC, flush_mode
from planner.drive.names import FAT32_MAX_FILE
from planner.drive.target import fs_type, target_info

pytestmark = pytest.mark.drivefs

MKFS = {"exfat": ["mkfs.exfat"], "fat32": ["mkfs.vfat", "-F", "32"], "ntfs": ["mkfs.ntfs", "-F", "-Q"]}
KERNEL = {"exfat": "exfat", "fat32": "vfat", "ntfs": "ntfs3"}
FUSE = {"exfat": ["mount.exfat-fuse", "{dev}", "{mnt}"], "fat32": ["fusefat", "-o", "rw+", "{dev}", "{mnt}"],
        "ntfs": ["ntfs-3g", "{dev}", "{mnt}"]}


def _run(cmd: list[str]) -> bool:
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def mount_image(kind: str, img: Path, mnt: Path, size_mb: int) -> str:
    """Make and mount a `kind` image; returns the loop device. Skips the test when it cannot."""
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("real file-system tests need root (loop devices and mounts)")
    tool = MKFS[kind][0]
    if shutil.which(tool) is None or shutil.which("losetup") is None:
        pytest.skip(f"{tool} is not installed (run `make drivefs` as root)")
    with open(img, "wb") as f:
        f.truncate(size_mb * 1024 * 1024)
    if not _run([*MKFS[kind], str(img)]):
        pytest.skip(f"{tool} failed on a {size_mb} MB image")
    dev = subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True).stdout.strip()
    if not dev:
        pytest.skip("no free loop device")
    mnt.mkdir(parents=True, exist_ok=True)
    if _run(["mount", "-t", KERNEL[kind], dev, str(mnt)]):
        return dev
    fuse = [a.format(dev=dev, mnt=mnt) for a in FUSE[kind]]
    if shutil.which(fuse[0]) and _run(fuse):
        return dev
    _run(["losetup", "-d", dev])
    pytest.skip(f"cannot mount {kind}: no kernel driver and {fuse[0]} missing or failing (run `make drivefs`)")


@pytest.fixture
def drives(tmp_path, monkeypatch) -> Iterator:
    monkeypatch.setenv("MDPLAN_HOME", str(tmp_path / "home"))
    mounted: list[tuple[str, Path]] = []

    def make(kind: str, name: str, size_mb: int = 64) -> Path:
        mnt = tmp_path / f"mnt-{name}"
        dev = mount_image(kind, tmp_path / f"{name}.img", mnt, size_mb)
        mounted.append((dev, mnt))
        return mnt

    yield make
    for dev, mnt in reversed(mounted):
        _run(["umount", str(mnt)]) or _run(["umount", "-l", str(mnt)])
        _run(["losetup", "-d", dev])


def make_set(root: Path, n: int, size: int) -> dict[str, bytes]:
    files = {f"site{i % 3}/cam{i % 2}/IMG_{i:04d}.JPG": os.urandom(size + i) for i in range(n)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    (root / "Thumbs.db").write_bytes(b"litter")
    return files


@pytest.mark.parametrize("kind", ["exfat", "fat32", "ntfs"])
def test_copy_and_check_on_a_real_file_system(drives, tmp_path, kind):
    files = make_set(tmp_path / "src", 20, 50_000)
    mnt = drives(kind, kind)
    assert fs_type(mnt) in ({"fat32": ("vfat", "fuse.fusefat"), "exfat": ("exfat", "fuseblk"),
                             "ntfs": ("ntfs3", "fuseblk")}[kind])
    (tmp_path / "src" / "site0" / "what?.jpg").write_bytes(b"odd name")
    assert main(["drive", "copy", str(tmp_path / "src"), str(mnt / "bag")]) == 2  # listed, nothing copied
    assert not (mnt / "bag").exists()
    (tmp_path / "src" / "site0" / "what?.jpg").unlink()
    assert main(["drive", "copy", str(tmp_path / "src"), str(mnt / "bag")]) == 0
    bagit.Bag(str(mnt / "bag")).validate()
    assert check_bag(mnt / "bag").files_ok == len(files)
    target = mnt / "bag" / "data" / sorted(files)[3]
    target.write_bytes(b"damaged in the post")
    assert main(["drive", "check", str(mnt / "bag")]) == 1


@pytest.mark.parametrize("kind, fuse_type, driver", [("exfat", "fuseblk", "exfat-fuse"), ("ntfs", "fuseblk", "ntfs-3g"),
                                                     ("fat32", "fuse.fusefat", None)])
def test_one_flush_through_the_fuse_driver_puts_the_whole_batch_on_the_device(drives, tmp_path, kind, fuse_type,
                                                                             driver):
    """What the drive copy relies on through these drivers (planner/drive/flushing.py): after one flush of a
    batch (one fsync of its last file through exfat-fuse and ntfs-3g; sync(2) through fusefat, whose fsync is a
    stub), the image behind the loop device (what a drive pulled out at that moment keeps) holds every file of
    the batch, named and whole."""
    mnt = drives(kind, kind)
    if fs_type(mnt) != fuse_type:
        pytest.skip(f"{kind} is mounted by the kernel's own driver here")
    assert target_info(mnt).fuse_driver == driver
    mode = flush_mode(sys.platform, fuse_type, driver)
    assert mode == (SYNC if kind == "fat32" else LAST)
    files = {f"batch/IMG_{i:03d}.JPG": os.urandom(60_000 + 997 * i) for i in range(30)}
    (mnt / "batch").mkdir()
    for rel, data in files.items():
        (mnt / rel).write_bytes(data)  # written and closed, as the copy pass leaves a batch
    cf._flush([mnt / rel for rel in files], mode)
    snapshot = tmp_path / "snapshot.img"
    shutil.copyfile(tmp_path / f"{kind}.img", snapshot)
    image = snapshot.read_bytes()
    assert [rel for rel, data in files.items() if data[:4096] not in image or data[-4096:] not in image] == []
    losetup = ["losetup", "-r", "-f", "--show", str(snapshot)]
    dev = subprocess.run(losetup, capture_output=True, text=True).stdout.strip()
    ro = tmp_path / "snapshot"
    ro.mkdir()
    try:
        assert dev and _run([FUSE[kind][0], "-o", "ro", dev, str(ro)])
        assert {rel: (ro / rel).read_bytes() == data for rel, data in files.items()} == {rel: True for rel in files}
    finally:
        _run(["umount", str(ro)])
        if dev:
            _run(["losetup", "-d", dev])


@pytest.mark.parametrize("kind", ["exfat", "ntfs"])
def test_the_read_back_through_a_fuse_driver_reads_the_drive_not_the_computers_cache(drives, tmp_path, monkeypatch,
                                                                                      kind):
    """A FUSE driver writes through the drive's block device, whose cached pages outlive the flush: bytes that
    changed on the drive after the flush must be seen by the read-back, not masked by the cache."""
    mnt = drives(kind, kind)
    if fs_type(mnt) != "fuseblk":
        pytest.skip(f"{kind} is mounted by the kernel's own driver here")
    info = target_info(mnt)
    assert info.fuse_device and os.path.samefile(info.fuse_device, _loop_of(tmp_path / f"{kind}.img"))
    files = {f"IMG_{i}.JPG": os.urandom(200_000 + i) for i in range(4)}
    (tmp_path / "src").mkdir()
    pairs = []
    for name, data in files.items():
        (tmp_path / "src" / name).write_bytes(data)
        pairs.append((tmp_path / "src" / name, mnt / "data" / name))
    real_flush, first = cf._flush, files["IMG_0.JPG"]

    def flush_then_the_drive_changes(parts, mode):
        real_flush(parts, mode)
        with open(tmp_path / f"{kind}.img", "r+b") as img:  # the drive now holds other bytes for IMG_0.JPG
            at = img.read().index(first[:4096])
            img.seek(at)
            img.write(bytes(b ^ 0xFF for b in first[:4096]))

    monkeypatch.setattr(cf, "_flush", flush_then_the_drive_changes)
    out = cf.copy_batch(pairs, info.fs_type, info.fuse_driver, info.fuse_device)
    assert isinstance(out[0], cf.ReadBackMismatch)
    assert [type(c) for c in out[1:]] == [cf.Copied] * 3


@pytest.mark.parametrize("kind", ["exfat", "ntfs"])
def test_drive_check_through_a_fuse_driver_reads_the_drive_not_the_computers_cache(drives, tmp_path, kind):
    """`drive check` right after the copy, on the same computer (README: check before shipping): a file damaged
    on the drive since must be found, although the copy's read-back left its pages in the device's cache."""
    files = make_set(tmp_path / "src", 6, 80_000)
    mnt = drives(kind, kind)
    if fs_type(mnt) != "fuseblk":
        pytest.skip(f"{kind} is mounted by the kernel's own driver here")
    assert copy_to_drive(DriveOptions(tmp_path / "src", mnt / "bag")).exit_code == 0
    rel = sorted(files)[2]
    with open(tmp_path / f"{kind}.img", "r+b") as img:  # the drive now holds other bytes for that file
        at = img.read().index(files[rel][:4096])
        img.seek(at)
        img.write(bytes(b ^ 0xFF for b in files[rel][:4096]))
    res = check_bag(mnt / "bag")
    assert res.changed == [rel] and res.files_ok == len(files) - 1


def _loop_of(img: Path) -> str:
    return subprocess.run(["losetup", "-j", str(img)], capture_output=True, text=True).stdout.split(":")[0]


def test_fat32_refuses_a_file_of_4_gib_before_copying(drives, tmp_path):
    make_set(tmp_path / "src", 3, 1000)
    with open(tmp_path / "src" / "long-video.mp4", "wb") as f:  # sparse: no disk used
        f.truncate(FAT32_MAX_FILE + 1)
    mnt = drives("fat32", "fat")
    res = copy_to_drive(DriveOptions(tmp_path / "src", mnt / "bag"))
    assert res.exit_code == 2 and [p.rel_path for p in res.problems] == ["long-video.mp4"]
    assert not (mnt / "bag").exists()


def test_names_that_differ_only_in_case_are_refused_on_exfat(drives, tmp_path):
    make_set(tmp_path / "src", 2, 1000)
    (tmp_path / "src" / "A.jpg").write_bytes(b"1")
    (tmp_path / "src" / "a.jpg").write_bytes(b"2")
    mnt = drives("exfat", "case")
    res = copy_to_drive(DriveOptions(tmp_path / "src", mnt / "bag"))
    assert res.exit_code == 2 and [p.rel_path for p in res.problems] == ["a.jpg"]


def test_a_set_larger_than_the_drive_goes_on_two_real_drives(drives, tmp_path):
    files = make_set(tmp_path / "src", 30, 1_000_000)  # ~30 MB onto 24 MB drives
    first, second = drives("exfat", "d1", 24), drives("exfat", "d2", 24)
    res1 = copy_to_drive(DriveOptions(tmp_path / "src", first / "bag"))
    assert res1.outcome == "drive full" and "run the same command with the next drive" in res1.message
    res2 = copy_to_drive(DriveOptions(tmp_path / "src", second / "bag"))
    assert res2.outcome == "finished" and res2.drives_used == 2
    on1 = {p.relative_to(first / "bag" / "data").as_posix() for p in (first / "bag" / "data").rglob("*") if p.is_file()}
    on2 = {p.relative_to(second / "bag" / "data").as_posix() for p in (second / "bag" / "data").rglob("*") if p.is_file()}
    assert on1 and on2 and not on1 & on2 and on1 | on2 == set(files)
    for mnt in (first, second):
        bagit.Bag(str(mnt / "bag")).validate()
        assert main(["drive", "check", str(mnt / "bag")]) == 0


def test_a_drive_pulled_out_mid_copy_then_plugged_back_in(drives, tmp_path):
    """The FUSE driver killed mid-copy (what a pulled USB drive looks like to the copy): one line and
    exit 1, no traceback; mounted again, the same command finishes and the drive checks clean."""
    import signal
    import sys
    import time

    files = make_set(tmp_path / "src", 300, 100_000)
    mnt = drives("exfat", "pulled", 64)
    if "fuseblk" not in Path("/proc/mounts").read_text():
        pytest.skip("exFAT is mounted by the kernel here; pulling needs the FUSE driver's process")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen([sys.executable, "-m", "planner", "drive", "copy", str(tmp_path / "src"), str(mnt / "bag")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60 and proc.poll() is None:
        if (mnt / "bag" / "data").is_dir() and any((mnt / "bag" / "data").rglob("*.JPG")):
            break
        time.sleep(0.05)
    pid = subprocess.run(["pgrep", "-f", f"mount.exfat-fuse .* {mnt}"], capture_output=True, text=True).stdout.split()
    assert pid, "the FUSE driver's process was not found"
    os.kill(int(pid[0]), signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode in (1, 2), (proc.returncode, err)  # 1: drive error mid-copy; 2: cannot write to it
    assert "Traceback" not in err and "unexpected error" not in err + out, err + out
    subprocess.run(["umount", "-l", str(mnt)], check=False)
    dev = subprocess.run(["losetup", "-j", str(tmp_path / "pulled.img")], capture_output=True, text=True).stdout.split(":")[0]
    subprocess.run(["fsck.exfat", "-y", dev], capture_output=True)
    assert subprocess.run(["mount.exfat-fuse", dev, str(mnt)], capture_output=True).returncode == 0
    assert main(["drive", "copy", str(tmp_path / "src"), str(mnt / "bag")]) == 0
    assert check_bag(mnt / "bag").files_ok == len(files)
    bagit.Bag(str(mnt / "bag")).validate()
