"""The Azurite test bed itself: it starts, answers, hands out working SAS URLs, and stops."""

from __future__ import annotations

from datetime import timedelta

import pytest

from planner.emulator import DEV_ACCOUNT, Azurite, EmulatorError, find_azurite


def _client(url: str):
    from azure.storage.blob import ContainerClient

    return ContainerClient.from_container_url(url, retry_total=0)


def test_find_azurite_points_at_the_pinned_launcher() -> None:
    assert find_azurite().name.startswith("azurite-blob")


def test_azurite_answers_on_loopback(azurite: Azurite) -> None:
    assert azurite.running
    assert azurite.host == "127.0.0.1"
    assert azurite.account_url == f"http://127.0.0.1:{azurite.port}/{DEV_ACCOUNT}"
    assert Azurite.answers(azurite.account_url + "?comp=list")


def test_sas_with_permissions_uploads_and_reads(azurite: Azurite, container: str) -> None:
    client = _client(azurite.container_sas_url(container, permission="rcwl"))
    client.upload_blob("a/b.jpg", b"\xff\xd8hello\xff\xd9")
    assert [b.name for b in client.list_blobs()] == ["a/b.jpg"]
    assert client.download_blob("a/b.jpg").readall() == b"\xff\xd8hello\xff\xd9"


def test_policy_only_sas_uploads(azurite: Azurite) -> None:
    from azure.core.exceptions import HttpResponseError

    name = azurite.create_container("team-org", policies={"team-org-rw": ("rcwl", timedelta(days=14))})
    url = azurite.container_sas_url(name, policy_id="team-org-rw")
    assert "si=team-org-rw" in url and "se=" not in url and "sp=" not in url
    client = _client(url)
    client.upload_blob("x.jpg", b"data")
    assert [b.name for b in client.list_blobs()] == ["x.jpg"]
    with pytest.raises(HttpResponseError) as e:  # the policy has no delete: the server enforces it
        client.delete_blob("x.jpg")
    assert e.value.status_code == 403


def test_expired_sas_is_refused(azurite: Azurite, container: str) -> None:
    from azure.core.exceptions import HttpResponseError

    client = _client(azurite.container_sas_url(container, expiry=timedelta(minutes=-5)))
    with pytest.raises(HttpResponseError) as e:
        client.upload_blob("x.jpg", b"data")
    assert e.value.status_code == 403


def test_prefix_is_appended_as_a_folder(azurite: Azurite, container: str) -> None:
    url = azurite.container_sas_url(container, prefix="/site A/cam1/")
    assert url.startswith(f"{azurite.account_url}/{container}/site%20A/cam1?")


def test_start_stop_and_port_is_freed(tmp_path) -> None:
    with Azurite.start(location=tmp_path / "blobs") as emu:
        url = emu.account_url + "?comp=list"
        assert Azurite.answers(url)
        pid = emu.process.pid
    assert not emu.running
    assert emu.process.returncode is not None
    assert not Azurite.answers(url)
    emu.stop()  # twice is fine
    assert pid > 0


def test_a_port_in_use_is_one_clear_error(azurite: Azurite) -> None:
    with pytest.raises(EmulatorError) as e:
        Azurite.start(port=azurite.port, timeout=10)
    assert "\n" not in str(e.value)
    assert str(azurite.port) in str(e.value)


def test_missing_node_is_one_line_with_the_install_command(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no node, no azurite-blob anywhere
    with pytest.raises(EmulatorError) as e:
        find_azurite()
    message = str(e.value)
    assert "\n" not in message
    assert "Node.js" in message and "npm ci" in message and "make test" in message


def test_azure_tests_fail_not_skip_without_node(tmp_path) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PATH": str(tmp_path)}
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/integration/test_emulator.py::test_azurite_answers_on_loopback"],
        cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert ran.returncode != 0
    assert "skipped" not in ran.stdout
    assert "Azure tests need the Azurite emulator" in ran.stdout and "npm ci" in ran.stdout
