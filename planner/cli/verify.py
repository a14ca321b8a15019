"""`mdplan verify`: compare the folder with the container, file by file (size and MD5)."""

from __future__ import annotations

import typer

from planner import options
from planner.cli.app import app
from planner.cli.output import print_json, say, to_jsonable
from planner.errors import ExitCode


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
    sas: str = typer.Argument(None, metavar="SAS",
                              help="The container SAS URL, '-' for input, or leave out and set MDPLAN_SAS."),
    prefix: str = typer.Option("", "--prefix", help="The --prefix used for the upload, if any."),
    images_only: bool = typer.Option(False, "--images-only", help="Check only image files (as the upload did)."),
    include: list[str] = typer.Option([], "--include", help="As for upload."),
    exclude: list[str] = typer.Option([], "--exclude", help="As for upload."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    from planner.sas import resolve_sas_argument
    from planner.verify import verify as do_verify

    source = options.folder(folder)
    sas_url = resolve_sas_argument(sas)
    from planner.cli.upload import bag_source

    source, manifest, names = bag_source(source)  # a bag: its manifest is the reference, its payload the files
    res = do_verify(source, sas_url, prefix=prefix, images_only=images_only,
                    include=tuple(include), exclude=tuple(exclude), reference_md5=manifest,
                    original_names=names)
    if json_out:
        data = to_jsonable(res)
        data["ok"] = res.ok
        print_json(data)
    else:
        _print_verify_result(res)
    return 0 if res.ok else int(ExitCode.PARTIAL)


def _print_verify_result(res) -> None:
    from planner.units import format_bytes

    if res.ok:
        say(f"All {res.files_checked:,} files ({format_bytes(res.bytes_checked)}) are in {res.destination},"
            " same size and MD5." + (f" {res.md5_not_stored} blob(s) have no stored MD5 and were compared"
                                     " by size." if res.md5_not_stored else ""))
        return
    say(f"{res.differences_total:,} of {res.files_checked:,} files differ from what is in {res.destination}:")
    for d in res.differences[:50]:
        say(f"  {d.problem:13} {d.rel_path}")
    if res.differences_total > 50:
        say(f"  ... and {res.differences_total - 50:,} more (use --json for the full list)")
    say("Run the same `mdplan upload` command again to send what is missing or different.")
