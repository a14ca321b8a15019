"""`outage` (issue 14): the lab link goes down mid-upload (the namespace's interface set down: packets
silently dropped, no reset) and comes back; the time lost beyond the outage itself, against the same
upload with no outage, in the same run. (Small files at long round trips: benchmarks/small_files_bench.py.)"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from benchmarks.lab import Link
from benchmarks.runner import Context, Table, scenario
from benchmarks.tools import LabStorage, mdplan, sample_set

RATE_MBIT, RTT_MS = 50, 300
OUTAGE_S, OUTAGE_AT_S = 30.0, 5.0


def _upload(ctx: Context, data_root: Path, sas: str, scratch: Path, name: str, limit: float) -> tuple[float, dict]:
    started = time.monotonic()
    ran = mdplan(["upload", str(data_root), sas, "--json", "--yes", "--report", str(scratch / f"{name}.html")],
                 ctx=ctx, timeout=limit, home=scratch / f"home-{name}")
    took = time.monotonic() - started
    if ran.returncode != 0:
        raise RuntimeError(f"mdplan upload ({name}) exited {ran.returncode}: {ran.stderr.strip()[-300:]}")
    return took, ran.json()


@scenario("outage", title="Outage: link down mid-upload, time lost beyond the outage", budget_s=240,
          about="The namespace side of the lab's veth is set down for 30 s while mdplan uploads (packets "
                "dropped silently, as when Wi-Fi or a 4G modem drops), then up again.")
def outage(ctx: Context) -> Table:
    table = Table("Outage: link down mid-upload, time lost beyond the outage",
                  ["Link", "Data", "Outage", "Without outage", "With outage", "Lost beyond the outage",
                   "Exit code", "Files failed", "Blobs right"])
    ctx.table = table
    files = 40 if ctx.quick else 150
    data = sample_set(ctx, "outage", files=files, mean_bytes=350_000, seed=14)
    with tempfile.TemporaryDirectory(prefix="mdplan-bench-") as scratch_dir, \
            Link(RATE_MBIT, rtt_ms=RTT_MS) as link, LabStorage(link) as storage:
        scratch = Path(scratch_dir)
        limit = ctx.budget.timeout(120)
        base, _ = _upload(ctx, data.root, storage.container("base"), scratch, "base", limit)
        ctx.log(f"without outage: {base:.1f} s")
        sas = storage.container("outage")
        down = threading.Timer(OUTAGE_AT_S, lambda: link.ns_run(["ip", "link", "set", link.ns_if, "down"]))
        up = threading.Timer(OUTAGE_AT_S + OUTAGE_S, lambda: link.ns_run(["ip", "link", "set", link.ns_if, "up"]))
        down.start(), up.start()
        try:
            took, result = _upload(ctx, data.root, sas, scratch, "outage", ctx.budget.timeout(240))
        finally:
            down.cancel(), up.cancel()
            link.ns_run(["ip", "link", "set", link.ns_if, "up"], check=False)
        count, size = storage.blob_bytes(sas)
        ctx.log(f"with a {OUTAGE_S:.0f} s outage: {took:.1f} s; {count} blobs")
        table.add(f"{RATE_MBIT} Mbit/s x {RTT_MS} ms", f"{data.files} files, {data.bytes / 1e6:.0f} MB",
                  f"{OUTAGE_S:.0f} s at {OUTAGE_AT_S:.0f} s", f"{base:.1f} s", f"{took:.1f} s",
                  f"{took - base - OUTAGE_S:.1f} s", result.get("exit_code", 0), result.get("files_failed"),
                  f"{count}/{data.files}, {size == data.bytes}")
    table.notes.append("Lost beyond the outage = (wall time with the outage) - (wall time without) - the outage. "
                       "Both runs are whole `mdplan upload` commands (scan, listing, report) into fresh containers.")
    return table
