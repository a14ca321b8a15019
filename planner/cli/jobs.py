"""`mdplan jobs`: the upload and drive jobs on this computer and how far each got, or forget an upload job."""

from __future__ import annotations

import typer

from planner import options
from planner.cli.app import app
from planner.cli.output import print_json, say, to_jsonable


@app.command(
    help=(
        "List upload jobs (one per folder and container) and drive jobs (`mdplan drive copy`, one per folder)\n"
        "and how far each got, or forget an upload job.\n\n"
        "Examples:\n\n\b\n"
        "  mdplan jobs\n"
        "  mdplan jobs --forget 3f2a9c1b7d2e"
    )
)
def jobs(
    forget: str = typer.Option(None, "--forget", help="Delete this job's journal (the files and blobs are untouched)."),
    json_out: bool = typer.Option(False, "--json", help="Print the jobs as JSON."),
) -> int:
    from planner.journal import forget_job, list_jobs

    job = options.job_id(forget, "--forget")
    if job is not None:
        info = forget_job(job)
        if json_out:
            print_json({"forgot": {**to_jsonable(info), "destination": info.destination}})
            return 0
        say(f"Forgot job {info.job_id} ({info.source} -> {info.destination}). Its files and blobs are "
            "untouched; the next upload of that folder starts a new job.")
        return 0
    from planner.drive.jobdb import list_drive_jobs

    found, drive_jobs = list_jobs(), list_drive_jobs()
    if json_out:
        print_json([{"kind": "upload", **to_jsonable(j), "destination": j.destination, **_side_files(j)} for j in found]
                   + [{"kind": "drive", **to_jsonable(j)} for j in drive_jobs])
        return 0
    _print_jobs(found)
    _print_drive_jobs(drive_jobs)
    return 0


def _print_drive_jobs(found) -> None:
    from datetime import datetime

    from planner.units import format_bytes

    if not found:
        return
    say("\nDrive jobs (`mdplan drive copy`):")
    for j in found:
        say(f"\n{j.job_id}  {j.state}, last run {datetime.fromtimestamp(j.updated):%Y-%m-%d %H:%M}\n"
            f"  From: {j.source}\n"
            f"  Done: {j.files_done:,} of {j.files_total:,} files, {format_bytes(j.bytes_done)} of "
            f"{format_bytes(j.bytes_total)} on {j.drives} drive(s)"
            + (f"; {j.files_failed:,} failed" if j.files_failed else ""))


def _side_files(j) -> dict:
    """The job's log and live report, where they exist (None where not yet)."""
    from planner.journal.home import live_report_path, log_path

    return {name: (str(p) if p.exists() else None)
            for name, p in (("log_path", log_path(j.path)), ("live_report_path", live_report_path(j.path)))}


def _print_jobs(found) -> None:
    from datetime import datetime

    from planner.journal import journal_home
    from planner.journal.home import live_report_path, log_path
    from planner.units import format_bytes

    if not found:
        say(f"No upload jobs yet (journals live in {journal_home()}).")
        return
    # One block per job, not a table: in an 80-column window a table cut the job id (needed for
    # `mdplan report JOB` and `--forget JOB`) and the folder to "358ddb3…" and "/media/…".
    say(f"Upload jobs (journals in {journal_home()}):")
    for j in found:
        say(f"\n{j.job_id}  {j.state}, last run {datetime.fromtimestamp(j.updated):%Y-%m-%d %H:%M}\n"
            f"  From: {j.source}\n  To:   {j.destination}\n"
            f"  Done: {j.files_done:,} of {j.files_total:,} files, {format_bytes(j.bytes_done)} of "
            f"{format_bytes(j.bytes_total)}" + (f"; {j.files_failed:,} failed" if j.files_failed else ""))
        for label, path in (("Log:", log_path(j.path)), ("Live report:", live_report_path(j.path))):
            if path.exists():
                say(f"  {label:<13}{path}")
