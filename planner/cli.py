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
        "container, or decide to mail a hard drive instead.\n\n"
        "Examples (the usual order: estimate, check, upload, then email the report it writes):\n\n\b\n"
        "  mdplan estimate D:\\camera-traps \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n"
        "  mdplan upload D:\\camera-traps \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n\n"
        + EXIT_CODE_HELP
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

out = Console(soft_wrap=True, highlight=False)  # results (stdout)
err = Console(stderr=True, soft_wrap=True, highlight=False)  # progress, warnings, errors (stderr)


INTERRUPTED_LINE = "mdplan: interrupted. Nothing is lost; run the same command again to carry on."


class _State:
    debug = False
    ctrl_c_raised = False  # a Ctrl-C became KeyboardInterrupt, which typer turns into a silent exit 130


def _raise_ctrl_c() -> None:
    state.ctrl_c_raised = True
    raise KeyboardInterrupt


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
    import signal
    import threading

    state.ctrl_c_raised = False
    before = signal.getsignal(signal.SIGINT)
    if before is signal.default_int_handler and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, lambda signum, frame: _raise_ctrl_c())
    try:
        return _main(args, argv)
    finally:
        if signal.getsignal(signal.SIGINT) is not before and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, before)


def _main(args: list[str], argv: list[str] | None) -> int:
    try:
        result = app(args=args, prog_name="mdplan", standalone_mode=False)
    except MdplanError as e:
        err.print(f"mdplan: {e}", markup=False)
        return _exit(int(e.exit_code), argv)
    except (typer.Abort, KeyboardInterrupt):
        err.print(INTERRUPTED_LINE, markup=False)
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
    if code == ExitCode.INTERRUPTED and state.ctrl_c_raised:
        err.print(INTERRUPTED_LINE, markup=False)
    return _exit(code, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code


# Commands register themselves below, one function each, importing their library module lazily so
# `mdplan --help` stays fast.


# ------------------------------------------------------------------------------------------------
# upload / verify / jobs
# ------------------------------------------------------------------------------------------------
class _RichUploadUI:
    """Plan and progress for a person: rich on stderr, progress only when stderr is a terminal."""

    def __init__(self, show_progress: bool) -> None:
        self._show = show_progress and err.is_terminal
        self._progress = None
        self._task = None

    def plan(self, plan) -> None:  # planner.upload.Plan
        from planner.units import format_bytes, format_duration, format_rate

        lines = [f"Job {plan.job_id}" + (" (resuming: "
                 f"{plan.files_done_before:,} files, {format_bytes(plan.bytes_done_before)} already sent)"
                 if plan.files_done_before else "")]
        lines.append(f"  From:     {plan.source}")
        lines.append(f"  To:       {plan.destination}")
        lines.append(f"  Send:     {plan.files_to_send:,} files, {format_bytes(plan.bytes_to_send)}")
        for reason, (n, b) in sorted(plan.excluded.items()):
            lines.append(f"  Left out: {n:,} files, {format_bytes(b)}: {reason}")
        if plan.conflicts:
            lines.append(f"  Name clash: {plan.conflicts} file(s) map to a blob name another file already has;"
                         " they are not sent and are listed in the report.")
        if plan.scan_problems:
            lines.append(f"  Could not read: {len(plan.scan_problems)} folder(s)/file(s), e.g. "
                         f"{plan.scan_problems[0][0]} ({plan.scan_problems[0][1]})")
        if plan.cap:
            lines.append(f"  Speed cap: {plan.cap}")
        if plan.eta_seconds is not None and plan.rate_bps:
            lines.append(f"  Time:     about {format_duration(plan.eta_seconds)} at {format_rate(plan.rate_bps)}"
                         f" (last {plan.rate_source} rate to this container)")
        elif plan.files_to_send:
            lines.append("  Time:     estimated from the first seconds of the transfer")
        if plan.expires_before_finish and plan.sas_expiry is not None:
            lines.append(f"  Warning:  the URL expires {plan.sas_expiry:%Y-%m-%d %H:%M} UTC, before the estimated"
                         " finish. Ask the team for a longer-lived URL; a new URL continues this same job.")
        if plan.advice == "drive":
            lines.append("  Advice:   at this rate, mailing a drive would be faster: "
                         + " ".join(plan.advice_reasons[:2]))
        err.print("\n".join(lines), markup=False)

    def confirm(self, question: str) -> bool:
        return typer.confirm(question, default=False, err=True)

    def progress(self, snap, *, files_total: int, bytes_total: int, failed: int, waiting, workers: int) -> None:
        if not self._show:
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        from planner.units import format_duration, format_rate

        if self._progress is None:
            from rich.table import Column

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20),
                                      DownloadColumn(table_column=Column(no_wrap=True)),
                                      TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True)),
                                      console=err, transient=False)
            self._progress.start()
            self._task = self._progress.add_task("Uploading", total=max(bytes_total, 1), info="")
        eta = format_duration(snap.eta_seconds) if snap.eta_seconds is not None else "measuring..."
        info = (f"{snap.files_done:,}/{files_total:,} files  {format_rate(snap.current_bps)} now,"
                f" {format_rate(snap.average_bps)} avg  ETA {eta}  workers {workers}")
        if err.width < 120:  # an 80-column window squeezed the bar and sizes away and wrapped a stray "…" line
            info = f"{snap.files_done:,}/{files_total:,} files  {format_rate(snap.average_bps)}  ETA {eta}"
        if failed:
            info += f"  failed {failed}"
        if waiting:
            info = "waiting for network (retrying by itself)  " + info
        self._progress.update(self._task, completed=snap.bytes_done, info=info)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()

    def message(self, text: str) -> None:
        err.print(text, markup=False)


def _install_stop_handlers(stop) -> None:
    import signal

    def handler(signum, frame):  # noqa: ARG001
        if not stop.transferring:  # still scanning or planning: nothing in flight, stop at once
            _raise_ctrl_c()
        first = not stop.soft.is_set()
        stop.request()
        if first:
            err.print("\nStopping: finishing the files in progress and saving the journal. "
                      "Press Ctrl-C again to stop at once.", markup=False)

    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "SIGBREAK"):  # Windows Ctrl-Break
        signal.signal(signal.SIGBREAK, handler)


@app.command(
    help=(
        "Upload a folder of camera-trap images to the container in a SAS URL: parallel, resumable, "
        "speed-capped if you like, every file checked by MD5, with a report to share at the end.\n\n"
        "Examples:\n\n\b\n"
        "  mdplan upload D:\\camera-traps \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n"
        "  mdplan upload /media/drive/2024 - --cap-mbps 20 --images-only\n"
        "  mdplan upload ./cams --bwlimit \"08:00,512k 18:00,off\"\n\n"
        "'-' reads the URL from the next line of input; without it, MDPLAN_SAS is used. The --bwlimit example "
        "uploads slowly by day and at full speed from 18:00.\n\n"
        "Re-run the same command to resume after a stop, a crash or a new URL. " + EXIT_CODE_HELP
    )
)
def upload(
    folder: str = typer.Argument(..., metavar="FOLDER", help="The folder that holds the images (all subfolders are included)."),
    sas: str = typer.Argument(None, metavar="SAS", help="The container SAS URL in double quotes, '-' to read it "
                                                          "from input, or leave it out and set MDPLAN_SAS."),
    cap_mbps: float = typer.Option(None, "--cap-mbps", help="Speed cap in megabits per second (as AzCopy)."),
    bwlimit: str = typer.Option(None, "--bwlimit", help="Speed cap in rclone's syntax: bytes/s such as 2M, or a "
                                                        "timetable such as \"08:00,512k 18:00,off\"."),
    workers: str = typer.Option("auto", "--workers", help="Parallel uploads: a number, or auto (tuned to your link)."),
    prefix: str = typer.Option("", "--prefix", help="Folder inside the container to upload into, e.g. 2024/site-a."),
    images_only: bool = typer.Option(False, "--images-only", help="Send only image files MegaDetector reads."),
    include: list[str] = typer.Option([], "--include", help="Only send files matching this pattern (repeatable; "
                                                            "case-insensitive), e.g. '*.jpg' or 'site1/*'."),
    exclude: list[str] = typer.Option([], "--exclude", help="Do not send files matching this pattern (repeatable)."),
    overwrite: str = typer.Option("if-different", "--overwrite",
                                  help="never | if-different | always: what to do with a blob already there."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan and stop; send nothing."),
    report: str = typer.Option(None, "--report", help="Where to write the HTML report (default: reports/)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON summary at the end."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before starting, even if a drive looks faster."),
    allow_sleep: bool = typer.Option(False, "--allow-sleep", help="Let the computer sleep during the upload."),
) -> int:
    from pathlib import Path

    from planner.sas import resolve_sas_argument
    from planner.upload import StopFlag, UploadOptions, run

    if overwrite not in ("never", "if-different", "always"):
        fail(f"--overwrite takes never, if-different or always, not {overwrite!r}.", ExitCode.BAD_INPUT)
    if workers != "auto":
        if not (workers.isascii() and workers.isdigit()) or not 1 <= int(workers) <= 256:
            fail(f"--workers takes auto or a whole number from 1 to 256, not {workers!r}.", ExitCode.BAD_INPUT)
    sas_url = resolve_sas_argument(sas)
    opts = UploadOptions(
        source=Path(folder).expanduser(), sas=sas_url, prefix=prefix, images_only=images_only,
        include=tuple(include), exclude=tuple(exclude), overwrite=overwrite,  # type: ignore[arg-type]
        workers=None if workers == "auto" else int(workers), bwlimit=bwlimit, cap_mbps=cap_mbps, dry_run=dry_run,
    )
    stop = StopFlag()
    _install_stop_handlers(stop)
    ui = _RichUploadUI(show_progress=not json_out)
    try:
        result, plan = run(opts, ui, stop=stop, assume_yes=yes, interactive=sys.stdin.isatty(),
                           awake=lambda: _while_sending(allow_sleep))
    finally:
        ui.close()
    if result is None:
        if json_out:
            print_json(plan)
        else:
            out.print("Dry run: nothing was sent.", markup=False)
        return 0
    _write_upload_report(result, report)
    if json_out:
        print_json(result)
    else:
        _print_upload_result(result)
    return result.exit_code


def _print_upload_result(result) -> None:
    from planner.units import format_bytes, format_duration, format_rate

    out.print(
        f"{result.outcome.capitalize()}: {result.files_sent:,} files sent ({format_bytes(result.bytes_sent)}) in "
        f"{format_duration(result.seconds)}, {format_rate(result.average_bits_per_second)} on average; "
        f"{result.files_already_there:,} already there; {result.files_failed:,} failed. "
        f"{result.files_done_total:,} of {result.files_total:,} files are in the container.",
        markup=False,
    )
    out.print(result.message, markup=False)
    if result.report_path:
        out.print(f"Report: {result.report_path}", markup=False)
    if result.manifest_path:
        out.print(f"Manifest (every file and its state): {result.manifest_path}", markup=False)


def _write_upload_report(result, report_path: str | None) -> None:
    """The HTML report and CSV manifest, written after every run (finished, failed or interrupted)."""
    from pathlib import Path

    from planner.report import write_job_report

    try:
        files = write_job_report(Path(result.journal_path), Path(report_path) if report_path else None)
    except Exception as e:  # the upload itself is done and saved; a report problem must not hide that
        err.print(f"mdplan: the upload is saved, but the report could not be written ({redact(e)}). "
                  "Run `mdplan report` to try again.", markup=False)
        return
    result.report_path = str(files.html)
    result.manifest_path = str(files.csv)


class _while_sending:
    """Around the transfer only: keep the computer awake, and load the report's libraries meanwhile."""

    def __init__(self, allow_sleep: bool) -> None:
        import threading

        self._awake = _stay_awake(enabled=not allow_sleep)
        self._done = threading.Event()
        self._warm = threading.Thread(target=self._warm_up, name="mdplan-report-warm-up", daemon=True)

    def _warm_up(self) -> None:
        if self._done.wait(2.0):  # first let the upload start uncontended; a short job needs no warm-up
            return
        try:
            from planner.report import warm_up

            warm_up()
        except Exception:  # only a head start: the report imports them itself and says what went wrong
            pass

    def __enter__(self):
        self._warm.start()
        return self._awake.__enter__()

    def __exit__(self, *exc):
        self._done.set()
        self._warm.join(timeout=10)  # never leave an import half done in a thread at exit
        return self._awake.__exit__(*exc)


class _stay_awake:
    """Keep the computer awake while a job runs (wakepy); say once if the OS offers no way."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._mode = None

    def __enter__(self):
        if not self.enabled:
            return self
        try:
            from wakepy import keep

            self._mode = keep.running(on_fail="pass")
            m = self._mode.__enter__()
            if not getattr(m, "active", False):
                err.print("Note: could not keep this computer awake automatically; check its sleep settings "
                          "so the upload is not paused.", markup=False)
        except Exception:
            self._mode = None
            err.print("Note: could not keep this computer awake automatically; check its sleep settings "
                      "so the upload is not paused.", markup=False)
        return self

    def __exit__(self, *exc):
        if self._mode is not None:
            try:
                self._mode.__exit__(*exc)
            except Exception:
                pass
        return False


@app.command(
    help=(
        "Check that every file that should be in the container is there, with the same size and MD5.\n\n"
        "Examples:\n\n\b\n"
        "  mdplan verify D:\\camera-traps \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n"
        "  mdplan verify /media/drive/2024 - --json\n\n"
        "Needs a URL that can list the container. Exit 0 only when everything matches; 1 when something "
        "differs; 3 when the URL cannot list."
    )
)
def verify(
    folder: str = typer.Argument(..., metavar="FOLDER", help="The folder that was uploaded."),
    sas: str = typer.Argument(None, metavar="SAS", help="The container SAS URL, '-' for input, or leave out and set MDPLAN_SAS."),
    prefix: str = typer.Option("", "--prefix", help="The --prefix used for the upload, if any."),
    images_only: bool = typer.Option(False, "--images-only", help="Check only image files (as the upload did)."),
    include: list[str] = typer.Option([], "--include", help="As for upload."),
    exclude: list[str] = typer.Option([], "--exclude", help="As for upload."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    from pathlib import Path

    from planner.sas import resolve_sas_argument
    from planner.units import format_bytes
    from planner.verify import verify as do_verify

    sas_url = resolve_sas_argument(sas)
    res = do_verify(Path(folder).expanduser(), sas_url, prefix=prefix, images_only=images_only,
                    include=tuple(include), exclude=tuple(exclude))
    if json_out:
        data = to_jsonable(res)
        data["ok"] = res.ok
        print_json(data)
    else:
        if res.ok:
            out.print(f"All {res.files_checked:,} files ({format_bytes(res.bytes_checked)}) are in {res.destination},"
                      " same size and MD5." + (f" {res.md5_not_stored} blob(s) have no stored MD5 and were compared"
                                               " by size." if res.md5_not_stored else ""), markup=False)
        else:
            out.print(f"{res.differences_total:,} of {res.files_checked:,} files differ from what is in "
                      f"{res.destination}:", markup=False)
            for d in res.differences[:50]:
                out.print(f"  {d.problem:13} {d.rel_path}", markup=False)
            if res.differences_total > 50:
                out.print(f"  ... and {res.differences_total - 50:,} more (use --json for the full list)",
                          markup=False)
            out.print("Run the same `mdplan upload` command again to send what is missing or different.",
                      markup=False)
    return 0 if res.ok else int(ExitCode.PARTIAL)


@app.command(
    help=(
        "List upload jobs (one per folder and container) and how far each got, or forget one.\n\n"
        "Examples:\n\n\b\n"
        "  mdplan jobs\n"
        "  mdplan jobs --forget 3f2a9c1b7d2e"
    )
)
def jobs(
    forget: str = typer.Option(None, "--forget", help="Delete this job's journal (the files and blobs are untouched)."),
    json_out: bool = typer.Option(False, "--json", help="Print the jobs as JSON."),
) -> int:
    from datetime import datetime

    from planner.journal import forget_job, journal_home, list_jobs
    from planner.units import format_bytes

    if forget:
        info = forget_job(forget)
        out.print(f"Forgot job {info.job_id} ({info.source} -> {info.destination}). Its files and blobs are "
                  "untouched; the next upload of that folder starts a new job.", markup=False)
        return 0
    found = list_jobs()
    if json_out:
        print_json([{**to_jsonable(j), "destination": j.destination} for j in found])
        return 0
    if not found:
        out.print(f"No upload jobs yet (journals live in {journal_home()}).", markup=False)
        return 0
    # One block per job, not a table: in an 80-column window a table cut the job id (needed for
    # `mdplan report JOB` and `--forget JOB`) and the folder to "358ddb3…" and "/media/…".
    out.print(f"Upload jobs (journals in {journal_home()}):", markup=False)
    for j in found:
        out.print(f"\n{j.job_id}  {j.state}, last run {datetime.fromtimestamp(j.updated):%Y-%m-%d %H:%M}\n"
                  f"  From: {j.source}\n  To:   {j.destination}\n"
                  f"  Done: {j.files_done:,} of {j.files_total:,} files, {format_bytes(j.bytes_done)} of "
                  f"{format_bytes(j.bytes_total)}" + (f"; {j.files_failed:,} failed" if j.files_failed else ""),
                  markup=False)
    return 0


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


@app.command(
    help=(
        "Draw (again) the HTML report and CSV manifest of an upload job: the latest one, or the job you name.\n\n"
        "Examples:\n\n\b\n"
        "  mdplan report\n"
        "  mdplan report 3f2a9c1b7d2e --out D:\\reports\\season-2024.html"
    )
)
def report(
    job: str = typer.Argument(None, metavar="JOB", help="Job id (or its first letters) from `mdplan jobs`; "
                                                        "default: the most recent job."),
    out_path: str = typer.Option(None, "--out", help="Where to write the HTML file (default: reports/)."),
) -> int:
    from pathlib import Path

    from planner.journal import find_job
    from planner.report import write_job_report

    info = find_job(job)
    files = write_job_report(info.path, Path(out_path) if out_path else None)
    out.print(f"Report for job {info.job_id} ({info.destination}): {files.html}", markup=False)
    out.print(f"Manifest (every file and its state): {files.csv}", markup=False)
    return 0


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
        if p.phase == "done":  # measuring is over (estimate goes on to scan): clear the line now
            self._status.stop()
            self._status = None
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
        "keeps one small marker file.\n\n"
        "Exit codes: 0 measured; 2 bad input; 3 the URL will not work (expired, no write permission, wrong "
        "container); 4 no connection (or the speed test failed)."
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


# ------------------------------------------------------------------------------------------------
# estimate
# ------------------------------------------------------------------------------------------------
@app.command(
    help=(
        "Count what is in a folder, measure your upload speed, predict the upload time and say whether to "
        "upload or mail a hard drive, and why.\n\n"
        "Examples:\n\n\b\n"
        "  mdplan estimate D:\\camera-traps \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n"
        "  mdplan estimate /media/drive/2024 --bandwidth 20Mbps --monthly-cap 1TB\n\n"
        "With the SAS URL the speed is measured to the real destination (about 10 s, a few MB); "
        "--speedtest uses speedtest.net (rough); --bandwidth always wins."
    )
)
def estimate(
    folder: str = typer.Argument(..., metavar="FOLDER", help="The folder that holds the images."),
    sas: str = typer.Argument(None, metavar="SAS", help="The container SAS URL (measures the speed to it), '-' to "
                                                        "read it from input, or MDPLAN_SAS."),
    bandwidth: str = typer.Option(None, "--bandwidth", help="Your upload speed if you know it, e.g. 20Mbps or "
                                                            "2.5MB/s (b = bits, B = bytes)."),
    speedtest: bool = typer.Option(False, "--speedtest", help="Measure with speedtest.net (rough, generic)."),
    seconds: float = typer.Option(None, "--seconds", help="How long to measure, in seconds (default 10, at most 30)."),
    monthly_cap: str = typer.Option(None, "--monthly-cap", help="Your internet data allowance per month, e.g. 1TB."),
    shipping_days: float = typer.Option(None, "--shipping-days", help="Days a mailed drive takes (default 7)."),
    drive_speed: str = typer.Option(None, "--drive-speed", help="Copy speed to a USB drive (default 60 MB/s)."),
    drive_size: str = typer.Option(None, "--drive-size", help="Size of one drive (default 4 TB)."),
    images_only: bool = typer.Option(False, "--images-only", help="Count only image files MegaDetector reads."),
    report_path: str = typer.Option(None, "--report", help="Also write an HTML plan page here, to share."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> int:
    from pathlib import Path

    from planner.estimate import EstimateSettings, assess, email_summary, with_overrides
    from planner.sas import resolve_sas_argument
    from planner.units import parse_rate, parse_size

    if shipping_days is not None and not (0 <= shipping_days <= 365):
        fail("--shipping-days takes a number of days from 0 to 365.", ExitCode.BAD_INPUT)
    settings = with_overrides(
        EstimateSettings(),
        monthly_cap_bytes=parse_size(monthly_cap) if monthly_cap else None,
        shipping_days=shipping_days,
        drive_bytes_per_second=parse_rate(drive_speed) / 8 if drive_speed else None,
        drive_size_bytes=parse_size(drive_size) if drive_size else None,
    )
    if bandwidth is not None:
        parse_rate(bandwidth)  # a typo fails before the scan, not after
    sas_url = resolve_sas_argument(sas, required=False) if (sas is not None or bandwidth is None) else None
    show = err.is_terminal and not json_out
    where = "speedtest.net" if speedtest else (sas_url.display if sas_url else "")
    with _ProbeStatus(show and bandwidth is None and bool(where), f"Measuring upload speed to {where}") as probing:
        a = assess(folder, sas=sas_url, bandwidth=bandwidth, speedtest=speedtest, seconds=seconds,
                   images_only=images_only, settings=settings,
                   scan_progress=_scan_progress() if show else None, probe_progress=probing)
    if show:
        err.print("")  # end the "Scanning: ..." progress line
    files = None
    if report_path:
        from planner.report import plan_report_data, write_plan_report

        files = write_plan_report(plan_report_data(a), Path(report_path))
    if json_out:
        _estimate_json(a, files)
        return 0
    _print_estimate(a)
    if files:
        out.print(f"Plan page: {files}", markup=False)
    out.print("\nTo paste into an email to the MegaDetector team:\n", markup=False)
    out.print(email_summary(a), markup=False)
    return 0


def _scan_progress():
    import time

    start = time.monotonic()

    def show(files: int, nbytes: int) -> None:
        from planner.units import format_bytes

        err.print(f"\rScanning: {files:,} files, {format_bytes(nbytes)} ({time.monotonic() - start:.0f} s)",
                  end="", markup=False)

    return show


def _estimate_json(a, report_file) -> None:
    s, e = a.scan, a.estimate

    def kind(k: str) -> int:
        v = s.kinds.get(k)
        return v.files if v else 0

    print_json({
        "folder": a.folder,
        "files": {"total": s.files, "images": kind("image"), "videos": kind("video"), "litter": kind("litter"),
                  "other": kind("other"), "upload": a.upload_files},
        "bytes": {"total": s.bytes, "upload": a.upload_bytes},
        "sites": [{"site": x.site, "files": x.files, "bytes": x.bytes} for x in s.sites],
        "sizes": {"median": s.sizes.median, "p95": s.sizes.p95},
        "duplicate_names": s.duplicate_names,
        "problems": [{"path": p, "reason": r} for p, r in s.problems],
        "bandwidth": {"bits_per_second": e.bandwidth.bits_per_second, "method": e.bandwidth.method,
                      "rtt_ms": e.bandwidth.rtt_ms, "per_file_seconds": e.bandwidth.per_file_seconds,
                      "note": e.bandwidth.note},
        "upload": {"seconds": e.upload_seconds, "workers": e.workers, "cap_months": e.cap_months},
        "drive": {"seconds": e.drive_seconds, "drives": e.drives},
        "recommendation": e.recommendation,
        "close_call": e.close_call,
        "reasons": e.reasons,
        "what_if": [{"bits_per_second": w.bits_per_second, "upload_seconds": w.upload_seconds,
                     "recommendation": w.recommendation} for w in e.what_if],
        "sas": None if a.sas_display is None else {
            "destination": a.sas_display, "expiry": a.sas_expiry, "expiry_source": a.sas_expiry_source,
            "expires_before_finish": a.expires_before_finish},
        "on_wifi": a.on_wifi,
        "report": str(report_file) if report_file else None,
    })


def _print_estimate(a) -> None:
    from rich.table import Table

    from planner.estimate import method_words
    from planner.units import format_bytes, format_duration, format_rate

    s, e = a.scan, a.estimate
    t = Table(title=f"What is in {a.folder}", show_edge=False)
    for col in ("kind", "files", "size"):
        t.add_column(col, justify="right" if col != "kind" else "left")
    for k, label in (("image", "images"), ("video", "videos"), ("other", "other files"),
                     ("litter", "drive litter (not sent)")):
        v = s.kinds.get(k)
        if v:
            t.add_row(label, f"{v.files:,}", format_bytes(v.bytes))
    out.print(t)
    sites = [x for x in s.sites if x.upload_files]
    if sites:
        st = Table(title="By site (top-level folder)", show_edge=False)
        for col in ("site", "files", "size"):
            st.add_column(col, justify="right" if col != "site" else "left")
        for x in sites[:30]:
            st.add_row(x.site, f"{x.upload_files:,}", format_bytes(x.upload_bytes))
        if len(sites) > 30:
            st.add_row(f"... {len(sites) - 30} more", "", "")
        out.print(st)
    out.print(f"Typical file {format_bytes(s.sizes.median)} (95% under {format_bytes(s.sizes.p95)}); "
              f"{s.duplicate_names:,} file names appear in more than one folder (normal for camera traps: "
              "mdplan keeps the folders, so nothing is overwritten).", markup=False)
    if s.other_extensions:
        out.print("Other files by type: " + ", ".join(f"{k} {v:,}" for k, v in list(s.other_extensions.items())[:8])
                  + " (sent unless you add --images-only).", markup=False)
    if s.problems_total:
        out.print(f"Could not read {s.problems_total:,} item(s), e.g. {s.problems[0][0]}: {s.problems[0][1]}.",
                  markup=False)
    if s.symlinks:
        out.print(f"{s.symlinks:,} shortcut(s)/symbolic link(s) were not followed.", markup=False)
    bw = e.bandwidth
    out.print("")
    out.print(f"Would send: {a.upload_files:,} files, {format_bytes(a.upload_bytes)}", markup=False)
    out.print(f"Upload speed: {format_rate(bw.bits_per_second)} ({method_words(bw.method)})"
              + (f", round trip {bw.rtt_ms:.0f} ms" if bw.rtt_ms else "") + ".", markup=False)
    if bw.note:
        out.print(f"  {bw.note}", markup=False)
    out.print(f"Upload time: about {format_duration(e.upload_seconds)} ({e.workers} parallel uploads).",
              markup=False)
    out.print(f"Mail a drive: about {format_duration(e.drive_seconds)} ({e.drives} drive(s) of "
              f"{format_bytes(e.settings.drive_size_bytes)}).", markup=False)
    verdict = "UPLOAD" if e.recommendation == "upload" else "MAIL A HARD DRIVE"
    out.print(f"\nRecommendation: {verdict}" + (" (a close call)" if e.close_call else ""), markup=False)
    for r in e.reasons:
        out.print(f"  - {r}", markup=False)
    wt = Table(title="What if your upload speed were...", show_edge=False)
    wt.add_column("speed")
    wt.add_column("upload time", justify="right")
    wt.add_column("advice")
    for w in e.what_if:
        wt.add_row(format_rate(w.bits_per_second), format_duration(w.upload_seconds), w.recommendation)
    out.print(wt)
    if a.sas_display:
        import math
        from datetime import datetime, timedelta, timezone

        finish = (f"an upload started now would finish about "
                  f"{datetime.now(timezone.utc) + timedelta(seconds=e.upload_seconds):%Y-%m-%d %H:%M} UTC"
                  if math.isfinite(e.upload_seconds) and e.upload_seconds < 3e9 else "the upload would never finish")
        if a.sas_expiry is not None:
            out.print(f"The SAS URL for {a.sas_display} expires {a.sas_expiry:%Y-%m-%d %H:%M} UTC; {finish}.",
                      markup=False)
        elif a.sas_expiry_source == "policy":
            out.print("The SAS URL's expiry is unknown: set by a stored access policy on the server; ask the sender "
                      f"whether it lasts long enough ({finish}).", markup=False)
        if a.expires_before_finish:
            out.print("Warning: the URL expires before the upload would finish. Ask the MegaDetector team for a "
                      "longer-lived URL (a new URL continues the same job).", markup=False)
    if a.on_wifi:
        out.print("Note: this computer reaches the internet over Wi-Fi. Plug in a network cable if you can, or "
                  "sit close to the router: uploads are faster and steadier.", markup=False)


@app.command(
    help=(
        "Try the whole workflow on a generated sample set and a local Azure emulator, then open the two "
        "reports it writes. Nothing leaves this computer; needs Node.js (make demo installs the emulator).\n\n"
        "Examples:\n\n\b\n"
        "  mdplan demo\n"
        "  mdplan demo --serve\n\n"
        "--serve only makes the sample set and starts the emulator, prints a practice folder and URL for the "
        "four steps (estimate, check, upload, report) and waits until you press Ctrl-C."
    )
)
def demo(
    files: int = typer.Option(160, "--files", min=10, max=20000, help="How many sample files to make."),
    cap_mbps: float = typer.Option(40.0, "--cap-mbps", min=1.0, help="Speed cap for the demo upload (Mbit/s)."),
    workdir: str = typer.Option(".mdplan-demo", "--workdir", help="Folder for the sample set and the demo's job."),
    reports: str = typer.Option("reports", "--reports", help="Folder for the two reports."),
    serve: bool = typer.Option(False, "--serve", help="Only start a practice container and print its URL and a "
                                                      "sample folder; Ctrl-C stops it."),
) -> int:
    from pathlib import Path

    from planner.demo import run_demo, serve_practice
    from planner.emulator import EmulatorError

    if serve:
        try:
            serve_practice(Path(workdir), files=files, say=lambda t: out.print(t, markup=False))
        except EmulatorError as e:
            fail(str(e), ExitCode.BAD_INPUT)
        except KeyboardInterrupt:
            out.print("Stopped the practice emulator; what was uploaded to it is gone.", markup=False)
        return 0
    try:
        res = run_demo(Path(workdir), Path(reports), files=files, cap_mbps=cap_mbps,
                       say=lambda t: out.print(t, markup=False))
    except EmulatorError as e:
        fail(str(e), ExitCode.BAD_INPUT)
    out.print("")
    out.print(f"Plan page:     {res.plan_report}", markup=False)
    out.print(f"Upload report: {res.upload_report}", markup=False)
    out.print(f"Manifest:      {res.manifest}", markup=False)
    out.print("Open the .html files in a browser; they are single files you can email.", markup=False)
    ok = res.check_ok and res.upload_exit_code == 0 and res.verify_ok
    return 0 if ok else 1
