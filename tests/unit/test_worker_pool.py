"""The upload's worker threads follow the gate (issue 14, cost per gigabyte): as many as may send, not the
memory bound's 64 up front. Each thread that sends keeps freed request bodies in its own C heap."""

from __future__ import annotations

import queue
import threading

from planner.transfer.concurrency import WorkerGate
from planner.transfer.job import _Workers
from planner.transfer.messages import Kind
from planner.transfer.options import StopFlag


class _Row:
    def __init__(self, i: int) -> None:
        self.id = i


class _HoldingSender:
    """Holds every file until released, so the test sees how many are being sent at once."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.sending: "queue.Queue[int]" = queue.Queue()

    def send(self, row) -> None:
        self.sending.put(row.id)
        self.release.wait(10)


def _pool(limit: int, most: int):
    tasks, results = queue.Queue(), queue.Queue()
    gate, sender = WorkerGate(limit), _HoldingSender()
    return _Workers(most, tasks, results, gate, sender, StopFlag()), gate, sender, tasks, results


def test_the_pool_starts_with_the_gates_limit_and_grows_with_it_up_to_the_most():
    workers, gate, sender, _tasks, _results = _pool(limit=2, most=10)
    try:
        assert len(workers.threads) == 2
        gate.set_limit(5)
        assert len(workers.threads) == 5
        gate.set_limit(3)  # fewer may send: the threads stay and wait at the gate
        assert len(workers.threads) == 5
        gate.set_limit(64)
        assert len(workers.threads) == 10
    finally:
        sender.release.set()
        workers.quit()
    for t in workers.threads:
        t.join(5)
    assert not any(t.is_alive() for t in workers.threads)


def test_files_are_sent_by_the_threads_the_limit_allows_and_more_once_it_rises():
    workers, gate, sender, tasks, results = _pool(limit=2, most=8)
    try:
        for i in range(6):
            tasks.put(_Row(i))
        got = {sender.sending.get(timeout=5), sender.sending.get(timeout=5)}
        assert len(got) == 2 and sender.sending.empty() and gate.active == 2
        gate.set_limit(4)
        got |= {sender.sending.get(timeout=5), sender.sending.get(timeout=5)}
        assert len(got) == 4
        sender.release.set()
        for _ in range(2):
            got.add(sender.sending.get(timeout=5))
        assert got == set(range(6))
    finally:
        sender.release.set()
        workers.quit()
    assert all(m.kind != Kind.FAIL for m in list(results.queue))


def test_no_thread_is_started_after_quit():
    workers, gate, sender, _tasks, _results = _pool(limit=1, most=8)
    workers.quit()
    gate.set_limit(6)
    assert len(workers.threads) == 1
