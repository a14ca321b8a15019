"""`mdplan upload`: parse the options, run the uploader, write the report, print the outcome."""

from __future__ import annotations

import sys

import typer

from planner import options
from planner.cli.app import app
from planner.cli.output import note, print_json, say
from planner.errors import EXIT_CODE_HELP

UPLOAD_HELP = (
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
FOLDER_HELP = "The folder that holds the images (all subfolders are included)."
SAS_HELP = "The container SAS URL in double quotes, '-' to read it from input, or leave it out and set MDPLAN_SAS."
CAP_HELP = (f"Speed cap in megabits per second (as AzCopy), from {options.MIN_CAP_MBPS:g} to "
            f"{options.MAX_CAP_MBPS:,.0f}.")
POLITE_HELP = ("Share the link: measure the round trip while sending and slow down when other traffic needs the "
               "link (video calls, browsing), keeping the added delay near 18 ms; takes the link back when it is "
               "free. Any --cap-mbps/--bwlimit still applies.")
MONTHLY_CAP_HELP = ("Your internet data allowance per month, e.g. 1TB (1 GB to 10 PB): the upload is spread so "
                    "this calendar month's bytes (every mdplan job on this computer) stay under it, and waits "
                    "for the next month when it is used up.")
BWLIMIT_HELP = ("Speed cap in rclone's syntax: bytes/s such as 2M, or a timetable such as \"08:00,512k 18:00,off\"; "
                "polite as a rate (\"08:00,polite 18:00,off\") is polite mode in those hours.")


@app.command(help=UPLOAD_HELP)
def upload(
    folder: str = typer.Argument(..., metavar="FOLDER", help=FOLDER_HELP),
    sas: str = typer.Argument(None, metavar="SAS", help=SAS_HELP),
    cap_mbps: float = typer.Option(None, "--cap-mbps", help=CAP_HELP),
    bwlimit: str = typer.Option(None, "--bwlimit", help=BWLIMIT_HELP),
    polite: bool = typer.Option(False, "--polite", help=POLITE_HELP),
    monthly_cap: str = typer.Option(None, "--monthly-cap", help=MONTHLY_CAP_HELP),
    workers: str = typer.Option("auto", "--workers", help="Parallel uploads: a number from 1 to "
                                f"{options.MAX_WORKERS_OPTION}, or auto (tuned to your link)."),
    prefix: str = typer.Option("", "--prefix", help="Folder inside the container to upload into, e.g. 2024/site-a."),
    images_only: bool = typer.Option(False, "--images-only", help="Send only image files MegaDetector reads."),
    include: list[str] = typer.Option([], "--include", help="Only send files matching this pattern (repeatable; "
                                                            "case-insensitive), e.g. '*.jpg' or 'site1/*'."),
    exclude: list[str] = typer.Option([], "--exclude", help="Do not send files matching this pattern (repeatable)."),
    overwrite: str = typer.Option("if-different", "--overwrite",
                                  help="never | if-different | always: what to do with a blob already there."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan and stop; send nothing."),
    report: str = typer.Option(None, "--report", help="HTML report file or folder (default: Documents/mdplan-reports)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON summary at the end."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before starting, even if a drive looks faster."),
    allow_sleep: bool = typer.Option(False, "--allow-sleep", help="Let the computer sleep during the upload."),
) -> int:
    from planner.cli.ui import RichUploadUI, WhileSending, install_stop_handlers
    from planner.sas import resolve_sas_argument
    from planner.upload import StopFlag, UploadOptions, run

    source = options.folder(folder)
    overwrite = options.overwrite(overwrite)
    n_workers = options.workers(workers)
    options.speed_cap(cap_mbps, bwlimit)  # a bad cap fails before the URL is read and the folder scanned
    options.monthly_cap(monthly_cap)
    sas_url = resolve_sas_argument(sas)
    source, manifest, names = bag_source(source)  # a bag: its payload under the original names, held to its MD5s
    opts = UploadOptions(
        source=source, sas=sas_url, prefix=prefix, images_only=images_only,
        include=tuple(include), exclude=tuple(exclude), overwrite=overwrite,  # type: ignore[arg-type]
        workers=n_workers, bwlimit=bwlimit, cap_mbps=cap_mbps, polite=polite, monthly_cap=monthly_cap, dry_run=dry_run,
        reports=[report] if report else [],  # never sent, even when written inside the set
        expected_md5=manifest, blob_names=names,
    )
    stop = StopFlag()
    install_stop_handlers(stop)
    from planner.report.live import LiveReportUI

    ui = LiveReportUI(RichUploadUI(show_progress=not json_out))  # the job's report, rewritten every 5 min
    try:
        result, plan = run(opts, ui, stop=stop, assume_yes=yes, interactive=sys.stdin.isatty(),
                           awake=lambda: WhileSending(allow_sleep))
    except BaseException:
        ui.close()
        raise
    ui.close(draw_last=False)  # the live page's last version is written with the report, from its charts
    if result is None:
        if json_out:
            print_json(plan)
        else:
            say("Dry run: nothing was sent.")
        return 0
    _write_upload_report(result, report, ui)
    if json_out:
        print_json(result)
    else:
        _print_upload_result(result)
    return result.exit_code


def bag_source(source):
    """(folder, manifest MD5s, original names) to read for `upload`/`verify`, saying so when it is a bag."""
    from planner.drive import upload_source

    found = upload_source(source)
    if found.note:
        note(found.note)
    return found.folder, found.expected_md5, found.blob_names


def _print_upload_result(result) -> None:
    from planner.units import format_bytes, format_duration, format_rate

    say(f"{result.outcome.capitalize()}: {result.files_sent:,} files sent ({format_bytes(result.bytes_of_files_sent)}) in "
        f"{format_duration(result.seconds)}, {format_rate(result.average_bits_per_second)} on average; "
        f"{result.files_already_there:,} already there; {result.files_failed:,} failed. "
        f"{result.files_done_total:,} of {result.files_total:,} files are in the container.")
    say(result.message)
    if result.report_path:
        say(f"Report: {result.report_path}")
    if result.manifest_path:
        say(f"Manifest (every file and its state): {result.manifest_path}")


def _write_upload_report(result, report_path: str | None, ui) -> None:
    """The HTML report and CSV manifest, written after every run (finished, failed or interrupted), and the
    live page's last version (if the job had one) from the same data."""
    from pathlib import Path

    from planner.redact import redact
    from planner.report import write_job_report

    try:
        files = write_job_report(Path(result.journal_path), report_path, live_path=ui.last_version_path(),
                                 live_every=ui.every)
    except Exception as e:  # the upload itself is done and saved; a report problem must not hide that
        ui.draw_last()
        note(f"mdplan: the upload is saved, but the report could not be written ({redact(e)}). "
             "Run `mdplan report` to try again.")
        return
    result.report_path = str(files.html)
    result.manifest_path = str(files.csv)

