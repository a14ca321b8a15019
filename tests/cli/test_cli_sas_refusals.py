"""`mdplan check` refuses hostile or foreign URLs with exit 2 and one line, before any connection,
and never prints the signature (issue 13, issue 17)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SECRET = "Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MA%3D%3D"
# Port 9 on loopback: nobody listens, so a URL that got through would fail fast with a network error.
LOOPBACK = "http://127.0.0.1:9/devstoreaccount1/cams?sv=2022-11-02&sr=c&sp=racwl&se=2030-01-01"


def _check(url: str, tmp_path) -> subprocess.CompletedProcess:
    env = dict(os.environ, MDPLAN_HOME=str(tmp_path / "home"), COLUMNS="200")
    env.pop("MDPLAN_SAS", None)
    return subprocess.run([sys.executable, "-m", "planner", "check", url, "--json"], capture_output=True, text=True,
                          env=env, timeout=120, cwd=tmp_path)


@pytest.mark.parametrize("name", ["%73ig", "%53IG", "%2573ig", "s%69g"])
def test_check_json_refuses_an_encoded_sig_name_and_never_prints_it(name, tmp_path) -> None:
    """Seen on main: accepted, honoured, and `check --json` printed the whole signature in "url"."""
    p = _check(f"{LOOPBACK}&{name}={SECRET}", tmp_path)
    assert p.returncode == 2, p.stdout + p.stderr
    assert SECRET[:12] not in p.stdout + p.stderr
    assert p.stderr.startswith("mdplan: ") and p.stderr.count("\n") == 1 and "%-codes" in p.stderr


def test_check_refuses_a_user_name_before_the_address(tmp_path) -> None:
    p = _check(f"https://acct01.blob.core.windows.net@127.0.0.1:9/cams?sv=1&sr=c&sp=rwl&sig={SECRET}", tmp_path)
    assert p.returncode == 2 and "'@'" in p.stderr and SECRET[:12] not in p.stdout + p.stderr


@pytest.mark.parametrize(
    "url",
    [f"https://bucket.s3.amazonaws.com/a.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={SECRET}",
     f"https://storage.googleapis.com/bucket/a.jpg?X-Goog-Signature={SECRET}"],
)
def test_check_names_other_clouds_links(url, tmp_path) -> None:
    p = _check(url, tmp_path)
    assert p.returncode == 2 and "not an Azure Blob container URL" in p.stderr
    assert "cut" not in p.stderr and SECRET[:12] not in p.stdout + p.stderr
