"""`mdplan verify`: compare the folder with the container, file by file, and say how each was proved
(size and stored MD5; `--blocks` the block list against the local file; `--deep` download and hash)."""

from __future__ import annotations

import typer

from planner import options
from planner.cli.app import app
from planner.cli.output import note, print_json, say, to_jsonable
from planner.errors import ExitCode


@app.command(
    help=(
        "Check that every file that should be in the container is there, with the same size and MD5, and "
        "say how each was proved.\n\n"
        "Examples:\n\n\b\n"
        "  mdplan verify D:\\camera-traps \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n"
        "  mdplan verify D:\\camera-traps - --blocks\n"
        "  mdplan verify /media/drive/2024 - --deep --json\n\n"
        "Levels: by default size and the stored MD5 (fast, one listing); --blocks also compares each blob's "
        "block list with the local file (no download); --deep downloads every file and hashes it. "
        "Needs a URL that can list the container (and read, for --blocks and --deep). Exit 0 only when "
        "everything matches and was proved; 1 when something differs or could not be proved at the level "
        "asked; 3 when the URL cannot list (or read)."
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
    blocks: bool = typer.Option(False, "--blocks",
                                help="Also compare each blob's committed block list with the local file's blocks "
                                     "(one small request a file, no download; needs read permission)."),
    deep: bool = typer.Option(False, "--deep",
                              help="Also download every file and hash it (as much traffic as the upload; needs "
                                   "read permission). Wins over --blocks."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON (each file with what proved it)."),
) -> int:
    from planner.sas import resolve_sas_argument
    from planner.verify import verify as do_verify

    source = options.folder(folder)
    sas_url = resolve_sas_argument(sas)
    from planner.cli.upload import bag_source

    source, manifest, names = bag_source(source)  # a bag: its manifest is the reference, its payload the files
    level = "deep" if deep else "blocks" if blocks else "fast"
    res = do_verify(source, sas_url, prefix=prefix, images_only=images_only,
                    include=tuple(include), exclude=tuple(exclude), level=level,
                    progress=None if level == "fast" else Progress(level), reference_md5=manifest,
                    original_names=names)
    if json_out:
        data = to_jsonable(res)
        data["ok"] = res.ok
        print_json(data)
    else:
        _print_verify_result(res)
    return 0 if res.ok else int(ExitCode.PARTIAL)


class Progress:
    """A line on stderr every `every` seconds while a --blocks or --deep run goes on (it may take hours)."""

    def __init__(self, level: str, *, clock=None, every: float = 15.0) -> None:
        from planner.clock import SystemClock

        self.clock = clock or SystemClock()
        self.every = every
        self.doing = "downloaded and hashed" if level == "deep" else "compared by block list"
        self.last = self.clock.monotonic()

    def __call__(self, files: int, nbytes: int) -> None:
        from planner.units import format_bytes

        now = self.clock.monotonic()
        if now - self.last >= self.every:
            self.last = now
            note(f"  ... {files:,} files ({format_bytes(nbytes)}) {self.doing} so far")


def _print_verify_result(res) -> None:
    from planner.units import format_bytes

    if res.ok:
        say(f"All {res.files_checked:,} files ({format_bytes(res.bytes_checked)}) are in {res.destination},"
            " same size and MD5.")
    elif not res.differences_total:
        say(f"All {res.files_checked:,} files ({format_bytes(res.bytes_checked)}) are in {res.destination}, same "
            f"size and stored MD5, but {res.unproven_total:,} could not be proved at the level asked (below).")
    else:
        say(f"{res.differences_total:,} of {res.files_checked:,} files differ from what is in {res.destination}:")
        for d in res.differences[:50]:
            say(f"  {d.problem:13} {d.rel_path}" if len(d.problem) <= 13 else f"  {d.rel_path}: {d.problem}")
        if res.differences_total > 50:
            say(f"  ... and {res.differences_total - 50:,} more (use --json for the full list)")
    for line in proof_lines(res):
        say(line)
    if any(d.level != "fast" for d in res.differences):
        say("Files whose block list or downloaded bytes differ passed the size and stored-MD5 check, which is what "
            "`mdplan upload` looks at, so it takes them as already sent: send this output to the MegaDetector team.")
    if {d.problem for d in res.differences} & {"bad name", "name twin"}:
        say("'bad name': Azure refuses or changes this name; 'name twin': another file has the same name once"
            " accents are stored one way (NFC/NFD). Rename those files, then run `mdplan upload` again.")
    if any(d.level == "fast" for d in res.differences):
        say("Run the same `mdplan upload` command again to send what is missing or different.")


def proof_lines(res) -> list[str]:
    """What proved the files that matched, and what could not be proved at the level asked."""
    p = res.proved_by
    fast = p["size+md5"] + p["size"]
    lines = [f"Proved by: size and stored MD5 (fast) for {fast:,} file{'s' if fast != 1 else ''}; block list "
             f"against the local file for {p['blocks']:,}; downloaded and hashed {p['download']:,}."]
    if res.single_request:
        lines.append(f"  ({res.single_request:,} of them went up in one request, so have no block list: the "
                     "service checked their MD5 when it stored them.)")
    if res.md5_not_stored:
        lines.append(f"  ({res.md5_not_stored:,} blob(s) have no stored MD5, so were compared by size only; "
                     "--deep proves them.)")
    if res.unproven_total:
        lines.append(f"{res.unproven_total:,} file(s) have the right size and stored MD5 but their block list "
                     "proves nothing (block ids that do not name their bytes: written by mdplan 0.1.0 or "
                     "another tool). Run the same command with --deep to prove them:")
        lines += [f"  {u.rel_path}" for u in res.unproven[:20]]
        if res.unproven_total > 20:
            lines.append(f"  ... and {res.unproven_total - 20:,} more (use --json for the full list)")
    return lines
