"""Printing for the CLI: the two consoles (results on stdout, everything else on stderr) and JSON.

The consoles are made on first use, so `mdplan --help` never loads rich's console.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import asdict, dataclass, is_dataclass
from typing import Any


class _LazyConsole:
    """A rich Console created the first time something is printed (rich.console costs ~20 ms to import)."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console = None

    def get(self) -> Any:
        """The rich Console itself (for rich objects that take a `console=`)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr, soft_wrap=True, highlight=False)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


out = _LazyConsole(stderr=False)  # results (stdout)
err = _LazyConsole(stderr=True)  # progress, warnings, errors (stderr)


def terminal_safe(text: str) -> str:
    """Text for a terminal: control characters and escape sequences (a file may be named with them) shown
    as visible escapes (planner.names.safe_display); the line breaks of the text itself kept."""
    from planner.names import safe_display

    return "\n".join(safe_display(line) for line in text.split("\n"))


def say(text: str) -> None:
    """One plain line of results on stdout (no rich markup: paths and names may hold brackets)."""
    out.print(terminal_safe(text), markup=False)


def note(text: str) -> None:
    """One plain line on stderr: progress, warnings, errors."""
    err.print(terminal_safe(text), markup=False)


def to_jsonable(value: Any) -> Any:
    """Dataclasses, paths and datetimes as plain JSON values, with any signature redacted."""
    import enum
    from datetime import datetime
    from pathlib import PurePath

    from planner.redact import redact

    if is_dataclass(value) and not isinstance(value, type):
        return {k: to_jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return redact(value)
    return value


def print_json(value: Any) -> None:
    text = json.dumps(to_jsonable(value), indent=2, ensure_ascii=False)
    # JSON escapes C0 controls itself; C1 ones (U+0080-U+009F, e.g. CSI) and DEL too, for a terminal's sake
    text = re.sub("[\x7f-\x9f]", lambda m: f"\\u{ord(m.group()):04x}", text)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@dataclass(frozen=True)
class ErrorOutput:
    """What `--json` prints on stdout when a command ends in an error (the same line also goes to stderr).

    error: bad_input | sas_problem | network | partial | interrupted | bug, one per exit code.
    """

    error: str
    message: str
    hint: str | None
    exit_code: int
    ok: bool = False


ERROR_KINDS = {1: "partial", 2: "bad_input", 3: "sas_problem", 4: "network", 130: "interrupted"}


def json_requested(args: list[str]) -> bool:
    """--json given to the command (options after a lone `--` are arguments, not options)."""
    before = args[: args.index("--")] if "--" in args else args
    return "--json" in before


def print_json_error(message: str, hint: str | None, exit_code: int, *, bug: bool = False) -> None:
    kind = "bug" if bug else ERROR_KINDS.get(exit_code, "error")
    print_json(ErrorOutput(error=kind, message=message, hint=hint, exit_code=exit_code))
