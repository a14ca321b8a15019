"""`scan` (issue 2): planner.scan.scan vs `du -sb` on generated 200k- and 1M-file trees, warm cache.

Both walk the same tree in the same run, each once untimed (to warm the dentry/inode caches) and then
`ROUNDS` times, alternating; the median of each is compared. Each scan runs in a fresh interpreter
(`python -m benchmarks.scan_bench time-scan ROOT`) so the figure is the scan alone, not the harness.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks.runner import REPO, Context, Skip, Table, scenario
from benchmarks.tools import DataSet, run_timed

ROUNDS = 5
PYTHON = sys.executable  # the interpreter running the benchmarks (make bench: the project venv)


PART_FILES = 200_000  # the 1M tree is five 200k parts side by side; the first part is the 200k tree


def _make_part(root: str, files: int, seed: int) -> tuple[int, int, float]:
    from planner.sample import generate_sample_set

    started = time.monotonic()
    made = generate_sample_set(Path(root), files=files, mean_bytes=1_000, seed=seed, sites=4, cameras=10,
                               litter=True, odd_names=True, videos=0, replace=True)
    return made.files, made.bytes, time.monotonic() - started


def tree(ctx: Context, parts: int, part: int = PART_FILES) -> DataSet:
    """A scan-sized tree of `parts` (1..5) x `part` files: many small files, since a walk costs per file,
    not per byte. Parts are generated once, two at a time (one per core), and kept in .work/."""
    try:
        import planner.sample  # noqa: F401
    except ImportError as e:
        raise Skip(f"planner.sample.generate_sample_set is not in this checkout yet ({e})") from e
    base = ctx.work / "data" / f"tree-{part}"
    wanted = [(base / f"part-{k}", base.parent / f"tree-{part}-part-{k}.json", 2 + k) for k in range(1, 6)]
    missing = [(d, m, seed) for d, m, seed in wanted[:parts] if not (m.exists() and d.is_dir())]
    if missing:
        ctx.budget.timeout(900)
        ctx.log(f"generating {len(missing)} x {part:,} files (once; cached in {base})")
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=2) as pool:
            futures = {pool.submit(_make_part, str(d), part, seed): m for d, m, seed in missing}
            for future, marker in futures.items():
                n, size, took = future.result(timeout=ctx.budget.timeout(900))
                marker.write_text(json.dumps({"files": n, "bytes": size, "seconds": took}))
                ctx.log(f"  {marker.stem}: {n:,} files in {took:.0f} s")
    metas = [json.loads(m.read_text()) for _, m, _ in wanted[:parts]]
    root = wanted[0][0] if parts == 1 else base
    if parts > 1 and sorted(p.name for p in base.iterdir()) != [d.name for d, _, _ in wanted[:parts]]:
        raise RuntimeError(f"{base} holds something besides its {parts} parts; delete it and run again")
    return DataSet(root, sum(m["files"] for m in metas), sum(m["bytes"] for m in metas))


def _time_scan(root: Path) -> dict:
    """One timed scan (in the fresh interpreter this runs in) and the summary's simple facts."""
    from dataclasses import asdict, is_dataclass

    from planner.scan import scan

    started = time.perf_counter()
    summary = scan(root)
    took = time.perf_counter() - started
    facts = asdict(summary) if is_dataclass(summary) else {}
    return {"seconds": took, "summary": {k: v for k, v in facts.items() if isinstance(v, (int, float, str))}}


def _one_du(root: Path, ctx: Context) -> float:
    ran = run_timed(["du", "-sb", str(root)], timeout=ctx.budget.timeout(300))
    if ran.returncode != 0:
        raise RuntimeError(f"du -sb failed: {ran.stderr.strip()[-200:]}")
    return ran.seconds


def _one_scan(root: Path, ctx: Context) -> float:
    ran = run_timed([PYTHON, "-m", "benchmarks.scan_bench", "time-scan", str(root)],
                    timeout=ctx.budget.timeout(300), cwd=REPO)
    if ran.returncode != 0:
        raise RuntimeError(f"the scan failed: {ran.stderr.strip()[-300:]}")
    return float(ran.json()["seconds"])


def compare(root: Path, ctx: Context, rounds: int = ROUNDS) -> tuple[list[float], list[float]]:
    """(scan times, du times): one untimed pass of each to warm the caches, then `rounds` alternating
    pairs, so both see the same machine (other work on it moves both alike)."""
    _one_du(root, ctx)
    _one_scan(root, ctx)
    scans, dus = [], []
    for _ in range(rounds):
        dus.append(_one_du(root, ctx))
        scans.append(_one_scan(root, ctx))
    return scans, dus


def _prepare(ctx: Context) -> DataSet:
    return tree(ctx, 5, 10_000 if ctx.quick else PART_FILES)


@scenario("scan", title="Scan: planner.scan.scan vs `du -sb`, warm cache", budget_s=180, needs_root=False,
          prepare=_prepare,
          about="Wall time of `planner.scan.scan(root)` (classify every file, per-site counts, size "
                "distribution) against `du -sb` on the same generated tree, warm cache, in one run.")
def scan(ctx: Context) -> Table:
    try:
        import planner.scan  # noqa: F401
    except ImportError as e:
        raise Skip(f"planner.scan is not in this checkout yet ({e})") from e
    table = Table("Scan: planner.scan.scan vs `du -sb`, warm cache",
                  ["Tree", "planner.scan.scan (median)", "du -sb (median)", "Ratio (scan / du)", "Target"])
    ctx.table = table
    part = 10_000 if ctx.quick else PART_FILES
    _prepare(ctx)  # normally done already, outside the timed run
    for parts in (1, 5):
        data = tree(ctx, parts, part)
        files = data.files
        scan_times, du_times = compare(data.root, ctx)
        scan_s = statistics.median(scan_times)
        du_s = statistics.median(du_times)
        ctx.log(f"{files:,} files: scan {scan_s:.2f} s, du {du_s:.2f} s, ratio {scan_s / du_s:.2f}")
        table.add(f"{data.files:,} files (+ litter), {data.bytes / 1e6:.0f} MB, {parts * 40} camera folders",
                  f"{scan_s:.2f} s", f"{du_s:.2f} s", f"{scan_s / du_s:.2f}x", "<= 1.0x")
    table.notes.append(f"Median of {ROUNDS} alternating du/scan rounds after one untimed pass of each; every "
                       "scan in a fresh interpreter (its import time not counted), du as a subprocess (its "
                       "start-up counted, about 1 ms).")
    table.notes.append("Trees: the 1M tree is five parts side by side, each planner.sample.generate_sample_set("
                       "files=200_000, mean_bytes=1_000, seed=3..7, sites=4, cameras=10, litter=True, "
                       "odd_names=True, videos=0); the 200k tree is its first part. Small files: a walk "
                       "costs per file, not per byte.")
    return table


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "time-scan":
        print(json.dumps(_time_scan(Path(sys.argv[2]))))
    else:
        print("usage: python -m benchmarks.scan_bench time-scan ROOT", file=sys.stderr)
        sys.exit(2)
