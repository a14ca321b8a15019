"""`mdplan check` against a real Azurite: the right verdict and exit code for every kind of URL,
and the signature never appears in anything it prints."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from planner.cli import main
from planner.cli.output import to_jsonable
from planner.clock import FakeClock
from planner.azure import MARKER_DIR, MARKER_FILE, check, is_transient, map_azure_error
from planner.emulator import Azurite
from planner.errors import ExitCode, NetworkUnreachable, PartialFailure, SasProblem
from planner.sas import parse_sas_url

MDPLAN = Path(sys.executable).with_name("mdplan")


def _sig(url: str) -> str:
    return parse_qs(urlsplit(url).query)["sig"][0]


def _assert_no_sig(url: str, *texts: str) -> None:
    sig = _sig(url)
    raw = urlsplit(url).query.split("sig=", 1)[1].split("&", 1)[0]
    for text in texts:
        assert sig not in text and raw not in text and sig[:16] not in text


def _run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _check_json(capsys: pytest.CaptureFixture[str], url: str) -> tuple[int, dict]:
    code, out, err = _run_cli(capsys, url, "--json")
    _assert_no_sig(url, out, err)
    return code, json.loads(out)


def _blob_names(azurite: Azurite, container: str) -> list[str]:
    client = azurite.service_client().get_container_client(container)
    return [b.name for b in client.list_blobs()]


# ---- uploading will work (exit 0) ------------------------------------------------------------------


def test_full_permission_sas_passes_and_leaves_nothing(azurite: Azurite, container: str, capsys) -> None:
    url = azurite.container_sas_url(container, permission="racwdl", expiry=timedelta(days=14))
    code, facts = _check_json(capsys, url)
    assert code == 0
    assert facts["verdict"] == "ok" and facts["exit_code"] == 0
    assert facts["reachable"] and facts["container_exists"]
    assert facts["can_write"] and facts["can_list"] and facts["can_read"]
    assert facts["left_marker"] is False
    assert facts["expiry_source"] == "se"
    assert 13 * 86400 < facts["time_left"] <= 14 * 86400
    assert facts["problems"] == []
    assert facts["url"].endswith("sig=REDACTED")
    assert _blob_names(azurite, container) == []  # the probe was deleted


def test_policy_only_sas_passes_with_unknown_expiry(azurite: Azurite, capsys) -> None:
    name = azurite.create_container("your-organization", policies={"your-organization-rw": ("racwdl", timedelta(days=21))})
    url = azurite.container_sas_url(name, policy_id="your-organization-rw")
    code, out, err = _run_cli(capsys, url)
    _assert_no_sig(url, out, err)
    assert code == 0
    assert "set by a stored access policy on the server: unknown, ask the sender" in out
    assert "Uploading will work" in out
    result = check(parse_sas_url(url))
    assert result.expiry is None and result.expiry_source == "policy" and result.time_left is None
    assert result.policy_id == "your-organization-rw" and result.permissions is None


def test_write_only_sas_passes_and_leaves_one_marker(azurite: Azurite, container: str, capsys) -> None:
    url = azurite.container_sas_url(container, permission="cw")
    code, facts = _check_json(capsys, url)
    assert code == 0 and facts["verdict"] == "ok"
    assert facts["can_write"] is True
    assert facts["can_list"] is False and facts["can_read"] is False
    assert facts["left_marker"] is True
    marker = f"{MARKER_DIR}/{MARKER_FILE}"
    assert facts["marker"] == marker
    assert any("left one small test file" in w for w in facts["warnings"])
    assert _blob_names(azurite, container) == [marker]
    # Checking again overwrites the same marker instead of piling up new ones.
    code, _ = _check_json(capsys, url)
    assert code == 0
    assert _blob_names(azurite, container) == [marker]


def test_write_only_policy_also_passes(azurite: Azurite) -> None:
    name = azurite.create_container("upload-only", policies={"up": ("cw", timedelta(days=7))})
    result = check(parse_sas_url(azurite.container_sas_url(name, policy_id="up")))
    assert result.exit_code == 0 and result.can_write and result.left_marker
    assert result.can_list is False


def test_folder_in_url_keeps_the_probe_inside_it(azurite: Azurite, container: str) -> None:
    url = azurite.container_sas_url(container, permission="cw", prefix="2024/site A")
    result = check(parse_sas_url(url))
    assert result.exit_code == 0
    assert result.destination.endswith(f"{container}/2024/site A")
    assert _blob_names(azurite, container) == [f"2024/site A/{MARKER_DIR}/{MARKER_FILE}"]


def test_short_lived_url_passes_with_a_warning(azurite: Azurite, container: str) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    url = azurite.container_sas_url(container, expiry=now + timedelta(hours=5))
    result = check(parse_sas_url(url), clock=FakeClock(wall=now + timedelta(hours=1)))
    assert result.exit_code == 0
    assert result.time_left == 4 * 3600
    assert any("expires in 4 h;" in w for w in result.warnings)


# ---- uploading will not work: the URL (exit 3) -----------------------------------------------------


def test_read_only_sas_fails_before_writing(azurite: Azurite, container: str, capsys) -> None:
    url = azurite.container_sas_url(container, permission="rl")
    code, out, err = _run_cli(capsys, url)
    _assert_no_sig(url, out, err)
    assert code == ExitCode.SAS_PROBLEM
    assert "does not allow uploading (it only allows reading and listing)" in out
    assert "Ask the MegaDetector team for a URL that allows writing" in out
    result = check(parse_sas_url(url))
    assert result.can_write is False and result.can_list is True and result.can_read is True
    assert result.container_exists is True


def test_read_only_policy_fails(azurite: Azurite) -> None:
    name = azurite.create_container("read-only-team", policies={"ro": ("rl", timedelta(days=7))})
    result = check(parse_sas_url(azurite.container_sas_url(name, policy_id="ro")))
    assert result.exit_code == 3 and result.can_write is False
    assert "access policy 'ro'" in result.problems[0]


def test_expired_sas(azurite: Azurite, container: str, capsys) -> None:
    url = azurite.container_sas_url(container, expiry=timedelta(hours=-2))
    code, facts = _check_json(capsys, url)
    assert code == 3 and facts["verdict"] == "not ok"
    assert facts["time_left"] < 0
    assert len(facts["problems"]) == 1
    assert "expired on" in facts["problems"][0] and "Ask the MegaDetector team for a new URL" in facts["problems"][0]
    assert facts["reachable"] is True  # the service answered, and refused


def test_expired_stored_policy(azurite: Azurite) -> None:
    name = azurite.create_container("old-team", policies={"old": ("racwdl", timedelta(days=-1))})
    url = azurite.container_sas_url(name, policy_id="old")
    result = check(parse_sas_url(url))
    assert result.exit_code == 3
    assert "may have expired or been withdrawn" in result.problems[0]
    _assert_no_sig(url, json.dumps(to_jsonable(result)))


def test_container_that_does_not_exist_is_named(azurite: Azurite, capsys) -> None:
    url = azurite.container_sas_url("no-such-container")  # validly signed, but nobody created it
    code, out, err = _run_cli(capsys, url)
    _assert_no_sig(url, out, err)
    assert code == 3
    assert "The container 'no-such-container' does not exist" in out
    assert "Container:    does not exist" in out


def test_container_name_edited_in_url(azurite: Azurite, container: str) -> None:
    url = azurite.container_sas_url(container).replace(f"/{container}?", "/other-container?")
    result = check(parse_sas_url(url))
    assert result.exit_code == 3
    assert "rejected this URL's signature" in result.problems[0]
    assert "container name" in result.problems[0]


def test_tampered_signature(azurite: Azurite, container: str, capsys) -> None:
    good = azurite.container_sas_url(container)
    raw = urlsplit(good).query.split("sig=", 1)[1]
    url = good.replace(raw, ("A" if raw[0] != "A" else "B") + raw[1:])  # one character changed
    sig = _sig(good)
    assert _sig(url) != sig
    code, out, err = _run_cli(capsys, url)
    _assert_no_sig(url, out, err)
    _assert_no_sig(good, out, err)
    assert code == 3
    assert "signature" in out
    assert _blob_names(azurite, container) == []


# ---- not a URL at all (exit 2) ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "https://cameratrapstuff.blob.core.windows.net/your-organization?sv=2020-10-02",
        "http://cameratrapstuff.blob.core.windows.net/your-organization?sv=2020-10-02&si=x&sr=c&sig=Zm9vYmFyYmF6cXV4MTIzNA%3D%3D",
    ],
)
def test_bad_input_is_exit_2_with_one_line(capsys, text: str) -> None:
    code, out, err = _run_cli(capsys, text)
    assert code == ExitCode.BAD_INPUT
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("mdplan: ")
    assert "Zm9vYmFyYmF6cXV4MTIzNA" not in err


def test_http_to_a_non_loopback_host_is_refused(capsys) -> None:
    code, _, err = _run_cli(
        capsys, "http://cameratrapstuff.blob.core.windows.net/your-organization?sv=2020-10-02&si=x&sr=c&sig=abc%3D"
    )
    assert code == 2 and "unencrypted" in err


# ---- the host cannot be reached (exit 4) -----------------------------------------------------------


def test_nothing_listening_is_exit_4(azurite: Azurite, container: str, capsys) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = azurite.container_sas_url(container).replace(f":{azurite.port}/", f":{port}/")
    code, facts = _check_json(capsys, url)
    assert code == ExitCode.NETWORK
    assert facts["reachable"] is False and facts["verdict"] == "not ok"
    assert "refused the connection" in facts["problems"][0]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port that accepts connections and never answers: a link that died mid-request."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(srv.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1]
    stop.set()
    t.join()
    for c in held:
        c.close()
    srv.close()


def test_no_answer_within_the_read_timeout_is_exit_4(azurite: Azurite, container: str, silent_server: int) -> None:
    url = azurite.container_sas_url(container).replace(f":{azurite.port}/", f":{silent_server}/")
    result = check(parse_sas_url(url), read_timeout=0.5)
    assert result.exit_code == 4 and not result.reachable
    assert "No answer" in result.problems[0]


def test_expired_and_unreachable_blames_the_url(azurite: Azurite, container: str) -> None:
    url = azurite.container_sas_url(container, expiry=timedelta(days=-1)).replace(f":{azurite.port}/", ":1/")
    result = check(parse_sas_url(url))
    assert result.exit_code == 3  # fixing the network would not help
    assert any("expired" in p for p in result.problems) and any("refused" in p for p in result.problems)


# ---- error mapping used by every command -----------------------------------------------------------


def _http_error(azurite: Azurite, container: str, **sas_kw: object) -> BaseException:
    from azure.core.exceptions import HttpResponseError

    from planner.azure import container_client

    client = container_client(parse_sas_url(azurite.container_sas_url(container, **sas_kw)))
    with pytest.raises(HttpResponseError) as e:
        client.upload_blob("x.jpg", b"x")
    return e.value


def test_mapping_of_real_azurite_errors(azurite: Azurite, container: str) -> None:
    denied = _http_error(azurite, container, permission="rl")
    mapped = map_azure_error(denied, parse_sas_url(azurite.container_sas_url(container)), doing="uploading")
    assert isinstance(mapped, SasProblem) and "permission for uploading" in str(mapped)
    assert not is_transient(denied)

    expired_url = azurite.container_sas_url(container, expiry=timedelta(minutes=-1))
    expired = _http_error(azurite, container, expiry=timedelta(minutes=-1))
    assert "expired" in str(map_azure_error(expired, parse_sas_url(expired_url)))
    assert isinstance(map_azure_error(expired, None), SasProblem)  # callers without the URL still get exit 3


def test_per_file_errors_do_not_stop_an_upload(azurite: Azurite, container: str) -> None:
    """Only URL problems are SasProblem (which aborts a whole upload); a damaged or clashing file is not."""
    import hashlib

    from azure.core.exceptions import HttpResponseError
    from azure.storage.blob import ContentSettings

    from planner.azure import container_client

    sas = parse_sas_url(azurite.container_sas_url(container))
    client = container_client(sas)
    with pytest.raises(HttpResponseError) as damaged:  # the body does not match the MD5 we declared
        client.upload_blob("a.jpg", b"abc", content_settings=ContentSettings(content_md5=hashlib.md5(b"x").digest()))
    assert is_transient(damaged.value)
    assert isinstance(map_azure_error(damaged.value, sas), NetworkUnreachable)
    client.upload_blob("b.jpg", b"abc")
    with pytest.raises(HttpResponseError) as clash:
        client.upload_blob("b.jpg", b"abc", overwrite=False)
    mapped = map_azure_error(clash.value, sas, doing="uploading b.jpg")
    assert isinstance(mapped, PartialFailure) and not is_transient(clash.value)
    assert "409" in str(mapped)


def test_mapping_of_transport_failures() -> None:
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    sas = parse_sas_url("https://acct01.blob.core.windows.net/cams?sv=1&sr=c&sp=rw&sig=c2VjcmV0c2VjcmV0%3D")
    dns = ServiceRequestError("Failed to resolve 'acct01.blob.core.windows.net' ([Errno -2] Name or service not known)")
    assert isinstance(map_azure_error(dns, sas), NetworkUnreachable)
    assert "name lookup" in str(map_azure_error(dns, sas))
    leaky = ServiceResponseError("Read timed out. (url: /cams?sv=1&sig=c2VjcmV0c2VjcmV0%3D)")
    mapped = map_azure_error(leaky, sas)
    assert isinstance(mapped, NetworkUnreachable) and "c2VjcmV0" not in str(mapped)
    busy = HttpResponseError(message="Server busy")
    busy.status_code = 503
    assert is_transient(busy) and isinstance(map_azure_error(busy, sas), NetworkUnreachable)
    assert is_transient(ConnectionResetError()) and is_transient(TimeoutError())
    assert not is_transient(FileNotFoundError("D:/cams/x.jpg"))
    assert not is_transient(PermissionError())


# ---- the real console script -----------------------------------------------------------------------


def _mdplan(*args: str, stdin: str | None = None, env_sas: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MDPLAN_SAS"}
    if env_sas is not None:
        env["MDPLAN_SAS"] = env_sas
    return subprocess.run(
        [str(MDPLAN), *args], input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_console_script_exit_codes_and_no_signature(azurite: Azurite, container: str) -> None:
    ok = azurite.container_sas_url(container, permission="racwdl")
    expired = azurite.container_sas_url(container, expiry=timedelta(hours=-1))
    read_only = azurite.container_sas_url(container, permission="rl")

    p = _mdplan("check", ok)
    assert p.returncode == 0, p.stderr
    assert "Uploading will work" in p.stdout and "Can write:    yes" in p.stdout
    _assert_no_sig(ok, p.stdout, p.stderr)

    p = _mdplan("check", "-", "--json", stdin=expired + "\n")
    assert p.returncode == 3, p.stderr
    assert json.loads(p.stdout)["verdict"] == "not ok"
    _assert_no_sig(expired, p.stdout, p.stderr)

    p = _mdplan("check", env_sas=read_only)
    assert p.returncode == 3
    assert "does not allow uploading" in p.stdout
    _assert_no_sig(read_only, p.stdout, p.stderr)

    p = _mdplan("check", ok.split("&")[0])  # what cmd.exe passes when the URL is not quoted
    assert p.returncode == 2 and "double quotes" in p.stderr and "Traceback" not in p.stderr


def test_help_has_purpose_and_examples() -> None:
    p = _mdplan("check", "--help")
    assert p.returncode == 0
    assert "whether a SAS URL will work for uploading" in p.stdout
    assert p.stdout.count("mdplan check ") >= 2
