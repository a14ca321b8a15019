"""How a batch is made durable, decided from the platform, the file system and the FUSE driver (issue 16, copy
speed through FUSE), and how the driver serving a mount is found on Linux."""

from __future__ import annotations

import pytest

from planner.drive.flushing import EACH, LAST, SYNC, SYNCFS, driver_named, flush_mode
from planner.drive.target import fuse_device_linux, fuse_driver_linux


@pytest.mark.parametrize("fs_type", ["ext4", "vfat", "exfat", "ntfs3", "xfs", "unknown"])
def test_a_kernel_file_system_on_linux_gets_one_syncfs_a_batch(fs_type):
    assert flush_mode("linux", fs_type, None) == SYNCFS


@pytest.mark.parametrize("driver", ["exfat-fuse", "ntfs-3g"])
def test_a_driver_that_flushes_its_whole_device_on_fsync_gets_one_fsync_a_batch(driver):
    assert flush_mode("linux", "fuseblk", driver) == LAST


def test_fusefat_whose_fsync_reaches_nothing_gets_a_sync_of_every_device():
    assert flush_mode("linux", "fuse.fusefat", None) == SYNC


@pytest.mark.parametrize("fs_type, driver", [("fuseblk", None), ("fuse.sshfs", None), ("fuse", None),
                                             ("fuseblk", "something-else")])
def test_an_unknown_fuse_driver_keeps_an_fsync_a_file(fs_type, driver):
    assert flush_mode("linux", fs_type, driver) == EACH


@pytest.mark.parametrize("platform, fs_type, driver", [("win32", "NTFS", None), ("win32", "exFAT", None),
                                                       ("darwin", "unknown", None), ("darwin", "fuseblk", "ntfs-3g"),
                                                       ("freebsd14", "fuseblk", "exfat-fuse")])
def test_windows_macos_and_other_systems_keep_an_fsync_a_file(platform, fs_type, driver):
    assert flush_mode(platform, fs_type, driver) == EACH


@pytest.mark.parametrize("program, driver", [
    ("mount.exfat-fuse", "exfat-fuse"), ("/usr/sbin/mount.exfat-fuse", "exfat-fuse"), ("exfat-fuse", "exfat-fuse"),
    ("/sbin/mount.exfat", "exfat-fuse"), ("ntfs-3g", "ntfs-3g"), ("/sbin/mount.ntfs-3g", "ntfs-3g"),
    ("/bin/lowntfs-3g", "ntfs-3g"), ("mount.lowntfs-3g", "ntfs-3g"), ("fusefat", None), ("sshfs", None),
    ("bash", None), ("", None)])
def test_the_driver_is_known_by_its_program_name(program, driver):
    assert driver_named(program) == driver


def _mountinfo(tmp_path) -> str:
    return ("22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw\n"
            f"74 22 7:0 / {tmp_path}/exfat rw,nosuid,nodev - fuseblk /dev/loop0 rw,user_id=0,allow_other,blksize=4096\n"
            f"82 22 8:33 / {tmp_path}/my\\040ntfs rw,relatime - fuseblk /dev/sdc1 rw,user_id=0,allow_other\n"
            f"83 22 0:41 / {tmp_path}/fat rw - fuse.fusefat fusefat rw,user_id=0\n"
            f"84 22 8:49 / {tmp_path}/other rw - fuseblk /dev/sdd1 rw\n")


DEVICES = {"/dev/loop0": (7, 0), "/dev/sdc1": (8, 33), "/dev/disk/by-uuid/1234": (8, 33), "/dev/sdd1": (8, 49),
           "/dev/loop2": (7, 2)}
PROCESSES = [["/usr/lib/systemd/systemd", "--user"], ["mount.exfat-fuse", "/dev/loop0", "exfat"],
             ["/sbin/mount.ntfs-3g", "/dev/disk/by-uuid/1234", "/media/my ntfs", "-o", "rw,uhelper=udisks2"],
             ["fusefat", "-o", "rw+", "/dev/loop2", "fat"], ["some-fuse-tool", "/dev/sdd1", "other"]]


@pytest.mark.parametrize("where, driver", [("exfat/bag", "exfat-fuse"), ("exfat", "exfat-fuse"),
                                           ("my ntfs/bag/data", "ntfs-3g"), ("fat/bag", None), ("other/bag", None),
                                           ("elsewhere/bag", None)])
def test_the_fuse_driver_is_the_known_program_serving_the_mounts_block_device(tmp_path, where, driver):
    assert fuse_driver_linux(tmp_path / where, _mountinfo(tmp_path), PROCESSES, DEVICES.get) == driver


def test_no_driver_is_named_when_no_known_program_serves_the_device(tmp_path):
    mountinfo = _mountinfo(tmp_path)
    assert fuse_driver_linux(tmp_path / "exfat", mountinfo, [p for p in PROCESSES if "exfat" not in p[0]],
                             DEVICES.get) is None
    stale = [["mount.exfat-fuse", "/dev/sdc1", "/mnt"]]  # an exFAT driver given another device: not this one
    assert fuse_driver_linux(tmp_path / "exfat", mountinfo, stale, DEVICES.get) is None


def test_two_different_known_drivers_on_one_device_name_none(tmp_path):
    both = [["mount.exfat-fuse", "/dev/loop0", "a"], ["ntfs-3g", "/dev/loop0", "b"]]
    assert fuse_driver_linux(tmp_path / "exfat", _mountinfo(tmp_path), both, DEVICES.get) is None


@pytest.mark.parametrize("where, device", [("exfat/bag", "/dev/loop0"), ("my ntfs/bag", "/dev/sdc1"),
                                           ("fat/bag", None), ("elsewhere", None)])
def test_the_device_behind_a_fuseblk_mount_is_its_source_when_that_is_the_mounted_device(tmp_path, where, device):
    assert fuse_device_linux(tmp_path / where, _mountinfo(tmp_path), DEVICES.get) == device
    assert fuse_device_linux(tmp_path / where, _mountinfo(tmp_path), lambda p: None) is None  # not a block device
