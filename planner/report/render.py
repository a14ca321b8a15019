"""The report pages: jinja2 templates (planner/templates) filled from the report's data.

Every string that reaches a page goes through `planner.sas.redact` (the template environment's
finalize), except names of files, folders and the destination: wrapped as `Name` here, they are shown
as they are unless they hold a URL (`planner.report.safe`), so a file `cam_sig=3.jpg` stays so.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Iterable

from planner.report.charts import crossover_chart, progress_chart, safe_chart, size_chart, throughput_chart
from planner.report.data import ManifestRow, PlanReportData, ReportFiles, UploadReportData
from planner.report.manifest import write_manifest
from planner.outputs import report_target, write_private, write_with_fallback
from planner.report.series import rates
from planner.report.words import finished_ok, fmt_count, fmt_when, headline, prediction_text, what_next
from planner.report.safe import redact_name
from planner.redact import redact
from planner.units import format_bytes, format_duration, format_rate


class Name(str):
    """A file, folder or destination name: shown as it is unless it holds a URL (see report.safe)."""


def _named_upload(data: UploadReportData, failures: int) -> UploadReportData:
    """The data with every name marked as a `Name`: redaction is for URLs, not for `cam_sig=3.jpg`."""
    return replace(
        data, source=Name(data.source), destination=Name(data.destination),
        sites=[replace(s, site=Name(s.site)) for s in data.sites],
        failures=[replace(f, path=Name(f.path)) for f in data.failures[:failures]],
    )


def _named_plan(data: PlanReportData) -> PlanReportData:
    return replace(data, source=Name(data.source), sites=[replace(s, site=Name(s.site)) for s in data.sites],
                   destination=Name(data.destination) if data.destination else data.destination)


def environment():
    from jinja2 import Environment, PackageLoader
    from markupsafe import Markup

    def finalize(value: object) -> object:
        if isinstance(value, Name):
            return redact_name(value)
        if isinstance(value, Markup):
            return Markup(redact(str(value)))
        if isinstance(value, str):
            return redact(value)
        return value

    env = Environment(loader=PackageLoader("planner", "templates"), autoescape=True, finalize=finalize,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(bytes=format_bytes, count=fmt_count, duration=format_duration, rate=format_rate,
                       when=fmt_when)
    return env


Charts = tuple[tuple[str | None, str | None], tuple[str | None, str | None]]


def upload_charts(data: UploadReportData) -> Charts:
    """The upload page's two charts (SVG, caption): the expensive part of a page (matplotlib), so a caller
    that writes two pages of the same data (the report and the live page) draws them once."""
    return safe_chart(throughput_chart, data), safe_chart(progress_chart, data)


def render_upload_report(data: UploadReportData, *, csv_name: str | None = None,
                         manifest_rows: int | None = None, failure_rows_shown: int = 500,
                         charts: Charts | None = None) -> str:
    from markupsafe import Markup

    r = rates(data)
    runs = [(run, rates(data, [(run.start, run.end)]), data.started + timedelta(seconds=run.start),
             data.started + timedelta(seconds=run.end)) for run in data.runs]
    shown = _named_upload(data, failure_rows_shown)
    (t_svg, t_caption), (p_svg, p_caption) = charts if charts is not None else upload_charts(data)
    if finished_ok(data) and data.totals.files_failed == 0 and data.totals.files_left == 0:
        tone = "ok"
    elif data.state.startswith("stopped"):
        tone = "bad"  # needs the user to act (a new SAS, ...) before it can go on
    else:
        tone = "warn"
    return environment().get_template("upload.html").render(
        d=shown, t=data.totals, r=r, tone=tone, runs=runs,
        run_seconds=sum(run.seconds for run in data.runs) if data.runs else data.wall_seconds, headline=headline(data),
        throughput_svg=Markup(t_svg) if t_svg else None, throughput_caption=t_caption,
        progress_svg=Markup(p_svg) if p_svg else None, progress_caption=p_caption,
        prediction=prediction_text(data), what_next=what_next(data, r), polite_cost=_polite_words(data),
        failures=shown.failures, csv_name=csv_name, manifest_rows=manifest_rows,
        busy_sites=[s for s in shown.sites if s.files_sent or s.files_failed],
        quiet_sites=[s for s in shown.sites if not (s.files_sent or s.files_failed)],
        title=Name(f"mdplan upload report: {data.destination}"),
    )


def _polite_words(data: UploadReportData) -> str | None:
    from planner.report.politeness import polite_cost, polite_cost_text

    cost = polite_cost(data)
    return polite_cost_text(cost) if cost is not None else None


def render_plan_report(data: PlanReportData) -> str:
    from markupsafe import Markup

    c_svg, c_caption = safe_chart(crossover_chart, data)
    s_svg, s_caption = safe_chart(size_chart, data)
    return environment().get_template("plan.html").render(
        d=_named_plan(data), crossover_svg=Markup(c_svg) if c_svg else None, crossover_caption=c_caption,
        sizes_svg=Markup(s_svg) if s_svg else None, sizes_caption=s_caption,
        title=Name(f"mdplan plan: {data.source}"),
    )


def write_upload_report(data: UploadReportData, html_path: Path,
                        manifest_rows: Iterable[ManifestRow], *, charts: Charts | None = None) -> ReportFiles:
    """Write the upload report page and its CSV manifest (same name, .csv) beside it."""
    html_path = Path(html_path)
    csv_path = html_path.with_suffix(".csv")
    rows = write_manifest(csv_path, manifest_rows)
    page = render_upload_report(data, csv_name=csv_path.name, manifest_rows=rows, charts=charts)
    write_private(html_path, lambda f: f.write(page))
    return ReportFiles(html=html_path, csv=csv_path)


def write_plan_report(data: PlanReportData, html_path: Path | str | None = None) -> Path:
    """Write the plan page to `html_path`: a file, or a folder (it gets mdplan-plan-<folder>-<time>.html
    inside), or None for the default report folder; the state folder's reports/ if that cannot be written."""
    page = render_plan_report(data)
    target = report_target(html_path, f"plan-{Path(data.source).name}", data.created)

    def write(path: Path) -> Path:
        write_private(path, lambda f: f.write(page))
        return path

    return write_with_fallback(target, write)


def write_live_page(data: UploadReportData, path: Path, every: float | None, *, charts: Charts | None = None) -> None:
    """A version of the job's live page (planner.report.live): the report with its "rewritten every ..." note
    and no manifest beside it, written atomically over the last version."""
    page = render_upload_report(replace(data, live=True, live_every=every), charts=charts)
    write_private(Path(path), lambda f: f.write(page))
