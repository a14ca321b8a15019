"""`mdplan demo`: the whole workflow on a generated sample set and a local emulator."""

from __future__ import annotations

import typer

from planner import options
from planner.cli.app import app
from planner.cli.output import note, print_json, say, to_jsonable
from planner.errors import BadInput


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
    cap_mbps: float = typer.Option(40.0, "--cap-mbps",
                                   help="Speed cap for the demo upload (Mbit/s, 0.001 to 100,000, as for upload)."),
    workdir: str = typer.Option(".mdplan-demo", "--workdir", help="Folder for the sample set and the demo's job."),
    reports: str = typer.Option("reports", "--reports", help="Folder for the two reports."),
    serve: bool = typer.Option(False, "--serve", help="Only start a practice container and print its URL and a "
                                                      "sample folder; Ctrl-C stops it."),
    json_out: bool = typer.Option(False, "--json", help="Print the outcome as JSON (the steps go to stderr)."),
) -> int:
    from pathlib import Path

    from planner.demo import run_demo, serve_practice
    from planner.emulator import EmulatorError

    cap = options.cap_mbps(cap_mbps)
    if serve and json_out:
        raise BadInput("--json goes with the full demo; --serve prints a practice folder and URL for you to copy.")
    if serve:
        try:
            serve_practice(Path(workdir), files=files, say=say)
        except EmulatorError as e:
            raise BadInput(str(e)) from None
        except KeyboardInterrupt:
            say("Stopped the practice emulator; what was uploaded to it is gone.")
        return 0
    try:
        res = run_demo(Path(workdir), Path(reports), files=files, cap_mbps=cap, say=note if json_out else say)
    except EmulatorError as e:
        raise BadInput(str(e)) from None
    ok = res.check_ok and res.upload_exit_code == 0 and res.verify_ok
    if json_out:
        print_json({**to_jsonable(res), "ok": ok})
        return 0 if ok else 1
    say("")
    say(f"Plan page:     {res.plan_report}")
    say(f"Upload report: {res.upload_report}")
    say(f"Manifest:      {res.manifest}")
    say("Open the .html files in a browser; they are single files you can email.")
    return 0 if ok else 1
