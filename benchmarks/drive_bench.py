"""`drive` (issue 16): `mdplan drive copy` vs `cp -r` + `sync` + an fsync, and `mdplan drive check` vs
`md5sum`, onto the same loop-mounted drive image (exFAT through exfat-fuse, the way most Linux machines
without the kernel driver mount a drive formatted for Windows; and ext4 with the kernel's driver).

Each step starts with the page cache dropped (`echo 3 > /proc/sys/vm/drop_caches`), so the source is read
from its disk and the drive from its image by both tools alike; each copy goes to a freshly made image.
`mdplan drive copy` also makes every batch durable and reads back every file from the drive. Its two passes
are shown apart: the copy pass (read the source, MD5 it, write, flush a batch: what `cp -r` + `sync` + an
fsync through the driver does, plus the hashing) is the figure compared with `cp` (through exfat-fuse `sync`
alone leaves the data in the host's cache of the image file, short of the medium: `_cp` says why); the
read-back pass (drop the cache, read, MD5 again) is mdplan's own check, which `cp` does not do; the whole
command (start-up, scan, both passes, the bag's tag files, the job's journal) is shown too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.runner import REPO, Context, Skip, Table, scenario
from benchmarks.tools import run_timed

FILES, MEAN = 1200, 400_000  # ~480 MB of camera-trap-sized JPEGs
IMAGE_MB = 1024


def _sh(cmd: list[str]) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


def _drop_caches() -> None:
    subprocess.run(["sync"], check=False)
    Path("/proc/sys/vm/drop_caches").write_text("3\n")


def _dataset(ctx: Context) -> tuple[Path, int, int]:
    from planner.sample import generate_sample_set

    root = ctx.work / "data" / f"drive-{FILES}"
    meta = root.parent / f"drive-{FILES}.json"
    if not meta.exists() or not root.is_dir():
        made = generate_sample_set(root, files=FILES, mean_bytes=MEAN, seed=16, sites=4, cameras=6, litter=False,
                                   odd_names=False, videos=0, replace=True)
        meta.write_text(json.dumps({"files": made.files, "bytes": made.bytes}))
    m = json.loads(meta.read_text())
    return root, m["files"], m["bytes"]


class _Image:
    """A fresh drive image, mounted at `mnt` while in the with-block."""

    def __init__(self, ctx: Context, kind: str) -> None:
        self.img, self.mnt, self.kind = ctx.work / f"drive-{kind}.img", ctx.work / f"mnt-{kind}", kind
        self.dev = ""

    def __enter__(self) -> Path:
        self.img.unlink(missing_ok=True)
        with open(self.img, "wb") as f:
            f.truncate(IMAGE_MB * 1024 * 1024)
        _sh(["mkfs.exfat", str(self.img)] if self.kind == "exfat" else ["mkfs.ext4", "-q", "-F", str(self.img)])
        self.dev = _sh(["losetup", "-f", "--show", str(self.img)])
        self.mnt.mkdir(parents=True, exist_ok=True)
        _sh(["mount.exfat-fuse", self.dev, str(self.mnt)] if self.kind == "exfat" else ["mount", self.dev, str(self.mnt)])
        return self.mnt

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", str(self.mnt)], check=False)
        subprocess.run(["losetup", "-d", self.dev], check=False)
        self.img.unlink(missing_ok=True)


def _mdplan(args: list[str], ctx: Context, home: Path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "MDPLAN_HOME": str(home)}
    ran = run_timed([sys.executable, "-m", "planner", *args, "--json"], timeout=ctx.budget.timeout(600), env=env)
    if ran.returncode != 0:
        raise RuntimeError(f"mdplan {args[0]} {args[1]} exited {ran.returncode}: {ran.stderr.strip()[-300:]}")
    return ran


ROUNDS = 3  # cp and mdplan alternate; the median is shown (other work on the machine moves single runs 2x)


def _first_file(src: Path) -> Path:
    return next(p for p in sorted(src.rglob("*")) if p.is_file()).relative_to(src)


def _cp(ctx: Context, src: Path, mnt: Path) -> tuple[float, float]:
    """cp -r + sync, then an fsync of one copied file: (seconds to the end of sync, seconds to the end of the
    fsync). Through exfat-fuse sync(2) leaves the data short of the drive's medium (it reaches neither the
    driver nor the device's cache flush); the fsync makes the driver flush its whole device, as mdplan's flush
    of a batch does. On ext4 sync(2) already commits the journal with a cache flush: the fsync adds ~10 ms."""
    one = mnt / "cp" / _first_file(src)  # found before the copy: no look-ups through the driver in between
    cp = run_timed(["sh", "-c", f'cp -r "{src}" "{mnt}/cp" && sync'], timeout=ctx.budget.timeout(600))
    fsync = run_timed(["sync", str(one)], timeout=ctx.budget.timeout(600))  # coreutils: sync FILE = fsync(FILE)
    if cp.returncode or fsync.returncode:
        raise RuntimeError(f"cp -r + sync exited {cp.returncode}, sync FILE {fsync.returncode}: {fsync.stderr[-300:]}")
    return cp.seconds, cp.seconds + fsync.seconds


def _round(ctx: Context, kind: str, src: Path, nfiles: int, nbytes: int) -> dict[str, float]:
    """One round on fresh images: cp -r + sync (+ fsync); mdplan drive copy (its two passes apart); md5sum;
    drive check."""
    with _Image(ctx, kind) as mnt:
        _drop_caches()
        cp_s, durable_s = _cp(ctx, src, mnt)
    with _Image(ctx, kind) as mnt:
        _drop_caches()
        home = ctx.work / "drive-home"
        shutil.rmtree(home, ignore_errors=True)
        ran = _mdplan(["drive", "copy", str(src), str(mnt / "bag"), "--report", str(home / "r.html")], ctx, home)
        res = ran.json()
        _drop_caches()
        files = [str(p) for p in (mnt / "bag" / "data").rglob("*") if p.is_file()]
        md5 = run_timed(["sh", "-c", f'cd "{mnt}/bag/data" && find . -type f -print0 | xargs -0 md5sum > /dev/null'],
                        timeout=ctx.budget.timeout(600))
        _drop_caches()
        check = _mdplan(["drive", "check", str(mnt / "bag")], ctx, home)
    assert len(files) == nfiles
    w, r = res.get("write_bytes_per_second") or 0, res.get("read_bytes_per_second") or 0
    return {"cp": cp_s, "durable": durable_s, "copy": nbytes / w if w else float("nan"),
            "back": nbytes / r if r else float("nan"), "whole": ran.seconds, "md5": md5.seconds, "check": check.seconds}


def _one_fs(ctx: Context, table: Table, kind: str, src: Path, nfiles: int, nbytes: int) -> None:
    from statistics import median

    rounds = [_round(ctx, kind, src, nfiles, nbytes) for _ in range(1 if ctx.quick else ROUNDS)]
    m = {k: median(r[k] for r in rounds) for k in rounds[0]}
    ratio = {name: median(r[peer] / r[k] for r in rounds) for name, k, peer in  # the median of each round's own
             (("copy", "copy", "durable"), ("whole", "whole", "durable"), ("check", "check", "md5"),  # ratio
              ("copy_vs_cp", "copy", "cp"))}

    def when(k: str) -> str:
        lo, hi = min(r[k] for r in rounds), max(r[k] for r in rounds)
        return f"{m[k]:.1f} s" + (f" ({lo:.1f}-{hi:.1f})" if len(rounds) > 1 else "")

    mb = nbytes / 1e6
    rate = lambda k: f"{mb / m[k]:.0f} MB/s"  # noqa: E731
    table.add(kind, "cp -r + sync", when("cp"), rate("cp"), "(peer without the fsync)")
    table.add(kind, "cp -r + sync + an fsync through the driver (the drive flushed as mdplan's batches are)",
              when("durable"), rate("durable"), "1.00 (peer)")
    table.add(kind, "mdplan drive copy: copy pass (read + MD5 + write + flush)", when("copy"), rate("copy"),
              f"{ratio['copy']:.2f} ({ratio['copy_vs_cp']:.2f} vs cp -r + sync)")
    table.add(kind, "mdplan drive copy: read-back pass (from the drive + MD5)", when("back"), rate("back"),
              "(cp has none)")
    table.add(kind, "mdplan drive copy: whole command", when("whole"), rate("whole"), f"{ratio['whole']:.2f}")
    verdict = "met" if ratio["copy"] >= 0.9 else "not met"
    table.notes.append(f"{kind}: issue 16's target (the copy pass within 10% of cp -r + sync + fsync, ratio >= "
                       f"0.90) {verdict} in this run ({ratio['copy']:.2f}; {ratio['copy_vs_cp']:.2f} against cp -r + "
                       f"sync without the fsync).")
    table.add(kind, "md5sum over the bag's files", when("md5"), rate("md5"), "1.00 (peer)")
    table.add(kind, "mdplan drive check", when("check"), rate("check"), f"{ratio['check']:.2f}")


@scenario("drive", title="Drive route: mdplan drive copy vs cp -r, drive check vs md5sum (loop images)",
          budget_s=420, about="issue 16")
def drive(ctx: Context) -> Table:
    if os.geteuid() != 0:
        raise Skip("needs root (loop devices, mounts, dropping the page cache)")
    for tool in ("mkfs.exfat", "mount.exfat-fuse", "losetup", "md5sum"):
        if shutil.which(tool) is None:
            raise Skip(f"{tool} is missing (run `make drivefs`)")
    src, nfiles, nbytes = _dataset(ctx)
    table = Table(f"Drive route: {nfiles:,} files, {nbytes / 1e6:.0f} MB onto a {IMAGE_MB} MiB loop image",
                  ["File system", "Command", "Time", "Rate", "Ratio (peer time / ours)"])
    ctx.table = table
    for kind in ("exfat", "ext4"):
        _one_fs(ctx, table, kind, src, nfiles, nbytes)
    table.notes.append(f"Page cache dropped before every step; {ROUNDS} rounds a file system, cp and mdplan "
                       "alternating, each on a fresh image: Time is the median (lowest-highest), Ratio the median "
                       "of the rounds' own ratios. Rate = set bytes / median time. Copy pass: mdplan's own timing of reading the source, MD5, writing and making each "
                       "batch durable (the flush of one batch overlaps the copy of the next); read-back pass: "
                       "reading every file back from the drive and its second MD5 (cp does no such check); whole "
                       "command: start-up, scan, both passes, the bag's tag files, the job's journal. Ratio > 1: "
                       "mdplan faster.")
    table.notes.append("Peer: `cp -r` + `sync`, then `sync FILE` (an fsync) of one copied file, timed apart. "
                       "Through exfat-fuse sync(2) writes the loop device's cached pages into the image file but "
                       "sends no cache flush, so they stay dirty in the host's page cache: the fsync, which "
                       "exfat-fuse turns into an fsync of its whole device (a cache flush: the loop device then "
                       "fsyncs the image file), writes them out. mdplan's flush of a batch does the same, so the "
                       "target is measured against cp -r + sync + fsync. On ext4 sync(2) already commits the "
                       "journal with a cache flush, and the fsync adds about 10 ms.")
    table.notes.append("Flushing: on a kernel file system (ext4 here) one syncfs a batch; syncfs does not reach a "
                       "FUSE driver's device, but exfat-fuse (here) and ntfs-3g flush their whole device on any "
                       "fsync, so one fsync of a batch's last file does (an fsync a file through other FUSE "
                       "drivers). Before the read-back, mdplan drops the copy's pages (through exfat-fuse also the "
                       "loop device's); the host's cache of the image file behind the loop device stays (nothing "
                       "mdplan opens reaches it), so the read-back rate here is higher than a USB drive's.")
    return table
