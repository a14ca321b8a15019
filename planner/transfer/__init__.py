"""The transfer engine: sends a scanned, journalled set to a BlobStore, resumably, losing nothing.

- `options`: what an upload is asked (UploadOptions), plans (Plan) and reports (UploadResult), its UI
  protocol and the stop flag; `resume_command` (the command that continues a job).
- `selection`: which files are sent, and the scan into the journal.
- `planning`: the plan of a run (ETA, advice) and the checks before sending (name clashes).
- `concurrency`: how many requests in flight (the gate and the tuner; the first guess is the model's
  `planner.estimate.auto_workers`).
- `files`: reading a source file safely; content-derived block ids.
- `listing`: what is already in the container (the check's listing, reused when whole; the full listing).
- `sender`: one file's requests and retries, against the BlobStore protocol.
- `coordinator`: the one thread that owns the journal; one handler per worker message.
- `job`: wires them for one run (`run`), with the store, clock and randomness injected.
"""

from planner.estimate import MAX_WORKERS, MIN_WORKERS, auto_workers  # the first worker count is the model's rule
from planner.transfer.concurrency import Tuner, WorkerGate
from planner.transfer.files import md5_file
from planner.transfer.job import prepare, run
from planner.transfer.listing import list_remote
from planner.transfer.options import (BLOCK_SIZE, SINGLE_PUT_MAX, Overwrite, Plan, QuietUI, StopFlag, UploadOptions,
                                      UploadResult, UploadUI, resume_command)
from planner.transfer.planning import build_timetable, suggest_prefix
from planner.transfer.selection import Selector, scan_into_journal

__all__ = [
    "BLOCK_SIZE", "MAX_WORKERS", "MIN_WORKERS", "Overwrite", "Plan", "QuietUI", "SINGLE_PUT_MAX", "Selector",
    "StopFlag", "Tuner", "UploadOptions", "UploadResult", "UploadUI", "WorkerGate", "auto_workers",
    "build_timetable", "list_remote", "md5_file", "prepare", "resume_command", "run", "scan_into_journal",
    "suggest_prefix",
]
