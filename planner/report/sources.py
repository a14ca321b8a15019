"""Report data from its sources: a job's journal (upload page) and an assessment (plan page)."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from planner.journal import Journal, State
from planner.report.data import (FailureRow, KindRow, ManifestRow, PlanReportData, PlanSiteRow, ReportFiles,
                                 RunRow, SiteRow, SizeBin, Totals, UploadReportData, crossover_points)
from planner.outputs import report_target, write_with_fallback
from planner.report.render import upload_charts, write_live_page, write_upload_report
from planner.units import format_bytes

# -- from a job journal -------------------------------------------------------------------------------


def _totals(j) -> tuple[Totals, tuple[int, int, int, int]]:
    """The whole job's totals, and (litter files, litter bytes, excluded files, excluded bytes)."""
    c = j.counts()
    found_n, found_b = j.found_already()
    litter_n = litter_b = excl_n = excl_b = 0
    for reason, n in c.excluded_files.items():
        b = c.excluded_bytes.get(reason, 0)
        if reason.startswith("drive litter"):
            litter_n, litter_b = litter_n + n, litter_b + b
        else:
            excl_n, excl_b = excl_n + n, excl_b + b
    totals = Totals(
        files_planned=c.total_files, bytes_planned=c.total_bytes,
        files_done=c.n(State.DONE) - found_n, bytes_done=c.b(State.DONE) - found_b,
        files_skipped=found_n + c.n(State.SKIPPED), bytes_skipped=found_b + c.b(State.SKIPPED),
        files_failed=c.n(State.FAILED) + c.n(State.CONFLICT), bytes_failed=c.b(State.FAILED) + c.b(State.CONFLICT),
    )
    return totals, (litter_n, litter_b, excl_n, excl_b)


def _telemetry(j, t0: float) -> tuple[list, list, int, int | None, list]:
    """The job's (throughput, cap series, retries, last worker count, raw rows) from the per-second
    telemetry, in seconds since `t0` (the first run's start) on one time axis."""
    throughput, cap_series, retries = [], [], 0
    last_cap: object = "unset"
    workers = None
    rows = [r for r in j.telemetry() if r[0] >= int(t0)]
    for second, nbytes, _files, tries, cap_bps, w in rows:
        # The telemetry counts whole clock seconds; its grid starts at the whole second the first run
        # began in, so each second keeps a bin of its own (with `second - t0` the first two seconds of
        # a run share the first bin and the chart shows a spike of up to twice the real rate).
        rel = second - int(t0)
        throughput.append((rel, nbytes))
        retries += tries
        if cap_bps != last_cap:
            cap_series.append((max(rel, 0.0), cap_bps))
            last_cap = cap_bps
        workers = w or workers
    return throughput, cap_series, retries, workers, rows


def _run_rows(runs: list[dict], rows: list, t0: float, now: float, running: bool) -> list[RunRow]:
    """Every run on the job's time axis, with what it sent (from the telemetry of its seconds)."""
    out, seconds = [], [x[0] for x in rows]  # rows are in time order
    for i, r in enumerate(runs):
        nxt = int(runs[i + 1]["started"]) if i + 1 < len(runs) else float("inf")  # its telemetry from that second
        mine = rows[bisect_left(seconds, int(r["started"])):bisect_left(seconds, nxt)]
        if r["ended"]:
            end, outcome = r["ended"], r["outcome"] or "ended"
        elif i + 1 == len(runs) and running:
            end, outcome = now, "running"
        else:  # killed without a word: it ran at least until the last second it sent something
            end, outcome = max([r["started"]] + [x[0] + 1.0 for x in mine]), "ended without a word (killed?)"
        out.append(RunRow(number=i + 1, start=r["started"] - t0, end=max(end, r["started"]) - t0, outcome=outcome,
                          files_sent=sum(x[2] for x in mine), bytes_sent=sum(x[1] for x in mine), cap=r["cap"],
                          workers=r["workers"]))
    return out


def _pauses(events, t0: float, end: float) -> list[tuple[float, float, str]]:
    """Network pauses of the job as (start, end, reason), seconds since `t0`; an open one ends at `end`."""
    pauses, open_pause = [], None
    for t, kind, detail in events:
        if t < t0:
            continue
        if kind == "pause":
            open_pause = (t - t0, detail)
        elif kind == "resume" and open_pause is not None:
            pauses.append((open_pause[0], t - t0, f"waiting for network ({open_pause[1]})"))
            open_pause = None
    if open_pause is not None:
        pauses.append((open_pause[0], end, "waiting for network"))
    return pauses


def _local(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc).astimezone()


def _workers(run: dict | None, seen: int | None) -> str | None:
    if not run:
        return None
    return f"{run['workers']} ({seen})" if run["workers"] == "auto" and seen else run["workers"]


def _busy(path: Path) -> bool:
    """Is an mdplan working on this job now? (A job left "uploading" by a killed mdplan is not.)"""
    from planner.errors import MdplanError
    from planner.journal import JobBusy
    from planner.journal.locks import take_lock

    try:
        take_lock(Path(path), Path(path).stem).release()
    except JobBusy:
        return True
    except MdplanError:
        return False
    return False


def _caps(runs: list[RunRow]) -> str | None:
    caps = {r.cap for r in runs}
    if caps <= {None}:
        return None
    if len(caps) == 1:
        return runs[-1].cap
    return "; ".join(f"{r.cap or 'none'} (run {r.number})" for r in runs)


def _from_journal(j, info) -> UploadReportData:
    """The whole job: totals, every run on one time axis (first start to the end of the latest run),
    the prediction of the latest run. Dry runs are left out (unless there is no other run)."""
    import time

    from planner import __version__
    from planner.journal.home import log_path

    runs = [r for r in j.runs() if r["outcome"] != "planned (dry run)"] or j.runs()
    run = runs[-1] if runs else None
    # the time axis starts at the whole clock second the first run began in: the telemetry's grid, so
    # runs, pauses and bytes line up on the charts
    t0 = float(int(runs[0]["started"] if runs else info.created))
    now = time.time()
    totals, (litter_n, litter_b, excl_n, excl_b) = _totals(j)
    throughput, cap_series, retries, workers, rows = _telemetry(j, t0)
    run_rows = _run_rows(runs, rows, t0, now, running=info.state in ("uploading", "scanning") and _busy(j.path))
    end = max([r.end for r in run_rows] + [0.0])
    t1 = run["ended"] if run and run["ended"] else None
    log = log_path(j.path)
    return UploadReportData(
        job_id=info.job_id, source=info.source, destination=info.destination, mdplan_version=__version__,
        started=_local(t0), finished=_local(t1) if t1 and run["outcome"] != "interrupted" else None,
        state=(run["outcome"] if run and run["outcome"] else info.state), totals=totals,
        litter_files=litter_n, litter_bytes=litter_b, excluded_files=excl_n, excluded_bytes=excl_b,
        retries=retries, wall_seconds=end, cap=_caps(run_rows), cap_series=cap_series,
        rtt_series=[(float(s - int(t0)), ms) for s, ms in j.rtt() if s >= int(t0)],
        pauses=_pauses(j.events(), t0, end), throughput=throughput,
        sites=[SiteRow(site=s, files_sent=fs, bytes_sent=bs, files_skipped=sk, files_failed=ff)
               for s, fs, bs, sk, ff, _total in j.sites()],
        failures=[FailureRow(path=f.rel_path, reason=f.last_error or f.state, attempts=f.attempts)
                  for f in j.failures(500)],
        predicted_seconds=run["predicted_seconds"] if run else None,
        run_bytes_planned=run["bytes_planned"] if run else None,
        workers=_workers(run, workers), runs=run_rows,
        prediction_start=run_rows[-1].start if run_rows else 0.0,
        log_path=str(log) if log.exists() else None, written=_local(now),
        next_step=None if totals.files_left == 0 and totals.files_failed == 0 else _next_step(j, info),
    )


def _next_step(j, info) -> str:
    """The command that continues this job, as the journal recorded it (every option, URL left out)."""
    resume = j.options().get("resume") or f'mdplan upload "{info.source}" SAS_URL'
    return f"{resume}   (the same command resumes; a new URL continues this job)"


def upload_report_data(journal_path: Path) -> tuple[UploadReportData, Callable[[], Iterable[ManifestRow]], str]:
    """The report of a job from its journal: totals for the whole job, the story of its latest run.

    Returns the data, a function that streams the manifest rows, and the container name.
    """
    with Journal.open_existing(Path(journal_path)) as j:
        info = j.info()
        data, container = _from_journal(j, info), info.container

    def manifest() -> Iterable[ManifestRow]:
        with Journal.open_existing(Path(journal_path)) as jj:
            for rel, blob, size, md5, state, note in jj.manifest():
                yield ManifestRow(rel, blob, size, md5, state, note)

    return data, manifest, container


def write_job_report(journal_path: Path, html_path: Path | None = None, *, live_path: Path | None = None,
                     live_every: float | None = None) -> ReportFiles:
    """Draw (or redraw) the report of a job from its journal.

    `html_path` may be a file, a folder (the report gets its default name inside it) or None (the
    default report folder, see `planner.outputs.default_report_dir`). Where that cannot be
    written, the report goes to the state folder's reports/ instead: the returned paths say where.
    With `live_path`, the job's live page gets its last version too, from the same data and charts
    (drawing them twice cost a second at the end of every upload over a minute; issue 14); a live page
    that cannot be written keeps its previous version and does not fail the report.
    """
    data, manifest, container = upload_report_data(journal_path)
    charts = upload_charts(data)
    target = report_target(html_path, container, datetime.now().astimezone())
    files = write_with_fallback(target, lambda path: write_upload_report(data, path, manifest(), charts=charts))
    if live_path is not None:
        try:
            write_live_page(data, live_path, live_every, charts=charts)
        except (OSError, ValueError):
            pass  # the report above is the one the user gets; the live page is a convenience
    return files


# -- from an assessment (the plan page) ---------------------------------------------------------------


def _curve(e) -> Callable[[float], float]:
    """The estimate's own figure at another rate (same method, round trip and per-file cost), so the
    curve passes through the point marked for the user's link."""
    from planner.estimate import POLITE_SHARE, upload_seconds, with_monthly_cap

    share = POLITE_SHARE if getattr(e, "polite", False) else 1.0  # estimate --polite: the polite share of each link

    def seconds(bps: float) -> float:
        total, _, _ = upload_seconds(e.bytes, e.files, replace(e.bandwidth, bits_per_second=bps * share), e.settings)
        return with_monthly_cap(total, e.bytes, e.settings)[0]

    return seconds


def _assumptions(st) -> list[tuple[str, str]]:
    return [
        ("Share of a typed or speed-test rate that carries data", f"{st.efficiency:.0%}"),
        ("Copy speed to a USB drive", f"{format_bytes(st.drive_bytes_per_second)}/s"),
        ("Drive size", format_bytes(st.drive_size_bytes)),
        ("Shipping", f"{st.shipping_days:g} days"),
        ("Team copies the drive in", f"{st.ingest_days:g} days"),
        ("Upload is fine up to", f"{st.upload_ok_days:g} days"),
        ("Mail a drive beyond", f"{st.drive_after_days:g} days"),
    ]


def plan_report_data(a) -> PlanReportData:  # a: planner.estimate.Assessment
    """The plan page (`mdplan estimate --report`) from an assessment: what is there, speed, verdict."""
    from planner import __version__
    from planner.estimate import method_words

    s, e = a.scan, a.estimate
    words = {"image": "images", "video": "videos", "litter": "litter", "other": "other"}
    return PlanReportData(
        source=a.folder, mdplan_version=__version__, created=datetime.now().astimezone(),
        total_files=a.upload_files, total_bytes=a.upload_bytes,
        recommendation="Upload it." if e.recommendation == "upload" else "Mail a hard drive.",
        reasons=list(e.reasons),
        kinds=[KindRow(words.get(k, k), v.files, v.bytes) for k, v in s.kinds.items()],
        sites=[PlanSiteRow(x.site, x.upload_files, x.upload_bytes) for x in s.sites if x.upload_files],
        size_bins=[SizeBin(low, high, n) for low, high, n in s.size_histogram],
        bandwidth_bps=e.bandwidth.bits_per_second, bandwidth_method=method_words(e.bandwidth.method),
        bandwidth_note=getattr(a.measurement, "note", None),
        upload_seconds=e.upload_seconds, drive_seconds=e.drive_seconds,
        crossover=crossover_points(_curve(e)), assumptions=_assumptions(e.settings),
        destination=a.sas_display,
    )
