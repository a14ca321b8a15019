"""`scan()`: the whole walk, in this process or split into subtrees over worker processes."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from planner.scan.summary import ScanSummary
from planner.scan.tally import Tally
from planner.scan.walk import Listing, Walker

# ------------------------------------------------------------------------------------------------
# Several processes (POSIX with fork): the walk is mostly system calls and interpreter work per
# file, which threads cannot overlap (measured: two threads were 15% *slower* than one under the
# GIL), so large trees are split into subtrees walked by worker processes.
# ------------------------------------------------------------------------------------------------
_CAN_FORK = sys.platform.startswith("linux")  # macOS: fork is unsafe with system frameworks; Windows: none
SUBTREES_PER_WORKER = 8  # enough pieces that one big camera folder does not leave a core idle


def default_workers() -> int:
    """Processes scan() uses: one per core, at most 4 (a USB drive gives nothing more), 1 without fork."""
    if not _CAN_FORK:
        return 1
    return max(1, min(4, os.cpu_count() or 1))


def _worker_init() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it stops the pool, no tracebacks


def _tally_subtree(args: tuple[str, str, bool, int, int]) -> Tally:
    """Walk one subtree in a worker process (no loop detection needed: links are not followed)."""
    path, rel, litter, keep_largest, keep_problems = args
    walker = Walker.__new__(Walker)
    walker.follow = False
    tally = Tally(keep_largest, keep_problems)
    stack = [Listing(rel, path, litter)]
    while stack:
        job = walker.list(stack.pop())
        tally.add(job)
        stack.extend(Listing(r, p, lit) for r, p, lit in job.dirs)
    return tally


def scan(root: Path | str, *, follow_symlinks: bool = False, progress: Callable[[int, int], None] | None = None,
         keep_problems: int = 1000, keep_largest: int = 10, workers: int | None = None,
         clock: Callable[[], float] = time.monotonic) -> ScanSummary:
    """Walk root and summarise it. Raises BadInput for a missing, file or unreadable root; everything
    else that cannot be read is listed in `problems`.

    progress(files, bytes) is called from this thread at most about four times a second and once at
    the end. workers: processes to walk with (default `default_workers()`; 1 = this process only).
    One process is used anyway when following links (loop detection needs one memory) and when
    other threads are running (forking them is unsafe).
    """
    t0 = clock()
    walker = Walker(root, follow_symlinks)
    tally = Tally(keep_largest, keep_problems)
    next_tick = t0 + 0.25

    def tick(force: bool = False) -> None:
        nonlocal next_tick
        if progress is None:
            return
        now = clock()
        if force or now >= next_tick:
            progress(tally.files, tally.bytes)
            next_tick = now + 0.25

    n = default_workers() if workers is None else max(1, workers)
    # fork only from a single-threaded process: a thread holding a lock at fork time can deadlock the child
    if n > 1 and not follow_symlinks and _CAN_FORK and threading.active_count() == 1:
        frontier = _expand(walker, tally, n * SUBTREES_PER_WORKER)
        tick()
        if frontier:
            _tally_in_workers(frontier, tally, n, tick)
    else:
        for job in walker.walk(ordered=False):
            tally.add(job)
            tick()
    tick(force=True)
    return tally.summary(str(Path(root).resolve()), clock() - t0)


def _expand(walker: Walker, tally: Tally, pieces: int) -> list[Listing]:
    """List folders breadth-first here until there are `pieces` unlisted subtrees (or none left)."""
    from collections import deque

    frontier = deque([walker.first()])
    while frontier and len(frontier) < pieces:
        job = walker.list(frontier.popleft())
        tally.add(job)
        frontier.extend(Listing(r, p, lit) for r, p, lit in job.dirs)
    return list(frontier)


def _tally_in_workers(frontier: list[Listing], tally: Tally, n: int, tick: Callable[[], None]) -> None:
    import multiprocessing

    args = [(job.path, job.rel, job.litter, tally.keep_largest, tally.keep_problems) for job in frontier]
    try:
        pool = multiprocessing.get_context("fork").Pool(min(n, len(args)), initializer=_worker_init)
    except (OSError, ValueError):  # no fork here after all (sandbox, no /dev/shm): walk them here
        for a in args:
            tally.merge(_tally_subtree(a))
            tick()
        return
    try:
        for part in pool.imap_unordered(_tally_subtree, args):
            tally.merge(part)
            tick()
    finally:
        pool.terminate()
        pool.join()
