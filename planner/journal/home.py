"""Where mdplan keeps its state (journals, locks, the rates cache), private to the user.

On POSIX the state folder and `jobs/` are 0700 and every file in them 0600, whatever the umask:
journals list file names and destinations. On Windows the per-user folder's ACL already does this.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path


def journal_home() -> Path:
    """Where journals live: MDPLAN_HOME if set, else the platform's per-user state folder."""
    env = os.environ.get("MDPLAN_HOME")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_state_dir

    return Path(user_state_dir("mdplan", appauthor=False))


def jobs_dir(home: Path | None = None) -> Path:
    return (home or journal_home()) / "jobs"


def journal_path(job_id: str, home: Path | None = None) -> Path:
    return jobs_dir(home) / f"{job_id}.sqlite"


def log_path(journal_path: Path) -> Path:
    """The log of the job whose journal is `journal_path` (`<job>.log` beside `<job>.sqlite`)."""
    return Path(journal_path).with_suffix(".log")


def live_report_path(journal_path: Path) -> Path:
    """Where the report rewritten during an upload lives (`<job>.report.html` beside the journal)."""
    return Path(journal_path).with_suffix(".report.html")


def job_id_for(source: Path, account_url: str, container: str, prefix: str) -> str:
    """Stable job id from what the job is, not from the credential that opens it."""
    src = os.path.normcase(str(Path(source).resolve()))
    key = "\n".join([src, account_url.rstrip("/").lower(), container, prefix.strip("/")])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def private_file(path: Path) -> None:
    """Readable and writable by the user only, where the OS supports it."""
    if os.name == "posix":
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass


def private_dir(path: Path, *, ours: bool = True) -> Path:
    """Create `path` (and parents) as needed; make it 0700 if mdplan created it or it is mdplan's own.

    `ours=False` for a folder the user named (MDPLAN_HOME): it is made private only if it is created
    here, so pointing MDPLAN_HOME at an existing shared folder never changes that folder's mode.
    """
    existed = path.is_dir()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix" and (ours or not existed):
        try:
            os.chmod(path, 0o700)
        except OSError:
            pass
    return path


def state_dir(home: Path | None = None) -> Path:
    """The state folder, created private when missing (the platform default one is always mdplan's)."""
    return private_dir(home or journal_home(), ours=home is None and not os.environ.get("MDPLAN_HOME"))


def private_jobs_dir(home: Path | None = None) -> Path:
    state_dir(home)
    return private_dir(jobs_dir(home))


def journal_files(path: Path) -> list[Path]:
    """The journal, the files SQLite and the lock keep beside it, the job's log and its live report."""
    return [path, Path(f"{path}-wal"), Path(f"{path}-shm"), path.with_suffix(".lock"), log_path(path),
            live_report_path(path)]


def set_aside(path: Path) -> Path | None:
    """Rename a damaged journal (and its write-ahead log) out of the way, keeping it for a post-mortem.

    The copy is `<job>.sqlite.damaged-<YYYYmmdd-HHMMSS>`, beside it: not a `.sqlite` file, so it is no
    longer listed as a job. Returns the copy's path, or None if it could not be renamed.
    """
    kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.replace(path, kept)
    except OSError:
        return None
    for side in ("-wal", "-shm"):
        try:
            os.replace(f"{path}{side}", f"{kept}{side}")
        except OSError:
            pass  # usually not there
    return kept
