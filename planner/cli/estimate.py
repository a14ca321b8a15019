"""`mdplan estimate`: what is in the folder, how long an upload takes, and upload or mail a drive."""

from __future__ import annotations

import typer

from planner import options
from planner.cli.app import app
from planner.cli.output import err, out, print_json, say


@app.command(
    help=(
        "Count what is in a folder, measure your upload speed, predict the upload time and say whether to "
        "upload or mail a hard drive, and why.\n\n"
        "Examples:\n\n\b\n"
        "  mdplan estimate D:\\camera-traps \"https://ACCOUNT.blob.core.windows.net/CONTAINER?sv=...\"\n"
        "  mdplan estimate /media/drive/2024 --bandwidth 20Mbps --monthly-cap 1TB\n"
        "  mdplan estimate /media/drive/2024 --bandwidth 200Mbps --cap-mbps 20\n\n"
        "With the SAS URL the speed is measured to the real destination (about 10 s, at most 100 MB: "
        "--seconds, --max-bytes); "
        "--speedtest uses speedtest.net (rough); --bandwidth always wins. With --cap-mbps or --bwlimit "
        "(as for upload) the time and the advice count with the capped rate; with --polite, with the share of "
        "the link polite mode uses."
    )
)
def estimate(
    folder: str = typer.Argument(..., metavar="FOLDER", help="The folder that holds the images."),
    sas: str = typer.Argument(None, metavar="SAS", help="The container SAS URL (measures the speed to it), '-' to "
                                                        "read it from input, or MDPLAN_SAS."),
    bandwidth: str = typer.Option(None, "--bandwidth", help="Your upload speed if you know it, e.g. 20Mbps or "
                                                            "2.5MB/s (b = bits, B = bytes); 1 kbit/s to 100 Gbit/s."),
    speedtest: bool = typer.Option(False, "--speedtest", help="Measure with speedtest.net (rough, generic)."),
    seconds: float = typer.Option(None, "--seconds", help="How long to measure, 1 to 30 seconds (default 10)."),
    max_bytes: str = typer.Option(None, "--max-bytes", metavar="SIZE",
                                  help="The most data the speed test may send, 1 MB to 10 GB (default 100 MB); "
                                       "it stops at --seconds or --max-bytes, whichever comes first."),
    cap_mbps: float = typer.Option(None, "--cap-mbps", help="The speed cap you will upload with, in Mbit/s "
                                                            "(0.001 to 100,000, as for upload)."),
    bwlimit: str = typer.Option(None, "--bwlimit", help="The speed cap or timetable you will upload with, in "
                                                        "rclone's syntax (as for upload)."),
    polite: bool = typer.Option(False, "--polite", help="Price a polite upload (upload --polite): the time and "
                                                        "the advice count with the share of the link it uses "
                                                        "(91% when nobody else needs it)."),
    monthly_cap: str = typer.Option(None, "--monthly-cap", help="Your internet data allowance per month, e.g. 1TB "
                                                                "(1 GB to 10 PB)."),
    shipping_days: float = typer.Option(None, "--shipping-days", help="Days a mailed drive takes (default 7, "
                                                                      "0 to 365)."),
    drive_speed: str = typer.Option(None, "--drive-speed", help="Copy speed to a USB drive (default 60 MB/s; "
                                                                "1 MB/s to 10 GB/s)."),
    drive_size: str = typer.Option(None, "--drive-size", help="Size of one drive (default 4 TB; 1 GB to 100 TB)."),
    images_only: bool = typer.Option(False, "--images-only", help="Count only image files MegaDetector reads."),
    report_path: str = typer.Option(None, "--report", help="Also write an HTML plan page here (file or folder), to share."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON object."),
) -> int:
    from planner.assessment import assess, drive_speed_for_estimate, email_summary, summarize
    from planner.cli.ui import ProbeStatus, scan_progress
    from planner.estimate import EstimateSettings, with_overrides
    from planner.sas import resolve_sas_argument

    source = options.folder(folder)
    given = dict(monthly_cap_bytes=options.monthly_cap(monthly_cap), shipping_days=options.shipping_days(shipping_days),
                 drive_size_bytes=options.drive_size(drive_size))
    drive_given = options.drive_speed(drive_speed)
    cap = options.speed_cap(cap_mbps, bwlimit)
    options.bandwidth(bandwidth)  # a typo fails before the scan, not after
    window = options.probe_seconds(seconds)
    budget = options.probe_bytes(max_bytes)
    sas_url = resolve_sas_argument(sas, required=False) if (sas is not None or bandwidth is None) else None
    # the drive speed: --drive-speed, else the last drive copy here, else a short read sample of the set
    speed = drive_speed_for_estimate(source, drive_given) if (sas_url or bandwidth or speedtest) else None
    settings = with_overrides(EstimateSettings(), drive_bytes_per_second=speed.bytes_per_second if speed else None,
                              **given)
    show = err.is_terminal and not json_out
    where = "speedtest.net" if speedtest else (sas_url.display if sas_url else "")
    with ProbeStatus(show and bandwidth is None and bool(where), f"Measuring upload speed to {where}") as probing:
        a = assess(source, sas=sas_url, bandwidth=bandwidth, speedtest=speedtest, seconds=window,
                   max_bytes=budget, images_only=images_only, settings=settings, cap=cap,
                   scan_progress=scan_progress() if show else None, probe_progress=probing, polite=polite)
    if show:
        err.print("")  # end the "Scanning: ..." progress line
    files = None
    if report_path:
        from planner.report import plan_report_data, write_plan_report

        files = write_plan_report(plan_report_data(a), report_path)
    if json_out:
        print_json(summarize(a, str(files) if files else None, speed))
        return 0
    _print_contents(a)
    _print_times(a, speed)
    _print_expiry(a)
    if files:
        say(f"Plan page: {files}")
    say("\nTo paste into an email to the MegaDetector team:\n")
    say(email_summary(a))
    return 0


def _print_contents(a) -> None:
    from rich.table import Table

    from planner.units import format_bytes

    s = a.scan
    from planner.names import safe_display

    t = Table(title=f"What is in {safe_display(str(a.folder))}", show_edge=False)
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
            st.add_row(safe_display(x.site), f"{x.upload_files:,}", format_bytes(x.upload_bytes))
        if len(sites) > 30:
            st.add_row(f"... {len(sites) - 30} more", "", "")
        out.print(st)
    say(f"Typical file {format_bytes(s.sizes.median)} (95% under {format_bytes(s.sizes.p95)}); "
        f"{s.duplicate_names:,} file names appear in more than one folder (normal for camera traps: "
        "mdplan keeps the folders, so nothing is overwritten).")
    if s.other_extensions:
        say("Other files by type: " + ", ".join(f"{k} {v:,}" for k, v in list(s.other_extensions.items())[:8])
            + " (sent unless you add --images-only).")
    if s.problems_total:
        say(f"Could not read {s.problems_total:,} item(s), e.g. {s.problems[0][0]}: {s.problems[0][1]}.")
    if s.symlinks:
        say(f"{s.symlinks:,} shortcut(s)/symbolic link(s) were not followed.")
    if a.names_refused:
        say(_names_line(a.names_refused, a.names_refused_examples))


def _names_line(total: int, examples: list[tuple[str, str]]) -> str:
    from planner.names import safe_display

    shown = "; ".join(f"{safe_display(path)}: {why}" for path, why in examples[:3])
    more = total - min(len(examples), 3)
    return (f"Names: {total:,} file(s) cannot go up as they are named ({shown}"
            + (f"; and {more:,} more" if more > 0 else "") + "). mdplan upload will refuse to start until they "
            "are renamed (or left out with --exclude); they are counted above.")


def _drive_speed_words(speed) -> str:
    from planner.units import format_bytes

    if speed is None or speed.how == "given":
        return ""
    if speed.how == "remembered":
        return " as measured by your last `mdplan drive copy`"
    if speed.how == "sampled":
        return " (this folder read no faster in a short sample: the source sets the pace)"
    if speed.source_read_bytes_per_second:
        return (f", a typical USB drive; this folder read at {format_bytes(speed.source_read_bytes_per_second)}/s "
                "in a short sample")
    return ", a typical USB drive"


def _print_times(a, speed=None) -> None:
    from rich.table import Table

    from planner.estimate import method_words
    from planner.units import format_bytes, format_duration, format_rate

    e = a.estimate
    bw = e.bandwidth
    say("")
    say(f"Would send: {a.upload_files:,} files, {format_bytes(a.upload_bytes)}")
    m = a.measurement
    cost = (f", {format_bytes(m.bytes)} sent to measure (--max-bytes {format_bytes(m.max_bytes)})"
            if getattr(m, "max_bytes", None) is not None and m.method != "manual" else "")
    say(f"Upload speed: {format_rate(bw.bits_per_second)} ({method_words(bw.method)})"
        + (f", round trip {bw.rtt_ms:.0f} ms" if bw.rtt_ms else "") + cost + ".")
    if bw.note:
        say(f"  {bw.note}")
    if e.cap:
        say(f"Speed cap: {e.cap.removesuffix(' cap')}; the upload time counts with "
            f"{format_rate(e.rate_bits_per_second)} for the files.")
    if e.polite:
        from planner.estimate import POLITE_SHARE

        say(f"Polite: the upload time counts with {format_rate(e.rate_bits_per_second)}, {POLITE_SHARE:.0%} of "
            "the link (--polite).")
    say(f"Upload time: about {format_duration(e.upload_seconds)} ({e.workers} parallel uploads).")
    say(f"Mail a drive: about {format_duration(e.drive_seconds)} ({e.drives} drive(s) of "
        f"{format_bytes(e.settings.drive_size_bytes)}, copying at {format_bytes(e.settings.drive_bytes_per_second)}/s"
        f"{_drive_speed_words(speed)}).")
    if e.recommendation == "drive":
        say("  How: `mdplan drive copy FOLDER E:\\FOLDER`, then `mdplan drive check`; see 'Mailing drives' in the README.")
    verdict = "UPLOAD" if e.recommendation == "upload" else "MAIL A HARD DRIVE"
    say(f"\nRecommendation: {verdict}" + (" (a close call)" if e.close_call else ""))
    for r in e.reasons:
        say(f"  - {r}")
    wt = Table(title="What if your upload speed were..." + (" (with your speed cap)" if e.cap else ""),
               show_edge=False)
    wt.add_column("speed")
    wt.add_column("upload time", justify="right")
    wt.add_column("advice")
    for w in e.what_if:
        wt.add_row(format_rate(w.bits_per_second), format_duration(w.upload_seconds), w.recommendation)
    out.print(wt)


def _print_expiry(a) -> None:
    import math
    from datetime import timedelta, timezone

    e = a.estimate
    if a.sas_display:
        finish = (f"an upload started now would finish about "
                  f"{a.started.astimezone(timezone.utc) + timedelta(seconds=e.upload_seconds):%Y-%m-%d %H:%M} UTC"
                  if math.isfinite(e.upload_seconds) and e.upload_seconds < 3e9 else "the upload would never finish")
        if a.sas_expiry is not None:
            say(f"The SAS URL for {a.sas_display} expires {a.sas_expiry:%Y-%m-%d %H:%M} UTC; {finish}.")
        elif a.sas_expiry_source == "policy":
            say("The SAS URL's expiry is unknown: set by a stored access policy on the server; ask the sender "
                f"whether it lasts long enough ({finish}).")
        if a.expires_before_finish:
            say("Warning: the URL expires before the upload would finish. Ask the MegaDetector team for a "
                "longer-lived URL (a new URL continues the same job).")
    if a.on_wifi:
        say("Note: this computer reaches the internet over Wi-Fi. Plug in a network cable if you can, or "
            "sit close to the router: uploads are faster and steadier.")
