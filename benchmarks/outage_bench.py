"""`outage` (issue 14): the field's three interruptions, each against the same upload with none, in the same
run: the lab link goes down mid-upload for 30 s (the namespace's interface set down: packets silently
dropped, no reset) and comes back; the link flaps (down 3 s, up 3 s, five times); the computer sleeps (the
upload process stopped with SIGSTOP for 30 s, then SIGCONT, the link up meanwhile). Reported: the time lost
beyond the interruption itself. (Small files at long round trips: benchmarks/small_files_bench.py.)"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.lab import Link
from benchmarks.runner import Context, Table, scenario
from benchmarks.tools import LabStorage, mdplan, sample_set

RATE_MBIT, RTT_MS = 50, 300
OUTAGE_S, OUTAGE_AT_S = 30.0, 5.0
FLAP_DOWN_S, FLAP_UP_S, FLAPS = 3.0, 3.0, 5
SLEEP_S = 30.0


def _upload(ctx: Context, data_root: Path, sas: str, scratch: Path, name: str, limit: float) -> tuple[float, dict]:
    started = time.monotonic()
    ran = mdplan(["upload", str(data_root), sas, "--json", "--yes", "--report", str(scratch / f"{name}.html")],
                 ctx=ctx, timeout=limit, home=scratch / f"home-{name}")
    took = time.monotonic() - started
    if ran.returncode != 0:
        raise RuntimeError(f"mdplan upload ({name}) exited {ran.returncode}: {ran.stderr.strip()[-300:]}")
    return took, ran.json()


def _schedule(events: list[tuple[float, Callable[[], object]]]) -> list[threading.Timer]:
    timers = [threading.Timer(at, fn) for at, fn in events]
    for t in timers:
        t.start()
    return timers


def _interrupted(ctx: Context, link: Link, storage: LabStorage, data, scratch: Path, name: str,
                 events: Callable[[Path], list[tuple[float, Callable[[], object]]]]) -> tuple[float, dict, int, bool]:
    """One upload with `events(report_path)` fired on timers; (seconds, --json result, blobs, bytes right)."""
    sas = storage.container(name)
    timers = _schedule(events(scratch / f"{name}.html"))
    try:
        took, result = _upload(ctx, data.root, sas, scratch, name, ctx.budget.timeout(240))
    finally:
        for t in timers:
            t.cancel()
        link.ns_run(["ip", "link", "set", link.ns_if, "up"], check=False)
    count, size = storage.blob_bytes(sas)
    return took, result, count, size == data.bytes


def _link(link: Link, state: str) -> Callable[[], object]:
    return lambda: link.ns_run(["ip", "link", "set", link.ns_if, state])


def _signal(report: Path, sig: str) -> Callable[[], object]:
    # the upload's own process, found by its unique --report path (run_timed does not hand out the pid)
    return lambda: subprocess.run(["pkill", f"-{sig}", "-f", f"report {report}"], check=False)


@scenario("outage", title="Outage: link down mid-upload, time lost beyond the outage", budget_s=420,
          about="While mdplan uploads: the namespace side of the lab's veth is set down for 30 s (packets "
                "dropped silently, as when Wi-Fi or a 4G modem drops), then up again; the link flaps; the "
                "upload process is stopped for 30 s (a laptop asleep).")
def outage(ctx: Context) -> Table:
    table = Table("Outage: link down mid-upload, time lost beyond the outage",
                  ["Link", "Data", "Interruption", "Without", "With", "Lost beyond the interruption",
                   "Exit code", "Files failed", "Blobs right"])
    ctx.table = table
    files = 40 if ctx.quick else 150
    data = sample_set(ctx, "outage", files=files, mean_bytes=350_000, seed=14)
    flaps = [(OUTAGE_AT_S + i * (FLAP_DOWN_S + FLAP_UP_S), state) for i in range(FLAPS)
             for state in ("down", "up")]
    cases = [
        ("outage", f"link down {OUTAGE_S:.0f} s at {OUTAGE_AT_S:.0f} s", [(OUTAGE_AT_S, OUTAGE_AT_S + OUTAGE_S)],
         lambda link, report: [(OUTAGE_AT_S, _link(link, "down")), (OUTAGE_AT_S + OUTAGE_S, _link(link, "up"))]),
        ("flap", f"link flaps: down {FLAP_DOWN_S:.0f} s / up {FLAP_UP_S:.0f} s, {FLAPS} times",
         [(at, at + FLAP_DOWN_S) for at, state in flaps if state == "down"],
         lambda link, report: [(at + (FLAP_DOWN_S if state == "up" else 0.0), _link(link, state))
                               for at, state in flaps]),
        ("sleep", f"process stopped {SLEEP_S:.0f} s at {OUTAGE_AT_S:.0f} s", [(OUTAGE_AT_S, OUTAGE_AT_S + SLEEP_S)],
         lambda link, report: [(OUTAGE_AT_S, _signal(report, "STOP")), (OUTAGE_AT_S + SLEEP_S, _signal(report, "CONT"))]),
    ]
    with tempfile.TemporaryDirectory(prefix="mdplan-bench-") as scratch_dir, \
            Link(RATE_MBIT, rtt_ms=RTT_MS) as link, LabStorage(link) as storage:
        scratch = Path(scratch_dir)
        base, _ = _upload(ctx, data.root, storage.container("base"), scratch, "base", ctx.budget.timeout(120))
        ctx.log(f"without an interruption: {base:.1f} s")
        for name, label, down, events in cases:
            took, result, count, right = _interrupted(ctx, link, storage, data, scratch, name,
                                                      lambda report, ev=events: ev(link, report))
            lost = sum(max(0.0, min(end, took) - start) for start, end in down)  # what fell within the upload
            label += f" ({lost:.0f} s of it during the upload)" if lost < sum(e - b for b, e in down) else ""
            ctx.log(f"{name}: {took:.1f} s; {count} blobs; {lost:.0f} s interrupted")
            table.add(f"{RATE_MBIT} Mbit/s x {RTT_MS} ms", f"{data.files} files, {data.bytes / 1e6:.0f} MB", label,
                      f"{base:.1f} s", f"{took:.1f} s", f"{took - base - lost:.1f} s", result.get("exit_code", 0),
                      result.get("files_failed"), f"{count}/{data.files}, {right}")
    table.notes.append("Lost beyond the interruption = (wall time with it) - (wall time without) - the time the link "
                       "was down or the process stopped while the upload ran. Every run is a whole `mdplan upload` command (scan, "
                       "listing, report) into a fresh container.")
    return table
