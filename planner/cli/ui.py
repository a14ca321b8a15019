"""What a person sees while a command works: the upload's plan and progress bar, the probe's status
line, the scan's running count, and keeping the computer awake during an upload. All on stderr.
"""

from __future__ import annotations

import typer

from planner.cli.app import raise_ctrl_c
from planner.cli.output import err, out, terminal_safe


class RichUploadUI:
    """Plan and progress for a person: rich on stderr, progress only when stderr is a terminal."""

    def __init__(self, show_progress: bool) -> None:
        self._show = show_progress and err.is_terminal
        self._progress = None
        self._task = None

    def plan(self, plan) -> None:  # planner.upload.Plan
        from planner.names import safe_display
        from planner.units import format_bytes, format_duration, format_rate

        lines = [f"Job {plan.job_id}" + (" (resuming: "
                 f"{plan.files_done_before:,} files, {format_bytes(plan.bytes_done_before)} already sent)"
                 if plan.files_done_before else "")]
        lines.append(f"  From:     {safe_display(plan.source)}")
        lines.append(f"  To:       {plan.destination}")
        lines.append(f"  Send:     {plan.files_to_send:,} files, {format_bytes(plan.bytes_to_send)}")
        for reason, (n, b) in sorted(plan.excluded.items()):
            lines.append(f"  Left out: {n:,} files, {format_bytes(b)}: {reason}")
        if getattr(plan, "bad_names", 0):  # names Azure refuses or changes, and twins: the upload will not start
            name, why = plan.bad_name_examples[0]
            lines.append(f"  Names:    {plan.bad_names:,} file(s) cannot go up as they are named, e.g. {name} ({why})")
        if plan.scan_problems:
            lines.append(f"  Could not read: {len(plan.scan_problems)} folder(s)/file(s), e.g. "
                         f"{safe_display(plan.scan_problems[0][0])} ({safe_display(plan.scan_problems[0][1])})")
        if plan.cap:
            lines.append(f"  Speed cap: {plan.cap}")
        time_line = plan_time_line(plan)
        if time_line:
            lines.append(f"  Time:     {time_line}")
        if plan.expires_before_finish and plan.sas_expiry is not None:
            lines.append(f"  Warning:  the URL expires {plan.sas_expiry:%Y-%m-%d %H:%M} UTC, before the estimated"
                         " finish. Ask the team for a longer-lived URL; a new URL continues this same job.")
        if plan.advice == "drive":
            lines.append("  Advice:   at this rate, mailing a drive would be faster: "
                         + " ".join(plan.advice_reasons[:2]))
        err.print(terminal_safe("\n".join(lines)), markup=False)

    def confirm(self, question: str) -> bool:
        return typer.confirm(question, default=False, err=True)

    def progress(self, snap, *, files_total: int, bytes_total: int, failed: int, waiting, workers: int) -> None:
        if not self._show:
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

        from planner.units import format_duration, format_rate

        if self._progress is None:
            from rich.table import Column

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=20),
                                      DownloadColumn(table_column=Column(no_wrap=True)),
                                      TextColumn("{task.fields[info]}", table_column=Column(no_wrap=True)),
                                      console=err.get(), transient=False)
            self._progress.start()
            self._task = self._progress.add_task("Uploading", total=max(bytes_total, 1), info="")
        eta = format_duration(snap.eta_seconds) if snap.eta_seconds is not None else "measuring..."
        info = (f"{snap.files_done:,}/{files_total:,} files  {format_rate(snap.current_bps)} now,"
                f" {format_rate(snap.average_bps)} avg  ETA {eta}  workers {workers}")
        if err.width < 120:  # an 80-column window squeezed the bar and sizes away and wrapped a stray "…" line
            info = f"{snap.files_done:,}/{files_total:,} files  {format_rate(snap.average_bps)}  ETA {eta}"
        if failed:
            info += f"  failed {failed}"
        if waiting:  # the engine's words ("link down since 14:02, retrying by itself") when it gives them
            info = (waiting if isinstance(waiting, str) else "waiting for network (retrying by itself)") + "  " + info
        self._progress.update(self._task, completed=snap.bytes_done, info=info)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()

    def message(self, text: str) -> None:
        err.print(terminal_safe(text), markup=False)


def plan_time_line(plan) -> str | None:
    """The plan's time, at the rate the upload will move at: under a cap, the capped rate, not the link's.

    The plan's ETA already counts with the cap (and a timetable's pauses); the rate shown beside it is
    the one that ETA implies, so the two always agree.
    """
    from planner.units import format_duration, format_rate

    if plan.eta_seconds is None or not plan.rate_bps:
        return "estimated from the first seconds of the transfer" if plan.files_to_send else None
    seen = f"last {plan.rate_source} rate to this container"
    share = getattr(plan, "polite_share", None) or 1.0
    if plan.cap and plan.eta_seconds > 0 and plan.bytes_to_send:
        used = plan.bytes_to_send * 8 / plan.eta_seconds
        if used < 0.99 * plan.rate_bps * share:
            return (f"about {format_duration(plan.eta_seconds)} at {format_rate(used)}, held there by the "
                    f"speed cap ({seen}: {format_rate(plan.rate_bps)})")
    if share < 1.0:
        return (f"about {format_duration(plan.eta_seconds)} at {format_rate(plan.rate_bps * share)}, polite: "
                f"{share:.0%} of the link ({seen}: {format_rate(plan.rate_bps)})")
    return f"about {format_duration(plan.eta_seconds)} at {format_rate(plan.rate_bps)} ({seen})"


def install_stop_handlers(stop) -> None:
    """Ctrl-C (and SIGTERM, Ctrl-Break) sets `stop`. The consoles are made here, before the handler is in
    place: a handler that imported rich itself could land while the main thread is half-way through
    importing it, and fail with a circular-import error instead of stopping."""
    import signal

    err.get()
    out.get()

    def handler(signum, frame):  # noqa: ARG001
        if not stop.transferring:  # still scanning or planning: nothing in flight, stop at once
            raise_ctrl_c()
        first = not stop.soft.is_set()
        stop.request()
        if first:
            err.print("\nStopping: finishing the files in progress and saving the journal. "
                      "Press Ctrl-C again to stop at once.", markup=False)

    signal.signal(signal.SIGINT, handler)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "SIGBREAK"):  # Windows Ctrl-Break
        signal.signal(signal.SIGBREAK, handler)


class WhileSending:
    """Around the transfer only: keep the computer awake. Nothing else runs beside the upload: the report's
    libraries (matplotlib, numpy: ~45 MB, a CPU-second) are loaded when the report is drawn, after the
    transfer, not meanwhile (issue 14: an upload costs at most what rclone's does in CPU and memory)."""

    def __init__(self, allow_sleep: bool) -> None:
        self._awake = StayAwake(enabled=not allow_sleep)

    def __enter__(self):
        return self._awake.__enter__()

    def __exit__(self, *exc):
        return self._awake.__exit__(*exc)


class StayAwake:
    """Keep the computer awake while a job runs (wakepy); say once if the OS offers no way."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._mode = None

    def __enter__(self):
        if not self.enabled:
            return self
        try:
            from wakepy import keep

            self._mode = keep.running(on_fail="pass")
            m = self._mode.__enter__()
            if not getattr(m, "active", False):
                err.print("Note: could not keep this computer awake automatically; check its sleep settings "
                          "so the upload is not paused.", markup=False)
        except Exception:
            self._mode = None
            err.print("Note: could not keep this computer awake automatically; check its sleep settings "
                      "so the upload is not paused.", markup=False)
        return self

    def __exit__(self, *exc):
        if self._mode is not None:
            try:
                self._mode.__exit__(*exc)
            except Exception:
                pass
        return False


class ProbeStatus:
    """A one-line progress indicator on stderr while a probe measures (only on a terminal)."""

    def __init__(self, show: bool, what: str) -> None:
        self._status = err.status(what) if show and err.is_terminal else None
        self._what = what

    def __enter__(self) -> ProbeStatus:
        if self._status is not None:
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def __call__(self, p) -> None:  # planner.probe.ProbeProgress
        if self._status is None:
            return
        if p.phase == "done":  # measuring is over (estimate goes on to scan): clear the line now
            self._status.stop()
            self._status = None
            return
        from planner.units import format_rate

        text = f"{self._what}: {p.phase}, {p.elapsed:.0f} of {p.limit:.0f} s"
        if p.bits_per_second:
            text += f", {format_rate(p.bits_per_second)} so far"
        if p.streams:
            text += f" with {p.streams} parallel uploads"
        self._status.update(text)


def scan_progress():
    import time

    start = time.monotonic()

    def show(files: int, nbytes: int) -> None:
        from planner.units import format_bytes

        err.print(f"\rScanning: {files:,} files, {format_bytes(nbytes)} ({time.monotonic() - start:.0f} s)",
                  end="", markup=False)

    return show
