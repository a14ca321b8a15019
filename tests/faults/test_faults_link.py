"""Field links (issue 14) against a real Azurite behind the fault proxy: a link that black-holes packets
(no reset, no refusal, as when Wi-Fi or a 4G modem drops), one that flaps every few seconds, and a laptop
that sleeps (the upload process stopped with SIGSTOP for longer than every timeout, its idle connections
dropped by the far end meanwhile). Each time: the job finishes by itself, exit 0, no file marked failed,
every blob MD5-right. The uploader's clock runs 10x (ScaledClock) where it is injected; socket timeouts
are real seconds."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from helpers.faultproxy import FaultProxy, ScaledClock, assert_all_there, camera_files, journal_rows, make_tree

from planner.sas import parse_sas_url
from planner.upload import StopFlag, UploadOptions, run


def _run_bounded(opts: UploadOptions, limit_s: float, **kw):
    """run() in a thread; a run still going after `limit_s` real seconds is stopped and fails the test."""
    stop = StopFlag()
    out: dict = {}

    def go() -> None:
        out["result"] = run(opts, stop=stop, clock=ScaledClock(10), rng=random.Random(4), **kw)[0]
    t = threading.Thread(target=go, daemon=True)
    started = time.monotonic()
    t.start()
    t.join(limit_s)
    if t.is_alive():
        stop.soft.set(), stop.hard.set()
        t.join(30)
        raise AssertionError(f"the upload was still stuck {limit_s:.0f} s after it started")
    return out["result"], time.monotonic() - started


def _no_failed_rows(journal_path: str) -> None:
    rows = journal_rows(journal_path, "SELECT rel_path, last_error FROM files WHERE state = 'failed'")
    assert rows == [], rows


def test_a_black_holed_link_mid_upload_waits_and_resumes_with_nothing_lost(azurite, container, tmp_path):
    files = camera_files(40, 20_000, seed=31)
    root = make_tree(tmp_path / "cards", files)
    with FaultProxy(azurite.host, azurite.port, seed=7, latency=0.05, max_seconds=150) as proxy:
        url = proxy.rewrite(azurite.container_sas_url(container))

        def hole() -> None:
            proxy.wait_for_requests(10, method="PUT")
            proxy.blackhole()
            time.sleep(6.0)
            proxy.restore()

        threading.Thread(target=hole, daemon=True).start()
        opts = UploadOptions(source=root, sas=parse_sas_url(url), home=tmp_path / "home", workers=4)
        # the SDK's two-minute read timeout would hold the requests caught in the hole for 120 s
        res, took = _run_bounded(opts, 75)
        held = proxy.count("blackhole")
    assert held > 0, "the black hole caught no request"
    assert res.exit_code == 0 and res.files_failed == 0, f"{res.outcome}: {res.message}"
    assert_all_there(azurite, container, files)
    _no_failed_rows(res.journal_path)


def test_a_link_that_flaps_every_few_seconds_never_fails_a_file(azurite, container, tmp_path):
    from planner.azure import AzureBlobStore
    from planner.azure.client import RequestTimeouts

    files = camera_files(80, 20_000, seed=32)
    root = make_tree(tmp_path / "cards", files)
    with FaultProxy(azurite.host, azurite.port, seed=8, latency=0.1, max_seconds=150) as proxy:
        url = proxy.rewrite(azurite.container_sas_url(container))
        sas = parse_sas_url(url)
        proxy.flap(1.5, 2.5)
        # a 3 s stall limit (15 s by default) keeps the test short: each flap holds the requests in flight
        store = AzureBlobStore(sas, pool=8, timeouts=RequestTimeouts(floor=3.0))
        try:
            opts = UploadOptions(source=root, sas=sas, home=tmp_path / "home", workers=4)
            res, _ = _run_bounded(opts, 100, store=store)
        finally:
            store.close()
        flaps, held = proxy.flaps, proxy.count("blackhole")
    assert flaps >= 3 and held > 0, (flaps, held)
    assert res.exit_code == 0 and res.files_failed == 0, f"{res.outcome}: {res.message}"
    assert_all_there(azurite, container, files)
    _no_failed_rows(res.journal_path)


def test_a_laptop_that_sleeps_mid_upload_carries_on_when_it_wakes(azurite, container, tmp_path):
    """SIGSTOP for 20 s (past the 15 s stall limit and the far end's 2 s idle timeout, which drops the
    pooled connections meanwhile), then SIGCONT: the same command finishes by itself."""
    files = camera_files(60, 20_000, seed=33)
    root = make_tree(tmp_path / "cards", files)
    env = {**os.environ, "MDPLAN_HOME": str(tmp_path / "home")}
    env.pop("MDPLAN_SAS", None)
    with FaultProxy(azurite.host, azurite.port, seed=9, latency=0.15, idle_timeout=2.0, max_seconds=150) as proxy:
        url = proxy.rewrite(azurite.container_sas_url(container))
        proc = subprocess.Popen([sys.executable, "-m", "planner", "upload", str(root), url, "--workers", "2",
                                 "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=tmp_path)
        try:
            assert proxy.wait_for_requests(8, timeout=40, method="PUT")
            proc.send_signal(signal.SIGSTOP)
            before = len(proxy.log)
            time.sleep(20)
            proc.send_signal(signal.SIGCONT)
            out, err = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert before < len(proxy.log), "the upload was already over when it was stopped"
    assert proc.returncode == 0, err[-2000:]
    summary = json.loads(out)
    assert summary["files_failed"] == 0
    assert "Traceback" not in err
    assert_all_there(azurite, container, files)
    _no_failed_rows(summary["journal_path"])
