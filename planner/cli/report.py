"""`mdplan report`: draw (again) the HTML report and CSV manifest of an upload job."""

from __future__ import annotations

import typer

from planner import options
from planner.cli.app import app
from planner.cli.output import print_json, say


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
    out_path: str = typer.Option(None, "--out", help="HTML file or folder (default: Documents/mdplan-reports)."),
    json_out: bool = typer.Option(False, "--json", help="Print the job and the two files written as JSON."),
) -> int:
    from planner.journal import find_job
    from planner.report import write_job_report

    info = find_job(options.job_id(job))
    files = write_job_report(info.path, out_path)
    if json_out:
        print_json({"job_id": info.job_id, "source": info.source, "destination": info.destination,
                    "state": info.state, "html": files.html, "csv": files.csv})
        return 0
    say(f"Report for job {info.job_id} ({info.destination}): {files.html}")
    say(f"Manifest (every file and its state): {files.csv}")
    return 0
