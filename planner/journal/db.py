"""The job journal: one SQLite database per upload job, so any run can be resumed by re-running it.

A job is identified by the absolute source folder plus the destination (account, container, prefix),
never by the SAS signature: the same command resumes, and a fresh SAS for the same container continues
the same job. The journal holds every file seen (also litter and excluded ones, so nothing is skipped
silently), its blob name, size, mtime, MD5 once known, state and last error (redacted); per-second
telemetry; and events (pauses, runs, stops) for the report.

Only one thread writes (the uploader's coordinator); workers hand results back through a queue. WAL
mode with synchronous=NORMAL keeps every committed transaction across a `kill -9` of the process.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from planner.errors import BadInput
from planner.journal.errors import JournalError, damaged_error, is_damage, journal_error
from planner.journal.home import job_id_for, journal_path, private_file, private_jobs_dir, set_aside
from planner.journal.locks import take_lock
from planner.journal.log import JobLog, log_path
from planner.journal.rows import Counts, FileRow, JobInfo, ScanRow, State
from planner.redact import redact

SCHEMA_VERSION = 2  # 2: telemetry.rtt_ms (polite mode's round trip); a version-1 journal gains it when opened


_SCHEMA = """
CREATE TABLE IF NOT EXISTS job (
  id TEXT PRIMARY KEY, source TEXT NOT NULL, account_url TEXT NOT NULL, account_name TEXT NOT NULL,
  container TEXT NOT NULL, prefix TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
  state TEXT NOT NULL, scan_complete INTEGER NOT NULL DEFAULT 0, options TEXT NOT NULL DEFAULT '{}',
  schema INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
  id INTEGER PRIMARY KEY, rel_path TEXT NOT NULL UNIQUE, blob_name TEXT NOT NULL, site TEXT NOT NULL,
  kind TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, md5 TEXT,
  selected INTEGER NOT NULL, reason TEXT, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT, seen_run INTEGER NOT NULL DEFAULT 0, done_at REAL
);
CREATE INDEX IF NOT EXISTS files_state ON files(state, id);
CREATE INDEX IF NOT EXISTS files_blob ON files(blob_name);
CREATE TABLE IF NOT EXISTS problems (path TEXT PRIMARY KEY, reason TEXT NOT NULL, run INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, started REAL NOT NULL, ended REAL, outcome TEXT, exit_code INTEGER,
  workers TEXT, cap TEXT, predicted_seconds REAL, files_planned INTEGER, bytes_planned INTEGER
);
CREATE TABLE IF NOT EXISTS telemetry (
  second INTEGER PRIMARY KEY, bytes INTEGER NOT NULL DEFAULT 0, files INTEGER NOT NULL DEFAULT 0,
  retries INTEGER NOT NULL DEFAULT 0, cap_bps REAL, workers INTEGER, rtt_ms REAL
);
CREATE TABLE IF NOT EXISTS events (t REAL NOT NULL, kind TEXT NOT NULL, detail TEXT);
"""


# how events read in the job's log: kind -> (log kind, words)
_EVENT_WORDS = {"pause": ("outage", "link down, mdplan keeps retrying"), "resume": ("outage", "link up"),
                "stop": ("error", "stopped"), "run": ("run", "scan and plan done, sending")}


class Journal:
    """One job's database. Not thread-safe by design: only the coordinator thread touches it."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: Any = None) -> None:
        self.path = path
        self._db = conn
        self._lock = lock  # held by the one upload that owns this job, released on close (or by the OS on exit)
        self.run_id = 0
        self.job_log = JobLog(log_path(path))  # what happened, in words, for people (never the signature)

    # -- opening ---------------------------------------------------------------------------------
    @classmethod
    def open(cls, source: Path, account_url: str, account_name: str, container: str, prefix: str,
             home: Path | None = None) -> "Journal":
        """Open (or create) the job's journal and own the job; a damaged journal is set aside first."""
        jid = job_id_for(source, account_url, container, prefix)
        path = journal_path(jid, home)
        try:
            private_jobs_dir(home)
        except OSError as e:
            raise journal_error(path, e) from None
        lock = take_lock(path, jid)
        try:
            conn = _create(path, jid, str(Path(source).resolve()), account_url, account_name, container, prefix)
        except (sqlite3.Error, OSError) as e:
            lock.release()
            if is_damage(e):
                raise damaged_error(path, e, set_aside(path), jid) from None
            raise journal_error(path, e) from None
        private_file(path)
        return cls(path, conn, lock)

    @classmethod
    def open_existing(cls, path: Path) -> "Journal":
        if not path.exists():
            raise BadInput(f"No job journal at {path}. Run `mdplan jobs` to list the jobs there are.")
        try:
            return cls(path, _connect(path))
        except sqlite3.Error as e:
            raise _error(path, e) from None

    def close(self) -> None:
        try:
            self._db.commit()
            self._db.close()
        except sqlite3.Error:
            pass
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- job --------------------------------------------------------------------------------------
    def info(self) -> JobInfo:
        try:
            row = self._db.execute(
                "SELECT id, source, account_url, account_name, container, prefix, state, created, updated FROM job"
            ).fetchone()
            if row is None:
                raise sqlite3.DatabaseError("the job row is missing")
            c = self.counts()
        except sqlite3.Error as e:
            raise _error(self.path, e) from None
        return JobInfo(
            job_id=row[0], path=self.path, source=row[1], account_url=row[2], account_name=row[3],
            container=row[4], prefix=row[5], state=row[6], created=row[7], updated=row[8],
            files_total=c.total_files, files_done=c.n(State.DONE), files_failed=c.n(State.FAILED) + c.n(State.CONFLICT),
            bytes_total=c.total_bytes, bytes_done=c.b(State.DONE),
        )

    def set_state(self, state: str) -> None:
        self._write("UPDATE job SET state=?, updated=?", (state, time.time()))

    def options(self) -> dict:
        return json.loads(self._db.execute("SELECT options FROM job").fetchone()[0])

    def set_options(self, options: dict) -> None:
        self._write("UPDATE job SET options=?", (json.dumps(options, sort_keys=True),))

    @property
    def scan_complete(self) -> bool:
        return bool(self._db.execute("SELECT scan_complete FROM job").fetchone()[0])

    # -- runs -------------------------------------------------------------------------------------
    def begin_run(self, *, workers: str, cap: str | None) -> int:
        cur = self._write("INSERT INTO runs(started, workers, cap) VALUES (?,?,?)", (time.time(), workers, cap))
        self.run_id = int(cur.lastrowid)
        self.log("run", f"run {self.run_id} started (parallel uploads: {workers}; {cap or 'no speed cap'})")
        return self.run_id

    def set_run_plan(self, *, files: int, bytes_: int, predicted_seconds: float | None) -> None:
        self._write("UPDATE runs SET files_planned=?, bytes_planned=?, predicted_seconds=? WHERE id=?",
                    (files, bytes_, predicted_seconds, self.run_id))

    def end_run(self, outcome: str, exit_code: int, *, job_state: str | None = None) -> None:
        """The run's outcome; the job's state becomes `job_state` if given, else the outcome."""
        self._write("UPDATE runs SET ended=?, outcome=?, exit_code=? WHERE id=?",
                    (time.time(), outcome, exit_code, self.run_id))
        self._write("UPDATE job SET state=?, updated=?", (job_state or outcome, time.time()))
        self.log("run", f"run {self.run_id} ended: {outcome} (exit code {exit_code})")

    def runs(self) -> list[dict]:
        cols = ["id", "started", "ended", "outcome", "exit_code", "workers", "cap", "predicted_seconds",
                "files_planned", "bytes_planned"]
        return [dict(zip(cols, r)) for r in self._db.execute(f"SELECT {', '.join(cols)} FROM runs ORDER BY id")]

    # -- scan into the journal --------------------------------------------------------------------
    def record_scan(self, entries: Iterable["ScanRow"], *, batch: int = 5000) -> None:
        """Upsert a stream of scanned files in batches (bounded memory), then mark the scan complete.

        A file already done whose size or mtime changed goes back to pending: it changed since it was
        sent. Files not seen by this run's scan are dealt with by `mark_vanished`.
        """
        self._write("UPDATE job SET scan_complete=0")
        sql = (
            "INSERT INTO files(rel_path, blob_name, site, kind, size, mtime_ns, selected, reason, state, seen_run)"
            " VALUES (?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(rel_path) DO UPDATE SET"
            "  blob_name=excluded.blob_name, kind=excluded.kind, selected=excluded.selected,"
            "  reason=excluded.reason, seen_run=excluded.seen_run,"
            "  state=CASE"
            "    WHEN excluded.selected=0 THEN 'skipped'"
            "    WHEN files.size!=excluded.size OR files.mtime_ns!=excluded.mtime_ns THEN 'pending'"
            "    WHEN files.state IN ('skipped','conflict') THEN 'pending'"
            "    ELSE files.state END,"
            "  md5=CASE WHEN files.size!=excluded.size OR files.mtime_ns!=excluded.mtime_ns THEN NULL ELSE files.md5 END,"
            "  last_error=CASE WHEN files.size!=excluded.size OR files.mtime_ns!=excluded.mtime_ns"
            "    THEN 'changed on disk since it was last sent; sent again' ELSE files.last_error END,"
            "  size=excluded.size, mtime_ns=excluded.mtime_ns"
        )
        rows: list[tuple] = []
        try:
            for e in entries:
                rows.append((e.rel_path, e.blob_name, e.site, e.kind, e.size, e.mtime_ns, 1 if e.selected else 0,
                             e.reason, State.PENDING.value if e.selected else State.SKIPPED.value, self.run_id))
                if len(rows) >= batch:
                    self._db.executemany(sql, rows)
                    self._db.commit()
                    rows.clear()
            if rows:
                self._db.executemany(sql, rows)
            self._mark_conflicts()
            self._db.execute("UPDATE job SET scan_complete=1, updated=?", (time.time(),))
            self._db.commit()
        except sqlite3.Error as e:
            raise _error(self.path, e) from None

    def _mark_conflicts(self) -> None:
        """Two local files that map to one blob name (e.g. the same accented name stored two ways). Only
        files this scan found count: a twin the user renamed away is no longer in the way."""
        self._db.execute(
            "UPDATE files SET state='conflict', last_error=("
            " 'another file maps to the same blob name: ' || (SELECT f2.rel_path FROM files f2"
            "  WHERE f2.blob_name=files.blob_name AND f2.id<files.id AND f2.selected=1 AND f2.seen_run=:run"
            "  LIMIT 1) || '; rename one of them and run again')"
            " WHERE selected=1 AND state!='done' AND seen_run=:run AND EXISTS (SELECT 1 FROM files f2"
            "  WHERE f2.blob_name=files.blob_name AND f2.id<files.id AND f2.selected=1 AND f2.seen_run=:run)",
            {"run": self.run_id},
        )

    def mark_vanished(self) -> int:
        """Files in the journal that this run's scan did not find: failed, with the reason, unless done."""
        cur = self._write(
            "UPDATE files SET state='failed', last_error='no longer in the source folder (moved, deleted, or the"
            " drive is not plugged in)' WHERE seen_run!=? AND state NOT IN ('done','skipped')",
            (self.run_id,),
        )
        return cur.rowcount

    def record_problems(self, problems: Iterable[tuple[str, str]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO problems(path, reason, run) VALUES (?,?,?)",
                             [(p, redact(r), self.run_id) for p, r in problems])
        self._db.commit()

    def problems(self) -> list[tuple[str, str]]:
        return list(self._db.execute("SELECT path, reason FROM problems WHERE run=? ORDER BY path", (self.run_id,)))

    # -- work queue -------------------------------------------------------------------------------
    def reset_for_run(self) -> None:
        """At the start of a run: failed files get another chance; in-flight ones from a crash are re-checked.

        Not files this run's scan did not find (mark_vanished failed them with the reason): offering them
        again would count them in the plan and overwrite that reason with a vaguer one."""
        self._write("UPDATE files SET state='pending', attempts=0 WHERE state='failed' AND selected=1 AND seen_run=?",
                    (self.run_id,))
        # in flight when the last run died: offered again (the container listing finds those that arrived)
        self._write("UPDATE files SET state='pending' WHERE state='uploading'")

    def take_batch(self, limit: int, after_id: int) -> list[FileRow]:
        """The next pending files, marked 'uploading' in one transaction (never one already in flight)."""
        rows = [FileRow(*r) for r in self._db.execute(
            "SELECT id, rel_path, blob_name, size, mtime_ns, md5, state, attempts, last_error, site FROM files"
            " WHERE state='pending' AND selected=1 AND id>? ORDER BY id LIMIT ?",
            (after_id, limit))]
        if rows:
            self._db.executemany("UPDATE files SET state='uploading' WHERE id=?", [(r.id,) for r in rows])
            self._db.commit()
        return rows

    def iter_selected(self, state: State | None = None, batch: int = 2000) -> Iterator[FileRow]:
        last = 0
        while True:
            q = ("SELECT id, rel_path, blob_name, size, mtime_ns, md5, state, attempts, last_error, site FROM files"
                 " WHERE selected=1 AND id>?" + (" AND state=?" if state else "") + " ORDER BY id LIMIT ?")
            args = (last, state.value, batch) if state else (last, batch)
            rows = [FileRow(*r) for r in self._db.execute(q, args)]
            if not rows:
                return
            yield from rows
            last = rows[-1].id

    def mark_done(self, file_id: int, md5: str, *, note: str | None = None) -> None:
        self._db.execute("UPDATE files SET state='done', md5=?, last_error=?, done_at=?, attempts=attempts+1"
                         " WHERE id=?", (md5, note, time.time(), file_id))

    def mark(self, file_id: int, state: State, error: str | None, *, attempts: int = 0,
             md5: str | None = None) -> None:
        self._db.execute("UPDATE files SET state=?, last_error=?, attempts=attempts+?, md5=COALESCE(?, md5)"
                         " WHERE id=?", (state.value, redact(error) if error else None, attempts, md5, file_id))

    def update_stat(self, file_id: int, size: int, mtime_ns: int) -> None:
        self._db.execute("UPDATE files SET size=?, mtime_ns=?, md5=NULL WHERE id=?", (size, mtime_ns, file_id))

    def release_uploading(self) -> None:
        """Files handed out but not finished go back to pending (after an orderly stop)."""
        self._write("UPDATE files SET state='pending' WHERE state='uploading'")

    def commit(self) -> None:
        try:
            self._db.commit()
        except sqlite3.Error as e:
            raise _error(self.path, e) from None

    # -- reading ----------------------------------------------------------------------------------
    def counts(self) -> Counts:
        c = Counts()
        for state, n, b in self._db.execute(
                "SELECT state, COUNT(*), COALESCE(SUM(size),0) FROM files WHERE selected=1 GROUP BY state"):
            c.files[state] = n
            c.bytes[state] = b
        for reason, n, b in self._db.execute(
                "SELECT reason, COUNT(*), COALESCE(SUM(size),0) FROM files WHERE selected=0 GROUP BY reason"):
            c.excluded_files[reason or "excluded"] = n
            c.excluded_bytes[reason or "excluded"] = b
        return c

    def found_already(self) -> tuple[int, int]:
        """Files (and bytes) marked done because they were already in the container, not sent."""
        n, b = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size),0) FROM files WHERE selected=1 AND state='done'"
            " AND last_error LIKE 'already in the container%'").fetchone()
        return int(n), int(b)

    def failures(self, limit: int = 1000) -> list[FileRow]:
        return [FileRow(*r) for r in self._db.execute(
            "SELECT id, rel_path, blob_name, size, mtime_ns, md5, state, attempts, last_error, site FROM files"
            " WHERE selected=1 AND state IN ('failed','conflict') ORDER BY rel_path LIMIT ?", (limit,))]

    def sites(self) -> list[tuple[str, int, int, int, int, int]]:
        """Per top-level folder: site, files sent, bytes sent, files skipped (not selected), files failed, total."""
        return list(self._db.execute(
            "SELECT site,"
            " SUM(CASE WHEN selected=1 AND state='done' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN selected=1 AND state='done' THEN size ELSE 0 END),"
            " SUM(CASE WHEN selected=0 THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN selected=1 AND state IN ('failed','conflict') THEN 1 ELSE 0 END),"
            " COUNT(*) FROM files GROUP BY site ORDER BY site"))

    def manifest(self) -> Iterator[tuple[str, str, int, str | None, str, str | None]]:
        """rel_path, blob_name, bytes, md5, state, reason: every file the job knows, streamed."""
        last = 0
        while True:
            rows = list(self._db.execute(
                "SELECT id, rel_path, blob_name, size, md5, state, COALESCE(reason, last_error) FROM files"
                " WHERE id>? ORDER BY id LIMIT 5000", (last,)))
            if not rows:
                return
            for r in rows:
                yield r[1], r[2], r[3], r[4], r[5], r[6]
            last = rows[-1][0]

    # -- telemetry and events ---------------------------------------------------------------------
    def add_telemetry(self, seconds: dict[int, list[float]]) -> None:
        """Merge per-second counters {unix_second: [bytes, files, retries, cap_bps, workers(, rtt_ms)]}."""
        self._db.executemany(
            "INSERT INTO telemetry(second, bytes, files, retries, cap_bps, workers, rtt_ms) VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT(second) DO UPDATE SET bytes=bytes+excluded.bytes, files=files+excluded.files,"
            " retries=retries+excluded.retries, cap_bps=excluded.cap_bps, workers=excluded.workers,"
            " rtt_ms=COALESCE(excluded.rtt_ms, rtt_ms)",
            [(s, int(v[0]), int(v[1]), int(v[2]), v[3], int(v[4]) if v[4] is not None else None,
              v[5] if len(v) > 5 else None) for s, v in seconds.items()])

    def rtt(self) -> list[tuple[int, float]]:
        """(unix second, round trip in ms) where polite mode measured one; [] for a journal from before."""
        if not _has_column(self._db, "telemetry", "rtt_ms"):  # a version-1 journal opened read-only
            return []
        return list(self._db.execute("SELECT second, rtt_ms FROM telemetry WHERE rtt_ms IS NOT NULL ORDER BY second"))

    def telemetry(self) -> list[tuple[int, int, int, int, float | None, int | None]]:
        return list(self._db.execute(
            "SELECT second, bytes, files, retries, cap_bps, workers FROM telemetry ORDER BY second"))

    def event(self, kind: str, detail: str = "", t: float | None = None) -> None:
        self._db.execute("INSERT INTO events(t, kind, detail) VALUES (?,?,?)",
                         (time.time() if t is None else t, kind, redact(detail)))
        words = _EVENT_WORDS.get(kind)
        if words:
            self.log(words[0], f"{words[1]}: {detail}" if detail and kind != "run" else words[1], t)

    def log(self, kind: str, text: str, t: float | None = None) -> None:
        """A line in the job's log file (redacted there); never fails the upload."""
        self.job_log.write(kind, text, t)

    def events(self) -> list[tuple[float, str, str]]:
        return list(self._db.execute("SELECT t, kind, detail FROM events ORDER BY t"))

    # -- internals --------------------------------------------------------------------------------
    def _write(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        try:
            cur = self._db.execute(sql, args)
            self._db.commit()
            return cur
        except sqlite3.Error as e:
            raise _error(self.path, e) from None


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level="DEFERRED", check_same_thread=False)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    except BaseException:
        conn.close()
        raise
    return conn


def _create(path: Path, jid: str, source: str, account_url: str, account_name: str, container: str,
            prefix: str) -> sqlite3.Connection:
    if os.name == "posix" and not path.exists():  # SQLite gives -wal/-shm the database file's mode
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = _connect(path)
    try:
        conn.executescript(_SCHEMA)
        _migrate(conn)
        now = time.time()
        conn.execute(
            "INSERT OR IGNORE INTO job(id, source, account_url, account_name, container, prefix, created,"
            " updated, state, schema) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (jid, source, account_url, account_name, container, prefix, now, now, "new", SCHEMA_VERSION),
        )
        conn.commit()
    except BaseException:
        conn.close()  # so a damaged file can be renamed aside (Windows refuses while it is open)
        raise
    return conn


def _has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a journal written by an older mdplan up to SCHEMA_VERSION (columns are only ever added, so
    an older mdplan still reads a newer journal)."""
    if not _has_column(conn, "telemetry", "rtt_ms"):  # version 1 -> 2
        conn.execute("ALTER TABLE telemetry ADD COLUMN rtt_ms REAL")
    conn.execute("UPDATE job SET schema=? WHERE schema<?", (SCHEMA_VERSION, SCHEMA_VERSION))


def _error(path: Path, e: BaseException) -> JournalError:
    """The error for a journal in use: damaged (say so, and how to start afresh) or not writable."""
    return damaged_error(path, e, None, path.stem) if is_damage(e) else journal_error(path, e)
