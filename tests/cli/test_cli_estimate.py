"""`mdplan estimate` as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from planner.sample import generate_sample_set


def mdplan(*args, env=None, **kw):
    e = dict(os.environ, **(env or {}))
    e.pop("MDPLAN_SAS", None) if "MDPLAN_SAS" not in (env or {}) else None
    return subprocess.run([sys.executable, "-m", "planner", *args], capture_output=True, text=True, env=e,
                          timeout=120, **kw)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return generate_sample_set(tmp_path_factory.mktemp("s") / "set", files=50, mean_bytes=20_000, seed=1)


def test_estimate_json_with_a_typed_bandwidth(sample, tmp_path):
    p = mdplan("estimate", str(sample.root), "--bandwidth", "20Mbps", "--json", env={"MDPLAN_HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["files"]["upload"] == sample.files and d["bytes"]["upload"] == sample.bytes
    assert d["files"]["litter"] == sample.litter_files and d["files"]["videos"] == 1
    assert d["files"]["total"] == d["files"]["images"] + d["files"]["videos"] + d["files"]["litter"] + d["files"]["other"]
    assert d["bandwidth"] == {**d["bandwidth"], "bits_per_second": 20e6, "method": "manual"}
    assert d["recommendation"] == "upload" and d["reasons"]
    assert d["upload"]["seconds"] > 0 and d["drive"]["drives"] == 1


def test_estimate_for_people_and_the_email_block(sample, tmp_path):
    p = mdplan("estimate", str(sample.root), "--bandwidth", "2.5MB/s", "--images-only", "--monthly-cap", "1TB",
               env={"MDPLAN_HOME": str(tmp_path)})
    assert p.returncode == 0, p.stderr
    assert "Recommendation: UPLOAD" in p.stdout
    assert "To paste into an email" in p.stdout and "Upload speed: 20.0 Mbit/s" in p.stdout


def test_estimate_measures_to_the_destination_and_writes_a_plan_page(sample, tmp_path, azurite):
    c = azurite.create_container("est-" + os.urandom(3).hex(), policies={"rw": ("cw", timedelta(days=2))})
    url = azurite.container_sas_url(c, policy_id="rw")
    p = mdplan("estimate", str(sample.root), "--seconds", "2", "--json", "--report", str(tmp_path / "plan.html"),
               env={"MDPLAN_HOME": str(tmp_path), "MDPLAN_SAS": url})
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["bandwidth"]["method"] == "destination" and d["bandwidth"]["bits_per_second"] > 0
    assert d["sas"]["expiry_source"] == "policy"
    html = (tmp_path / "plan.html").read_text("utf-8")
    sig = url.split("sig=")[1].split("&")[0]
    assert "<svg" in html and sig not in html and sig not in p.stdout + p.stderr


@pytest.mark.parametrize("args,needle", [
    (["estimate", "/no/such/folder", "--bandwidth", "20Mbps"], "does not exist"),
    (["estimate", "{file}", "--bandwidth", "20Mbps"], "is a file"),
    (["estimate", "{empty}", "--bandwidth", "20Mbps"], "no files"),
    (["estimate", "{set}", "--bandwidth", "fast"], "Cannot read the rate"),
    (["estimate", "{set}"], "upload speed"),
    (["estimate", "{set}", "--bandwidth", "20Mbps", "--monthly-cap", "lots"], "Cannot read the size"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, sample, tmp_path):
    f = tmp_path / "a.jpg"
    f.write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    args = [a.format(file=f, empty=tmp_path / "empty", set=sample.root) for a in args]
    p = mdplan(*args, env={"MDPLAN_HOME": str(tmp_path)})
    assert p.returncode == 2
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
