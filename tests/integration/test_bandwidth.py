"""Bandwidth probes: the destination probe against a real Azurite (its byte budget included), speedtest-cli against a loopback server that speaks its endpoints, and the
`mdplan bandwidth` command as a user runs it. The pure ramp/meter logic is tested in
tests/unit/test_probe_meter.py."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from planner.errors import NetworkUnreachable, SasProblem
from planner.probe import MAX_BLOCK, DestinationProbe, Measurement, SpeedtestProbe, speedtest_config
from planner.sas import parse_sas_url

KiB = 1024
MiB = 1024 * KiB


# ------------------------------------------------------------------------------------------------
# Destination probe against Azurite
# ------------------------------------------------------------------------------------------------
SECONDS = 2.0
SLACK = 3.0  # clean-up and thread start-up on a busy 2-core machine; speed itself is not tested here


def _sig(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["sig"][0]


def _assert_no_sig(url: str, *texts: str) -> None:
    from urllib.parse import quote

    sig = _sig(url)
    for text in texts:
        assert sig not in text
        assert quote(sig, safe="") not in text


def _blobs(azurite, container: str) -> dict[str, int]:
    client = azurite.service_client().get_container_client(container)
    return {b.name: b.size for b in client.list_blobs(include=["uncommittedblobs"])}


def _measure(url: str, seconds: float = SECONDS) -> tuple[DestinationProbe, Measurement, list[str], float]:
    import time

    phases: list[str] = []
    probe = DestinationProbe(parse_sas_url(url), seconds=seconds)
    t = time.monotonic()
    m = probe.measure(lambda p: phases.append(p.phase))
    return probe, m, phases, time.monotonic() - t


def _assert_sane(m: Measurement, took: float, seconds: float = SECONDS) -> None:
    assert m.method == "destination"
    assert m.bits_per_second > 0
    assert m.bytes >= 64 * KiB  # at least the warm-up request and some acknowledged blocks
    assert m.rtt_ms is not None and m.rtt_ms > 0
    assert m.per_file_seconds is not None and m.per_file_seconds > 0
    assert m.streams is not None and m.streams >= 2
    assert m.seconds <= seconds + SLACK  # it stops on time; the slack is for a machine busy with other tests
    assert took <= seconds + 2 * SLACK
    assert "emulator" in m.note


def test_destination_probe_with_a_full_sas_measures_and_deletes_everything(azurite, container) -> None:
    url = azurite.container_sas_url(container)
    probe, m, phases, took = _measure(url)
    _assert_sane(m, took)
    assert probe.delete_mode
    assert not m.left_marker and m.marker is None
    assert _blobs(azurite, container) == {}
    assert "uploading test data" in phases and "timing small files" in phases
    _assert_no_sig(url, json.dumps(m.__dict__), repr(m))


class _CountingStore:
    """AzureBlobStore with a tally of every request body handed to it: what went on the wire."""

    def __init__(self, url: str) -> None:
        from planner.azure import AzureBlobStore

        self.inner = AzureBlobStore(parse_sas_url(url), pool=12)
        self.sent = 0
        self._lock = threading.Lock()

    def _count(self, data: bytes) -> None:
        with self._lock:
            self.sent += len(data)

    def put_blob(self, name, data, **kw):
        self._count(data)
        return self.inner.put_blob(name, data, **kw)

    def stage_block(self, name, block_id, data, **kw):
        self._count(data)
        return self.inner.stage_block(name, block_id, data, **kw)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_destination_probe_stops_at_its_byte_budget_and_reports_what_it_used(azurite, container) -> None:
    # issue 17: `mdplan bandwidth` sent 743 MB in 10 s to a fast destination. With --max-bytes the probe
    # sends no more than the budget (+ one block), whatever the window, and says what it used.
    url = azurite.container_sas_url(container)
    budget = 3_000_000
    store = _CountingStore(url)
    probe = DestinationProbe(parse_sas_url(url), seconds=10, max_bytes=budget, store=store)
    m = probe.measure()
    store.inner.close()
    assert store.sent <= budget + MAX_BLOCK
    assert m.bytes == store.sent and m.max_bytes == budget and m.stopped_by == "bytes"
    assert m.seconds < 10  # the budget, not the window, ended it
    assert m.bits_per_second > 0
    assert _blobs(azurite, container) == {}


def test_cli_max_bytes_limits_the_probe_and_json_says_what_it_used(azurite, container, tmp_path) -> None:
    url = azurite.container_sas_url(container, permission="racwdl")
    p = _mdplan("bandwidth", "--seconds", "10", "--max-bytes", "2MB", "--json", env={"MDPLAN_SAS": url},
                home=tmp_path)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert data["max_bytes"] == 2_000_000 and data["stopped_by"] == "bytes"
    assert 0 < data["bytes"] <= 2_000_000 + MAX_BLOCK
    p = _mdplan("bandwidth", "--seconds", "2", "--max-bytes", "2MB", env={"MDPLAN_SAS": url}, home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "sent (budget 2 MB" in p.stdout
    p = _mdplan("bandwidth", "--max-bytes", "10kB", env={"MDPLAN_SAS": url}, home=tmp_path)
    assert p.returncode == 2 and "--max-bytes" in _one_line_error(p)


def test_destination_probe_with_a_write_only_sas_leaves_one_small_marker(azurite, container) -> None:
    url = azurite.container_sas_url(container, permission="cw", prefix="site-a")
    probe, m, _, took = _measure(url)
    _assert_sane(m, took)
    assert not probe.delete_mode
    assert m.left_marker and m.marker == "site-a/.mdplan/check-marker.txt"
    blobs = _blobs(azurite, container)
    assert list(blobs) == [m.marker]  # exactly one blob, whatever was staged
    assert blobs[m.marker] < 1024
    assert "cannot delete" in m.note and m.marker in m.note


def test_destination_probe_with_a_policy_only_sas(azurite) -> None:
    import uuid

    name = azurite.create_container(
        f"si-{uuid.uuid4().hex[:12]}",
        policies={"intake": ("cw", timedelta(hours=2)), "team": ("racwdl", timedelta(hours=2))},
    )
    url = azurite.container_sas_url(name, policy_id="intake")
    assert "se=" not in url and "sp=" not in url
    _, m, _, took = _measure(url)
    _assert_sane(m, took)
    assert m.left_marker and list(_blobs(azurite, name)) == [".mdplan/check-marker.txt"]

    # A policy that allows deleting: the probe finds out by trying, and removes everything (the old
    # marker included).
    url = azurite.container_sas_url(name, policy_id="team")
    probe, m, _, took = _measure(url)
    _assert_sane(m, took)
    assert probe.delete_mode and not m.left_marker
    assert _blobs(azurite, name) == {}


def test_destination_probe_refused_by_an_expired_policy_is_a_sas_problem(azurite) -> None:
    import uuid

    name = azurite.create_container(f"old-{uuid.uuid4().hex[:12]}", policies={"old": ("cw", timedelta(hours=-1))})
    url = azurite.container_sas_url(name, policy_id="old")
    with pytest.raises(SasProblem) as e:
        DestinationProbe(parse_sas_url(url), seconds=SECONDS).measure()
    assert e.value.exit_code == 3
    _assert_no_sig(url, str(e.value))
    assert _blobs(azurite, name) == {}


def test_destination_probe_on_a_missing_container_or_dead_host(azurite) -> None:
    url = azurite.container_sas_url("no-such-container")
    with pytest.raises(SasProblem, match="no-such-container"):
        DestinationProbe(parse_sas_url(url), seconds=SECONDS).measure()
    from planner.emulator import free_port

    dead = url.replace(f":{azurite.port}/", f":{free_port()}/")
    with pytest.raises(NetworkUnreachable) as e:
        DestinationProbe(parse_sas_url(dead), seconds=SECONDS).measure()
    _assert_no_sig(url, str(e.value))


# ------------------------------------------------------------------------------------------------
# `mdplan bandwidth` as a user runs it
# ------------------------------------------------------------------------------------------------
def _mdplan(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            home: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "MDPLAN_SAS"}
    full_env.update(env or {})
    if home is not None:
        full_env["MDPLAN_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "planner", *args], capture_output=True, text=True, env=full_env,
        input=stdin, timeout=120,
    )


def _one_line_error(p: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("mdplan: ")
    return lines[0]


def test_cli_json_from_mdplan_sas_has_the_stable_keys(azurite, container, tmp_path) -> None:
    url = azurite.container_sas_url(container, permission="racwdl")
    p = _mdplan("bandwidth", "--seconds", "2", "--json", env={"MDPLAN_SAS": url}, home=tmp_path)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    for key in ("bits_per_second", "rtt_ms", "per_file_seconds", "method", "seconds", "bytes", "max_bytes",
                "stopped_by"):
        assert key in data
    assert data["max_bytes"] == 100_000_000  # the default budget
    assert data["method"] == "destination"
    assert data["bits_per_second"] > 0 and data["bytes"] > 0 and 0 < data["seconds"] <= 2 + SLACK
    assert "Measuring" not in p.stderr  # no progress indicator without a terminal
    _assert_no_sig(url, p.stdout, p.stderr)
    assert _blobs(azurite, container) == {}
    # The figure is kept for the next upload's first ETA to this container.
    rates = json.loads((tmp_path / "rates.json").read_text("utf-8"))
    assert [v["method"] for v in rates.values()] == ["probe"]


def test_cli_prints_the_figure_for_a_person(azurite, container, tmp_path) -> None:
    url = azurite.container_sas_url(container, permission="cw")
    p = _mdplan("bandwidth", "-", "--seconds", "2", stdin=url + "\n", home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "Upload speed:" in p.stdout and "measured to your container" in p.stdout
    assert "Round trip:" in p.stdout and "Per file:" in p.stdout
    assert ".mdplan/check-marker.txt" in p.stdout  # says what it left behind
    _assert_no_sig(url, p.stdout, p.stderr)


def test_cli_expired_sas_exits_3_with_one_line(azurite, container, tmp_path) -> None:
    url = azurite.container_sas_url(container, expiry=timedelta(hours=-2))
    p = _mdplan("bandwidth", url, "--seconds", "2", home=tmp_path)
    assert p.returncode == 3
    line = _one_line_error(p)
    assert "expired" in line and "new URL" in line
    _assert_no_sig(url, p.stdout, p.stderr)
    assert _blobs(azurite, container) == {}


def test_cli_bad_input_exits_2(tmp_path) -> None:
    p = _mdplan("bandwidth", home=tmp_path)
    assert p.returncode == 2
    assert "SAS URL" in _one_line_error(p)
    p = _mdplan("bandwidth", "--seconds", "45", "http://127.0.0.1:1/devstoreaccount1/c1?sp=w&sr=c&sig=x", home=tmp_path)
    assert p.returncode == 2
    assert "--seconds" in _one_line_error(p)


def test_cli_help_says_what_it_does_with_examples() -> None:
    p = _mdplan("bandwidth", "--help")
    assert p.returncode == 0
    assert "Measure your upload speed" in p.stdout
    assert p.stdout.count("mdplan bandwidth ") >= 2
    assert "--max-bytes" in p.stdout and "100 MB" in p.stdout


# ------------------------------------------------------------------------------------------------
# speedtest-cli, for real, against a loopback server that speaks its endpoints
# ------------------------------------------------------------------------------------------------
class _SpeedtestServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SpeedtestHandler)
        self.lock = threading.Lock()
        self.latency_requests = 0
        self.uploads = 0
        self.received = 0
        self.refuse_uploads = False

    @property
    def server_entry(self) -> dict[str, object]:
        host, port = self.server_address[:2]
        return {"url": f"http://{host}:{port}/speedtest/upload.php", "id": "1", "sponsor": "Loopback",
                "name": "here", "country": "Nowhere", "cc": "NO", "host": f"{host}:{port}", "d": 0.0}


class _SpeedtestHandler(http.server.BaseHTTPRequestHandler):
    server: _SpeedtestServer

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/speedtest/latency.txt"):
            with self.server.lock:
                self.server.latency_requests += 1
            self._send(200, b"test=test\n")
        else:
            self._send(404, b"not here")

    def do_POST(self) -> None:
        if not self.path.startswith("/speedtest/upload.php"):
            self._send(404, b"not here")
            return
        left = int(self.headers.get("Content-Length", "0"))
        got = 0
        while left > 0:
            chunk = self.rfile.read(min(left, 65536))
            if not chunk:
                break
            got += len(chunk)
            left -= len(chunk)
        with self.server.lock:
            self.server.uploads += 1
            self.server.received += got
        if self.server.refuse_uploads:
            self._send(403, b"Forbidden")
        else:
            self._send(200, f"size={got}".encode())


@pytest.fixture
def speedtest_server() -> Iterator[_SpeedtestServer]:
    server = _SpeedtestServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_speedtest_cli_measures_against_a_loopback_server(speedtest_server) -> None:
    probe = SpeedtestProbe(seconds=2, config=speedtest_config(2), servers=[speedtest_server.server_entry])
    assert probe._speedtest()._secure is True  # speedtest.net answers 403 on plain http
    m = probe.measure()
    assert m.method == "speedtest"
    assert m.bits_per_second > 0
    assert 0 < m.bytes <= speedtest_server.received
    assert speedtest_server.uploads >= 1
    assert speedtest_server.latency_requests == 3  # speedtest-cli's three "pings" of the best server
    assert m.rtt_ms is not None and m.per_file_seconds is None
    assert m.seconds <= 2 + SLACK
    assert "Rough" in m.note and "speedtest.net" in m.note and "SAS URL" in m.note


def test_speedtest_refused_uploads_become_one_clear_error(speedtest_server) -> None:
    speedtest_server.refuse_uploads = True
    probe = SpeedtestProbe(seconds=2, config=speedtest_config(2), servers=[speedtest_server.server_entry])
    with pytest.raises(NetworkUnreachable) as e:
        probe.measure()
    assert e.value.exit_code == 4
    assert "refused" in str(e.value) and "403" in str(e.value)  # never a figure made of refused data
    assert "SAS URL" in str(e.value) and "--bandwidth" in str(e.value)
    assert speedtest_server.uploads >= 1


def test_speedtest_with_no_server_answering_becomes_one_clear_error() -> None:
    from planner.emulator import free_port

    dead = {"url": f"http://127.0.0.1:{free_port()}/speedtest/upload.php", "id": "2", "sponsor": "Gone",
            "name": "nowhere", "d": 0.0}
    with pytest.raises(NetworkUnreachable, match="--bandwidth"):
        SpeedtestProbe(seconds=1, config=speedtest_config(1), servers=[dead]).measure()


def test_cli_speedtest_offline_exits_4_with_one_line(tmp_path) -> None:
    # This machine has no internet: speedtest.net's configuration cannot be fetched. That must be one
    # plain line pointing at the SAS URL and --bandwidth, exit 4 (network), never a traceback.
    p = _mdplan("bandwidth", "--speedtest", "--seconds", "2", home=tmp_path)
    assert p.returncode == 4, p.stdout + p.stderr
    line = _one_line_error(p)
    assert "speed test did not work" in line
    assert "SAS URL" in line and "--bandwidth" in line


# ------------------------------------------------------------------------------------------------
# `mdplan estimate FOLDER [SAS]` with a measured figure
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image_folder(tmp_path_factory) -> Path:
    from planner.sample import generate_sample_set

    root = tmp_path_factory.mktemp("estimate") / "cards"
    generate_sample_set(root, files=30, mean_bytes=50_000, videos=0)
    return root


def test_estimate_with_a_sas_measures_to_the_destination(azurite, container, image_folder, tmp_path) -> None:
    from planner.upload import auto_workers

    url = azurite.container_sas_url(container, permission="racwdl", expiry=timedelta(days=5))
    p = _mdplan("estimate", str(image_folder), url, "--seconds", "2", "--max-bytes", "5MB", "--json", home=tmp_path)
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    bw = data["bandwidth"]
    assert bw["method"] == "destination" and bw["bits_per_second"] > 0
    assert bw["max_bytes"] == 5_000_000 and 0 < bw["bytes_sent"] <= 5_000_000 + MAX_BLOCK
    assert bw["rtt_ms"] > 0 and bw["per_file_seconds"] > 0
    assert "Good" in bw["note"] or "Rough" in bw["note"]  # how far to trust it, in words
    # the per-file cost is spread over the workers the uploader itself would start for these files
    # (issue 14: the model takes their mean size and the measured per-file time)
    mean = data["bytes"]["upload"] / data["files"]["upload"]
    assert data["upload"]["workers"] == auto_workers(bw["bits_per_second"], bw["rtt_ms"], mean,
                                                     bw["per_file_seconds"])
    assert data["sas"]["expiry_source"] == "se" and data["sas"]["expires_before_finish"] is False
    _assert_no_sig(url, p.stdout, p.stderr)
    assert _blobs(azurite, container) == {}  # the probe cleaned up after itself


def test_estimate_bandwidth_option_wins_over_the_sas(azurite, container, image_folder, tmp_path) -> None:
    url = azurite.container_sas_url(container, expiry=timedelta(minutes=30))
    p = _mdplan("estimate", str(image_folder), url, "--bandwidth", "64kbps", home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "64 kbit/s (as given)" in p.stdout
    assert _blobs(azurite, container) == {}  # nothing was measured, so nothing was written
    # about 1.5 MB at 64 kbit/s: minutes, well inside the URL's 30 minutes
    assert "expires" in p.stdout
    assert "Warning: the URL expires before the upload would finish" not in p.stdout
    slow = _mdplan("estimate", str(image_folder), url, "--bandwidth", "2kbps", home=tmp_path)
    assert slow.returncode == 0, slow.stderr
    assert "Warning: the URL expires before the upload would finish" in slow.stdout
    _assert_no_sig(url, p.stdout, p.stderr, slow.stdout, slow.stderr)


def test_estimate_with_a_policy_sas_says_the_expiry_is_unknown(azurite, image_folder, tmp_path) -> None:
    import uuid

    name = azurite.create_container(f"pol-{uuid.uuid4().hex[:12]}", policies={"intake": ("cw", timedelta(days=9))})
    url = azurite.container_sas_url(name, policy_id="intake")
    p = _mdplan("estimate", str(image_folder), "-", "--seconds", "2", stdin=url + "\n", home=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "measured to the container" in p.stdout
    assert "expiry is unknown: set by a stored access policy" in p.stdout
    assert "would finish about" in p.stdout
    assert list(_blobs(azurite, name)) == [".mdplan/check-marker.txt"]  # write-only: one marker, said so
    assert "one small file stays in the container" in p.stdout
    _assert_no_sig(url, p.stdout, p.stderr)


def test_estimate_speedtest_unreachable_exits_4_with_one_line(image_folder, tmp_path) -> None:
    # Through a proxy nobody listens on, so speedtest.net is unreachable even on a machine with internet.
    from planner.emulator import free_port

    proxy = f"http://127.0.0.1:{free_port()}"
    p = _mdplan("estimate", str(image_folder), "--speedtest", home=tmp_path,
                env={"https_proxy": proxy, "http_proxy": proxy, "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy})
    assert p.returncode == 4
    line = _one_line_error(p)
    assert "speed test did not work" in line and "--bandwidth" in line


def test_a_url_withdrawn_during_the_probe_is_a_sas_problem(azurite) -> None:
    # The team withdraws the stored access policy while the probe is uploading: the streams' next
    # requests are refused, and that must end the probe as a SAS problem (exit 3), not as a bug.
    import uuid

    name = azurite.create_container(f"wd-{uuid.uuid4().hex[:12]}", policies={"intake": ("cw", timedelta(hours=2))})
    url = azurite.container_sas_url(name, policy_id="intake")
    probe = DestinationProbe(parse_sas_url(url), seconds=4)
    outcome: list[BaseException | Measurement] = []
    uploading = threading.Event()

    def run() -> None:
        try:
            outcome.append(probe.measure(lambda p: uploading.set() if p.phase == "uploading test data" else None))
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            outcome.append(e)

    t = threading.Thread(target=run)
    t.start()
    assert uploading.wait(10)
    azurite.service_client().get_container_client(name).set_container_access_policy(signed_identifiers={})
    t.join(30)
    assert not t.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], SasProblem), outcome
    assert outcome[0].exit_code == 3
    _assert_no_sig(url, str(outcome[0]))
