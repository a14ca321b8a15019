"""The `mdplan` command line: parse, call the library, print. No decisions live here.

Every command's work is a function in the library (planner.assessment, planner.upload, ...) with typed
arguments and a dataclass result; the option rules are planner.options. This package turns options
into those arguments, prints the result for a person (rich, on stderr for progress) or as JSON
(stdout), and maps errors to exit codes (app.py). One module a command; each registers itself on
the app when imported, in the order `mdplan --help` lists them. Library modules are imported inside
the command functions, so `mdplan --help` stays fast.
"""

from planner.cli.app import main
# each module registers its command when imported, in the order `mdplan --help` lists them
from planner.cli import upload, verify, jobs, check, report, bandwidth, estimate, drive, demo  # noqa: F401

__all__ = ["main"]
