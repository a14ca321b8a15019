"""A real link outage (issue 14): the namespace side of the lab's veth is set down mid-upload, so the
kernel drops every packet without a word (no reset, no refusal: a Wi-Fi or 4G modem dropping), then set
up again. Needs root (network namespaces); skipped with that reason otherwise. The upload runs in this
process against Azurite inside the namespace, behind the lab's proxy, with its real (default) timeouts."""

from __future__ import annotations

import random
import threading
import time

import pytest
from helpers.faultproxy import ScaledClock, camera_files, journal_rows, make_tree

from benchmarks.lab import Link, is_root
from planner.sas import parse_sas_url
from planner.upload import StopFlag, UploadOptions, run

pytestmark = pytest.mark.skipif(not is_root(), reason="needs root to build network namespaces")


def test_the_interface_down_for_20_s_mid_upload_loses_nothing_and_fails_nothing(tmp_path):
    from benchmarks.tools import LabStorage

    files = camera_files(60, 200_000, seed=41)
    root = make_tree(tmp_path / "cards", files)
    with Link(20, rtt_ms=100) as link, LabStorage(link) as storage:
        url = storage.container("down")
        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        opts = UploadOptions(source=root, sas=parse_sas_url(url), home=tmp_path / "home", workers=4)
        stop = StopFlag()
        out: dict = {}

        def outage() -> None:
            time.sleep(2.0)
            link.ns_run(["ip", "link", "set", link.ns_if, "down"])
            time.sleep(20.0)  # past the 15 s stall limit: the requests caught in it are given up and retried
            link.ns_run(["ip", "link", "set", link.ns_if, "up"])

        t = threading.Thread(target=outage, daemon=True)
        t.start()

        def go() -> None:
            out["result"] = run(opts, stop=stop, clock=ScaledClock(10), rng=random.Random(5))[0]
        worker = threading.Thread(target=go, daemon=True)
        worker.start()
        worker.join(120)
        if worker.is_alive():
            stop.soft.set(), stop.hard.set()
            worker.join(30)
            pytest.fail("the upload was still stuck 120 s after it started")
        t.join(30)
        res = out["result"]
        count, size = storage.blob_bytes(url)
        client = storage.azurite.service_client().get_container_client(name)
        md5s = {b.name: bytes(b.content_settings.content_md5 or b"").hex() for b in client.list_blobs()}
    import hashlib

    assert res.exit_code == 0 and res.files_failed == 0, f"{res.outcome}: {res.message}"
    assert res.seconds > 20, "the upload was over before the outage ended"
    assert count == len(files) and size == sum(len(d) for d in files.values())
    for rel, data in files.items():
        assert md5s[rel] == hashlib.md5(data).hexdigest(), rel
    assert journal_rows(res.journal_path, "SELECT rel_path FROM files WHERE state = 'failed'") == []
