"""What the scenarios drive: Azurite inside a lab link, the `mdplan` CLI, rclone, cached data sets.

Everything the benchmarks measure goes through the commands users run (`mdplan ... --json`,
`rclone copy`), started as subprocesses with a timeout, timed by wall clock, and with the peak RSS
and the CPU time (user + system) of that one process read from wait4().
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

from benchmarks.lab import Link
from benchmarks.runner import REPO, Context, OutOfTime, Skip

if TYPE_CHECKING:
    from planner.emulator import Azurite

MDPLAN = REPO / ".venv" / "bin" / "mdplan"


# --- processes ---------------------------------------------------------------------------------------

@dataclass
class Ran:
    returncode: int
    seconds: float
    stdout: str
    stderr: str
    max_rss_bytes: int
    started: float = 0.0  # time.monotonic() at start (the same clock as the proxy's --stats lines)
    cpu_seconds: float = 0.0  # user + system CPU of the process and the children it waited for (wait4)

    def json(self) -> dict:
        """The last JSON object the command printed on stdout."""
        text = self.stdout.strip()
        start = text.find("{")
        if start < 0:
            raise RuntimeError(f"no JSON in the output (exit {self.returncode}): {self.stderr.strip()[-300:]}")
        return json.loads(text[start:])


def run_timed(cmd: Sequence[str], *, timeout: float, env: dict[str, str] | None = None,
              cwd: Path | None = None) -> Ran:
    """Run to completion (or kill at `timeout`), with wall time and this process's peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
        deadline = started + timeout
        status = rusage = None
        while time.monotonic() < deadline:
            pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            _, status, rusage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise TimeoutError(f"{Path(cmd[0]).name} did not finish within {timeout:.0f} s")
        seconds = time.monotonic() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Ran(proc.returncode, seconds, out.read().decode("utf-8", "replace"),
                   err.read().decode("utf-8", "replace"), rusage.ru_maxrss * 1024, started,
                   rusage.ru_utime + rusage.ru_stime)


# --- mdplan --------------------------------------------------------------------------------------------

def mdplan_has(command: str) -> bool:
    """Whether this checkout's `mdplan` has `command` yet (other issues add them)."""
    if not MDPLAN.exists():
        return False
    proc = subprocess.run([str(MDPLAN), command, "--help"], capture_output=True, text=True, timeout=60)
    return proc.returncode == 0


def require_mdplan(command: str) -> None:
    if not mdplan_has(command):
        raise Skip(f"`mdplan {command}` does not exist in this checkout yet")


def run_budgeted(cmd: Sequence[str], *, ctx: Context, timeout: float, env: dict[str, str] | None = None) -> Ran:
    """run_timed within the scenario's budget: running out of budget is OutOfTime, not a failure."""
    limit = ctx.budget.timeout(timeout)
    try:
        return run_timed(cmd, timeout=limit, env=env)
    except TimeoutError:
        if limit < timeout:
            raise OutOfTime(f"time budget of {ctx.budget.seconds:.0f} s used up") from None
        raise


def mdplan(args: Sequence[str], *, ctx: Context, timeout: float, home: Path) -> Ran:
    """`mdplan ARGS` with its job state in `home` (a fresh job per run: nothing is skipped)."""
    env = dict(os.environ, MDPLAN_HOME=str(home), COLUMNS="120")
    env.pop("MDPLAN_SAS", None)
    return run_budgeted([str(MDPLAN), *args], ctx=ctx, timeout=timeout, env=env)


# --- rclone ----------------------------------------------------------------------------------------------

def ensure_rclone(ctx: Context) -> str:
    """The rclone peer: Debian's package, installed here when we are root with apt."""
    found = shutil.which("rclone")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise Skip("rclone is not installed (Debian/Ubuntu: apt-get install rclone)")
    ctx.log("installing rclone (apt-get)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    lock = ["-o", "DPkg::Lock::Timeout=120"]
    subprocess.run(["apt-get", *lock, "update", "-qq"], env=env, capture_output=True, timeout=300)
    proc = subprocess.run(["apt-get", *lock, "install", "-y", "-qq", "rclone"], env=env, capture_output=True,
                          text=True, timeout=600)
    found = shutil.which("rclone")
    if not found:
        raise Skip(f"could not install rclone with apt-get: {proc.stderr.strip()[-200:]}")
    return found


def rclone_version() -> str:
    proc = subprocess.run(["rclone", "version"], capture_output=True, text=True, timeout=30)
    return proc.stdout.split("\n", 1)[0].replace("rclone ", "").strip()


def rclone_copy(src: Path, sas_url: str, *, ctx: Context, timeout: float, scratch: Path,
                flags: Sequence[str] = ()) -> Ran:
    """`rclone copy SRC :azureblob:` with its defaults (or `flags`) and the container SAS URL, as a user would."""
    container = sas_url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[1]
    env = dict(os.environ, RCLONE_CONFIG=str(scratch / "rclone.conf"), RCLONE_AZUREBLOB_SAS_URL=sas_url)
    ran = run_budgeted(["rclone", "copy", *flags, str(src), f":azureblob:{container}/rclone"], ctx=ctx,
                       timeout=timeout, env=env)
    if ran.returncode != 0:
        raise RuntimeError(f"rclone copy failed ({ran.returncode}): {ran.stderr.strip()[-300:]}")
    return ran


# --- Azurite in the lab ------------------------------------------------------------------------------------

class LabStorage:
    """Azurite inside a link's namespace, reached through its delaying proxy; a fresh container per use."""

    def __init__(self, link: Link, *, stats: Path | None = None) -> None:
        self.link = link
        os.environ["MDPLAN_INSECURE_HTTP_HOSTS"] = link.ns_ip  # plain http is refused but for loopback and these
        self.azurite = self._start()
        self.port = link.expose(10000, target_host=link.ns_ip, stats=stats)

    def _start(self) -> Azurite:
        from planner.emulator import Azurite

        return Azurite.start(host=self.link.ns_ip, port=10000, location=None, command_prefix=self.link.command_prefix)

    def restart(self) -> None:
        """A fresh, empty emulator behind the same proxy, so each tool of a comparison starts from an empty one:
        in memory, Azurite's work a request grows with what it holds (its node process went from 44% to 73% of
        a core over a 7,200-file upload) and stays grown after a container is deleted."""
        self.azurite.stop()
        self.azurite = self._start()

    def container(self, stem: str) -> str:
        """A fresh container, and its SAS URL through the proxy (what the tools are given)."""
        name = f"{stem}-{uuid.uuid4().hex[:8]}"
        self.azurite.create_container(name)
        url = self.azurite.container_sas_url(name)
        direct = f"{self.link.ns_ip}:{self.azurite.port}"
        return url.replace(direct, f"{self.link.ns_ip}:{self.port}", 1)

    def drop(self, sas_url: str) -> None:
        """Delete the container (Azurite keeps blobs in memory)."""
        name = sas_url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[1]
        with contextlib.suppress(Exception):
            self.azurite.service_client().delete_container(name)

    def blob_bytes(self, sas_url: str, prefix: str = "") -> tuple[int, int]:
        """(blob count, total bytes) under `prefix` in the container: what actually arrived."""
        name = sas_url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[1]
        client = self.azurite.service_client().get_container_client(name)
        count = size = 0
        for blob in client.list_blobs(name_starts_with=prefix or None):
            if blob.name.startswith(".mdplan/"):
                continue
            count += 1
            size += blob.size
        return count, size

    def close(self) -> None:
        self.azurite.stop()

    def __enter__(self) -> LabStorage:
        return self

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.close()


def read_stats(stats_file: Path) -> list[tuple[float, int]]:
    """(monotonic time, cumulative upload bytes) lines the lab proxy wrote with --stats."""
    samples = []
    for line in stats_file.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3:
            samples.append((float(parts[0]), int(parts[1])))
    return samples


def phases(stats_file: Path, ran: Ran, *, slack: int = 256 * 1024) -> tuple[float, float, float] | None:
    """Split a command's wall time by what crossed the proxy: (before the data flowed, while it flowed,
    after it stopped), in seconds. None if the proxy saw nothing during the command."""
    end = ran.started + ran.seconds
    inside = [(t, b) for t, b in read_stats(stats_file) if ran.started <= t <= end]
    if len(inside) < 2 or inside[-1][1] - inside[0][1] <= 2 * slack:
        return None
    base, top = inside[0][1], inside[-1][1]
    first = next(t for t, b in inside if b - base > slack)
    last = next(t for t, b in inside if top - b <= slack)
    return first - ran.started, last - first, end - last


# --- data sets ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DataSet:
    root: Path
    files: int
    bytes: int


def sample_set(ctx: Context, name: str, *, files: int, mean_bytes: int, seed: int, sigma: float = 0.5,
               litter: bool = False, odd_names: bool = True, videos: int = 0, sites: int = 3,
               cameras: int = 2, timeout: float = 600) -> DataSet:
    """A seeded camera-trap-like set from planner.sample, generated once into benchmarks/.work/data."""
    try:
        from planner.sample import generate_sample_set
    except ImportError as e:
        raise Skip(f"planner.sample.generate_sample_set is not in this checkout yet ({e})") from e
    params = dict(files=files, mean_bytes=mean_bytes, sigma=sigma, seed=seed, sites=sites, cameras=cameras,
                  litter=litter, odd_names=odd_names, videos=videos)
    key = "-".join(f"{v}" for v in params.values()).replace(".", "_")
    root = ctx.work / "data" / f"{name}-{key}"
    marker = root.with_suffix(".json")
    if marker.exists() and root.is_dir():
        meta = json.loads(marker.read_text())
        return DataSet(root, meta["files"], meta["bytes"])
    if root.exists():
        shutil.rmtree(root)
    ctx.budget.timeout(timeout)
    ctx.log(f"generating {name}: {files:,} files, mean {mean_bytes:,} B (once; cached in {root.parent})")
    started = time.monotonic()
    made = generate_sample_set(root, **params)
    meta = {"files": made.files, "bytes": made.bytes, "seconds": time.monotonic() - started}
    marker.write_text(json.dumps(meta))
    ctx.log(f"generated {made.files:,} files, {made.bytes / 1e6:.0f} MB in {meta['seconds']:.0f} s")
    return DataSet(root, made.files, made.bytes)


def as_dict(obj: object) -> dict:
    return asdict(obj)  # type: ignore[arg-type]
