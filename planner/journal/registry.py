"""The jobs on this computer: list them, find one by its id (or first letters), forget one.

A damaged journal never hides the others: it is named on stderr with the command that removes it,
and `forget_job` removes it like any other.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from planner.errors import BadInput, MdplanError
from planner.journal.db import Journal
from planner.journal.errors import JournalDamaged
from planner.journal.home import journal_files, jobs_dir
from planner.journal.locks import take_lock
from planner.journal.rows import JobInfo


def _journals(home: Path | None) -> list[Path]:
    folder = jobs_dir(home)
    return sorted(folder.glob("*.sqlite")) if folder.exists() else []


def _read(path: Path) -> JobInfo:
    with Journal.open_existing(path) as j:
        return j.info()


def list_jobs(home: Path | None = None) -> list[JobInfo]:
    jobs = []
    for p in _journals(home):
        try:
            jobs.append(_read(p))
        except JournalDamaged as e:
            print(f"mdplan: {e} `mdplan jobs --forget {p.stem}` removes it.", file=sys.stderr)
        except (MdplanError, sqlite3.Error) as e:  # one unreadable file does not hide the others
            print(f"mdplan: skipping unreadable journal {p}: {e}", file=sys.stderr)
    return sorted(jobs, key=lambda j: j.updated, reverse=True)


def find_job(job: str | None, home: Path | None = None) -> JobInfo:
    jobs = list_jobs(home)
    if not jobs:
        raise BadInput("There are no upload jobs yet. Start one with `mdplan upload FOLDER SAS_URL`.")
    if job is None:
        return jobs[0]
    matches = [j for j in jobs if j.job_id.startswith(job)]
    if len(matches) != 1:
        raise BadInput(f"No single job matches {job!r}. Run `mdplan jobs` to see the job ids.")
    return matches[0]


def _damaged_job(job: str, home: Path | None) -> JobInfo | None:
    """A journal whose id starts with `job` and that cannot be read, as a JobInfo with what is known."""
    found = [p for p in _journals(home) if p.stem.startswith(job)]
    if len(found) != 1:
        return None
    try:
        _read(found[0])
        return None  # readable: find_job deals with it
    except (MdplanError, sqlite3.Error):
        p = found[0]
        return JobInfo(job_id=p.stem, path=p, source="(unknown: the journal is damaged)", account_url="",
                       account_name="(unknown)", container="", prefix="", state="damaged", created=0.0,
                       updated=0.0)


def forget_job(job: str, home: Path | None = None) -> JobInfo:
    """Delete a job's journal (damaged ones too); never the journal of an upload that is running."""
    if not job or not job.strip():
        raise BadInput("Say which job to forget: `mdplan jobs --forget JOB`, with JOB from `mdplan jobs`.")
    info = _damaged_job(job, home) or find_job(job, home)
    take_lock(info.path, info.job_id).release()
    for p in journal_files(info.path):
        if p.exists():
            p.unlink()
    return info


def bytes_sent_since(since: float, home: Path | None = None) -> int:
    """Bytes every job on this computer sent since `since` (unix seconds), from the journals' telemetry:
    what counts against a monthly data cap. Read-only; a journal that cannot be read counts 0."""
    total = 0
    for p in _journals(home):
        try:
            db = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True, timeout=2.0)
        except sqlite3.Error:
            continue
        try:
            row = db.execute("SELECT COALESCE(SUM(bytes), 0) FROM telemetry WHERE second >= ?", (int(since),)).fetchone()
            total += int(row[0] or 0)
        except sqlite3.Error:
            continue
        finally:
            db.close()
    return total
