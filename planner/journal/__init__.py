"""The job journal: one SQLite database per upload job, so any run can be resumed by re-running it.

- `db`: the `Journal` itself (files, runs, telemetry, events) and opening it;
- `rows`: its values (`State`, `JobInfo`, `Counts`, `FileRow`, `ScanRow`);
- `home`: where state lives (`journal_home`), job ids, private folders and files;
- `registry`: the jobs on this computer (`list_jobs`, `find_job`, `forget_job`); `locks`: one mdplan a job;
- `log`: the job's log file (`JobLog`), beside the journal, redacted;
- `naming`: blob names and prefixes; `rates`: the last rate measured per destination;
- `errors`: `JobBusy`, `JournalError`, `JournalDamaged` and `journal_error`.
"""

from planner.journal.db import SCHEMA_VERSION, Journal
from planner.journal.errors import JobBusy, JournalDamaged, JournalError, journal_error
from planner.journal.home import job_id_for, journal_home, journal_path, private_dir, state_dir
from planner.journal.naming import blob_name_for, clean_prefix
from planner.journal.rates import last_rate, last_rtt_ms, remember_rate
from planner.journal.registry import bytes_sent_since, find_job, forget_job, list_jobs
from planner.journal.rows import Counts, FileRow, JobInfo, ScanRow, State

# Old name, kept while planner/upload.py (being rebuilt) still imports it: use `journal_error`.
_journal_error = journal_error

__all__ = [
    "SCHEMA_VERSION", "Counts", "FileRow", "JobBusy", "JobInfo", "Journal", "JournalDamaged", "JournalError",
    "ScanRow", "State", "blob_name_for", "bytes_sent_since", "clean_prefix", "find_job", "forget_job", "job_id_for",
    "journal_error", "journal_home", "journal_path", "last_rate", "last_rtt_ms", "list_jobs", "private_dir",
    "remember_rate", "state_dir",
]
