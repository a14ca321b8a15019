"""Data the user believes is safe must not be left out silently (issue 17): an unreadable folder in
the set makes the upload end "finished with failures", exit 1, naming it. Root reads everything, so the
upload runs in a subprocess stripped of the capabilities that let root ignore file permissions
(setpriv drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH; Python under /root stays reachable, which a
switch to `nobody` would not allow), against the in-memory store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAIN_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]

SCRIPT = r"""
import json, sys
from pathlib import Path
from planner.memory_store import MemoryBlobStore
from planner.sas import parse_sas_url
from planner.transfer import UploadOptions, run
url = "http://127.0.0.1:10000/devstoreaccount1/traps?sv=2021-08-06&se=2099-01-01T00%3A00%3A00Z&sr=c&sp=racwdl&sig=eHh4"
store = MemoryBlobStore()
res, plan = run(UploadOptions(source=Path(sys.argv[1]), sas=parse_sas_url(url), home=Path(sys.argv[2])), store=store)
print(json.dumps({"code": res.exit_code, "outcome": res.outcome, "message": res.message, "sent": sorted(store.blobs),
                  "problems": plan.scan_problems}))
"""


@pytest.mark.skipif(shutil.which("setpriv") is None or not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="needs root and util-linux setpriv (to run a child without root's file rights)")
def test_an_unreadable_folder_makes_the_upload_end_with_problems():
    base = Path(tempfile.mkdtemp(prefix="mdplan-unreadable-"))
    try:
        os.chmod(base, 0o755)
        src = base / "src"
        (src / "site1").mkdir(parents=True)
        (src / "site2-locked").mkdir()
        (src / "site1" / "IMG_0001.JPG").write_bytes(b"\xff\xd8one")
        (src / "site2-locked" / "IMG_0002.JPG").write_bytes(b"\xff\xd8two")
        (base / "home").mkdir()
        os.chmod(src / "site2-locked", 0o000)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        out = subprocess.run([*PLAIN_USER, sys.executable, "-c", SCRIPT, str(src), str(base / "home")],
                             capture_output=True, text=True, env=env, timeout=120, cwd=base)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout.strip().splitlines()[-1])
        assert got["sent"] == ["site1/IMG_0001.JPG"]
        assert got["code"] == 1 and got["outcome"] == "finished with failures", got
        assert "could not be read" in got["message"]
        assert any(path == "site2-locked" and "permission denied" in why for path, why in got["problems"])
    finally:
        os.chmod(base / "src" / "site2-locked", 0o755) if (base / "src" / "site2-locked").exists() else None
        shutil.rmtree(base, ignore_errors=True)
