"""The live report: the job's HTML report rewritten every few minutes while an upload runs, so the user
or a collaborator can open it at any moment of a days-long upload and see where the job stands.

It lives beside the job's journal (`planner.journal.home.live_report_path`: `<job>.report.html` in the
state folder; `mdplan jobs` shows it). Each version is written to a temporary file and renamed over the
last one (`planner.outputs.write_private`), so whoever opens it never sees half a page. Drawing takes a
second or so (matplotlib): it happens in a background thread that reads the journal through its own
connection (SQLite's WAL lets it read while the upload writes), never in the upload's way, and not before
the job has been sending for a minute (a shorter job has only its final report; issue 14).

Time comes from an injected Clock: tests run it under a fake clock or a small interval, never sleeping.

    from planner.report.live import LiveReportUI
    ui = LiveReportUI(QuietUI(), every=300)      # any UploadUI inside
    try:
        result, plan = run(options, ui)
    finally:
        ui.close()                                # the last version, with the run's outcome
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner.clock import Clock, SystemClock
from planner.journal.home import live_report_path
from planner.redact import redact

DEFAULT_EVERY = 300.0  # seconds between two versions of the live report
FIRST_AFTER = 60.0  # the first version after a minute of sending: a short job pays for no live report
WARM_AFTER_S = 3.0
WARM_BELOW_BPS = 100e6
"""After WARM_AFTER_S of sending on a link slower than WARM_BELOW_BPS, the report's libraries (matplotlib,
jinja2: ~0.6 s of CPU) are imported in the background, while the upload waits on the network anyway, rather
than after its last byte (issue 14: 0.6 s of a 30-second upload's end). Not on fast links, where the
transfer needs the CPU and holds more bytes in memory (the cost bench's peak RSS): there the report loads
them at the end, as before."""


class LiveReport:
    """Writes the live report of one job: at the first `tick()` at least `first_after` seconds (default
    FIRST_AFTER, at most `every`) after the first one, then at most once every `every` seconds, and once more
    at `close()` if one was written. A version that fails to draw is skipped (the upload goes on).

    A job done within its first minute gets no live report (its report is the one written at the end):
    drawing a page loads matplotlib (~45 MB, a CPU-second) and takes a few tenths of a CPU-second, which a
    short job would otherwise pay during its transfer and again at its end (issue 14)."""

    def __init__(self, journal_path: Path, *, clock: Clock | None = None, every: float = DEFAULT_EVERY,
                 path: Path | None = None, write: Callable[[], None] | None = None, background: bool = True,
                 first_after: float | None = None) -> None:
        self.journal_path = Path(journal_path)
        self.path = Path(path) if path is not None else live_report_path(self.journal_path)
        self.clock = clock or SystemClock()
        self.every = float(every)
        self.first_after = min(self.every, FIRST_AFTER) if first_after is None else float(first_after)
        self.background = background
        self.writes = 0
        self.error: str | None = None  # why the last version could not be written, if it could not
        self._write = write or self._write_page
        self._last: float | None = None
        self._first_tick: float | None = None
        self._thread: threading.Thread | None = None

    def tick(self) -> bool:
        """Start writing a new version if one is due and none is being written; True if one was started."""
        now = self.clock.monotonic()
        if self._first_tick is None:
            self._first_tick = now
        if self._last is None and now - self._first_tick < self.first_after:
            return False
        if self._last is not None and now - self._last < self.every:
            return False
        if self._thread is not None and self._thread.is_alive():
            return False
        self._last = now
        if self.background:
            self._thread = threading.Thread(target=self._safe_write, name="mdplan-live-report", daemon=True)
            self._thread.start()
        else:
            self._safe_write()
        return True

    @property
    def started(self) -> bool:
        """A version has been written (or is being written): the page exists and needs a last version."""
        return self._last is not None

    def close(self, *, draw_last: bool = True) -> None:
        """Wait for a version being written, then write the last one (only if the upload sent anything).

        `draw_last=False`: the caller writes the last version itself, from the final report's data and
        charts (`planner.report.sources.write_job_report(live_path=...)`)."""
        if self._thread is not None:
            self._thread.join()
        if self._last is not None and draw_last:
            self._safe_write()

    def write_now(self) -> None:
        """Write a version now, in this thread (a failure is kept in `error`, never raised)."""
        self._safe_write()

    def _safe_write(self) -> None:
        try:
            self._write()
            self.writes += 1
            self.error = None
        except Exception as e:  # a report problem never stops an upload
            self.error = redact(str(e))

    def _write_page(self) -> None:
        from planner.report.render import write_live_page
        from planner.report.sources import upload_report_data

        data, _manifest, _container = upload_report_data(self.journal_path)
        write_live_page(data, self.path, self.every)


class LiveReportUI:
    """An UploadUI that passes everything to `inner` and keeps the job's live report up to date.

    The report is started by the first progress call (so a dry run writes none) and ticked on every
    one after; its path is told (`inner.message`) when its first version is written; `close()` writes the
    last version (if there was a first) and closes `inner` if it has a close()."""

    def __init__(self, inner: Any, *, clock: Clock | None = None, every: float = DEFAULT_EVERY,
                 warm: Callable[[], None] | None = None) -> None:
        self.inner, self.clock, self.every = inner, clock, every
        self._warm = warm if warm is not None else _warm_in_background
        self.warmed = False
        self.live: LiveReport | None = None
        self._journal: Path | None = None
        self._told = False

    def plan(self, plan: Any) -> None:
        self._journal = Path(plan.journal_path)
        self.inner.plan(plan)

    def confirm(self, question: str) -> bool:
        return self.inner.confirm(question)

    def progress(self, snap: Any, **kw: Any) -> None:
        self.inner.progress(snap, **kw)
        if self._journal is None:
            return
        if self.live is None:
            self.live = LiveReport(self._journal, clock=self.clock, every=self.every)
        if not self.warmed and snap is not None and snap.elapsed >= WARM_AFTER_S and 0 < snap.average_bps < WARM_BELOW_BPS:
            self.warmed = True
            self._warm()
        if self.live.tick() and not self._told:  # said when its first version is being written
            self._told = True
            minutes = f"{self.every / 60:g} min" if self.every >= 60 else f"{self.every:g} s"
            self.inner.message(f"Live report (rewritten every {minutes} while sending): {self.live.path}")

    def message(self, text: str) -> None:
        self.inner.message(text)

    def close(self, *, draw_last: bool = True) -> None:
        """Close `inner`; the live page's last version is drawn here unless `draw_last=False`, for a caller
        that writes it with the final report (`last_version_path`, then `draw_last()` if that fails)."""
        closer = getattr(self.inner, "close", None)
        if callable(closer):
            closer()
        if self.live is not None:
            self.live.close(draw_last=draw_last)

    def last_version_path(self) -> Path | None:
        """Where the live page's last version goes, if the page was started (None: no live page)."""
        return self.live.path if self.live is not None and self.live.started else None

    def draw_last(self) -> None:
        """Draw the live page's last version here (when the final report could not carry it)."""
        if self.live is not None and self.live.started:
            self.live.write_now()

    def __getattr__(self, name: str) -> Any:  # what else the inner UI offers (e.g. QuietUI.messages)
        return getattr(self.inner, name)


def _warm_in_background() -> None:
    def warm() -> None:
        try:
            from planner.report.charts import warm_up

            warm_up()
        except Exception:  # noqa: BLE001 - the report imports them again at the end and says what failed
            pass

    threading.Thread(target=warm, name="mdplan-report-warm-up", daemon=True).start()
