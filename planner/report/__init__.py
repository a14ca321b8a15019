"""Reports to share: one self-contained HTML page per upload (plus a CSV manifest) or per plan.

The page must survive being emailed and opened offline, so everything is inside it: CSS inline,
charts as inline SVG drawn by matplotlib, no script, font, image or link fetched from anywhere.

- `data`: the input dataclasses (`UploadReportData`, `PlanReportData`, rows), filled by `sources`
  (from a job's journal or an assessment), or by tests with synthetic data;
- `series` and `words`: the numbers (binned rates, average, peak) and sentences the page shows;
- `charts`: matplotlib figures as inline SVG (matplotlib imported only when drawing);
- `live`: the report rewritten every few minutes during an upload (`LiveReportUI`);
- `render`: the jinja2 pages (templates in planner/templates) and writing them;
- `manifest`: the CSV; `paths`: where reports go, writing them privately, telling mdplan's own
  outputs apart from the user's files (`is_mdplan_output`, `own_outputs`).

Text that may carry a URL (errors, notes, pause reasons) goes through `planner.sas.redact` on its way
to the page or the CSV; names of files, folders and the destination are shown as they are.
"""

from planner.report.charts import (COLOURS, break_even_bps, crossover_chart, progress_chart, safe_chart,
                                   size_chart, throughput_chart)
from planner.report.data import (FailureRow, KindRow, ManifestRow, PlanReportData, PlanSiteRow, ReportFiles,
                                 RunRow, SiteRow, SizeBin, Totals, UploadReportData, crossover_points, size_histogram)
from planner.report.manifest import MANIFEST_COLUMNS, manifest_cells, neutralise, unneutralise, write_manifest
from planner.outputs import (OwnOutputs, default_report_dir, default_report_path, fallback_report_dir,
                                  is_mdplan_output, own_outputs, report_file_name, report_target,
                                  write_with_fallback)
from planner.report.render import (render_plan_report, render_upload_report, write_plan_report,
                                   write_upload_report)
from planner.report.series import ROLLING_BINS, Rates, bin_seconds, rates
from planner.report.sources import plan_report_data, upload_report_data, write_job_report
from planner.report.words import finished_ok, headline, prediction_text, what_next

__all__ = [
    "COLOURS", "MANIFEST_COLUMNS", "ROLLING_BINS", "FailureRow", "KindRow", "ManifestRow", "OwnOutputs",
    "PlanReportData", "PlanSiteRow", "Rates", "ReportFiles", "RunRow", "SiteRow", "SizeBin", "Totals", "UploadReportData",
    "bin_seconds", "break_even_bps", "crossover_chart", "crossover_points", "default_report_dir",
    "default_report_path", "fallback_report_dir", "finished_ok", "headline", "is_mdplan_output",
    "manifest_cells", "neutralise", "own_outputs", "plan_report_data", "prediction_text", "progress_chart",
    "rates", "render_plan_report", "render_upload_report", "report_file_name", "report_target", "safe_chart",
    "size_chart", "size_histogram", "throughput_chart", "unneutralise", "upload_report_data",
    "what_next", "write_job_report", "write_with_fallback", "write_manifest", "write_plan_report", "write_upload_report",
]
