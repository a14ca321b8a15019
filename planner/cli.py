"""The `mdplan` command line: parse, call the library, print. No decisions live here.

Every command's work is a function in the library (planner.estimate, planner.upload, ...) with typed
arguments and a dataclass result; this module turns options into those arguments, prints the result
for a person (rich, on stderr for progress) or as JSON (stdout), and maps errors to exit codes.
"""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import asdict, is_dataclass
from typing import Any

import typer
from rich.console import Console

from planner import __version__
from planner.errors import EXIT_CODE_HELP, ExitCode, MdplanError
from planner.sas import redact

app = typer.Typer(
    name="mdplan",
    help=(
        "Plan and carry out the transfer of a camera-trap image set to a MegaDetector team's Azure "
        "container, or decide to mail a hard drive instead.\n\n" + EXIT_CODE_HELP
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

out = Console(soft_wrap=True, highlight=False)  # results (stdout)
err = Console(stderr=True, soft_wrap=True, highlight=False)  # progress, warnings, errors (stderr)


class _State:
    debug = False


state = _State()


def _version(value: bool) -> None:
    if value:
        out.print(f"mdplan {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full (redacted) tracebacks for unexpected errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    state.debug = debug


def to_jsonable(value: Any) -> Any:
    """Dataclasses, paths and datetimes as plain JSON values, with any signature redacted."""
    import enum
    from datetime import datetime
    from pathlib import PurePath

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
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fail(message: str, code: ExitCode) -> None:
    """Print one plain line to stderr and leave with `code`."""
    err.print(f"mdplan: {redact(message)}", markup=False)
    raise typer.Exit(int(code))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script: every outcome becomes one line and a documented exit code."""
    args = sys.argv[1:] if argv is None else argv
    try:
        result = app(args=args, prog_name="mdplan", standalone_mode=False)
    except MdplanError as e:
        err.print(f"mdplan: {e}", markup=False)
        return _exit(int(e.exit_code), argv)
    except (typer.Abort, KeyboardInterrupt):
        err.print("mdplan: interrupted. Re-run the same command to continue.", markup=False)
        return _exit(int(ExitCode.INTERRUPTED), argv)
    except typer.Exit as e:
        return _exit(e.exit_code, argv)
    except typer.TyperException as e:  # usage errors: unknown option, missing argument, bad value
        where = f" Run `{e.ctx.command_path} --help` to see how it is used." if getattr(e, "ctx", None) else ""
        msg = redact(e.format_message()).rstrip(".")
        err.print(f"mdplan: {msg}.{where}", markup=False)
        return _exit(int(ExitCode.BAD_INPUT), argv)
    except Exception as e:  # a bug: still one line for the user, the traceback only with --debug
        if state.debug:
            err.print(redact(traceback.format_exc()), markup=False)
        err.print(
            f"mdplan: unexpected error ({type(e).__name__}: {redact(e)}). This is a bug in mdplan; "
            "please report it with the output of the same command run with --debug.",
            markup=False,
        )
        return _exit(1, argv)
    code = result if isinstance(result, int) else 0
    return _exit(code, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code


# Commands register themselves below, one function each, importing their library module lazily so
# `mdplan --help` stays fast.


@app.command(
    "check",
    help=(
        "Find out whether a SAS URL will work for uploading (write, list, read, expiry) before you start.\n\n"
        "Examples:\n\n\b\n"
        "  mdplan check \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n"
        "  mdplan check - --json < url.txt\n\n"
        "Without SAS, the URL is read from the environment variable MDPLAN_SAS. The check writes one tiny file "
        "under .mdplan/ in the container and deletes it again (if the URL allows deleting).\n\n"
        "Exit codes: 0 uploading will work; 2 that is not a SAS URL; 3 the URL will not work (expired, no write "
        "permission, wrong container, signature refused); 4 the storage host cannot be reached."
    ),
)
def check_command(
    sas: str = typer.Argument(None, metavar="SAS", help="The container SAS URL in double quotes, '-' to read it "
                                                          "from input, or leave it out and set MDPLAN_SAS."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    from planner.destination import check
    from planner.sas import resolve_sas_argument

    sas_url = resolve_sas_argument(sas)
    if not json_out:
        err.print(f"Checking {sas_url.display} ...", markup=False)
    result = check(sas_url)
    if json_out:
        print_json(result)
    else:
        _print_check_result(result)
    return result.exit_code


def _print_check_result(result) -> None:
    from planner.units import format_duration

    def yes_no(value: bool | None, yes: str = "yes", no: str = "no") -> str:
        return "not tested" if value is None else (yes if value else no)

    if result.can_write and result.left_marker:
        write = f"yes (left the test file {result.marker}: this URL cannot delete)"
    elif result.can_write:
        write = "yes (test file written and deleted)"
    else:
        write = yes_no(result.can_write)
    if result.expiry is None:
        expires = "set by a stored access policy on the server: unknown, ask the sender"
    elif result.time_left is not None and result.time_left <= 0:
        expires = f"{result.expiry:%Y-%m-%d %H:%M} UTC (expired {format_duration(-result.time_left)} ago)"
    else:
        expires = f"{result.expiry:%Y-%m-%d %H:%M} UTC (in {format_duration(result.time_left or 0)})"
    rows = [
        ("Destination", result.destination),
        ("Reachable", yes_no(result.reachable)),
        ("Container", "unknown" if result.container_exists is None else
         ("exists" if result.container_exists else "does not exist")),
        ("Can write", write),
        ("Can list", yes_no(result.can_list)),
        ("Can read", yes_no(result.can_read)),
        ("Expires", expires),
    ]
    for label, value in rows:
        out.print(f"{label + ':':<13} {value}", markup=False)
    for problem in result.problems:
        out.print(f"Problem: {problem}", markup=False)
    for warning in result.warnings:
        out.print(f"Note: {warning}", markup=False)
    out.print(result.advice, markup=False)


# ------------------------------------------------------------------------------------------------
# bandwidth
# ------------------------------------------------------------------------------------------------
class _ProbeStatus:
    """A one-line progress indicator on stderr while a probe measures (only on a terminal)."""

    def __init__(self, show: bool, what: str) -> None:
        self._status = err.status(what) if show and err.is_terminal else None
        self._what = what

    def __enter__(self) -> _ProbeStatus:
        if self._status is not None:
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def __call__(self, p) -> None:  # planner.bandwidth.ProbeProgress
        if self._status is None:
            return
        from planner.units import format_rate

        text = f"{self._what}: {p.phase}, {p.elapsed:.0f} of {p.limit:.0f} s"
        if p.bits_per_second:
            text += f", {format_rate(p.bits_per_second)} so far"
        if p.streams:
            text += f" with {p.streams} parallel uploads"
        self._status.update(text)


@app.command(
    help=(
        "Measure your upload speed to the container in a SAS URL (or, roughly, to speedtest.net).\n\n"
        "Examples:\n\n\b\n"
        "  mdplan bandwidth \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n"
        "  mdplan bandwidth --speedtest --json\n\n"
        "Without a URL, MDPLAN_SAS is used; '-' reads the URL from the next line of input. The test uploads "
        "random data for --seconds (default 10, at most 30) and deletes it again; a URL that cannot delete "
        "keeps one small marker file. " + EXIT_CODE_HELP
    )
)
def bandwidth(
    sas: str = typer.Argument(None, metavar="SAS", help="The container SAS URL in double quotes, '-' to read it "
                                                          "from input, or leave it out and set MDPLAN_SAS."),
    speedtest: bool = typer.Option(False, "--speedtest", help="Measure to a speedtest.net server instead: a rough, "
                                                              "generic figure, not to your container."),
    seconds: float = typer.Option(10.0, "--seconds", min=1, max=30, help="How long to measure, 1 to 30 seconds."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    from planner.bandwidth import describe, measure, remember
    from planner.sas import resolve_sas_argument

    sas_url = None
    if speedtest:
        if sas is not None:
            err.print("Note: --speedtest measures to speedtest.net; the SAS URL is not used.", markup=False)
        what = "Measuring upload speed to speedtest.net"
    else:
        sas_url = resolve_sas_argument(sas, required=False)
        what = f"Measuring upload speed to {sas_url.display}" if sas_url else "Measuring"
    with _ProbeStatus(not json_out, what) as status:
        result = measure(sas=sas_url, speedtest=speedtest, seconds=seconds, progress=status)
    remember(result, sas_url)
    if json_out:
        print_json(result)
    else:
        for line in describe(result):
            out.print(line, markup=False)
    return 0
