"""The drive job: which file went on which drive, with its MD5, in SQLite in mdplan's state folder.

One job per source folder and selection. A file is recorded only after it was read back from the drive
and renamed into place; the journal commits at least every half second, so `kill -9` or a pulled drive
loses at most that much bookkeeping, and the next run finds those files again (or copies them again).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from planner.journal.home import journal_home, private_dir, private_file, state_dir

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS files (rel TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, selected INTEGER,
  reason TEXT, drive INTEGER, md5 TEXT, done INTEGER DEFAULT 0, failed TEXT, seen INTEGER DEFAULT 1);
CREATE TABLE IF NOT EXISTS drives (no INTEGER PRIMARY KEY, target TEXT, fs_type TEXT, started REAL,
  finished REAL, full INTEGER DEFAULT 0, write_seconds REAL DEFAULT 0, read_seconds REAL DEFAULT 0,
  copied_bytes INTEGER DEFAULT 0);
"""


@dataclass
class DriveRow:
    no: int
    target: str
    fs_type: str
    full: bool
    files: int
    bytes: int
    write_seconds: float
    read_seconds: float
    copied_bytes: int


def drive_job_id(source: Path, selection: Sequence[str]) -> str:
    key = "\n".join([os.path.normcase(str(Path(source).resolve())), *selection])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def drive_jobs_dir(home: Path | None = None) -> Path:
    state_dir(home)
    return private_dir((home or journal_home()) / "drive-jobs")


class DriveJob:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(str(path))
        private_file(path)
        self.db.executescript(SCHEMA)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self._last_commit = time.monotonic()

    @classmethod
    def open(cls, source: Path, selection: Sequence[str], home: Path | None = None) -> "DriveJob":
        job = cls(drive_jobs_dir(home) / f"{drive_job_id(source, selection)}.sqlite")
        if job.meta("group") is None:
            job.set_meta("group", str(uuid.uuid4()))
            job.set_meta("source", str(Path(source).resolve()))
            job.set_meta("created", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
            job.db.commit()
        return job

    def close(self) -> None:
        self.db.commit()
        self.db.close()

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- the scan -------------------------------------------------------------------------------
    def record_scan(self, rows: Iterable[tuple[str, int, int, bool, str | None]]) -> None:
        """(rel, size, mtime_ns, selected, reason) for every entry. Files already on a drive keep their
        record; a file gone from the source and not yet copied is dropped."""
        self.db.execute("UPDATE files SET seen=0")
        for rel, size, mtime, selected, reason in rows:
            self.db.execute(
                "INSERT INTO files (rel, size, mtime_ns, selected, reason, seen) VALUES (?,?,?,?,?,1) "
                "ON CONFLICT(rel) DO UPDATE SET seen=1, size=CASE WHEN done THEN size ELSE excluded.size END, "
                "mtime_ns=CASE WHEN done THEN mtime_ns ELSE excluded.mtime_ns END, selected=excluded.selected, "
                "reason=excluded.reason, failed=NULL", (rel, size, mtime, int(selected), reason))
        self.db.execute("DELETE FROM files WHERE seen=0 AND done=0")
        self.db.commit()

    def pending(self) -> list[tuple[str, int, int]]:
        return self.db.execute("SELECT rel, size, mtime_ns FROM files WHERE selected=1 AND done=0 "
                               "ORDER BY rel").fetchall()

    def selected_entries(self) -> list[tuple[str, int]]:
        return self.db.execute("SELECT rel, size FROM files WHERE selected=1 AND done=0 ORDER BY rel").fetchall()

    def all_selected(self) -> list[tuple[str, int]]:
        return self.db.execute("SELECT rel, size FROM files WHERE selected=1 ORDER BY rel").fetchall()

    def totals(self) -> tuple[int, int, int]:
        """(selected files, their bytes, files done)."""
        n, b, d = self.db.execute("SELECT count(*), coalesce(sum(size),0), coalesce(sum(done),0) FROM files "
                                  "WHERE selected=1").fetchone()
        return int(n), int(b), int(d)

    def left_out(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT rel, reason FROM files WHERE selected=0 ORDER BY rel").fetchall()

    # -- drives ---------------------------------------------------------------------------------
    def drive(self, no: int) -> DriveRow | None:
        r = self.db.execute("SELECT no, target, fs_type, full, write_seconds, read_seconds, copied_bytes "
                            "FROM drives WHERE no=?", (no,)).fetchone()
        if r is None:
            return None
        n, b = self.db.execute("SELECT count(*), coalesce(sum(size),0) FROM files WHERE done=1 AND drive=?",
                               (no,)).fetchone()
        return DriveRow(r[0], r[1], r[2], bool(r[3]), int(n), int(b), r[4], r[5], r[6])

    def drives(self) -> list[DriveRow]:
        nos = [r[0] for r in self.db.execute("SELECT no FROM drives ORDER BY no")]
        return [d for d in (self.drive(n) for n in nos) if d is not None]

    def new_drive(self, target: str, fs_type: str) -> int:
        no = (self.db.execute("SELECT coalesce(max(no),0) FROM drives").fetchone()[0] or 0) + 1
        self.db.execute("INSERT INTO drives (no, target, fs_type, started) VALUES (?,?,?,?)",
                        (no, target, fs_type, time.time()))
        self.db.commit()
        return no

    def ensure_drive(self, no: int, target: str, fs_type: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO drives (no, target, fs_type, started) VALUES (?,?,?,?)",
                        (no, target, fs_type, time.time()))
        self.db.execute("UPDATE drives SET target=?, fs_type=? WHERE no=?", (target, fs_type, no))

    def set_full(self, no: int, full: bool) -> None:
        self.db.execute("UPDATE drives SET full=?, finished=? WHERE no=?", (int(full), time.time(), no))
        self.db.commit()

    def add_times(self, no: int, write_s: float, read_s: float, nbytes: int) -> None:
        self.db.execute("UPDATE drives SET write_seconds=write_seconds+?, read_seconds=read_seconds+?, "
                        "copied_bytes=copied_bytes+? WHERE no=?", (write_s, read_s, nbytes, no))

    # -- files ----------------------------------------------------------------------------------
    def on_drive(self, no: int) -> list[tuple[str, int, str]]:
        return self.db.execute("SELECT rel, size, md5 FROM files WHERE done=1 AND drive=? ORDER BY rel",
                               (no,)).fetchall()

    def all_files(self) -> list[tuple[str, int, int, int | None, str | None, str | None, str | None]]:
        return self.db.execute("SELECT rel, size, selected, drive, md5, reason, failed FROM files "
                               "ORDER BY rel").fetchall()

    def mark_done(self, rel: str, no: int, md5: str) -> None:
        self.db.execute("UPDATE files SET done=1, drive=?, md5=?, failed=NULL WHERE rel=?", (no, md5, rel))
        self.commit_soon()

    def mark_failed(self, rel: str, why: str) -> None:
        self.db.execute("UPDATE files SET failed=? WHERE rel=?", (why, rel))
        self.commit_soon()

    def forget(self, rel: str) -> None:
        self.db.execute("UPDATE files SET done=0, drive=NULL, md5=NULL WHERE rel=?", (rel,))

    def failed(self) -> list[tuple[str, str]]:
        return self.db.execute("SELECT rel, failed FROM files WHERE failed IS NOT NULL ORDER BY rel").fetchall()

    def commit_soon(self) -> None:
        now = time.monotonic()
        if now - self._last_commit >= 0.5:
            self.db.commit()
            self._last_commit = now

    def commit(self) -> None:
        self.db.commit()
        self._last_commit = time.monotonic()


@dataclass
class DriveJobInfo:
    """One drive job as `mdplan jobs` lists it."""

    job_id: str
    path: str
    source: str
    state: str  # "finished", "drive N full", "in progress"
    files_total: int
    bytes_total: int
    files_done: int
    bytes_done: int
    files_failed: int
    drives: int
    updated: float


def list_drive_jobs(home: Path | None = None) -> list[DriveJobInfo]:
    """The drive jobs on this computer, most recently used first (read only; unreadable journals left out)."""
    folder = (home or journal_home()) / "drive-jobs"
    if not folder.is_dir():
        return []
    out = []
    for path in folder.glob("*.sqlite"):
        try:
            out.append(_drive_job_info(path))
        except (sqlite3.Error, OSError, TypeError):
            continue
    return sorted(out, key=lambda j: j.updated, reverse=True)


def _drive_job_info(path: Path) -> DriveJobInfo:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        q = lambda sql: db.execute(sql).fetchone()  # noqa: E731
        source = (q("SELECT value FROM meta WHERE key='source'") or ["?"])[0]
        n, b, d, bd, f = q("SELECT count(*), coalesce(sum(size),0), coalesce(sum(done),0), "
                           "coalesce(sum(CASE WHEN done=1 THEN size ELSE 0 END),0), count(failed) "
                           "FROM files WHERE selected=1")
        drives, last_full = q("SELECT count(*), coalesce((SELECT full FROM drives ORDER BY no DESC LIMIT 1),0) "
                              "FROM drives")
    finally:
        db.close()
    state = "finished" if n and d == n else (f"drive {drives} full" if last_full else "in progress")
    mtime = max((p.stat().st_mtime for p in (path, path.with_name(path.name + "-wal")) if p.exists()), default=0.0)
    return DriveJobInfo(path.stem, str(path), source, state, int(n), int(b), int(d), int(bd), int(f), int(drives), mtime)
