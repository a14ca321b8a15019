"""`mdplan check`: will this SAS URL work for uploading? (write, list, read, expiry)"""

from __future__ import annotations

import typer

from planner.cli.app import app
from planner.cli.output import note, print_json, say


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
    from planner.azure import check
    from planner.sas import resolve_sas_argument

    sas_url = resolve_sas_argument(sas)
    if not json_out:
        note(f"Checking {sas_url.display} ...")
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
        say(f"{label + ':':<13} {value}")
    for problem in result.problems:
        say(f"Problem: {problem}")
    for warning in result.warnings:
        say(f"Note: {warning}")
    say(result.advice)
