"""Scenario registry, time budgets and BENCHMARKS.md.

A scenario is a function `(ctx: Context) -> Table` registered with `@scenario(...)`. The runner gives
each one a time budget, catches what goes wrong (a scenario failing never stops the others), and
rewrites only that scenario's section of BENCHMARKS.md, between `<!-- bench:NAME -->` markers, so
running one scenario keeps the other figures. Every table carries the machine and the date.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
WORK = REPO / "benchmarks" / ".work"  # generated data sets and scratch (git-ignored)
OUTPUT = REPO / "BENCHMARKS.md"


class Skip(Exception):
    """A scenario cannot run here (not root, a command not built yet, a tool missing)."""


class OutOfTime(Exception):
    """A scenario used up its budget."""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"row has {len(cells)} cells, table has {len(self.columns)} columns")
        self.rows.append([str(c) for c in cells])


@dataclass
class Budget:
    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def timeout(self, wanted: float) -> float:
        """A subprocess timeout no longer than what is left (raises when nothing is)."""
        left = self.remaining()
        if left <= 1:
            raise OutOfTime(f"time budget of {self.seconds:.0f} s used up")
        return min(wanted, left)


@dataclass
class Context:
    budget: Budget
    work: Path
    quick: bool = False  # smaller data for a fast smoke run (`--quick`); figures are then marked
    table: Table | None = None  # set by a scenario as soon as it has one, so a cut-short run keeps its rows

    def log(self, message: str) -> None:
        print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    func: Callable[[Context], Table]
    budget_s: float
    needs_root: bool
    in_all: bool
    about: str
    prepare: Callable[[Context], object] | None = None  # makes the data sets, outside the timed run


REGISTRY: dict[str, Scenario] = {}


def scenario(name: str, *, title: str, budget_s: float, needs_root: bool = True, in_all: bool = True,
             about: str = "", prepare: Callable[[Context], object] | None = None,
             ) -> Callable[[Callable[[Context], Table]], Callable[[Context], Table]]:
    def register(func: Callable[[Context], Table]) -> Callable[[Context], Table]:
        REGISTRY[name] = Scenario(name, title, func, budget_s, needs_root, in_all, about, prepare)
        return func

    return register


# --- machine and date --------------------------------------------------------------------------------

def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    cores = os.cpu_count() or 0
    return (f"{cores} cores{f' ({cpu})' if cpu else ''}{mem}, {platform.system()} {platform.release()} "
            f"{platform.machine()}, Python {platform.python_version()}")


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# --- BENCHMARKS.md ---------------------------------------------------------------------------------

HEADER = """# Benchmarks

Figures from `make bench` (= `.venv/bin/python -m benchmarks all`, as root; `python -m benchmarks
NAME` runs one scenario and rewrites only its section; `--list` names them; `--quick` is a smoke run
on small data). Each table says which machine, when, and how busy it was (the load average at the
start: other work on a 2-core machine moves these figures by a few percent).

Time: every scenario has its own time budget and the whole set stops at 50 minutes; on the machine
below the scenarios' own times add up to about 40 minutes (the small-file, outage, polite and drive
scenarios of issues 14-16 took it past the 15 minutes it once had; the small-file grid alone runs about
15). Before the timed set, the data sets are generated once into
`benchmarks/.work/` (git-ignored) and reused by later runs: on a fresh machine that adds about 3
minutes, nearly all of it writing the 1M-file scan tree.

**The lab** (`benchmarks/lab.py`): a server namespace reached from the host through a router namespace
(two veth pairs, IP forwarding on); `tc tbf` on the router's server-side veth shapes the upload direction
(and on its host-side veth the reverse, same rate), so the bottleneck queue sits in a router, as at a
modem, not in the sending machine's own kernel (there TCP Small Queues kept a single stream from filling
it; every lab table in this file was run on the router layout, from 19:16 UTC on 2026-12-07; the
readings quote earlier figures from the host-veth layout where they say so; the ceiling is the same on both). Azurite runs
inside the server namespace behind a delaying TCP proxy (`benchmarks/proxy.py`) that adds half the round
trip each way without capping throughput (this kernel has no netem). **Ceiling** = one raw TCP stream
through the same tbf link and proxy path, counted at the receiver, measured in the same run. tbf counts
Ethernet frames, so the ceiling of a 50 Mbit/s link is about 47.8 Mbit/s of TCP payload (1448/1514).
Utilisation = data bytes x 8 / wall time of the whole command (start-up, scan and listing included)
/ ceiling. Data: `planner.sample.generate_sample_set` (seeded, incompressible JPEG-like files, lognormal
sizes), generated once into `benchmarks/.work/`.

**The sender's congestion control**: this VM's default is BBR; the field's senders (Windows, macOS and Linux
out of the box) use cubic. The issue-14 grids (`upload`, `small-files`, from 2026-12-07 21:00 UTC) give the
lab's route `congctl cubic`, so mdplan's, rclone's and the ceiling's connections into the lab use cubic
(nothing else on the machine changes); the other tables use the machine's default and say so where it
matters (polite: its competing stream asks for cubic itself). Why: behind the router's 50 ms queue BBR
kept sending into a full queue, a quarter of the bytes were sent twice with a dozen connections at
10 Mbit/s (`ss`: bytes_retrans 2-3 MB per connection), and the last request of a run could crawl for
4-6 s; with cubic no request was sent twice in the same runs.

Limits of the lab: the proxy ends TCP inside the namespace, so request/response latency is real but TCP
slow start and loss recovery over a long path are not reproduced; Azurite is not Azure (its per-request
cost is a local Node.js process sharing the machine's cores with the uploader).
"""


def _sections(text: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in
            re.finditer(r"<!-- bench:([\w-]+) -->.*?<!-- /bench:\1 -->", text, flags=re.S)}


def render(sc: Scenario, table: Table | None, *, when: str, took: float | None, status: str = "") -> str:
    lines = [f"<!-- bench:{sc.name} -->", f"## {table.title if table else sc.title}", ""]
    if sc.about:
        lines += [sc.about, ""]
    run_line = f"Run {when} on {machine()}"
    if took is not None:
        run_line += f"; took {took:.0f} s"
    lines += [run_line + ".", ""]
    if status:
        lines += [status, ""]
    if table and table.rows:
        lines.append("| " + " | ".join(table.columns) + " |")
        lines.append("|" + "|".join("---" for _ in table.columns) + "|")
        for row in table.rows:
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")
        lines.append("")
    if table:
        for note in table.notes:
            lines.append(f"- {note}")
        if table.notes:
            lines.append("")
    lines.append(f"<!-- /bench:{sc.name} -->")
    return "\n".join(lines)


def _trailers(text: str) -> dict[str, str]:
    """Hand-written text after each section (up to the next section): notes on reading its figures."""
    marks = list(re.finditer(r"<!-- /bench:([\w-]+) -->", text))
    out = {}
    for m in marks:
        nxt = text.find("<!-- bench:", m.end())
        tail = text[m.end(): nxt if nxt >= 0 else len(text)].strip("\n")
        if tail.strip():
            out[m.group(1)] = "\n\n" + tail
    return out


def write_sections(new: dict[str, str], path: Path = OUTPUT) -> None:
    """Replace the given sections, keep the others and the hand-written text after each section, order
    them as the registry does."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    old, tails = _sections(text), _trailers(text)
    merged = {name: body + tails.get(name, "") for name, body in {**old, **new}.items()}
    ordered = [merged[name] for name in REGISTRY if name in merged]
    ordered += [text for name, text in merged.items() if name not in REGISTRY]
    path.write_text(HEADER + "\n" + "\n\n".join(ordered) + "\n", encoding="utf-8")


# --- running -----------------------------------------------------------------------------------------

TOTAL_BUDGET_S = 50 * 60  # `all` must finish within 50 minutes on the reference machine (~40 min today)


def run_one(sc: Scenario, *, quick: bool = False, cap_s: float | None = None) -> tuple[str | None, str]:
    """Run a scenario; return (section text or None to keep the old one, one-line outcome)."""
    from benchmarks.lab import is_root

    # Other work on the machine skews every figure here: say how busy it was when we started.
    load = f", load average {os.getloadavg()[0]:.1f} at the start" if hasattr(os, "getloadavg") else ""
    when = now_text() + load
    if sc.needs_root and not is_root():
        return None, "skipped: needs root"
    seconds = sc.budget_s if cap_s is None else min(sc.budget_s, cap_s)
    if seconds < 20:
        return None, "skipped: the run's overall time budget is used up"
    WORK.mkdir(parents=True, exist_ok=True)
    ctx = Context(budget=Budget(seconds), work=WORK, quick=quick)
    started = time.monotonic()
    try:
        table = sc.func(ctx)
    except Skip as e:
        # Keep an older real figure if there is one; otherwise say why there is none.
        placeholder = render(sc, None, when=when, took=None, status=f"Not run: {e}.")
        return placeholder, f"skipped: {e}"
    except OutOfTime as e:
        took = time.monotonic() - started
        if ctx.table is not None and ctx.table.rows:
            return (render(sc, ctx.table, when=when, took=took, status=f"Cut short ({e}): the rows it finished."),
                    f"cut short: {e}")
        return None, f"skipped: {e}"  # nothing measured: keep the older figures
    except Exception as e:  # noqa: BLE001 - one scenario failing must not stop the rest
        traceback.print_exc()
        took = time.monotonic() - started
        return render(sc, None, when=when, took=took, status=f"Failed: {type(e).__name__}: {e}"), f"failed: {e}"
    took = time.monotonic() - started
    if quick:
        table.notes.insert(0, "Quick run (`--quick`, reduced data): smoke figures, not the benchmark.")
    return render(sc, table, when=when, took=took), f"done in {took:.0f} s"


PREPARE_BUDGET_S = 15 * 60


def prepare(names: list[str], *, quick: bool) -> None:
    """Generate every data set the chosen scenarios need, once, before the timed run (they are kept in
    benchmarks/.work/, so later runs skip this)."""
    from benchmarks.lab import is_root

    budget = Budget(PREPARE_BUDGET_S)
    started = time.monotonic()
    WORK.mkdir(parents=True, exist_ok=True)
    for name in names:
        sc = REGISTRY[name]
        if sc.prepare is None or (sc.needs_root and not is_root()):
            continue
        try:
            sc.prepare(Context(budget=budget, work=WORK, quick=quick))
        except Skip:
            pass  # the scenario itself will say why
        except Exception as e:  # noqa: BLE001 - the scenario will fail with the reason when it runs
            print(f"== preparing data for {name} failed: {e}", file=sys.stderr)
    took = time.monotonic() - started
    if took > 1:
        print(f"== data sets ready in {took:.0f} s (generated once, kept in {WORK})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    import argparse

    from benchmarks import scenarios  # noqa: F401 - registers every scenario

    parser = argparse.ArgumentParser(prog="python -m benchmarks",
                                     description="Run benchmark scenarios and update BENCHMARKS.md.")
    parser.add_argument("names", nargs="*", default=["all"], help="scenario names, or 'all' (default)")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument("--quick", action="store_true", help="reduced data: a smoke run of the harness")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.list:
        for sc in REGISTRY.values():
            extra = "" if sc.in_all else " (not in 'all')"
            print(f"{sc.name:16} {sc.title}  [<= {sc.budget_s:.0f} s{extra}]")
        return 0
    names: list[str] = []
    for name in args.names:
        if name == "all":
            names += [n for n, sc in REGISTRY.items() if sc.in_all]
        elif name in REGISTRY:
            names.append(name)
        else:
            parser.error(f"unknown scenario {name!r}; choose from: all, {', '.join(REGISTRY)}")
    from benchmarks.lab import is_root

    if not is_root() and all(REGISTRY[n].needs_root for n in names):
        print("skipped: needs root (the lab builds network namespaces and tc qdiscs)")
        return 0
    if is_root():
        from benchmarks.lab import cleanup_stale

        stale = cleanup_stale()  # what a kill -9'd earlier run left (only the lab's own names)
        if stale["namespaces"] or stale["links"]:
            print(f"removed leftovers of an earlier run: {stale}", file=sys.stderr)
    names = list(dict.fromkeys(names))
    prepare(names, quick=args.quick)
    total = time.monotonic()
    for name in names:
        sc = REGISTRY[name]
        print(f"== {name}: {sc.title}", file=sys.stderr, flush=True)
        left = TOTAL_BUDGET_S - (time.monotonic() - total)
        section, outcome = run_one(sc, quick=args.quick, cap_s=left)
        print(f"== {name}: {outcome}", file=sys.stderr, flush=True)
        if section is not None and not args.no_write:
            old = _sections(OUTPUT.read_text(encoding="utf-8")) if OUTPUT.exists() else {}
            if outcome.startswith("skipped") and name in old and "Not run:" not in old[name]:
                continue  # keep the last real figure rather than replace it with "not run"
            write_sections({name: section})
    print(f"== all done in {time.monotonic() - total:.0f} s; see {OUTPUT.name}", file=sys.stderr)
    return 0
