"""Where mdplan's own outputs go (reports, manifests) and how to tell them apart from the user's files, so an
upload never sends them; private, atomic writes with a fallback when a folder cannot be written."""

from __future__ import annotations

import io
import os
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, TypeVar

from planner.journal import journal_home, private_dir, state_dir

T = TypeVar("T")


REPORTS_FOLDER = "mdplan-reports"  # in the user's Documents folder
_NAME_RE = re.compile(r"^mdplan-[A-Za-z0-9._-]+-\d{8}-\d{6}\.(html|csv)$")  # what default names look like
_TEMP_RE = re.compile(r"^\.mdplan-.*\.tmp$")  # a report being written (write_private's temporary file)


def default_report_dir() -> Path:
    """Where reports go unless the user says: never the current folder, which may be the image set.

    `Documents/mdplan-reports` when the user has a Documents folder (easy to find, to attach to an
    email); else `reports/` in mdplan's state folder. With MDPLAN_HOME set (a portable or test setup),
    `$MDPLAN_HOME/reports`, so everything mdplan writes stays in that one place.
    """
    if not os.environ.get("MDPLAN_HOME"):
        try:
            from platformdirs import user_documents_dir

            docs = Path(user_documents_dir())
            if docs.is_dir() and docs != Path.home():
                return docs / REPORTS_FOLDER
        except (ImportError, OSError):  # pragma: no cover - platformdirs is a dependency
            pass
    return journal_home() / "reports"


def fallback_report_dir() -> Path:
    """Where a report goes when the folder asked for cannot be written: the state folder's reports/."""
    return journal_home() / "reports"


def report_file_name(what: str, when: datetime) -> str:
    """mdplan-<what>-<YYYYmmdd-HHMMSS>.html: no ':' in it, so it is a valid Windows file name."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", what).strip("-.") or "container"
    return f"mdplan-{safe}-{when.strftime('%Y%m%d-%H%M%S')}.html"


def default_report_path(container: str, when: datetime, base: Path | None = None) -> Path:
    """mdplan-<container>-<YYYYmmdd-HHMMSS>.html under `base` (default: `default_report_dir()`)."""
    return (default_report_dir() if base is None else Path(base)) / report_file_name(container, when)


def report_target(given: Path | str | None, what: str, when: datetime) -> Path:
    """The report file for `--report`/`--out`: a file as given, inside a folder with the default name,
    or the default path when nothing is given. A folder is one that exists, or a path ending in a
    separator (`--out reports/`)."""
    if given is None or str(given) == "":
        return default_report_path(what, when)
    text = str(given)
    path = Path(given).expanduser()
    if path.is_dir() or text.endswith(("/", os.sep)):
        return path / report_file_name(what, when)
    return path


def write_with_fallback(path: Path, write: Callable[[Path], T]) -> T:
    """write(path); if that folder cannot be written (read-only, gone, not allowed), write the same file
    in `fallback_report_dir()` instead and say so on stderr: a report is never lost to a folder problem.
    """
    import sys

    try:
        return write(path)
    except OSError as e:
        other = fallback_report_dir() / path.name
        if _same_folder(other.parent, path.parent):
            raise
        print(f"mdplan: cannot write the report in {path.parent} ({e.strerror or type(e).__name__}); "
              f"writing it to {other.parent} instead.", file=sys.stderr)
        return write(other)


class OwnOutputs:
    """Tells mdplan's own files (state folder, reports) apart from the user's, for the upload to leave out.

    Build it once per scan (`own_outputs(report_paths)`) and ask `reason(path)` for each file: cheap,
    no file is opened. `report_paths`: the report files (or folders) this run writes, as the user gave
    them; a report's manifest (same name, .csv) counts as well.
    """

    def __init__(self, report_paths: Iterable[Path | str] = ()) -> None:
        self._dirs = [(_resolved(journal_home()), "mdplan's state folder (job journals)"),
                      (_resolved(default_report_dir()), "mdplan's reports folder")]
        files: set[Path] = set()
        self._folders: dict[str, tuple[str, str | None]] = {}  # a folder as walked -> (resolved, why)
        for p in report_paths:
            try:
                r = _resolved(Path(p))
                if Path(p).is_dir():
                    self._dirs.append((r, "mdplan's reports folder"))
            except (OSError, ValueError):  # a path the system cannot hold (NUL, too long): the writer says so
                continue
            files.update({r, r.with_suffix(".csv"), r.with_suffix(".html")})
        self._file_keys = {os.path.normcase(str(f)) for f in files}  # compared as the OS compares names
        self._dir_keys: dict[str, str] = {}
        for folder, why in reversed(self._dirs):  # the first folder's phrase wins, as in the walk up
            self._dir_keys[os.path.normcase(str(folder))] = why

    def reason(self, path: Path | str) -> str | None:
        """Why `path` is mdplan's own output (a short phrase for the manifest), or None if it is not."""
        text = os.fspath(path)
        name = os.path.basename(text)
        if _NAME_RE.match(name) or _TEMP_RE.match(name):
            return "an mdplan report"
        if os.path.islink(text):  # a link: wherever it leads, resolved (rare; the folder cache is for files)
            return self._reason_resolved(_resolved(Path(text)))
        parent, in_folder = self._folder(os.path.dirname(text))
        r = os.path.normcase(os.path.join(parent, name))
        if r in self._file_keys:
            return "an mdplan report"
        return self._dir_keys.get(r, in_folder)

    def _reason_resolved(self, r: Path) -> str | None:
        return "an mdplan report" if os.path.normcase(str(r)) in self._file_keys else self._in_folder(r)

    def _in_folder(self, r: Path) -> str | None:
        for folder, why in self._dirs:
            if r == folder or folder in r.parents:
                return why
        return None

    def _folder(self, folder: str) -> tuple[str, str | None]:
        """A folder resolved once a scan, and which of mdplan's folders it is or lies in (None: the user's).
        Resolving every file's path (links, '..') cost 0.2 ms a file: 1.5 of the 2 s a 7,200-file scan took
        before the first byte went out (issue 14)."""
        known = self._folders.get(folder)
        if known is None:
            r = _resolved(Path(folder))
            known = self._folders[folder] = (str(r), self._in_folder(r))
        return known


def own_outputs(report_paths: Iterable[Path | str] = ()) -> OwnOutputs:
    return OwnOutputs(report_paths)


def is_mdplan_output(path: Path | str, report_paths: Iterable[Path | str] = ()) -> bool:
    """True if `path` is one of mdplan's own files: an upload must never send those (one-off check;
    for a whole scan build `own_outputs()` once)."""
    return OwnOutputs(report_paths).reason(path) is not None


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError):  # e.g. the current folder was deleted: not the state folder
        return False


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except (OSError, RuntimeError):
        return path.expanduser()


def write_private(path: Path, write: Callable[[io.TextIOBase], None], *, encoding: str = "utf-8") -> None:
    """Write a text file readable by the user only (where the OS has such modes), atomically.

    Reports list file names and the destination: not secret, but not for everyone on a shared
    machine either. A temporary file in the same folder is renamed over the target at the end, so a
    crash never leaves half a report.
    """
    _make_folder(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mode 0o600
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if os.name == "posix":
        try:
            os.chmod(path, 0o600)
        except OSError:
            pass


def _make_folder(folder: Path) -> None:
    """The report's folder: created private (0700); inside the state folder, that folder is made first."""
    if folder.is_dir():
        return
    home = _resolved(journal_home())
    if home in _resolved(folder).parents:
        state_dir()
    private_dir(folder)
