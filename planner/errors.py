"""The few kinds of failure a user can meet, each tied to one documented exit code.

Every error the CLI prints is one of these; anything else is a bug and is shown as one line too
(with the traceback only under --debug). Messages are plain sentences that say what happened and
what to do next, and never carry a SAS signature (see planner.redact).
"""

from __future__ import annotations

from enum import IntEnum

from planner.redact import redact


class ExitCode(IntEnum):
    OK = 0
    PARTIAL = 1  # some files failed, the rest were sent
    BAD_INPUT = 2  # a folder, option or URL the user typed is wrong
    SAS_PROBLEM = 3  # the URL is expired, lacks a permission, names a missing container, or was rejected
    NETWORK = 4  # the storage host cannot be reached (after retries)
    INTERRUPTED = 130  # Ctrl-C or SIGTERM: the job is saved; re-run the same command to resume


class MdplanError(Exception):
    """Base of every error meant for the user. `str(err)` is the one line they see."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = redact(message)
        self.hint = redact(hint) if hint else None
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class BadInput(MdplanError):
    exit_code = ExitCode.BAD_INPUT


class SasProblem(MdplanError):
    exit_code = ExitCode.SAS_PROBLEM


class NetworkUnreachable(MdplanError):
    exit_code = ExitCode.NETWORK


class PartialFailure(MdplanError):
    exit_code = ExitCode.PARTIAL


class Interrupted(MdplanError):
    exit_code = ExitCode.INTERRUPTED


EXIT_CODE_HELP = (
    "Exit codes: 0 done (everything sent or already there); 1 some files failed, the rest were sent; "
    "2 bad input; 3 problem with the SAS URL (expired, no permission, wrong container); "
    "4 storage host unreachable; 130 interrupted (re-run the same command to resume)."
)
