"""`mdplan bandwidth`: measure the upload speed to the container (or, roughly, to speedtest.net)."""

from __future__ import annotations

import typer

from planner import options
from planner.cli.app import app
from planner.cli.output import note, print_json, say

SECONDS_HELP = (f"How long to measure, {options.MIN_PROBE_SECONDS:g} to {options.MAX_PROBE_SECONDS:g} seconds "
                f"(default {options.DEFAULT_PROBE_SECONDS:g}); it stops sooner when --max-bytes is used up.")
MAX_BYTES_HELP = ("The most data the test may send, e.g. 20MB or 1GB: from 1 MB to 10 GB (default 100 MB, "
                  "modest for a metered link). The test stops at --seconds or --max-bytes, whichever comes first.")


@app.command(
    help=(
        "Measure your upload speed to the container in a SAS URL (or, roughly, to speedtest.net).\n\n"
        "Examples:\n\n\b\n"
        "  mdplan bandwidth \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n"
        "  mdplan bandwidth --speedtest --json\n\n"
        "Without a URL, MDPLAN_SAS is used; '-' reads the URL from the next line of input. The test uploads "
        "random data for --seconds (default 10, 1 to 30) or until it has sent --max-bytes (default 100 MB), "
        "whichever comes first, and deletes it again; a URL that cannot delete keeps one small marker file.\n\n"
        "Exit codes: 0 measured; 2 bad input; 3 the URL will not work (expired, no write permission, wrong "
        "container); 4 no connection (or the speed test failed)."
    )
)
def bandwidth(
    sas: str = typer.Argument(None, metavar="SAS", help="The container SAS URL in double quotes, '-' to read it "
                                                          "from input, or leave it out and set MDPLAN_SAS."),
    speedtest: bool = typer.Option(False, "--speedtest", help="Measure to a speedtest.net server instead: a rough, "
                                                              "generic figure, not to your container."),
    seconds: float = typer.Option(None, "--seconds", help=SECONDS_HELP),
    max_bytes: str = typer.Option(None, "--max-bytes", metavar="SIZE", help=MAX_BYTES_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> int:
    from planner.probe import describe, measure, remember
    from planner.cli.ui import ProbeStatus
    from planner.sas import resolve_sas_argument

    window = options.probe_seconds(seconds)
    budget = options.probe_bytes(max_bytes)
    sas_url = None
    if speedtest:
        if sas is not None:
            note("Note: --speedtest measures to speedtest.net; the SAS URL is not used.")
        what = "Measuring upload speed to speedtest.net"
    else:
        sas_url = resolve_sas_argument(sas, required=False)
        what = f"Measuring upload speed to {sas_url.display}" if sas_url else "Measuring"
    with ProbeStatus(not json_out, what) as status:
        result = measure(sas=sas_url, speedtest=speedtest, seconds=window, max_bytes=budget, progress=status)
    remember(result, sas_url)
    if json_out:
        print_json(result)
    else:
        for line in describe(result):
            say(line)
    return 0
