"""How a batch of files is made durable on the drive before it is read back (pure: no I/O).

- SYNCFS: Linux, kernel file system: one syncfs(2) a batch (every dirty page and the journal, waited for).
- LAST: Linux, a FUSE driver known to flush its whole device on any fsync: one fsync of the batch's last file,
  after every file of the batch was written and closed.
- SYNC: Linux, fusefat: one sync(2) a batch, which writes out every block device's cached pages, among
  them the device fusefat writes to (its fsync reaches nothing: see below). sync(2) reports no write error.
- EACH: an fsync of every file: other FUSE drivers (syncfs(2) does not reach a FUSE driver, and an fsync
  may flush only that file), Windows, macOS and anything else.

Why one fsync is enough for the two drivers in WHOLE_DEVICE_FSYNC (read in their sources, and measured):

- exfat-fuse (github.com/relan/exfat, `fuse/main.c`): `fuse_exfat_fsync` (the `.fsync` of `fuse_exfat_ops`)
  calls `exfat_flush_nodes(&ef)` (every node of the tree, from `ef->root`: `flush_nodes` in
  `libexfat/cluster.c`), then `exfat_flush(&ef)` (the cluster bitmap), then `exfat_fsync(ef.dev)`, which is
  `fsync(dev->fd)` on the device (`libexfat/io.c`). File data never waits in the driver:
  `exfat_generic_pwrite` is a `pwrite` on that same device descriptor, done before the write returns.
- ntfs-3g (github.com/tuxera/ntfs-3g, `src/ntfs-3g.c` and `src/lowntfs-3g.c`): `ntfs_fuse_fsync` is
  "/* sync the full device */ ntfs_device_sync(ctx->vol->dev)", which in `libntfs-3g/unix_io.c`
  (`ntfs_device_unix_io_sync`) is `fsync(DEV_FD(dev))` whenever anything was written since the last one;
  data go out with `pwrite` on the device, and an inode's record when it is closed (`ntfs_inode_close` ->
  `ntfs_inode_sync`), so before the fsync.

Measured (Debian 12: exfat-fuse 1.3.0+git20220115, ntfs-3g 2022.10.3; loop images): 40 files written and
closed, then one fsync of the last: all 40 were in the image file behind the loop device (0 of 40 without
the fsync), and a read-only mount of a copy of the image held all 40 with the same MD5 (fsck clean).
`tests/integration/test_drive_real_fs.py` repeats this on every run as root.

fusefat (Debian's fusefat 0.1a; the same code as github.com/alanswx/fusefat `fusefat.c`): `fusefat_fsync` is
a stub that returns 0 ("Just a stub. This method is optional"), and libfat writes straight to the device
descriptor (`writen(V->blkDevFd, ...)`, the FAT in `fat32_write_entry`), with `fusefat_flush` (on close) writing
the FAT out. Measured: 0 of 40 files were in the image after an fsync of every one; after one sync(2), 40
of 40, and `fsck.vfat -n` found nothing but the dirty bit every mounted FAT has. The mount names itself
(`fuse.fusefat` in /proc/mounts), so no process needs to be found.
"""

from __future__ import annotations

SYNCFS = "syncfs"
LAST = "fsync-last"
SYNC = "sync"
EACH = "fsync-each"

WHOLE_DEVICE_FSYNC = frozenset({"exfat-fuse", "ntfs-3g"})

_PROGRAMS = {  # the names these drivers run under (mount(8) helpers, udisks2, by hand)
    "mount.exfat-fuse": "exfat-fuse", "exfat-fuse": "exfat-fuse", "mount.exfat": "exfat-fuse",
    "ntfs-3g": "ntfs-3g", "mount.ntfs-3g": "ntfs-3g", "lowntfs-3g": "ntfs-3g", "mount.lowntfs-3g": "ntfs-3g",
}


def driver_named(program: str) -> str | None:
    """The driver a program (argv[0], with or without its folder) is, among those whose fsync is known."""
    return _PROGRAMS.get(program.replace("\\", "/").rsplit("/", 1)[-1])


def flush_mode(platform: str, fs_type: str, fuse_driver: str | None) -> str:
    """SYNCFS, LAST or EACH for a drive: `platform` as sys.platform says it, `fs_type` as the OS names the
    file system (not a --fs-type override), `fuse_driver` the FUSE driver serving it, when known."""
    if not platform.startswith("linux"):
        return EACH
    kind = fs_type.lower()
    if not kind.startswith("fuse"):
        return SYNCFS
    if kind == "fuse.fusefat":
        return SYNC
    return LAST if fuse_driver in WHOLE_DEVICE_FSYNC else EACH
