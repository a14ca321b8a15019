"""The drive copy's report: a compact HTML page (what went on which drive, the rates, the checks) and
the manifest CSV (every file, its drive, size, MD5, state), both read from the drive job."""

from __future__ import annotations

import csv
import html
from datetime import datetime
from pathlib import Path

from planner.drive.jobdb import DriveJob
from planner.drive.options import DriveResult
from planner.outputs import report_target, write_private, write_with_fallback
from planner.report.manifest import neutralise
from planner.units import format_bytes, format_duration

CSV_COLUMNS = ("relative_path", "bytes", "drive", "md5", "state", "note")


def _state(selected: int, drive: int | None, failed: str | None) -> str:
    if not selected:
        return "left out"
    if drive is not None:
        return "on drive"
    return "failed" if failed else "not yet copied"


def _rate(v: float | None) -> str:
    return f"{format_bytes(v)}/s" if v else "not measured"


def _html(res: DriveResult, job: DriveJob) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{d.no}</td><td>{e(d.target)}</td><td>{e(d.fs_type)}</td><td>{d.files:,}</td>"
        f"<td>{e(format_bytes(d.bytes))}</td><td>{'full' if d.full else 'open'}</td>"
        f"<td>{e(_rate(d.copied_bytes / d.write_seconds if d.write_seconds else None))}</td>"
        f"<td>{e(_rate(d.copied_bytes / d.read_seconds if d.read_seconds else None))}</td></tr>"
        for d in job.drives())
    failed = "".join(f"<li>{e(r)}: {e(w)}</li>" for r, w in res.failed[:500])
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mdplan drive copy</title>
<style>body{{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left}}</style></head>
<body><h1>Drive copy: {e(res.outcome)}</h1>
<p>{e(res.message)}</p>
<p>Source: {e(job.meta('source') or '')}<br>Set: {res.files_total:,} files, {e(format_bytes(res.bytes_total))};
{res.files_done_total:,} files on drives. Bag group: {e(job.meta('group') or '')}.</p>
<p>This run: {res.files_copied:,} files ({e(format_bytes(res.bytes_copied))}) in {e(format_duration(res.seconds))};
copy with read-back {e(_rate(res.copy_bytes_per_second))}, writing {e(_rate(res.write_bytes_per_second))},
reading back {e(_rate(res.read_bytes_per_second))}. Every file was read back from the drive and its MD5
compared before it was recorded.</p>
<h2>Drives</h2><table><tr><th>Drive</th><th>Folder</th><th>File system</th><th>Files</th><th>Bytes</th>
<th>State</th><th>Write rate</th><th>Read-back rate</th></tr>{rows}</table>
<h2>Failed files</h2>{f'<ul>{failed}</ul>' if failed else '<p>None.</p>'}
<p>Check each drive before shipping and on arrival: <code>mdplan drive check FOLDER</code>.
The manifest CSV beside this page lists every file and its drive.</p></body></html>"""


def write_drive_report(res: DriveResult, given: str | None) -> tuple[Path, Path]:
    job = DriveJob(Path(res.journal_path))
    try:
        html_path = report_target(given, f"drive-{Path(res.target).name or 'copy'}", datetime.now())
        page = _html(res, job)

        def write(path: Path) -> Path:
            write_private(path, lambda f: f.write(page))
            csv_path = path.with_suffix(".csv")
            write_private(csv_path, lambda f: _write_csv(f, job), encoding="utf-8-sig")  # Excel reads UTF-8
            return path

        html_done = write_with_fallback(html_path, write)
        return html_done, html_done.with_suffix(".csv")
    finally:
        job.close()


def _write_csv(f, job: DriveJob) -> None:
    w = csv.writer(f)
    w.writerow(CSV_COLUMNS)
    for rel, size, selected, drive, md5, reason, failed in job.all_files():
        note = failed or (reason if not selected else "")
        w.writerow([neutralise(rel), int(size or 0), drive if drive is not None else "", md5 or "",
                    _state(selected, drive, failed), neutralise(note or "")])
