"""Network faults against a real Azurite behind the fault proxy: a flaky service, a link cut, an
expiring SAS. Whatever happens: every file arrives once, MD5-verified, and the user is told what is
going on. The uploader's clock is a ScaledClock (time runs 10x faster for it) so its real backoff and
"link is down" logic run unchanged in a few real seconds."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from helpers.faultproxy import (FaultProxy, ScaledClock, assert_all_there, blobs, camera_files, integrity_ok, journal_rows,
                        make_tree, sig_forms)

from planner.sas import parse_sas_url
from planner.upload import QuietUI, UploadOptions, run


def _opts(root: Path, url: str, home: Path, **kw) -> UploadOptions:
    return UploadOptions(source=root, sas=parse_sas_url(url), home=home, **kw)


def test_flaky_service_every_file_arrives_once_verified_with_retries_recorded(azurite, container, tmp_path):
    files = camera_files(30, 20_000, seed=1)
    root = make_tree(tmp_path / "cards", files)
    with FaultProxy(azurite.host, azurite.port, error_rate=0.20, reset_rate=0.05, seed=11, max_seconds=90) as proxy:
        url = proxy.rewrite(azurite.container_sas_url(container))
        res, plan = run(_opts(root, url, tmp_path / "home", workers=4), clock=ScaledClock(10), rng=random.Random(3))
        faults = proxy.count("503") + proxy.count("reset-before") + proxy.count("reset-after")
    assert res.exit_code == 0, res.message
    assert res.files_sent + res.files_already_there == 30 and res.files_failed == 0
    assert faults >= 5, "the proxy should have injected faults"
    assert res.retries > 0
    (retries_in_journal,), = journal_rows(res.journal_path, "SELECT COALESCE(SUM(retries),0) FROM telemetry")
    assert retries_in_journal == res.retries  # the report can show them
    assert_all_there(azurite, container, files, exact=True)  # every byte right, no stray or duplicate blob
    assert integrity_ok(res.journal_path)


def test_a_busy_answer_to_the_first_listing_does_not_end_the_job(azurite, container, tmp_path):
    """The first request of a run lists what is already there; one 503 or reset must be retried like any other."""
    files = camera_files(4, 5_000, seed=2)
    root = make_tree(tmp_path / "cards", files)
    with FaultProxy(azurite.host, azurite.port, seed=1, max_seconds=60) as proxy:
        url = proxy.rewrite(azurite.container_sas_url(container))
        proxy.script("503", "reset-before")
        res, _ = run(_opts(root, url, tmp_path / "home"), clock=ScaledClock(10), rng=random.Random(1))
    assert res.exit_code == 0, res.message
    assert_all_there(azurite, container, files)


class _RecordingUI(QuietUI):
    def __init__(self) -> None:
        super().__init__()
        self.waiting_seen: list[str] = []

    def progress(self, snap, *, waiting=None, **kw) -> None:
        if waiting:
            self.waiting_seen.append(waiting)


def test_link_cut_mid_job_pauses_says_so_and_resumes_by_itself(azurite, container, tmp_path):
    files = camera_files(60, 10_000, seed=3)
    root = make_tree(tmp_path / "cards", files)
    ui = _RecordingUI()
    cut_for = 4.0  # real seconds; 40 s for the uploader's 10x clock, past its 20 s "link is down" threshold
    with FaultProxy(azurite.host, azurite.port, seed=5, latency=0.05, max_seconds=90) as proxy:
        url = proxy.rewrite(azurite.container_sas_url(container))

        def cut_then_restore() -> None:
            proxy.wait_for_requests(12, method="PUT")
            proxy.cut()
            time.sleep(cut_for)
            proxy.restore()

        t = threading.Thread(target=cut_then_restore, daemon=True)
        t.start()
        res, _ = run(_opts(root, url, tmp_path / "home", workers=4), ui, clock=ScaledClock(10), rng=random.Random(4))
        t.join(10)
    assert res.exit_code == 0, f"{res.outcome}: {res.message}"
    assert res.retries > 0  # requests did fail while the link was cut
    assert any(m.startswith("Link down since") for m in ui.messages), ui.messages
    assert any("Network is back" in m for m in ui.messages), ui.messages
    events = [k for _, k, _ in journal_rows(res.journal_path, "SELECT t, kind, detail FROM events ORDER BY t")]
    assert "pause" in events and "resume" in events and events.index("pause") < events.index("resume")
    assert_all_there(azurite, container, files)


def _mdplan(*args: str, env: dict, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=cwd)


def test_sas_expiring_mid_job_exits_3_with_the_resume_command_and_a_new_sas_finishes(azurite, container, tmp_path):
    files = camera_files(40, 50_000, seed=4)  # 2 MB at 2 Mbit/s: about 8 s, the URL dies after ~4
    root = make_tree(tmp_path / "cards", files)
    env = {**os.environ, "MDPLAN_HOME": str(tmp_path / "home")}
    env.pop("MDPLAN_SAS", None)
    short = azurite.container_sas_url(container, expiry=timedelta(seconds=4))
    first = _mdplan("upload", str(root), short, "--cap-mbps", "2", "--workers", "2", env=env, cwd=tmp_path)
    assert first.returncode == 3, first.stdout + first.stderr
    text = first.stdout + first.stderr
    assert "expired" in text.lower() or "not valid at this time" in text
    assert f'mdplan upload "{root.resolve()}" SAS_URL' in text  # how to continue, ready to copy
    assert "Traceback" not in text
    for form in sig_forms(short):
        assert form.decode() not in text
    before = blobs(azurite, container)
    assert 0 < len(before) < len(files)

    fresh = azurite.container_sas_url(container)
    second = _mdplan("upload", str(root), fresh, "--json", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert 0 < summary["files_sent"] <= len(files) - len(before)  # only what the first run did not finish
    after = blobs(azurite, container)
    for name, b in before.items():
        assert after[name]["etag"] == b["etag"], f"{name} was sent again"
    assert_all_there(azurite, container, files)
    assert integrity_ok(summary["journal_path"])


@pytest.mark.parametrize("seed", [21])
def test_azurite_stopped_and_restarted_on_the_same_port_mid_job(tmp_path, seed):
    """The real service goes away (on-disk persistence keeps what it stored) and comes back."""
    from planner.emulator import Azurite

    files = camera_files(80, 10_000, seed=seed)
    root = make_tree(tmp_path / "cards", files)
    data_dir = tmp_path / "azurite-data"
    emu = Azurite.start(location=data_dir)
    try:
        container = emu.create_container("restart")
        ui = _RecordingUI()
        with FaultProxy(emu.host, emu.port, seed=seed, latency=0.1, max_seconds=90) as proxy:
            url = proxy.rewrite(emu.container_sas_url(container))
            port = emu.port

            def bounce() -> None:
                nonlocal emu
                proxy.wait_for_requests(10, method="PUT")
                emu.stop()
                time.sleep(3.0)
                emu = Azurite.start(port=port, location=data_dir)

            t = threading.Thread(target=bounce, daemon=True)
            t.start()
            res, _ = run(_opts(root, url, tmp_path / "home", workers=4), ui, clock=ScaledClock(10),
                         rng=random.Random(seed))
            t.join(30)
        assert res.exit_code == 0, f"{res.outcome}: {res.message}"
        assert proxy.count("upstream-down") > 0
        assert any(m.startswith("Link down since") for m in ui.messages), ui.messages
        assert_all_there(emu, container, files)
    finally:
        emu.stop()
