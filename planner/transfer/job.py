"""One run of an upload job: scan into the journal, plan, then transfer with workers and a coordinator.

  scan the folder into the journal -> plan (what, how much, ETA) -> list what is there -> send -> outcome

The pieces are elsewhere (selection, concurrency, sender, coordinator); this module wires them, owns
the threads, and is where the store, the clock and randomness come in (`run(..., store=..., clock=...)`),
so the whole engine runs against planner.memory_store under a fake clock in tests.
"""

from __future__ import annotations

import queue
import random
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner.clock import Clock, SystemClock
from planner.errors import BadInput, ExitCode, Interrupted
from planner.estimate import MAX_WORKERS, max_workers_for
from planner.journal import FileRow, Journal, State, clean_prefix, journal_error, last_rate, last_rtt_ms, remember_rate
from planner.retry import Backoff, NetworkWait
from planner.redact import redact
from planner.outputs import own_outputs
from planner.sas import SasUrl
from planner.storage import BlobStore, RemoteBlob, StoreError
from planner.telemetry import Telemetry
from planner.transfer.concurrency import Tuner, WorkerGate, first_limit
from planner.transfer.listing import Listing, check_listing, fresh, list_remote
from planner.transfer.coordinator import Coordinator
from planner.transfer.messages import Kind, Msg
from planner.transfer.memory import give_back_freed_memory
from planner.transfer.options import (SINGLE_PUT_MAX, Plan, QuietUI, StopFlag, UploadOptions, UploadResult,
                                      UploadUI, resume_command)
from planner.transfer.planning import (add_twins, build_timetable, clashes, make_plan, names_refusal,
                                       set_aside_bad_names)
from planner.transfer.selection import Selector, scan_into_journal
from planner.transfer.sender import Link, SendPolicy, Sender


def prepare(opts: UploadOptions, ui: UploadUI, clock: Clock | None = None) -> tuple[Journal, Plan]:
    """Scan into the journal and build the plan. The caller closes the journal."""
    from planner.scan.walk import source_folder

    source = source_folder(opts.source)
    sas = opts.sas
    prefix = clean_prefix(sas.prefix, opts.prefix)
    selector = Selector(opts.images_only, opts.include, opts.exclude)
    timetable = build_timetable(opts.cap_mbps, opts.bwlimit)
    journal = Journal.open(source, sas.account_url, sas.account_name, sas.container, prefix, home=opts.home)
    try:
        resumed = journal.scan_complete or bool(journal.runs())
        state_before = journal.info().state if resumed else None
        journal.begin_run(workers=str(opts.workers or "auto"), cap=timetable.describe() if timetable else None)
        journal.set_options({"images_only": opts.images_only, "include": list(opts.include),
                             "exclude": list(opts.exclude), "overwrite": opts.overwrite,
                             "cap": str(timetable) if timetable else None, "resume": resume_command(opts)})
        journal.set_state("scanning")
        bad = scan_into_journal(journal, source, selector, prefix, opts.follow_symlinks, own_outputs(opts.reports),
                                opts.blob_names)
        journal.reset_for_run()
        plan = make_plan(journal, opts, timetable, resumed, clock or SystemClock())
        plan.state_before = state_before
        plan.bad_names, plan.bad_name_examples = bad.count, list(bad.examples)
        add_twins(plan, journal)
        journal.set_run_plan(files=plan.files_to_send, bytes_=plan.bytes_to_send, predicted_seconds=plan.eta_seconds)
        return journal, plan
    except sqlite3.Error as e:  # the journal's disk filled up or went read-only: say where, exit 2
        journal.close()
        raise journal_error(journal.path, e) from None
    except BaseException:
        journal.close()
        raise


def run(opts: UploadOptions, ui: UploadUI | None = None, *, clock: Clock | None = None,
        stop: StopFlag | None = None, rng: random.Random | None = None, assume_yes: bool = False,
        interactive: bool = False, awake: Callable[[], Any] | None = None,
        store: BlobStore | None = None) -> tuple[UploadResult | None, Plan]:
    """Plan and, unless dry_run, carry out the upload. Returns (result or None for a dry run, plan).

    `awake`, if given, is a context manager factory held around the transfer itself (the CLI uses it
    to keep the computer from sleeping only while data is being sent). `store` replaces the Azure
    container (tests pass a planner.memory_store.MemoryBlobStore).
    """
    ui = ui or QuietUI()
    clock = clock or SystemClock()
    stop = stop or StopFlag()
    own_store = store is None
    if store is None:
        from planner.azure import AzureBlobStore

        store = AzureBlobStore(opts.sas, pool=MAX_WORKERS + 4)
    try:
        listing = check_destination(opts, store, clock)  # before the scan: a refused start scans nothing, leaves no job
        return _plan_and_send(opts, ui, clock, stop, rng or random.Random(), store, assume_yes, interactive, awake,
                              listing)
    finally:
        if own_store:
            store.close()


def check_destination(opts: UploadOptions, store: BlobStore, clock: Clock) -> Listing | None:
    """Refuse what is knowable before scanning: an expired or read-only URL, a missing container, a
    signature the service refuses. A busy or unreachable service is not a refusal: the transfer waits.
    Returns the destination folder's listing when it was read whole (see planner.transfer.listing)."""
    from planner.azure import preflight

    preflight(opts.sas, clock.now())
    if opts.sas.can("l") is False:
        return None
    prefix = clean_prefix(opts.sas.prefix, opts.prefix)
    try:
        return check_listing(store, f"{prefix}/" if prefix else "", clock,
                             https=opts.sas.account_url.startswith("https:"))
    except StoreError as e:
        if e.kind == "sas" and e.code != "AuthorizationPermissionMismatch":
            raise e.error from None
    return None


def _plan_and_send(opts: UploadOptions, ui: UploadUI, clock: Clock, stop: StopFlag, rng: random.Random,
                   store: BlobStore, assume_yes: bool, interactive: bool,
                   awake: Callable[[], Any] | None, listing: Listing | None = None) -> tuple[UploadResult | None, Plan]:
    journal, plan = prepare(opts, ui, clock)
    try:
        ui.plan(plan)
        _refuse_bad_names(plan, journal, opts.dry_run)
        if opts.dry_run:  # the job stays as it was (a finished job is still finished)
            journal.end_run("planned (dry run)", 0, job_state=plan.state_before)
            return None, plan
        _confirm_drive_advice(plan, ui, journal, assume_yes, interactive)
        transfer = _Transfer(journal, opts, plan, ui, clock, stop, rng, store, listing)
        if awake is None:
            return transfer.run(), plan
        with awake():
            return transfer.run(), plan
    except sqlite3.Error as e:  # the journal's disk filled up or went read-only mid-job: say where, exit 2
        raise journal_error(journal.path, e) from None
    finally:
        journal.close()


def _refuse_bad_names(plan: Plan, journal: Journal, dry_run: bool) -> None:
    """Names Azure would refuse or change, and two files that would become one blob: exit 2 before
    anything is sent (a dry run says the same: it is what the upload would do)."""
    refusal = names_refusal(plan)
    if refusal:
        set_aside_bad_names(journal)
        journal.end_run("not started: names that cannot go up as they are", int(ExitCode.BAD_INPUT),
                        job_state=plan.state_before if dry_run else None)
        raise BadInput(refusal)


def _confirm_drive_advice(plan: Plan, ui: UploadUI, journal: Journal, assume_yes: bool, interactive: bool) -> None:
    if plan.advice != "drive" or assume_yes:
        return
    if not interactive:
        raise BadInput(
            "At the measured rate, mailing a drive would be faster than uploading this set. Run "
            "`mdplan estimate` to see why, or add --yes to upload anyway.")
    if not ui.confirm("Mailing a drive looks faster at this rate. Upload anyway?"):
        journal.end_run("not started (user chose not to)", int(ExitCode.INTERRUPTED))
        raise Interrupted("Not started. Nothing was sent; run the same command again when you are ready.")


class _Transfer:
    """The transfer part of one run: the store, the listing, the workers and the coordinator."""

    def __init__(self, journal: Journal, opts: UploadOptions, plan: Plan, ui: UploadUI, clock: Clock,
                 stop: StopFlag, rng: random.Random, store: BlobStore, listing: Listing | None = None) -> None:
        self.journal, self.opts, self.plan, self.ui = journal, opts, plan, ui
        self.clock, self.stop, self.rng = clock, stop, rng
        self.timetable = build_timetable(opts.cap_mbps, opts.bwlimit)
        self.store = store
        self.check_listing = listing  # the destination check's, if it read the whole folder
        self.listing_rtt_ms: float | None = None  # one listing page's round trip, for the first worker count

    def run(self) -> UploadResult:
        from planner.throttle.bucket import Throttle

        remote = self._remote()
        self._refuse_clashes(remote)
        if _polite_ever(self.opts, self.timetable):  # small idle bursts: a burst is queueing delay for everyone else
            from planner.transfer.pacing import POLITE_BURST

            return self._send(remote, Throttle(self.timetable, self.clock, max_idle_burst=POLITE_BURST))
        return self._send(remote, Throttle(self.timetable, self.clock))

    def _remote(self) -> dict[str, RemoteBlob]:
        """What is already in the container, so a re-run after a crash finds instead of re-sends."""
        opts, sas = self.opts, self.opts.sas
        if opts.overwrite == "always" or not self.plan.files_to_send or sas.can("l") is False:
            return {}
        prefix = clean_prefix(sas.prefix, opts.prefix)
        seen = fresh(self.check_listing, f"{prefix}/" if prefix else "", self.clock)
        if seen is not None:
            self.listing_rtt_ms = seen.rtt_ms
            return dict(seen.blobs)
        # a link that is down while listing is waited for like one that goes down mid-transfer
        started = self.clock.monotonic()
        found = list_remote(self.store, f"{prefix}/" if prefix else "",
                            Backoff(max_attempts=None, rng=self.rng, clock=self.clock),
                            patience=opts.network_patience)
        took = self.clock.monotonic() - started  # on the connection the destination check opened
        if 0 < took < 30:  # a page holds up to 5,000 names; a wait for the link is not a round trip
            self.listing_rtt_ms = took * 1000 / (1 + len(found) // 5000)
        return found

    def _refuse_clashes(self, remote: dict[str, RemoteBlob]) -> None:
        if self.opts.overwrite != "if-different" or not remote:
            return
        found = clashes(self.journal, remote, self.plan.job_id)
        if found:
            self.journal.end_run("not started: names already used in the container", int(ExitCode.BAD_INPUT))
            raise BadInput(found)

    def _send(self, remote: dict[str, RemoteBlob], throttle: Any) -> UploadResult:
        opts, clock, plan = self.opts, self.clock, self.plan
        self.stop.transferring = True
        self.journal.set_state("uploading")
        self.journal.event("run", f"run {self.journal.run_id} started", t=clock.now().timestamp())
        started = clock.monotonic()
        results: queue.Queue[Msg] = queue.Queue()
        tasks: queue.Queue[FileRow | None] = queue.Queue()
        network = NetworkWait(clock, seconds=opts.network_down_after, patience=opts.network_patience)
        rtt_ms = last_rtt_ms(opts.sas.account_url, opts.sas.container, opts.home) or self.listing_rtt_ms
        mean_file = plan.bytes_to_send / plan.files_to_send if plan.files_to_send else None
        start_workers = opts.workers or first_limit(plan.rate_bps, rtt_ms, mean_file)
        if _polite_ever(opts, self.timetable) and not opts.workers:  # small requests: a few more in flight
            start_workers = max(start_workers, 8)
        max_workers = opts.workers or max(start_workers, max_workers_for(mean_file))
        gate = WorkerGate(start_workers)
        timetable = self.timetable
        pacer = _pacer(opts, throttle, timetable, clock, plan, self.ui)
        if pacer is not None:  # the ceiling holds from the first request, not from the coordinator's first tick
            pacer.tick(clock.monotonic(), 0)
        polite_now = _polite_now(opts, timetable, clock)

        def chunk_size() -> int:
            if polite_now():  # small requests, so a burst never fills the modem's queue
                return min(SINGLE_PUT_MAX, _polite_chunk(throttle.rate))
            moving = timetable is not None or pacer is not None
            return min(SINGLE_PUT_MAX, throttle.chunk_size()) if moving else SINGLE_PUT_MAX

        link = Link(throttle, clock, network, Backoff(max_attempts=opts.max_attempts, rng=self.rng, clock=clock),
                    chunk_size)
        policy = SendPolicy(opts.overwrite, opts.sas.can("r") is not False, opts.max_attempts, plan.job_id,
                            opts.expected_md5)
        sender = Sender(self.store, Path(opts.source), link=link, policy=policy, remote=remote, results=results,
                        stop=self.stop)
        coordinator = Coordinator(
            self.journal, plan, tasks=tasks, results=results, gate=gate,
            tuner=None if opts.workers else Tuner(start_workers, max_workers,
                                                  request_bytes=_request_bytes(mean_file), rtt_ms=rtt_ms),
            network=network,
            telemetry=Telemetry(clock, clock.now().timestamp()), clock=clock, stop=self.stop, ui=self.ui,
            max_attempts=opts.max_attempts, cap_at=_cap_at(timetable, throttle, pacer),
            eta_fn=_eta_fn(timetable, clock, pacer), paused_until=_paused_until(timetable, throttle, clock),
            pacer=pacer.tick if pacer is not None else None, rtt_ms=_rtt_ms(pacer))
        workers = _Workers(max_workers, tasks, results, gate, sender, self.stop)
        try:
            coordinator.run()
        finally:
            workers.quit()
            coordinator.close()
            if pacer is not None:
                pacer.close()
            give_back_freed_memory()  # the workers' read buffers: the report is drawn next, in this process
        telemetry = coordinator.telemetry
        if telemetry.average_bps() > 0 and coordinator.t.sent_bytes > 1_000_000:
            remember_rate(opts.sas.account_url, opts.sas.container, telemetry.average_bps(), "upload", opts.home,
                          rtt_ms=rtt_ms)  # the next run starts from both
        return coordinator.finish(clock.monotonic() - started, resume_command(opts))


def _pacer(opts: UploadOptions, throttle: Any, timetable: Any, clock: Clock, plan: Plan, ui: UploadUI) -> Any:
    """Limits that move while sending (polite mode, polite hours, a monthly data cap), or None."""
    polite = _polite_ever(opts, timetable)
    if not polite and opts.monthly_cap is None:
        return None
    from planner.transfer.pacing import Pacer, polite_hours, polite_limit

    limits: list[Any] = []
    if opts.monthly_cap is not None:
        limits.append(_monthly_limit(opts, clock, plan, ui))
    if polite:
        cap = None if timetable is None or timetable.changes else timetable.rate_at(clock.now())
        known = plan.rate_bps / 8 if plan.rate_bps else None
        hours = None if opts.polite else polite_hours(timetable, clock)  # --polite: all the time
        limits.append(polite_limit(opts.sas.account_url, clock, cap, opts.rtt_probe, known, active=hours))
    return Pacer(throttle, limits)


def _polite_ever(opts: UploadOptions, timetable: Any) -> bool:
    """--polite, or polite hours in the --bwlimit timetable."""
    return bool(opts.polite or (timetable is not None and timetable.has_polite))


def _polite_now(opts: UploadOptions, timetable: Any, clock: Clock) -> Callable[[], bool]:
    if opts.polite or not _polite_ever(opts, timetable):
        return lambda: opts.polite
    return lambda: bool(timetable.polite_at(clock.now()))


def _request_bytes(mean_file: float | None) -> float | None:
    """The mean request: a file up to one Put Blob, a block of a bigger one."""
    return min(mean_file, SINGLE_PUT_MAX) if mean_file else None


def _rtt_ms(pacer: Any) -> Callable[[], float | None] | None:
    """The round trip polite mode acts on, for the telemetry (None without polite mode)."""
    polite = [limit for limit in (pacer.limits if pacer is not None else []) if hasattr(limit, "rtt_ms")]
    return polite[0].rtt_ms if polite else None


def _monthly_limit(opts: UploadOptions, clock: Clock, plan: Plan, ui: UploadUI) -> Any:
    from planner.journal import bytes_sent_since
    from planner.options import monthly_cap
    from planner.transfer.monthly import MonthlyLimit, month_start

    def used_since(start: Any) -> int:
        return bytes_sent_since(start.timestamp(), opts.home)
    cap = monthly_cap(opts.monthly_cap)
    assert cap is not None
    return MonthlyLimit(cap, used_since(month_start(clock.now())), plan.bytes_to_send, clock, ui.message, used_since)


def _polite_chunk(rate: float | None) -> int:
    from planner.transfer.pacing import polite_chunk

    return polite_chunk(rate)


def _cap_at(timetable: Any, throttle: Any = None, pacer: Any = None) -> Callable[[Any], float | None] | None:
    if pacer is not None:  # the rate chosen (polite mode) under the cap: what the report draws as the cap
        return lambda _now: (throttle.rate * 8) if throttle.rate is not None else None
    if timetable is None:
        return None

    def cap(now: Any) -> float | None:
        rate = timetable.rate_at(now)
        return rate * 8 if rate is not None else None
    return cap


def _paused_until(timetable: Any, throttle: Any, clock: Clock) -> Callable[[], Any] | None:
    """When the schedule's current pause ends (None while sending is allowed)."""
    if timetable is None:
        return None
    return lambda: timetable.next_change(clock.now()) if throttle.paused else None


def _eta_fn(timetable: Any, clock: Clock, pacer: Any = None) -> Callable[[int, float], float] | None:
    monthly = [m for m in (pacer.limits if pacer is not None else []) if hasattr(m, "eta")]
    if timetable is None and not monthly:
        return None
    from planner.throttle.eta import eta_seconds

    def eta(b: int, r: float) -> float:  # the later of what the schedule and the monthly cap allow
        times = [m.eta(b, r) for m in monthly]
        if timetable is not None:
            times.append(eta_seconds(b, r, timetable, clock.now()))
        return max(times)
    return eta


class _Workers:
    """The worker threads: take a file, pass the gate, send it, report; never lose a file to a bug.

    Only as many threads as the gate lets through (up to `n`): the pool grows when the tuner raises the
    limit and keeps its threads when it lowers it (they wait at the gate). Each thread that sends keeps
    freed request bodies in its own C heap (glibc's per-thread arenas), so 64 threads started for a
    limit of 4 held ~40 MB more than 4 threads (issue 14: cost per gigabyte).
    """

    def __init__(self, n: int, tasks: "queue.Queue[FileRow | None]", results: "queue.Queue[Msg]",
                 gate: WorkerGate, sender: Sender, stop: StopFlag) -> None:
        self.tasks, self.results, self.gate, self.sender, self.stop = tasks, results, gate, sender, stop
        self.most = n
        self._quit = threading.Event()
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.grow_to(gate.limit)
        gate.on_limit = self.grow_to

    def grow_to(self, limit: int) -> None:
        """At least `limit` threads (never more than `most`, never after quit)."""
        with self._lock:
            while len(self.threads) < min(limit, self.most) and not self._quit.is_set():
                t = threading.Thread(target=self._work, name=f"mdplan-upload-{len(self.threads)}", daemon=True)
                self.threads.append(t)
                t.start()

    def _work(self) -> None:
        while not self._quit.is_set():
            try:
                row = self.tasks.get(timeout=0.2)
            except queue.Empty:
                continue
            if row is None:
                return
            if not self.gate.enter(self.stop.hard):
                self.results.put(Msg(Kind.RELEASED, row.id))
                continue
            try:
                self.sender.send(row)
            except BaseException as e:  # never lose a file to a bug in a worker
                self.results.put(Msg(Kind.FAIL, row.id, attempts=1, text=f"internal error: {redact(e)}"))
            finally:
                self.gate.leave()

    def quit(self) -> None:
        with self._lock:
            self._quit.set()
            count = len(self.threads)
        for _ in range(count):
            self.tasks.put(None)
