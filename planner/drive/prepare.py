"""`mdplan drive copy`: the set onto one drive after another as BagIt bags, resumable, every file read back.

Order of a run: scan the source with upload's selection into the drive job; find out which drive of
the set the target is (its marker) or start the next one; check the target's file system can hold every
name (nothing is copied otherwise); copy what is not on a drive yet while it fits; write the bag's tag
files for what is on this drive, also when stopped, so the drive is always a valid bag.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from planner import __version__
from planner.drive.bag import BagInfo, is_bag, read_marker, write_bag, write_marker
from planner.drive.copyfile import PART_SUFFIX, ReadBackMismatch, SourceChanged, TargetError
from planner.drive.pipeline import Pipeline
from planner.drive.jobdb import DriveJob
from planner.drive.names import NameProblem, check_paths, map_paths, rules_for
from planner.drive.options import DriveOptions, DriveResult, Progress, ProgressFn
from planner.drive.target import TargetInfo, free_bytes, target_info
from planner.errors import BadInput, ExitCode
from planner.transfer.options import StopFlag


BATCH_FILES = 128  # files written, then made durable together (copyfile._flush), then read back
BATCH_BYTES = 64 * 1024 * 1024  # and at most this much data in the page cache between writing and reading back
MIN_BYTES_FOR_RATE = 64 * 1024 * 1024  # a few small files say little about the drive's speed


def scan_set(job: DriveJob, source: Path, opts: DriveOptions) -> list[tuple[str, str]]:
    """Upload's selection (litter, links, --include/--exclude, --images-only) into the drive job."""
    from planner.outputs import own_outputs
    from planner.scan.walk import iter_files
    from planner.transfer.selection import Selector

    selector = Selector(opts.images_only, opts.include, opts.exclude)
    own = own_outputs()
    problems: list[tuple[str, str]] = []

    def rows():
        for e in iter_files(source, follow_symlinks=False, on_problem=lambda p, r: problems.append((str(p), str(r)))):
            kind = getattr(e.kind, "value", str(e.kind)).lower()
            selected, reason = selector.decide(e.rel_path, kind)
            if selected and own.reason(e.path):
                selected, reason = False, "mdplan's own output, not copied"
            yield e.rel_path, e.size, e.mtime_ns, selected, reason

    job.record_scan(rows())
    return problems


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def which_drive(job: DriveJob, target: Path) -> int | None:
    """The drive number the target already is in this job, None for a new drive; BadInput if the target
    is another job's bag or a folder that is not empty."""
    marker = read_marker(target)
    if marker is not None:
        group, no = marker
        if group != job.meta("group"):
            raise BadInput(f"{target} holds a bag of another set (or another selection of this one).",
                           hint="Give an empty folder, or the drive this set was being copied to.")
        return no
    if is_bag(target):
        raise BadInput(f"{target} is already a bag that mdplan did not make for this set.",
                       hint="Give an empty folder on the drive.")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BadInput(f"{target} is not an empty folder.", hint="Give a new or empty folder on the drive, e.g. E:\\camera-traps.")
    return None


def _names(job: DriveJob, rules) -> dict[str, str]:
    """The --map-names mapping, kept in the job so a file keeps its drive name across runs and drives."""
    kept = json.loads(job.meta("names") or "{}")
    fresh = map_paths([r for r, _s in job.all_selected()], rules)
    names = {**fresh, **kept}
    job.set_meta("names", json.dumps(names))
    job.commit()
    return names


def _bag_root_chars(target: Path) -> int:
    """Characters before the relative path on the receiving Windows computer: '\\bag\\data\\' (the bag is
    assumed at or near the drive's root; the drive letter is counted by the caller)."""
    if os.name == "nt":
        return len(os.path.splitdrive(str(target.absolute()))[1].rstrip("\\")) + len("\\data\\")
    return 1 + len(target.name) + len("/data/")


def _refused(job: DriveJob, opts: DriveOptions, info: TargetInfo, problems) -> DriveResult:
    n, b, d = job.totals()
    return DriveResult(job.path.stem, str(job.path), "refused", int(ExitCode.BAD_INPUT), str(opts.target),
                       info.fs_type, None, files_total=n, bytes_total=b, files_done_total=d, problems=problems,
                       message=f"{len(problems):,} file(s) cannot be held by this drive's file system "
                               f"({info.fs_type}); nothing was copied.")


def _resume_drive(job: DriveJob, no: int, data: Path, names: dict[str, str]) -> None:
    """Files recorded on this drive that are no longer there whole (drive pulled, files deleted) are
    copied again; half-written temporary files of an earlier run are removed."""
    for rel, size, _md5 in job.on_drive(no):
        try:
            if (data / names.get(rel, rel)).stat().st_size == size:
                continue
        except OSError:
            pass
        job.forget(rel)
    job.commit()
    if data.is_dir():
        for dirpath, _dirs, files in os.walk(data):
            for f in files:
                if f.endswith(PART_SUFFIX):
                    try:
                        os.unlink(os.path.join(dirpath, f))
                    except OSError:
                        pass


def copy_to_drive(opts: DriveOptions, progress: ProgressFn | None = None, stop: StopFlag | None = None) -> DriveResult:
    from planner.scan.walk import source_folder

    source, target = source_folder(opts.source), Path(opts.target).expanduser()
    if _inside(target, source) or _inside(source, target):
        raise BadInput(f"The target {target} and the folder {source} overlap.", hint="Copy to a folder on another drive.")
    job = DriveJob.open(source, opts.selection(), opts.home)
    try:
        scan_set(job, source, opts)
        known = which_drive(job, target)
        info = target_info(target)
        real_fs = info.fs_type  # how the files are made durable depends on the driver, not on --fs-type
        fs = opts.fs_type or info.fs_type
        info = TargetInfo(info.path, fs, info.free_bytes, info.total_bytes, info.cluster_bytes, info.fuse_driver,
                          info.fuse_device)
        # a mapping made by an earlier --map-names run stays in force, so its files are found again
        names = _names(job, rules_for(fs)) if opts.map_names else json.loads(job.meta("names") or "{}")
        entries = [(names.get(r, r), s) for r, s in job.selected_entries()]
        back = {v: k for k, v in names.items()}
        problems = [NameProblem(back.get(p.rel_path, p.rel_path), p.reason)
                    for p in check_paths(entries, rules_for(fs), _bag_root_chars(target))]
        if problems:
            return _refused(job, opts, info, problems)
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise BadInput(f"Cannot create {target} ({e.strerror or e}).") from None
        no = known if known is not None else job.new_drive(str(target), fs)
        job.ensure_drive(no, str(target), fs)
        try:
            write_marker(target, job.meta("group") or "", no, job.meta("source") or str(source))
            _resume_drive(job, no, target / "data", names)
        except OSError as e:
            raise BadInput(f"Cannot write to {target} ({e.strerror or e}).",
                           hint="Check the drive is plugged in and not read-only, then run the same command again.") from None
        run = _Run(job, no, source, target, info, opts, progress, stop or StopFlag())
        run.names = names
        run.real_fs = real_fs
        return run.go()
    finally:
        job.close()


@dataclass
class _Tally:
    files: int = 0
    nbytes: int = 0
    write_s: float = 0.0
    read_s: float = 0.0


class _Run:
    def __init__(self, job: DriveJob, no: int, source: Path, target: Path, info: TargetInfo, opts: DriveOptions,
                 progress: ProgressFn | None, stop: StopFlag) -> None:
        self.job, self.no, self.source, self.target, self.info = job, no, source, target, info
        self.opts, self.progress, self.stop = opts, progress, stop
        self.tally = _Tally()
        self.no_room = 0
        self.too_big = 0
        self.error: str | None = None
        self.interrupted = False
        self.names: dict[str, str] = {}  # --map-names: original relative path -> the name on the drive
        self.real_fs = info.fs_type  # the driver the OS reports (FUSE or kernel), for how batches are flushed
        self.pipe: Pipeline | None = None
        self.queued: list[list[str]] = []  # the batches in the pipeline (written, not yet recorded), oldest first

    def go(self) -> DriveResult:
        self.stop.transferring = True  # from here a Ctrl-C finishes the file in hand and writes the bag
        t0 = time.monotonic()
        self.pipe = Pipeline(self.real_fs, self.info.fuse_driver, self.info.fuse_device)
        try:
            self._copy_all(t0)
            for _ in range(len(self.queued)):  # the last batches: flushed, read back, recorded
                if not self._settle():
                    break
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            self.pipe.close()  # temporary files of batches not read back are removed (never recorded)
        self.job.add_times(self.no, self.tally.write_s, self.tally.read_s, self.tally.nbytes)
        self.job.commit()
        self._finish_bag()
        return self._result(time.monotonic() - t0)

    def _copy_all(self, t0: float) -> None:
        pending = self.job.pending()
        total_b = sum(s for _r, s, _m in pending)
        manifest = sum(len(self.names.get(r, r).encode()) + 40 for r, _s, _m in self.job.on_drive(self.no))
        known = self.info.total_bytes > 0  # some drivers (fusefat) report no sizes: then ENOSPC says full
        free = free_bytes(self.target) if known else 1 << 62
        cluster = max(1, self.info.cluster_bytes)
        batch: list[str] = []
        batch_bytes = 0
        for i, (rel, size, _mtime) in enumerate(pending):
            if self.stop.soft.is_set():
                self.interrupted = True
                break
            need = -(-size // cluster) * cluster + cluster
            line = len(rel.encode()) + 40
            if need + manifest + line + self.opts.reserve_bytes > free:
                self.no_room += 1
                if known and need + self.opts.reserve_bytes > self.info.total_bytes:
                    self.too_big += 1
                    self.job.mark_failed(rel, "larger than the whole drive")
                continue
            batch.append(rel)
            batch_bytes += size
            free -= need
            manifest += line
            if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
                upcoming = [self.source / r for r, _s, _m in pending[i + 1:i + 1 + BATCH_FILES]]
                if not self._copy_batch(batch, upcoming):
                    return
                batch, batch_bytes = [], 0
                if known:
                    try:
                        free = free_bytes(self.target)  # what the drive says, now the batch is on it
                    except OSError as e:
                        self.error = f"cannot read the free space of {self.target}: {e.strerror or e}"
                        return
                self._report(t0, len(pending), total_b)
        if batch:
            self._copy_batch(batch)
        self._report(t0, len(pending), total_b)

    def _report(self, t0: float, files: int, nbytes: int) -> None:
        if self.progress:
            now = time.monotonic()
            rate = self.tally.nbytes / max(1e-6, now - t0)
            left = nbytes - self.tally.nbytes
            self.progress(Progress(self.tally.files, files, self.tally.nbytes, nbytes, rate,
                                   left / rate if rate > 0 else None))

    def _copy_batch(self, rels: list[str], upcoming: list[Path] | None = None) -> bool:
        """Copy a batch while the one before is flushed, then record the one before; False when the drive
        failed or filled up (the run stops; the batch before is still read back and recorded). `upcoming`:
        the files the next batch will likely hold (the pipeline asks the OS for them early)."""
        try:
            self.pipe.write([(self.source / rel, self.target / "data" / self.names.get(rel, rel)) for rel in rels])
        except TargetError as e:
            self._settle()
            self._drive_failed(e)
            return False
        self.queued.append(rels)
        return self._settle(upcoming)

    def _settle(self, upcoming: list[Path] | None = None) -> bool:
        try:
            results = self.pipe.settle(upcoming)
        except TargetError as e:
            self.queued.clear()  # neither batch in the pipeline was recorded; their temporary files are gone
            self._drive_failed(e)
            return False
        if results is not None:
            self._record(self.queued.pop(0), results)
        return True

    def _drive_failed(self, e: TargetError) -> None:
        if e.full:  # the drive said so itself: this drive is done, the files go on the next one
            self.no_room += 1
        else:
            self.error = self.error or str(e)

    def _record(self, rels: list[str], results: list) -> None:
        for rel, done in zip(rels, results):
            if isinstance(done, ReadBackMismatch):
                self.job.mark_failed(rel, f"{done}; the drive may be failing")
            elif isinstance(done, SourceChanged):
                self.job.mark_failed(rel, "the file changed while it was copied; run again to copy it")
            elif isinstance(done, OSError):
                self.job.mark_failed(rel, f"cannot read the file ({done.strerror or done})")
            elif isinstance(done, Exception):
                raise done
            else:
                self.job.mark_done(rel, self.no, done.md5)
                self.tally.files += 1
                self.tally.nbytes += done.size
                self.tally.write_s += done.write_seconds
                self.tally.read_s += done.read_seconds

    def _finish_bag(self) -> None:
        n, b, d = self.job.totals()
        complete = d == n
        info = BagInfo(self.job.meta("source") or str(self.source), self.job.meta("group") or "", self.no,
                       self.no if complete else None, n, b, __version__, time.strftime("%Y-%m-%d"))
        try:
            on_drive = [(self.names.get(r, r), s, m) for r, s, m in self.job.on_drive(self.no)]
            renamed = {self.names[r]: r for r, _s, _m in self.job.on_drive(self.no) if r in self.names}
            write_bag(self.target, on_drive, info, renamed)
        except OSError as e:
            self.error = self.error or f"cannot write the bag's tag files: {e.strerror or e}"
        self.job.set_full(self.no, self.no_room > self.too_big)

    def _result(self, seconds: float) -> DriveResult:
        return outcome(self.job, self.no, self.target, self.info.fs_type, self.tally, seconds,
                       self.no_room > self.too_big, self.interrupted, self.error)


def outcome(job: DriveJob, no: int, target: Path, fs: str, t: _Tally, seconds: float, full: bool,
            interrupted: bool, error: str | None) -> DriveResult:
    from planner.journal.rates import remember_drive_rates

    n, b, d = job.totals()
    drive = job.drive(no)
    failed = job.failed()
    w = t.nbytes / t.write_s if t.write_s > 0 else None
    r = t.nbytes / t.read_s if t.read_s > 0 else None
    c = t.nbytes / seconds if seconds > 0 and t.nbytes else None
    if c and t.nbytes >= MIN_BYTES_FOR_RATE:
        remember_drive_rates(c, w, r, home=job.path.parent.parent)
    if error:
        name, code = "drive error", ExitCode.PARTIAL
        msg = f"Writing to the drive failed: {error}. Check the drive, then run the same command again."
    elif interrupted:
        name, code = "interrupted", ExitCode.INTERRUPTED
        msg = f"Stopped. Drive {no} is a valid bag of what is on it; run the same command again to carry on."
    elif full:
        name, code = "drive full", ExitCode.OK
        msg = (f"drive {no} is full: {drive.files if drive else 0:,} of {n:,} files; "
               "run the same command with the next drive.")
    elif failed:
        name, code = "finished with failures", ExitCode.PARTIAL
        msg = f"{len(failed):,} file(s) could not be copied (listed in the report); run again to retry them."
    else:
        name, code = "finished", ExitCode.OK
        msg = f"All {n:,} files are on {len(job.drives())} drive(s). Check each with `mdplan drive check`."
    return DriveResult(job.path.stem, str(job.path), name, int(code), str(target), fs, no, t.files, t.nbytes,
                       drive.files if drive else 0, drive.bytes if drive else 0, n, b, d, len(job.drives()),
                       seconds, w, r, c, [], failed, msg)
