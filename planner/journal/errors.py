"""The journal's errors, in words the user can act on: busy job, unwritable state folder, damaged file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from planner.errors import BadInput, MdplanError


class JobBusy(BadInput):
    """Another mdplan process holds this job (exit 2): running both would send files twice."""


class JournalError(MdplanError):
    """The journal cannot be written (disk full, read-only folder): exit 2 with the path to fix."""


class JournalDamaged(JournalError):
    """The journal file is not a readable database any more (cut short, overwritten, bad sectors)."""


# What SQLite says when the file itself is broken, as opposed to a folder or disk that cannot be written.
_DAMAGE_WORDS = ("file is not a database", "malformed", "file is encrypted", "database corrupt",
                 "no such table", "job row is missing")


def is_damage(e: BaseException) -> bool:
    """True when the error says the journal file is broken (not the disk, not a lock, not permissions)."""
    if not isinstance(e, sqlite3.DatabaseError):
        return False
    text = str(e).lower()
    return any(w in text for w in _DAMAGE_WORDS)


def journal_error(path: Path, e: BaseException) -> JournalError:
    """The one-line error for a journal that cannot be used; the hint fits the cause."""
    text = str(e).lower()
    if "full" in text or "no space" in text:
        why = "the disk is full"
    elif "readonly" in text or "read-only" in text or "permission" in text or isinstance(e, PermissionError):
        why = "the folder cannot be written"
    else:
        why = f"{type(e).__name__}: {e}"
    return JournalError(
        f"Cannot write the job journal at {path} ({why}).",
        hint="Free some space or point MDPLAN_HOME at a writable folder, then run the same command again.",
    )


def damaged_error(path: Path, e: BaseException, kept: Path | None, job_id: str) -> JournalDamaged:
    """The journal is damaged: say so, where the copy is, and the command that starts the job afresh."""
    afresh = "files already in the container are found there and not sent again"
    if kept:
        return JournalDamaged(
            f"The job journal at {path} is damaged ({type(e).__name__}: {e}); a copy is kept at {kept}.",
            hint=f"Run the same command again: it starts this job afresh, and {afresh}.",
        )
    return JournalDamaged(
        f"The job journal at {path} is damaged ({type(e).__name__}: {e}).",
        hint=f"Run `mdplan jobs --forget {job_id}`, then the same upload command again: it starts this job "
             f"afresh, and {afresh}.",
    )
