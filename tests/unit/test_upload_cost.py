"""Issue 14, part 3 (cost per gigabyte): nothing beside the transfer loads the report's libraries while an
upload sends, the report draws without pandas, and the transfer's freed buffers are given back before the
report is drawn. The figures themselves are in BENCHMARKS.md (`python -m benchmarks cost`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    """This environment (Windows needs SYSTEMROOT and the like), this checkout first on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MDPLAN_", "PYTHON"))}
    env.update(PYTHONPATH=str(REPO), HOME=str(tmp_path), MPLCONFIGDIR=str(tmp_path / "mpl"))
    return env

# Runs in a fresh interpreter (this one may have imported matplotlib for other tests): an upload through
# the CLI's own wrappers (LiveReportUI around the UI, WhileSending around the transfer) into the in-memory
# store under a fake clock; at the end of the sending phase, before WhileSending's own exit, it records
# which report libraries are loaded and which threads run.
SCRIPT = textwrap.dedent("""
    import json, random, sys, threading
    from pathlib import Path
    from planner.cli.ui import WhileSending
    from planner.clock import FakeClock
    from planner.memory_store import MemoryBlobStore
    from planner.report.live import LiveReportUI
    from planner.sas import parse_sas_url
    from planner.transfer import QuietUI, UploadOptions, run

    URL = ("http://127.0.0.1:10000/devstoreaccount1/traps?sv=2021-08-06&se=2099-01-01T00%3A00%3A00Z&sr=c"
           "&sp=racwdl&sig=c2VjcmV0c2VjcmV0c2VjcmV0")
    root = Path(sys.argv[1])
    for i in range(40):
        (root / "src" / f"cam{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / "src" / f"cam{i % 3}" / f"IMG_{i:04d}.JPG").write_bytes(bytes([i]) * (30_000 + i))
    seen = {}

    class Watch:
        def __init__(self):
            self.inner = WhileSending(allow_sleep=True)
        def __enter__(self):
            return self.inner.__enter__()
        def __exit__(self, *exc):
            seen["modules"] = sorted(m for m in ("pandas", "matplotlib", "numpy", "jinja2") if m in sys.modules)
            seen["threads"] = sorted(t.name for t in threading.enumerate() if t.name.startswith("mdplan-"))
            return self.inner.__exit__(*exc)

    clock = FakeClock()
    ui = LiveReportUI(QuietUI(), clock=clock)
    try:
        result, _ = run(UploadOptions(source=root / "src", sas=parse_sas_url(URL), home=root / "home", workers=4),
                        ui, store=MemoryBlobStore(), clock=clock, rng=random.Random(1), awake=Watch)
    finally:
        ui.close()
    seen["exit_code"] = result.exit_code
    seen["files_sent"] = result.files_sent
    print(json.dumps(seen))
""")


def test_sending_loads_no_report_library_and_runs_no_warm_up_thread(tmp_path):
    """Before issue 14 a warm-up thread imported pandas and matplotlib (~75 MB) during every transfer, and
    the live report drew its first page at the first progress call: both now wait for the transfer's end
    (the report's libraries load early only on a link slower than 100 Mbit/s, test_live_report_and_log)."""
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, cwd=REPO, env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["exit_code"] == 0 and seen["files_sent"] == 40
    assert seen["modules"] == [], seen
    assert "mdplan-report-warm-up" not in seen["threads"], seen
    assert "mdplan-live-report" not in seen["threads"], seen


def test_the_rolling_mean_is_the_centred_mean_of_five_bins_as_pandas_drew_it():
    from types import SimpleNamespace

    import numpy as np

    from planner.report.series import ROLLING_BINS, rate_series

    rng = np.random.default_rng(14)
    throughput = [[float(s), int(n)] for s, n in zip(range(0, 500, 1), rng.integers(0, 5_000_000, 500))]
    data = SimpleNamespace(throughput=throughput, wall_seconds=500.0)
    b, starts, rate, smooth = rate_series(data)
    assert len(starts) == len(rate) == len(smooth) and b == 5
    half = ROLLING_BINS // 2
    want = [rate[max(0, i - half): i + half + 1].mean() for i in range(len(rate))]
    assert np.allclose(smooth, want)
    pd = pytest.importorskip("pandas")  # what the report used to draw with, kept as the reference
    ref = pd.Series(rate).rolling(ROLLING_BINS, center=True, min_periods=1).mean().to_numpy()
    assert np.allclose(smooth, ref)


def test_drawing_the_report_needs_no_pandas(tmp_path):
    """The report's charts draw in a fresh interpreter where importing pandas fails (before issue 14 the
    throughput chart needed it: ~35 MB and a quarter of a CPU-second)."""
    script = textwrap.dedent("""
        import sys
        sys.modules["pandas"] = None  # any `import pandas` now raises ImportError
        from tests.helpers.report_samples import upload_data
        from planner.report import render_upload_report, throughput_chart
        data = upload_data()
        assert throughput_chart(data) is not None  # (the page itself would hide a chart that failed)
        assert "<svg" in render_upload_report(data)
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=_env(tmp_path))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_giving_freed_memory_back_never_raises():
    from planner.transfer.memory import give_back_freed_memory

    assert give_back_freed_memory() in (True, False)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None).malloc_trim
        except AttributeError:
            pytest.skip("this C library has no malloc_trim (musl)")
        blocks = [bytearray(4 * 1024 * 1024) for _ in range(8)]  # freed below: pages to give back
        del blocks
        assert give_back_freed_memory() in (True, False)


def test_the_console_script_spares_the_last_garbage_collections(monkeypatch, capsys):
    """`mdplan` (argv from sys.argv) freezes the heap before exiting: the interpreter's collections at exit
    cost ~0.3 CPU-seconds once the report's libraries are loaded. An in-process call leaves gc alone."""
    import gc

    from planner.cli import main

    frozen: list[bool] = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(True))
    assert main(["--version"]) == 0
    assert frozen == []
    monkeypatch.setattr(sys, "argv", ["mdplan", "--version"])
    with pytest.raises(SystemExit) as ended:
        main()
    assert ended.value.code in (0, None) and frozen == [True]
    capsys.readouterr()


@pytest.mark.parametrize("no_proxy, proxied", [("", True), (".blob.core.windows.net", False)])
def test_the_environment_is_read_once_per_client_with_the_same_outcome(monkeypatch, no_proxy, proxied):
    """requests looked up proxies and CA bundles in the environment for every request (~0.4 ms of CPU
    each); the transport now takes them once, for its one host, with the same outcome."""
    from planner.azure import make_transport

    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
                 "no_proxy", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.field-station.example:3128")
    if no_proxy:
        monkeypatch.setenv("NO_PROXY", no_proxy)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/station-ca.pem")
    session = make_transport(4, url="https://acct.blob.core.windows.net").session
    assert session.trust_env is False
    assert session.verify == "/etc/ssl/station-ca.pem"
    assert (session.proxies.get("https") == "http://proxy.field-station.example:3128") is proxied
    plain = make_transport(4).session  # no host given: requests reads the environment as before
    assert plain.trust_env is True


def test_matplotlib_is_loaded_without_its_docstring_tables_and_left_as_it_was(tmp_path):
    """~0.2 CPU-seconds of each report went into help() texts for matplotlib's artist classes; the builder
    is put back, so an artist class defined afterwards gets its full docstring."""
    script = textwrap.dedent("""
        import sys
        from planner.report.charts import _load_matplotlib
        _load_matplotlib()
        assert "matplotlib.figure" in sys.modules and "matplotlib.backends.backend_svg" in sys.modules
        import matplotlib.artist as artist
        from matplotlib.lines import Line2D
        assert artist.kwdoc.__name__ == "kwdoc"
        assert "antialiased" not in Line2D.set.__doc__  # the table of properties was left out
        class Mine(artist.Artist):
            pass
        assert "antialiased" not in Mine.set.__doc__ and "alpha" in Mine.set.__doc__.split("Supported properties are")[1]
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO,
                          env=_env(tmp_path))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]
