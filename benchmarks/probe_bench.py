"""Bandwidth benchmarks (issue 5): the destination probe vs the ceiling, and planning truth
(`mdplan estimate` with the probe, then `mdplan upload` of the same folder on the same link)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.lab import Link
from benchmarks.runner import Context, Table, scenario
from benchmarks.tools import LabStorage, mdplan, require_mdplan, sample_set

PROBE_LINKS = [(10, 0), (50, 0), (200, 0), (10, 100), (50, 100), (200, 100)]


def _mbit(bits_per_second: float) -> str:
    return f"{bits_per_second / 1e6:.1f} Mbit/s"


@scenario("probe", title="Probe accuracy: `mdplan bandwidth` vs the raw TCP ceiling", budget_s=240,
          about="`mdplan bandwidth SAS --json` (destination probe, defaults) on each shaped link, against "
                "the ceiling measured on the same link in the same run.")
def probe(ctx: Context) -> Table:
    require_mdplan("bandwidth")
    table = Table("Probe accuracy: `mdplan bandwidth` vs the raw TCP ceiling",
                  ["Link", "Ceiling (raw TCP)", "mdplan bandwidth", "Ratio", "Probe time", "Data sent",
                   "RTT it saw", "Target"])
    ctx.table = table
    links = PROBE_LINKS[:2] if ctx.quick else PROBE_LINKS
    for rate, rtt in links:
        with Link(rate, rtt_ms=rtt) as link, LabStorage(link) as storage, \
                tempfile.TemporaryDirectory(prefix="mdplan-bench-") as scratch:
            ceiling = link.ceiling(5).bits_per_second
            sas = storage.container("probe")
            ran = mdplan(["bandwidth", sas, "--json"], ctx=ctx, timeout=60, home=Path(scratch) / "home")
            storage.drop(sas)
        if ran.returncode != 0:
            raise RuntimeError(f"mdplan bandwidth exited {ran.returncode}: {ran.stderr.strip()[-300:]}")
        got = ran.json()
        bps = float(got["bits_per_second"])
        ctx.log(f"{rate} Mbit/s x {rtt} ms: probe {_mbit(bps)} vs ceiling {_mbit(ceiling)} in {ran.seconds:.1f} s")
        rtt_seen = got.get("rtt_ms")
        table.add(f"{rate} Mbit/s x {rtt} ms", _mbit(ceiling), _mbit(bps), f"{bps / ceiling:.1%}",
                  f"{ran.seconds:.1f} s (wall)",
                  f"{float(got.get('bytes', 0)) / 1e6:.0f} MB" + (" (budget)" if got.get("stopped_by") == "bytes" else ""),
                  f"{float(rtt_seen):.0f} ms" if rtt_seen is not None else "-", "95-105% in <= 15 s")
    table.notes.append("Probe time = wall time of the whole `mdplan bandwidth` command. Data sent = the probe's "
                       "`bytes` (default budget 100 MB, `--max-bytes`); \"(budget)\": the budget ended it.")
    return table


def _truth_data(ctx: Context):  # noqa: ANN202
    return sample_set(ctx, "upload", files=40 if ctx.quick else 300, mean_bytes=500_000, seed=4)


@scenario("planning-truth", title="Planning truth: `mdplan estimate` (probe) vs the upload that follows",
          budget_s=120, prepare=_truth_data,
          about="`mdplan estimate FOLDER SAS --json` measures to the destination and predicts the upload "
                "time; then `mdplan upload FOLDER SAS --json --yes` sends the same folder on the same link.")
def planning_truth(ctx: Context) -> Table:
    require_mdplan("bandwidth")
    require_mdplan("upload")
    table = Table("Planning truth: `mdplan estimate` (probe) vs the upload that follows",
                  ["Link", "Data", "Probe figure", "Predicted upload", "Actual upload", "Actual / predicted",
                   "Target"])
    rate, rtt = 50, 100
    ctx.table = table
    data = _truth_data(ctx)
    with Link(rate, rtt_ms=rtt) as link, LabStorage(link) as storage, \
            tempfile.TemporaryDirectory(prefix="mdplan-bench-") as scratch:
        sas = storage.container("truth")
        home = Path(scratch) / "home"
        est = mdplan(["estimate", str(data.root), sas, "--json"], ctx=ctx, timeout=90, home=home)
        if est.returncode != 0:
            raise RuntimeError(f"mdplan estimate exited {est.returncode}: {est.stderr.strip()[-300:]}")
        estimate = est.json()
        predicted = float(estimate["upload"]["seconds"])
        up = mdplan(["upload", str(data.root), sas, "--json", "--yes", "--report", str(Path(scratch) / "r.html")],
                    ctx=ctx, timeout=predicted * 3 + 60, home=home)
        if up.returncode != 0:
            raise RuntimeError(f"mdplan upload exited {up.returncode}: {up.stderr.strip()[-300:]}")
        result = up.json()
        storage.drop(sas)
    actual_own = float(result.get("seconds", up.seconds))
    bw = estimate.get("bandwidth", {})
    ctx.log(f"predicted {predicted:.1f} s, actual {actual_own:.1f} s (wall {up.seconds:.1f} s)")
    table.add(f"{rate} Mbit/s x {rtt} ms", f"{data.files} files, {data.bytes / 1e6:.0f} MB",
              f"{_mbit(float(bw.get('bits_per_second', 0)))} ({bw.get('method', '?')})",
              f"{predicted:.1f} s", f"{actual_own:.1f} s (wall {up.seconds:.1f} s)",
              f"{actual_own / predicted:.2f}", "0.90-1.10")
    table.notes.append("Actual = the upload's own `seconds` (what the estimate predicts: sending, not "
                       "interpreter start-up); the wall time of the whole command is shown beside it.")
    return table
