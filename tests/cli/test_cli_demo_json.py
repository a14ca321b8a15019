"""Issue 17: `mdplan demo --json` prints one JSON object on stdout (the steps go to stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.azurite  # the demo starts its own emulator


def test_demo_json_is_one_object_and_the_steps_go_to_stderr(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MDPLAN_SAS", "MDPLAN_HOME")}
    p = subprocess.run([sys.executable, "-m", "planner", "demo", "--files", "10", "--cap-mbps", "1000", "--json",
                        "--workdir", str(tmp_path / "w"), "--reports", str(tmp_path / "r")],
                       capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["ok"] is True and d["files"] == 10 and d["files_sent"] == 10
    assert d["check_ok"] and d["verify_ok"] and d["upload_exit_code"] == 0
    assert Path(d["upload_report"]).is_file() and Path(d["manifest"]).is_file() and Path(d["plan_report"]).is_file()
    assert "1/6" in p.stderr and "6/6" in p.stderr
