"""`scan` (issue 2): planner.scan.scan vs `du -sb` on generated 200k- and 1M-file trees, warm cache.

Both walk the same tree in the same run, each once untimed (to warm the dentry/inode caches) and then
`ROUNDS` times; the median of each is compared. The scan runs in a fresh interpreter
(`python -m benchmarks.scan_bench time-scan ROOT`) so the figure is the scan alone, not the harness.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.runner import REPO, Context, Table, scenario
from benchmarks.tools import DataSet, run_timed, sample_set

ROUNDS = 3
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable


def tree(ctx: Context, files: int) -> DataSet:
    """A scan-sized tree: many small files (the walk costs per file, not per byte), 200 camera folders."""
    return sample_set(ctx, "tree", files=files, mean_bytes=1_000, seed=2, sites=20, cameras=10, litter=True,
                      odd_names=True, videos=0, timeout=900)


def _time_scan(root: Path, rounds: int) -> dict:
    from dataclasses import asdict, is_dataclass

    from planner.scan import scan

    times = []
    summary = None
    scan(root)  # warm-up, untimed
    for _ in range(rounds):
        started = time.perf_counter()
        summary = scan(root)
        times.append(time.perf_counter() - started)
    facts = asdict(summary) if is_dataclass(summary) else {}
    keep = {k: v for k, v in facts.items() if isinstance(v, (int, float, str))}
    return {"times": times, "summary": keep}


def _time_du(root: Path, rounds: int, ctx: Context) -> list[float]:
    run_timed(["du", "-sb", str(root)], timeout=ctx.budget.timeout(300))  # warm-up, untimed
    times = []
    for _ in range(rounds):
        ran = run_timed(["du", "-sb", str(root)], timeout=ctx.budget.timeout(300))
        if ran.returncode != 0:
            raise RuntimeError(f"du -sb failed: {ran.stderr.strip()[-200:]}")
        times.append(ran.seconds)
    return times


@scenario("scan", title="Scan: planner.scan.scan vs `du -sb`, warm cache", budget_s=420, needs_root=False,
          about="Wall time of `planner.scan.scan(root)` (classify every file, per-site counts, size "
                "distribution) against `du -sb` on the same generated tree, warm cache, in one run.")
def scan(ctx: Context) -> Table:
    try:
        import planner.scan  # noqa: F401
    except ImportError as e:
        from benchmarks.runner import Skip

        raise Skip(f"planner.scan is not in this checkout yet ({e})") from e
    table = Table("Scan: planner.scan.scan vs `du -sb`, warm cache",
                  ["Tree", "planner.scan.scan (median)", "du -sb (median)", "Ratio (scan / du)", "Target"])
    sizes = [20_000, 50_000] if ctx.quick else [200_000, 1_000_000]
    for files in sizes:
        data = tree(ctx, files)
        du_times = _time_du(data.root, ROUNDS, ctx)
        ran = run_timed([PYTHON, "-m", "benchmarks.scan_bench", "time-scan", str(data.root), str(ROUNDS)],
                        timeout=ctx.budget.timeout(600), cwd=REPO)
        if ran.returncode != 0:
            raise RuntimeError(f"the scan failed: {ran.stderr.strip()[-300:]}")
        result = ran.json()
        scan_s = statistics.median(result["times"])
        du_s = statistics.median(du_times)
        ctx.log(f"{files:,} files: scan {scan_s:.2f} s, du {du_s:.2f} s, ratio {scan_s / du_s:.2f}")
        table.add(f"{data.files:,} files (+ litter), {data.bytes / 1e6:.0f} MB, 200 camera folders",
                  f"{scan_s:.2f} s", f"{du_s:.2f} s", f"{scan_s / du_s:.2f}x", "<= 1.0x")
    table.notes.append(f"Median of {ROUNDS} timed rounds each after one untimed warm-up; the scan in a fresh "
                       "interpreter (import time not counted), du as a subprocess (start-up counted).")
    table.notes.append("Tree: planner.sample.generate_sample_set(files=N, mean_bytes=1_000, seed=2, sites=20, "
                       "cameras=10, litter=True, odd_names=True, videos=0).")
    return table


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "time-scan":
        print(json.dumps(_time_scan(Path(sys.argv[2]), int(sys.argv[3]) if len(sys.argv) > 3 else ROUNDS)))
    else:
        print("usage: python -m benchmarks.scan_bench time-scan ROOT [ROUNDS]", file=sys.stderr)
        sys.exit(2)
