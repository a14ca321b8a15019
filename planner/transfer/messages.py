"""Messages from the workers to the coordinator: the only way a worker tells anything."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from planner.errors import MdplanError


class Kind(Enum):
    BYTES = 1  # n bytes acknowledged by the service
    DONE = 2  # file sent and verified
    ALREADY = 3  # same file already in the container
    SKIP = 4  # not sent by policy (exists, --overwrite never)
    FAIL = 5  # gave up on this file for this run
    CHANGED = 6  # file changed on disk while read: re-queue with new stat
    RETRY = 7  # a transient failure, will retry
    FATAL = 8  # SAS/authorisation problem: stop the job
    NETWORK_DOWN = 9  # the link has been down longer than the job's patience
    TIMEOUT = 11  # a request timed out (the tuner backs off)
    RELEASED = 12  # handed back unsent because the job is stopping
    CLASH = 13  # a different blob of this name, not put by this job, is there: not replaced


TERMINAL = frozenset({Kind.DONE, Kind.ALREADY, Kind.SKIP, Kind.FAIL, Kind.CHANGED, Kind.RELEASED, Kind.FATAL,
                      Kind.CLASH})


@dataclass
class Msg:
    kind: Kind
    file_id: int = 0
    n: int = 0
    md5: str | None = None
    text: str | None = None
    attempts: int = 0
    size: int = 0
    mtime_ns: int = 0
    error: MdplanError | None = None
