"""`cost` (issue 14, part 3): what a gigabyte costs the computer. CPU-seconds per GB and peak RSS of
`mdplan upload` and of rclone on the same 1 GB of 2 MB files into Azurite on loopback, in the same run.

The link is not the limit here (loopback): what is measured is the work each tool does per byte: reading,
hashing, HTTP, its own bookkeeping and, for mdplan, the journal and the report it writes at the end.
CPU time and peak RSS are the tool's own process (and any children it waited for), from wait4(); Azurite's
CPU is not counted for either tool.
"""

from __future__ import annotations

import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.runner import Context, Table, scenario
from benchmarks.tools import DataSet, Ran, ensure_rclone, mdplan, rclone_copy, rclone_version, require_mdplan, sample_set

FILES, QUICK_FILES = 500, 50
MEAN_BYTES = 2_000_000  # 2 MB files: 1 GB in all
ROUNDS, QUICK_ROUNDS = 3, 1  # each tool runs this many times, alternating, so drift in load hits both alike
RSS_TARGET_MB = 150


@dataclass
class Figures:
    wall_s: list[float]
    cpu_s: list[float]
    rss_mb: list[float]


def _data(ctx: Context) -> DataSet:
    return sample_set(ctx, "cost", files=QUICK_FILES if ctx.quick else FILES, mean_bytes=MEAN_BYTES, sigma=0.1,
                      seed=14, odd_names=False)


def _prepare(ctx: Context) -> None:
    _data(ctx)
    ensure_rclone(ctx)


def _check(azurite, container: str, prefix: str, data: DataSet) -> None:
    client = azurite.service_client().get_container_client(container)
    blobs = [b for b in client.list_blobs(name_starts_with=prefix) if not b.name.startswith(".mdplan/")]
    size = sum(b.size for b in blobs)
    if len(blobs) != data.files or size != data.bytes:
        raise RuntimeError(f"{prefix} holds {len(blobs)} blobs / {size} B, expected {data.files} / {data.bytes} B")


def _one(ctx: Context, tool: str, data: DataSet, azurite, scratch: Path, n: int) -> Ran:
    container = f"cost-{tool}-{n}"
    azurite.create_container(container)
    sas = azurite.container_sas_url(container)
    limit = 240
    try:
        if tool == "mdplan":
            ran = mdplan(["upload", str(data.root), sas, "--prefix", "mdplan", "--json", "--yes",
                          "--report", str(scratch / f"report-{n}.html")], ctx=ctx, timeout=limit,
                         home=scratch / f"home-{n}")
            if ran.returncode != 0:
                raise RuntimeError(f"mdplan upload exited {ran.returncode}: {ran.stderr.strip()[-300:]}")
        else:
            ran = rclone_copy(data.root, sas, ctx=ctx, timeout=limit, scratch=scratch)
        _check(azurite, container, f"{tool}/", data)
    finally:
        try:
            azurite.service_client().delete_container(container)  # Azurite keeps blobs in memory
        except Exception:  # noqa: BLE001 - only tidying
            pass
    return ran


def _span(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return fmt.format(lo) if len(values) == 1 or fmt.format(lo) == fmt.format(hi) else \
        f"{fmt.format(lo)}-{fmt.format(hi)}"


@scenario("cost", title="Cost per gigabyte: CPU-seconds and peak RSS, mdplan vs rclone", budget_s=300,
          needs_root=False, prepare=_prepare,
          about="`mdplan upload FOLDER SAS --json --yes` with its defaults (report included) and `rclone copy` "
                "with its defaults, on the same 1 GB of 2 MB files into Azurite (in memory) on loopback, "
                "alternating, three runs each; CPU = user + system seconds of the tool's process from wait4(), "
                "peak RSS = its ru_maxrss.")
def cost(ctx: Context) -> Table:
    require_mdplan("upload")
    ensure_rclone(ctx)
    from planner.emulator import Azurite

    data = _data(ctx)
    gb = data.bytes / 1e9
    table = Table("Cost per gigabyte: CPU-seconds and peak RSS, mdplan vs rclone",
                  ["Tool", "Data", "Runs", "Wall time", "Throughput", "CPU-seconds", "CPU-seconds per GB",
                   "Peak RSS", "CPU / rclone's", "Throughput / rclone's"])
    ctx.table = table
    figures = {tool: Figures([], [], []) for tool in ("mdplan", "rclone")}
    rounds = QUICK_ROUNDS if ctx.quick else ROUNDS
    with tempfile.TemporaryDirectory(prefix="mdplan-bench-") as scratch, Azurite.start() as azurite:
        for n in range(rounds):
            for tool in ("mdplan", "rclone"):
                ran = _one(ctx, tool, data, azurite, Path(scratch), n)
                f = figures[tool]
                f.wall_s.append(ran.seconds)
                f.cpu_s.append(ran.cpu_seconds)
                f.rss_mb.append(ran.max_rss_bytes / 1e6)
                ctx.log(f"{tool} run {n + 1}: {ran.seconds:.1f} s, {ran.cpu_seconds:.2f} CPU-s, "
                        f"{ran.max_rss_bytes / 1e6:.0f} MB peak RSS")
    md, rc = figures["mdplan"], figures["rclone"]
    for tool, f in figures.items():
        rates = [data.bytes * 8 / w / 1e6 for w in f.wall_s]
        cpu_ratio = statistics.median(f.cpu_s) / statistics.median(rc.cpu_s)
        rate_ratio = statistics.median(rc.wall_s) / statistics.median(f.wall_s)
        table.add(tool, f"{data.files:,} files, {data.bytes / 1e6:,.0f} MB", len(f.wall_s),
                  _span(f.wall_s, "{:.1f} s"), _span(rates, "{:.0f} Mbit/s"), _span(f.cpu_s, "{:.2f}"),
                  _span([c / gb for c in f.cpu_s], "{:.2f}"), _span(f.rss_mb, "{:.0f} MB"),
                  f"{cpu_ratio:.2f}x", f"{rate_ratio:.2f}x")
    md_cpu, rc_cpu = statistics.median(md.cpu_s) / gb, statistics.median(rc.cpu_s) / gb
    table.notes += [
        f"Target (issue 14): mdplan's CPU per GB <= rclone's (median {md_cpu:.2f} vs {rc_cpu:.2f} CPU-s/GB: "
        f"{'met' if md_cpu <= rc_cpu else 'not met'}) and peak RSS <= {RSS_TARGET_MB} MB with the default "
        f"concurrency (max {max(md.rss_mb):.0f} MB: {'met' if max(md.rss_mb) <= RSS_TARGET_MB else 'not met'}), "
        "without losing throughput.",
        "Ratios use the medians of the runs. Wall time is the whole command (start-up, scan, listing, report).",
        f"Peer: rclone {rclone_version()} with its defaults (4 transfers), `rclone copy SRC :azureblob:CONTAINER/rclone` "
        "with the same SAS URL. mdplan with its defaults (auto workers), its journal and HTML report written.",
        "Data: planner.sample.generate_sample_set(files=500, mean_bytes=2_000_000, sigma=0.1, seed=14, "
        "odd_names=False, litter=False, videos=0): incompressible JPEG-like files; every blob checked to be "
        "there with the right size after each run.",
    ]
    return table
