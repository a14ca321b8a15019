"""`mdplan drive copy` and `mdplan drive check`: the mail-a-drive route (BagIt bags on the drive)."""

from __future__ import annotations

import typer

from planner.cli.app import app
from planner.cli.output import note, print_json, say

drive_app = typer.Typer(
    name="drive", no_args_is_help=True, rich_markup_mode=None,
    help=("Mail a hard drive instead of uploading: copy the set onto drives as checked BagIt bags, and check a "
          "drive before shipping and on arrival. See README 'Mailing drives'."))
app.add_typer(drive_app, name="drive")

COPY_HELP = (
    "Copy a folder onto a drive as a BagIt bag: the same files upload would send, each written, read back "
    "from the drive and MD5-checked before it counts. Resumable: run the same command again after a stop. "
    "A set larger than the drive: when it is full, run the same command with the next drive.\n\n"
    "Examples:\n\n\b\n"
    "  mdplan drive copy D:\\camera-traps E:\\camera-traps\n"
    "  mdplan drive copy /media/cards/2024 /media/usb/2024 --images-only\n\n"
    "Exit codes: 0 done or drive full (run again with the next drive); 1 some files failed or the drive "
    "failed; 2 bad input, or names the drive's file system cannot hold (listed; nothing copied); "
    "130 interrupted.")


@drive_app.command("copy", help=COPY_HELP)
def copy(
    folder: str = typer.Argument(..., metavar="FOLDER", help="The folder that holds the images."),
    target: str = typer.Argument(..., metavar="TARGET", help="A new or empty folder on the drive (or this "
                                 "set's bag on it, to carry on)."),
    images_only: bool = typer.Option(False, "--images-only", help="Copy only image files MegaDetector reads."),
    include: list[str] = typer.Option([], "--include", help="As for upload (repeatable)."),
    exclude: list[str] = typer.Option([], "--exclude", help="As for upload (repeatable)."),
    map_names: bool = typer.Option(False, "--map-names", help="Give names the drive cannot hold (e.g. 'a:b.jpg', "
                                   "'CON.jpg') a safe one; the bag records the originals, which upload restores."),
    report: str = typer.Option(None, "--report", help="HTML report file or folder (default: Documents/mdplan-reports)."),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON summary at the end."),
) -> int:
    from pathlib import Path

    from planner import options
    from planner.cli.ui import install_stop_handlers
    from planner.drive import DriveOptions, copy_to_drive
    from planner.transfer.options import StopFlag

    opts = DriveOptions(options.folder(folder), Path(target), images_only, tuple(include), tuple(exclude),
                        map_names=map_names)
    stop = StopFlag()
    install_stop_handlers(stop)
    res = copy_to_drive(opts, progress=None if json_out else _progress, stop=stop)
    _write_report(res, report)
    if json_out:
        print_json(res)
    else:
        _print_copy(res)
    return res.exit_code


def _progress(p) -> None:
    from planner.units import format_bytes, format_duration

    eta = format_duration(p.eta_seconds) if p.eta_seconds is not None else "?"
    note(f"  {p.files_done:,}/{p.files_total:,} files, {format_bytes(p.bytes_done)} of "
         f"{format_bytes(p.bytes_total)}, {format_bytes(p.bytes_per_second)}/s, about {eta} left")


def _print_copy(res) -> None:
    from planner.units import format_bytes, format_duration

    if res.outcome == "refused":
        say(f"mdplan: {res.message} Rename these files, format the drive exFAT, or run again with --map-names "
            "(the bag then records the original names, which upload restores):")
        for p in res.problems[:100]:
            say(f"  {p.rel_path}: {p.reason}")
        if len(res.problems) > 100:
            say(f"  ... and {len(res.problems) - 100:,} more (use --json for the full list)")
        return
    rate = f", {format_bytes(res.copy_bytes_per_second)}/s with read-back" if res.copy_bytes_per_second else ""
    say(f"Drive {res.drive_no} ({res.fs_type}): {res.files_copied:,} files copied ({format_bytes(res.bytes_copied)}) in "
        f"{format_duration(res.seconds)}{rate}; it holds {res.files_on_drive:,} files "
        f"({format_bytes(res.bytes_on_drive)}). {res.files_done_total:,} of {res.files_total:,} files are on drives.")
    for rel, why in res.failed[:20]:
        say(f"  failed: {rel}: {why}")
    say(res.message)
    if res.report_path:
        say(f"Report: {res.report_path}")
    if res.manifest_path:
        say(f"Manifest (every file and its drive): {res.manifest_path}")


def _write_report(res, report_path: str | None) -> None:
    from planner.redact import redact

    if res.outcome == "refused":
        return
    try:
        from planner.drive.report import write_drive_report

        html, csv = write_drive_report(res, report_path)
    except Exception as e:  # the copy is done and recorded; a report problem must not hide that
        note(f"mdplan: the copy is saved, but the report could not be written ({redact(e)}).")
        return
    res.report_path, res.manifest_path = str(html), str(csv)


@drive_app.command("check", help=(
    "Check a drive made by `mdplan drive copy` (before shipping, or on arrival): every file present and its "
    "MD5 right against the bag's manifest, no extra files.\n\nExamples:\n\n\b\n  mdplan drive check E:\\camera-traps\n\n"
    "Exit codes: 0 all good; 1 a file is missing, changed or extra (each named); 2 not a bag."))
def check(
    target: str = typer.Argument(..., metavar="TARGET", help="The bag's folder on the drive."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    from pathlib import Path

    from planner.drive import check_bag

    res = check_bag(Path(target))
    if json_out:
        print_json(res)
        return res.exit_code
    from planner.units import format_bytes

    count = res.info.get("Bag-Count", "")
    if res.problems == 0:
        say(f"All {res.files_ok:,} files ({format_bytes(res.bytes_checked)}) of {target} are present and "
            f"MD5-right{f' (drive {count})' if count else ''}.")
        return res.exit_code
    say(f"{res.problems:,} problem(s) in {target} ({res.files_ok:,} of {res.files_expected:,} files are right):")
    for kind, rels in (("missing", res.missing), ("changed", res.changed), ("extra", res.extra)):
        for rel in rels[:100]:
            say(f"  {kind:10} {rel}")
    for rel, why in res.unreadable[:100]:
        say(f"  unreadable {rel}: {why}")
    return res.exit_code
