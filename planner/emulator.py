"""Azurite, the local Azure Blob emulator: start it, stop it, and hand out containers and SAS URLs.

Used by the test suite (tests/conftest.py) and by `mdplan demo`, so this is library code: every
failure is one plain line that says what to do. Azurite itself is a Node.js program pinned in
package.json; `npm ci` (run by `make test` / `make demo`) installs it into node_modules/.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from planner import tether

DEV_ACCOUNT = "devstoreaccount1"
# The emulator's published, well-known key (the same in every Azurite and in Microsoft's docs).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

INSTALL_HINT = (
    "Install Node.js (https://nodejs.org, version 18 or newer), then run `npm ci` in the mdplan folder "
    "(or `make demo` or `make test`, which do it for you), and run mdplan from that folder."
)

_STARTUP_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 5.0


class EmulatorError(RuntimeError):
    """Azurite is missing or would not start/stop. `str(err)` is one line saying what to do."""


def _project_root() -> Path:
    return Path(__file__).resolve().parent.parent


def find_azurite() -> Path:
    """The azurite-blob launcher: this project's node_modules, the current folder's, then PATH.

    The current folder counts because `pip install .` copies planner/ into site-packages, away from the
    checkout where `npm ci` put Azurite: `mdplan demo` run in the checkout must still find it."""
    names = ["azurite-blob.cmd", "azurite-blob"] if os.name == "nt" else ["azurite-blob"]
    for bin_dir in (_project_root() / "node_modules" / ".bin", Path.cwd() / "node_modules" / ".bin"):
        for name in names:
            candidate = bin_dir / name
            if candidate.exists():
                if shutil.which("node") is None:
                    raise EmulatorError(f"Azurite is installed but Node.js was not found. {INSTALL_HINT}")
                return candidate
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    if shutil.which("node") is None:
        raise EmulatorError(f"Node.js is not installed, so the Azure emulator (Azurite) cannot run. {INSTALL_HINT}")
    raise EmulatorError(f"The Azure emulator (Azurite) is not installed. {INSTALL_HINT}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody is listening on right now (the OS picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, 0))
        except OSError:  # an address of another network namespace: any port free here will do
            s.bind(("", 0))
        return int(s.getsockname()[1])


def _as_utc_expiry(expiry: datetime | timedelta, now: datetime | None = None) -> datetime:
    if isinstance(expiry, timedelta):
        return (now or datetime.now(timezone.utc)) + expiry
    return expiry if expiry.tzinfo else expiry.replace(tzinfo=timezone.utc)


@dataclass(eq=False)
class Azurite:
    """A running azurite-blob process. Use `Azurite.start()` (also as a context manager)."""

    host: str
    port: int
    process: subprocess.Popen[bytes]
    location: Path | None = None
    _output: deque[str] = field(default_factory=lambda: deque(maxlen=40), repr=False)
    _listening: threading.Event = field(default_factory=threading.Event, repr=False)

    # ---- lifecycle -------------------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        host: str = "127.0.0.1",
        port: int | None = None,
        location: Path | None = None,
        command_prefix: list[str] | None = None,
        *,
        timeout: float = _STARTUP_TIMEOUT_S,
    ) -> Azurite:
        """Start azurite-blob on host:port (a free port when None) and wait until it answers HTTP.

        location=None keeps everything in memory; a folder keeps blobs across restarts.
        command_prefix runs it through another command, e.g. ["ip", "netns", "exec", "ns1"] to put it
        inside a network namespace (then host must be an address of that namespace, reachable from here,
        and port must be given, since a free port here says nothing about the namespace).
        """
        exe = find_azurite()
        attempts = 1 if port is not None else 3  # a picked free port can be taken before Azurite binds it
        last: EmulatorError | None = None
        for _ in range(attempts):
            chosen = port if port is not None else free_port(host)
            try:
                return cls._start_once(exe, host, chosen, location, command_prefix or [], timeout)
            except EmulatorError as e:
                last = e
                if "EADDRINUSE" not in str(e):
                    raise
        assert last is not None
        raise last

    @classmethod
    def _start_once(
        cls, exe: Path, host: str, port: int, location: Path | None, prefix: list[str], timeout: float
    ) -> Azurite:
        args = [str(exe), "--blobHost", host, "--blobPort", str(port)]
        if location is None:
            args.append("--inMemoryPersistence")
        else:
            location.mkdir(parents=True, exist_ok=True)
            args += ["--location", str(location)]
        args += ["--skipApiVersionCheck", "--loose", "--disableTelemetry"]
        popen_kw: dict[str, object] = {}
        if os.name == "nt":
            popen_kw["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP  # type: ignore[attr-defined]
        else:
            popen_kw["start_new_session"] = True  # own process group: stop() reaches every child
            popen_kw["preexec_fn"] = tether.before_exec()  # dies with us, even after kill -9 (Linux)
        try:
            proc = subprocess.Popen(  # noqa: S603 - fixed program, our own arguments
                [*prefix, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=str(location) if location is not None else None,
                **popen_kw,  # type: ignore[arg-type]
            )
        except OSError as e:
            raise EmulatorError(f"Could not run {exe.name} ({e.strerror or e}). {INSTALL_HINT}") from e
        tether.after_start(proc.pid)  # Windows: a job object that ends it when we end
        emu = cls(host=host, port=port, process=proc, location=location)
        _running.add(emu)
        threading.Thread(target=emu._drain, name=f"azurite-{port}-output", daemon=True).start()
        try:
            emu._wait_until_ready(timeout)
        except BaseException:
            emu.stop()
            raise
        return emu

    def _drain(self) -> None:
        # Keep the pipe empty so Azurite never blocks on a full buffer; keep the tail for error messages.
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            self._output.append(line)
            if "successfully listens" in line:  # our process bound the port (not someone else on it)
                self._listening.set()

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"{self.account_url}?comp=list"
        while True:
            code = self.process.poll()
            if code is not None:
                time.sleep(0.1)  # let the drain thread catch the last lines
                tail = " | ".join(line for line in self._output if line.strip())[-600:]
                raise EmulatorError(
                    f"Azurite exited with code {code} before it was ready on {self.host}:{self.port}"
                    + (f" ({tail})" if tail else "")
                    + "."
                )
            if self._listening.is_set() and self.answers(url):
                return
            if time.monotonic() > deadline:
                raise EmulatorError(f"Azurite did not answer on {self.host}:{self.port} within {timeout:.0f} s.")
            time.sleep(0.1)

    @staticmethod
    def answers(url: str, timeout: float = 1.0) -> bool:
        """True when something speaks HTTP at url (any status: an unsigned request gets 403)."""
        try:
            with urllib.request.urlopen(url, timeout=timeout):  # noqa: S310 - our own local URL
                return True
        except urllib.error.HTTPError:
            return True
        except (OSError, ValueError):
            return False

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Stop Azurite and any child it started; safe to call twice."""
        proc = self.process
        if proc.poll() is None:
            self._signal(signal.SIGTERM if os.name != "nt" else signal.CTRL_BREAK_EVENT)  # type: ignore[attr-defined]
            try:
                proc.wait(_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL if os.name != "nt" else None)  # type: ignore[attr-defined]
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(_STOP_TIMEOUT_S)
        elif os.name != "nt":
            self._signal(signal.SIGKILL)  # the launcher may be gone while a child still holds the port
        if proc.stdout is not None:
            with contextlib.suppress(OSError):
                proc.stdout.close()
        _running.discard(self)

    def _signal(self, sig: int | None) -> None:
        proc = self.process
        try:
            if os.name == "nt":
                if sig is None:
                    proc.kill()
                else:
                    proc.send_signal(sig)
            else:
                os.killpg(proc.pid, sig)  # the whole group: node and anything it spawned
        except (ProcessLookupError, PermissionError, OSError):
            with contextlib.suppress(OSError):
                proc.kill()

    def __enter__(self) -> Azurite:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ---- addresses -------------------------------------------------------------------------------

    @property
    def blob_endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def account_url(self) -> str:
        """Path-style account URL, e.g. http://127.0.0.1:10000/devstoreaccount1."""
        return f"{self.blob_endpoint}/{DEV_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={DEV_ACCOUNT};AccountKey={DEV_KEY};"
            f"BlobEndpoint={self.account_url};"
        )

    # ---- containers and SAS URLs -----------------------------------------------------------------

    def service_client(self, **kw: object):  # -> azure.storage.blob.BlobServiceClient
        """A BlobServiceClient with the account key (full rights), for setting up test beds."""
        from planner.azure.admin import service_client

        return service_client(self.connection_string, **kw)

    def create_container(
        self,
        name: str,
        policies: dict[str, tuple[str, datetime | timedelta]] | None = None,
    ) -> str:
        """Create container `name`, optionally with stored access policies {id: (permission, expiry)}.

        Permission is a string such as "racwdl"; expiry a datetime or a timedelta from now (may be
        negative, for an already expired policy). Returns the name.
        """
        from planner.azure.admin import create_container

        now = datetime.now(timezone.utc)
        create_container(self.connection_string, name,
                         {pid: (perm, _as_utc_expiry(expiry, now)) for pid, (perm, expiry) in (policies or {}).items()})
        return name

    def container_sas_url(
        self,
        container: str,
        *,
        permission: str = "racwdl",
        expiry: datetime | timedelta = timedelta(hours=2),
        policy_id: str | None = None,
        prefix: str = "",
    ) -> str:
        """A container SAS URL signed with the emulator key.

        Without policy_id: `sp=<permission>&se=<expiry>` in the URL (expiry may be in the past).
        With policy_id: a policy-only SAS (`si=<policy_id>`, no se/sp), as the MegaDetector team sends;
        permission and expiry are then ignored, the stored policy decides.
        prefix, if given, is appended as a folder path after the container.
        """
        from planner.azure.admin import container_sas

        token = container_sas(DEV_ACCOUNT, DEV_KEY, container, permission=permission,
                              expiry=_as_utc_expiry(expiry), policy_id=policy_id)
        path = quote(container)
        prefix = prefix.strip("/")
        if prefix:
            path += "/" + quote(prefix, safe="/")
        return f"{self.account_url}/{path}?{token}"


# Emulators nobody stopped (a crashed test, a forgotten object) must not outlive this Python process.
_running: set[Azurite] = set()


@atexit.register
def _stop_leftovers() -> None:
    for emu in list(_running):
        emu.stop()


def main(argv: list[str] | None = None) -> int:
    """`python -m planner.emulator`: run Azurite in the foreground and print a ready-to-use SAS URL."""
    args = sys.argv[1:] if argv is None else argv
    try:
        with Azurite.start(port=int(args[0]) if args else None) as emu:
            emu.create_container("demo")
            print(f"Azurite on {emu.account_url}; container 'demo':")
            print(emu.container_sas_url("demo", expiry=timedelta(days=7)))
            print("Ctrl-C to stop.")
            while emu.running:
                time.sleep(0.5)
    except EmulatorError as e:
        print(f"mdplan: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
