"""The coordinator: one thread that owns the journal, hands files to workers and decides.

Workers only send and report back through a queue (planner.transfer.messages); each message kind has
one handler here. `tick(now)` does what time alone decides (pause bookkeeping, the tuner, journal
commits, the progress line); `finish()` turns the counts into the run's outcome. Time comes from an
injected Clock (wall time too), so the pause and expiry logic runs under a fast clock in tests.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from planner.clock import Clock
from planner.errors import ExitCode, MdplanError
from planner.journal import FileRow, Journal, State
from planner.retry import NetworkWait
from planner.scan.walk import is_read_failure
from planner.telemetry import Telemetry
from planner.transfer.concurrency import Tuner, WorkerGate
from planner.transfer.messages import Kind, Msg
from planner.transfer.options import Plan, StopFlag, UploadResult, UploadUI

COMMIT_EVERY = 0.5  # seconds: a kill -9 costs at most the files acknowledged in this window
UI_EVERY = 0.5


@dataclass
class Tally:
    """What this run did so far."""

    sent_files: int = 0
    sent_bytes: int = 0  # bytes the service acknowledged (blocks of unfinished files and retries too)
    sent_file_bytes: int = 0  # the sizes of the files sent and finished: what "N files sent (X)" means
    already: int = 0
    failed: int = 0
    clashes: int = 0
    timeouts: int = 0
    fatal: MdplanError | None = None
    network_gave_up: bool = False
    in_flight: set[int] = field(default_factory=set)
    sizes: dict[int, int] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # file id -> path, for the job's log


class Coordinator:
    """Feeds `tasks`, handles `results`, keeps the journal. Not thread-safe: one thread owns it."""

    def __init__(self, journal: Journal, plan: Plan, *, tasks: "queue.Queue[FileRow | None]",
                 results: "queue.Queue[Msg]", gate: WorkerGate, tuner: Tuner | None, network: NetworkWait,
                 telemetry: Telemetry, clock: Clock, stop: StopFlag, ui: UploadUI, max_attempts: int,
                 cap_at: Callable[[Any], float | None] | None = None,
                 eta_fn: Callable[[int, float], float] | None = None,
                 paused_until: Callable[[], Any] | None = None,
                 pacer: Callable[[float, int], str | None] | None = None,
                 rtt_ms: Callable[[], float | None] | None = None) -> None:
        self.journal, self.plan, self.tasks, self.results = journal, plan, tasks, results
        self.gate, self.tuner, self.network, self.telemetry = gate, tuner, network, telemetry
        self.clock, self.stop, self.ui, self.max_attempts = clock, stop, ui, max_attempts
        self.cap_at, self.eta_fn, self.paused_until = cap_at, eta_fn, paused_until
        self.pacer = pacer  # limits that move while sending (polite mode): sets the throttle's ceiling
        self.rtt_ms = rtt_ms  # the round trip polite mode measures, for the telemetry
        self.t = Tally()
        self.remaining_bytes = plan.bytes_to_send
        self.waiting: str | None = None
        self._told_down = 0  # pauses whose start was told
        self._told_up = 0  # pauses whose end was told
        self._last_id = 0
        self._exhausted = False
        self._schedule_paused = False
        self._last_commit = clock.monotonic()
        self._last_ui = float("-inf")
        self.handlers: dict[Kind, Callable[[Msg], None]] = {
            Kind.BYTES: self.on_bytes, Kind.DONE: self.on_done, Kind.ALREADY: self.on_already,
            Kind.SKIP: self.on_skip, Kind.FAIL: self.on_fail, Kind.CLASH: self.on_clash,
            Kind.CHANGED: self.on_changed, Kind.RELEASED: self.on_released, Kind.RETRY: self.on_retry,
            Kind.TIMEOUT: self.on_timeout, Kind.FATAL: self.on_fatal, Kind.NETWORK_DOWN: self.on_network_down,
        }

    # -- handing out work ------------------------------------------------------------------------
    def refill(self) -> None:
        want = max(64, self.gate.limit * 4)
        t = self.t
        if self._exhausted or len(t.in_flight) >= want or self.stop.soft.is_set() or t.fatal or t.network_gave_up:
            return
        rows = self.journal.take_batch(want - len(t.in_flight), self._last_id)
        if not rows:
            self._exhausted = True
            return
        for r in rows:
            t.in_flight.add(r.id)
            t.sizes[r.id] = r.size
            t.names[r.id] = r.rel_path
            self.tasks.put(r)
        self._last_id = rows[-1].id

    def _settle(self, file_id: int) -> None:
        self.remaining_bytes -= self.t.sizes.get(file_id, 0)
        self.t.in_flight.discard(file_id)

    # -- one handler per message kind -------------------------------------------------------------
    def handle(self, m: Msg) -> None:
        self.handlers[m.kind](m)

    def on_bytes(self, m: Msg) -> None:
        self.telemetry.add_bytes(m.n)
        self.t.sent_bytes += m.n

    def on_done(self, m: Msg) -> None:
        self.journal.mark_done(m.file_id, m.md5 or "")
        self.telemetry.add_file()
        self.t.sent_files += 1
        self.t.sent_file_bytes += m.size
        self._settle(m.file_id)

    def on_already(self, m: Msg) -> None:
        self.journal.mark_done(m.file_id, m.md5 or "", note="already in the container (same size and MD5)")
        self.t.already += 1
        self._settle(m.file_id)

    def on_skip(self, m: Msg) -> None:
        self.journal.mark(m.file_id, State.SKIPPED, m.text, md5=m.md5)
        self._settle(m.file_id)

    def on_fail(self, m: Msg) -> None:
        self.journal.mark(m.file_id, State.FAILED, m.text, attempts=m.attempts)
        self.journal.log("error", f"{self.t.names.get(m.file_id, m.file_id)}: gave up after {m.attempts} "
                                  f"attempt(s): {m.text}")
        self.t.failed += 1
        self._settle(m.file_id)

    def on_clash(self, m: Msg) -> None:
        self.journal.mark(m.file_id, State.FAILED, m.text, attempts=m.attempts, md5=m.md5)
        self.t.failed += 1
        self.t.clashes += 1
        self._settle(m.file_id)

    def on_changed(self, m: Msg) -> None:
        # changed while read: new size/mtime recorded and re-queued at the end of this run
        self.journal.update_stat(m.file_id, m.size, m.mtime_ns)
        self.journal.mark(m.file_id, State.PENDING, "changed while being read; sent again")
        self.remaining_bytes += m.size - self.t.sizes.get(m.file_id, 0)
        self.t.sizes[m.file_id] = m.size
        self.t.in_flight.discard(m.file_id)
        if m.attempts >= self.max_attempts:
            self.journal.mark(m.file_id, State.FAILED, "keeps changing while being read (is a camera or program "
                              "still writing it?)", attempts=m.attempts)
            self.t.failed += 1
            self.remaining_bytes -= m.size
        else:
            self._exhausted = False
            self._last_id = min(self._last_id, m.file_id - 1)

    def on_released(self, m: Msg) -> None:
        self.journal.mark(m.file_id, State.PENDING, None)
        self.t.in_flight.discard(m.file_id)

    def on_retry(self, m: Msg) -> None:
        self.telemetry.add_retry()
        self.journal.log("retry", f"{self.t.names.get(m.file_id, m.file_id)}: {m.text}")

    def on_timeout(self, m: Msg) -> None:
        self.t.timeouts += 1

    def on_fatal(self, m: Msg) -> None:
        if self.t.fatal is None:
            self.t.fatal = m.error
            self.journal.event("stop", str(m.error))
            self.stop.soft.set()
        self.on_released(m)

    def on_network_down(self, m: Msg) -> None:
        if not self.t.network_gave_up:
            self.journal.log("error", "the link stayed down longer than mdplan waits; stopping")
        self.t.network_gave_up = True
        self.stop.soft.set()

    # -- what time decides -------------------------------------------------------------------------
    def tick(self, now: float, m: Msg | None = None) -> None:
        self._woke(self.network.check_clock())
        self._pause_bookkeeping()
        pace_words = self.pacer(now, self.t.sent_bytes) if self.pacer is not None else None
        if self.cap_at is not None:
            self.telemetry.cap_bps = self.cap_at(self.clock.now())
        if self.rtt_ms is not None:
            self.telemetry.rtt_ms = self.rtt_ms()
            if self.telemetry.rtt_ms is not None:
                self.telemetry.mark()
        self.telemetry.workers = self.gate.limit
        if self.tuner is not None:
            got = m.n if m is not None and m.kind is Kind.BYTES else 0
            new = self.tuner.observe(now, got, 1 if m is not None and m.kind is Kind.TIMEOUT else 0)
            if new:
                self.gate.set_limit(new)
        self.refill()
        if now - self._last_commit >= COMMIT_EVERY:
            self.journal.add_telemetry(self.telemetry.drain())
            self.journal.commit()
            self._last_commit = now
        if now - self._last_ui >= UI_EVERY:
            self._last_ui = now
            self.ui.progress(self.telemetry.snapshot(max(0, self.remaining_bytes), eta_fn=self.eta_fn),
                             files_total=self.plan.files_to_send, bytes_total=self.plan.bytes_to_send,
                             failed=self.t.failed, waiting=self.waiting or self._schedule_words() or pace_words,
                             workers=self.gate.limit)

    def _schedule_words(self) -> str | None:
        until = self.paused_until() if self.paused_until is not None else None
        if (until is None) == self._schedule_paused:  # the schedule's pause began or ended: in the log
            self._schedule_paused = until is not None
            self.journal.log("pause", f"paused by the schedule until {until:%H:%M}" if until
                             else "the schedule allows sending again")
        if until is None:
            return None
        return f"paused by the schedule until {until:%H:%M}; nothing is sent until then"

    def _pause_bookkeeping(self) -> None:
        """Network pauses: shown to the user, written to the journal, shaded in the report.

        Read from the outage detector's record rather than sampled, so a pause that began and ended
        between two ticks (a fast clock, or a short outage) is still told and recorded."""
        pauses = self.network.pauses
        for i, pause in enumerate(pauses):
            if i >= self._told_down:
                self._told_down = i + 1
                self.waiting = f"link down since {pause.started_at:%H:%M}, retrying by itself"
                self.journal.event("pause", "network down", t=pause.started_at.timestamp())
                self.ui.message(f"Link down since {pause.started_at:%H:%M}: cannot reach the storage service. "
                                "mdplan keeps trying and carries on by itself; you do not need to do anything.")
            if pause.ended_at is not None and i >= self._told_up:
                self._told_up = i + 1
                self.waiting = None
                self.journal.event("resume", f"network back after {pause.seconds():.0f} s",
                                   t=pause.ended_at.timestamp())
                self.ui.message("Network is back; carrying on.")

    def _woke(self, slept: float) -> None:
        """The computer slept (`slept` seconds, 0 if not): say so, and shade it in the report as a pause."""
        if slept <= 0:
            return
        woke_at = self.clock.now()
        if self.waiting is None:  # (inside a network pause the report already shades it)
            self.journal.event("pause", "computer asleep", t=woke_at.timestamp() - slept)
            self.journal.event("resume", f"awake after {slept:.0f} s", t=woke_at.timestamp())
        self.ui.message(f"Awake again after {slept / 60:.0f} min asleep; checking the link and carrying on.")

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> None:
        self.refill()
        while self.t.in_flight and not self.stop.hard.is_set():
            try:
                m: Msg | None = self.results.get(timeout=0.25)
            except queue.Empty:
                m = None
            if m is not None:
                self.handle(m)
            self.tick(self.clock.monotonic(), m)
            if self.stop.soft.is_set() and not self.t.in_flight:
                break

    def close(self) -> None:
        """Whatever a worker still held goes back to pending, never lost."""
        self.journal.add_telemetry(self.telemetry.drain())
        self.journal.commit()
        self.journal.release_uploading()
        if self.waiting is not None:
            self.journal.event("resume", "run ended while waiting for network", t=self.clock.now().timestamp())

    # -- the outcome ---------------------------------------------------------------------------------
    def finish(self, seconds: float, resume: str) -> UploadResult:
        c = self.journal.counts()
        t = self.t
        failed_now = c.n(State.FAILED) + c.n(State.CONFLICT)
        problems = sum(1 for _path, reason in self.journal.problems() if is_read_failure(reason))
        if t.fatal is not None:
            outcome, code = "stopped: SAS problem", ExitCode.SAS_PROBLEM
            message = f"{t.fatal} Sent so far is saved. To continue: {resume} (with a new URL if this one expired)."
        elif t.network_gave_up:
            outcome, code = "network down", ExitCode.NETWORK
            message = f"The storage service could not be reached for too long. Run `{resume}` when the link is back."
        elif self.stop.soft.is_set() or self.stop.hard.is_set():
            outcome, code = "interrupted", ExitCode.INTERRUPTED
            message = f"Stopped. Everything sent so far is saved. To carry on, run the same command again: {resume}"
        elif failed_now or problems:
            outcome, code = "finished with failures", ExitCode.PARTIAL
            message = _problems_message(failed_now, problems)
        else:
            outcome, code = "finished", ExitCode.OK
            message = "Every file is in the container, checked by MD5."
        self.journal.end_run(outcome, int(code))
        return UploadResult(
            job_id=self.plan.job_id, outcome=outcome, exit_code=int(code), files_sent=t.sent_files,
            bytes_sent=t.sent_bytes, bytes_of_files_sent=t.sent_file_bytes, files_already_there=t.already, files_failed=failed_now,
            files_total=c.total_files, bytes_total=c.total_bytes, files_done_total=c.n(State.DONE), seconds=seconds,
            average_bits_per_second=self.telemetry.average_bps(), retries=self.telemetry.retries,
            journal_path=str(self.journal.path), message=message)


def _problems_message(failed: int, unreadable: int) -> str:
    parts = []
    if failed:
        parts.append(f"{failed} file(s) could not be sent (see the report for why); everything else is there.")
    if unreadable:
        parts.append(f"{unreadable} file(s) or folder(s) in the set could not be read and were not sent: fix "
                     "their permissions (or copy them elsewhere) and run the same command again.")
    if failed:
        parts.append("Run the same command again to retry them.")
    return " ".join(parts)
