"""A job's log file: one line per thing that happened (runs started and ended, pauses, outages, retries,
errors), beside the job's journal in the state folder, for whoever looks after a days-long upload.

Plain text, appended, private to the user; every line goes through `planner.redact` so a SAS
signature never lands in it. A log that cannot be written never stops an upload: the journal is the
record, the log is for reading.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path

from planner.journal.home import live_report_path, log_path
from planner.redact import redact

__all__ = ["JobLog", "live_report_path", "log_path"]


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).astimezone().isoformat(timespec="seconds")


class JobLog:
    """Appends `<local time>  <kind>  <text>` lines to one job's log file."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.failed = False  # set once a line could not be written (the disk is full, ...)

    def write(self, kind: str, text: str, t: float | None = None) -> None:
        line = f"{_stamp(time.time() if t is None else t)}  {kind:<7} {redact(text)}".replace("\r", " ")
        line = " ".join(line.split("\n")) + "\n"
        try:
            new = not self.path.exists()
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0)
            fd = os.open(self.path, flags, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
            if new and os.name == "posix":
                os.chmod(self.path, 0o600)
        except OSError:
            self.failed = True
