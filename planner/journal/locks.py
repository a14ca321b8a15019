"""One mdplan per job: an operating-system lock beside the journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.journal.errors import JobBusy, journal_error


def take_lock(path: Path, job_id: str) -> Any:
    """Own the job, or say that another mdplan is running it: two uploads of one job would send twice.

    filelock uses the operating system's lock (flock, or msvcrt on Windows), so a crashed or killed
    mdplan leaves nothing held and the next run takes over.
    """
    from filelock import FileLock, Timeout

    lock = FileLock(str(path.with_suffix(".lock")), mode=0o600, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise JobBusy(
            f"Another mdplan is already working on this job ({job_id[:12]}): the same folder to the same "
            "container, maybe in another window.",
            hint="Let that one finish, or stop it with Ctrl-C, then run this command again.",
        ) from None
    except OSError as e:
        raise journal_error(path, e) from None
    return lock
