"""A small fault-injecting HTTP proxy for the fault suite: sits on 127.0.0.1 in front of Azurite.

    with FaultProxy("127.0.0.1", azurite.port, error_rate=0.2, reset_rate=0.05, seed=1) as proxy:
        url = proxy.rewrite(azurite.container_sas_url(container))   # same SAS, through the proxy
        ...
        proxy.cut()        # the link is gone: new connections refused, open ones reset
        proxy.restore()    # the link is back, on the same port
        proxy.blackhole()  # the link drops packets silently: nothing answered, nothing reset (Wi-Fi, 4G)
        proxy.flap(2, 4)   # black-holed 2 s, up 4 s, over and over, until restore()

For a seeded share of requests it answers like an overloaded Azure front end (503 ServerBusy with
Azure's XML error body and `Connection: close`) or resets the connection (RST via SO_LINGER 0),
either before forwarding the request or after Azurite stored it (the nasty case: the service has
the blob but the client never hears so). Everything else is forwarded unchanged, one upstream
connection per client connection. `cut()` gives the "link cut" case without root or network
namespaces. Every request is logged (method, path without the query, Host header, what was done),
so a test can also prove that nothing but the SAS host was contacted.

Bounded: all threads are daemons, sockets have timeouts, and the proxy stops itself after
`max_seconds` even if a test forgets to.
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from email.utils import formatdate
from urllib.parse import urlsplit, urlunsplit

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


@dataclass(frozen=True)
class Request:
    """One request the proxy saw. `path` never holds the query string (the SAS signature lives there)."""

    t: float
    method: str
    path: str
    host: str
    action: str  # "forwarded" | "503" | "reset-before" | "reset-after" | "cut" | "upstream-down" | "blackhole"
    status: int | None
    body_bytes: int


class _Reset(Exception):
    pass


class FaultProxy:
    def __init__(self, upstream_host: str, upstream_port: int, *, error_rate: float = 0.0, reset_rate: float = 0.0,
                 seed: int = 0, host: str = "127.0.0.1", port: int = 0, max_seconds: float = 300.0,
                 idle_timeout: float = 30.0, latency: float = 0.0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.port = port
        self.error_rate = error_rate
        self.reset_rate = reset_rate
        self.max_seconds = max_seconds
        self.idle_timeout = idle_timeout
        self.latency = latency  # seconds added before each request is forwarded (a long link)
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._cut = False
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._stopped = threading.Event()
        self._closing = False
        self._accept_thread: threading.Thread | None = None
        self.log: list[Request] = []
        self.connections = 0
        self._script: list[str] = []
        self._holed = False
        self._held: set[socket.socket] = set()  # black-holed connections: never answered, never reset
        self._flapping: threading.Event | None = None
        self.flaps = 0

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "FaultProxy":
        self._listen()
        self._accept_thread = threading.Thread(target=self._accept_loop, name=f"faultproxy-{self.port}", daemon=True)
        self._accept_thread.start()
        threading.Thread(target=self._watchdog, name="faultproxy-watchdog", daemon=True).start()
        return self

    def stop(self) -> None:
        self._closing = True
        self._close_listener()
        self._reset_all()
        self._stopped.set()
        with self._lock:
            if self._flapping is not None:
                self._flapping.set()
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=2)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _watchdog(self) -> None:
        if not self._stopped.wait(self.max_seconds):
            self.stop()

    def _listen(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(64)
        s.settimeout(0.2)
        self.port = s.getsockname()[1]
        with self._lock:
            self._listener = s

    def _close_listener(self) -> None:
        with self._lock:
            s, self._listener = self._listener, None
        if s is not None:
            try:
                s.shutdown(socket.SHUT_RDWR)  # Linux: stop listening now, even while accept() waits
            except OSError:
                pass
            s.close()

    # ---- the knobs a test turns ------------------------------------------------------------------
    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def rewrite(self, url: str) -> str:
        """`url` (an Azurite URL, SAS and all) pointed at this proxy instead."""
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, f"{self.host}:{self.port}", parts.path, parts.query, parts.fragment))

    def set_rates(self, *, error_rate: float | None = None, reset_rate: float | None = None) -> None:
        with self._lock:
            if error_rate is not None:
                self.error_rate = error_rate
            if reset_rate is not None:
                self.reset_rate = reset_rate

    def script(self, *actions: str) -> None:
        """Faults for the next requests, in order, before the seeded draw: "503", "reset-before",
        "reset-after" or "forward"."""
        with self._lock:
            self._script.extend(actions)

    def cut(self) -> None:
        """The link goes down: new connections are refused and every open one is reset."""
        with self._lock:
            self._cut = True
        self._close_listener()
        self._reset_all()

    def blackhole(self) -> None:
        """The link drops packets silently (no RST, no refusal): connections are still accepted (the
        kernel completes the handshake) but nothing sent is answered, and a request in flight is never
        answered even when Azurite stored it. Connections caught by it stay silent for good, also after
        restore(), as ones the far end has forgotten: only the client's own timeout gets it out."""
        with self._lock:
            self._holed = True

    def flap(self, down_s: float, up_s: float) -> None:
        """Black-hole for `down_s`, restore for `up_s`, and again, until restore() or stop()."""
        done = threading.Event()
        with self._lock:
            self._flapping = done

        def loop() -> None:
            while not done.is_set() and not self._stopped.is_set():
                with self._lock:
                    self._holed = True
                    self.flaps += 1
                if done.wait(down_s):
                    break
                with self._lock:
                    self._holed = False
                done.wait(up_s)
        threading.Thread(target=loop, name="faultproxy-flap", daemon=True).start()

    def restore(self) -> None:
        """The link comes back on the same port (a black hole or flapping ends)."""
        with self._lock:
            self._cut = False
            self._holed = False
            if self._flapping is not None:
                self._flapping.set()
                self._flapping = None
        if self._listener is None and not self._closing:
            for _ in range(50):  # the port may linger a moment after close
                try:
                    self._listen()
                    break
                except OSError:
                    time.sleep(0.1)

    @property
    def is_cut(self) -> bool:
        return self._cut

    def count(self, action: str) -> int:
        with self._lock:
            return sum(1 for r in self.log if r.action == action)

    def wait_for_requests(self, n: int, timeout: float = 30.0, method: str | None = None) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                seen = sum(1 for r in self.log if method is None or r.method == method)
            if seen >= n:
                return True
            time.sleep(0.02)
        return False

    # ---- serving ----------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:  # closed by cut()/stop()
                time.sleep(0.05)
                continue
            conn.settimeout(self.idle_timeout)
            with self._lock:
                self._clients.add(conn)
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), name="faultproxy-conn", daemon=True).start()

    def _reset_all(self) -> None:
        """Reset every open connection. The serving thread holds the socket (makefile), so arm the RST
        (SO_LINGER 0) and wake its blocked read; its own close then sends the RST."""
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            _arm_rst(c)
            try:
                c.shutdown(socket.SHUT_RD)
            except OSError:
                pass

    def _serve(self, conn: socket.socket) -> None:
        sock = conn
        upstream: http.client.HTTPConnection | None = None
        rfile = conn.makefile("rb")
        try:
            while not self._stopped.is_set():
                req = _read_request(rfile)
                if req is None:
                    return
                method, target, headers, body = req
                path = urlsplit(target).path
                host = next((v for k, v in headers if k.lower() == "host"), "")
                if self._holed:
                    self._record(method, path, host, "blackhole", None, len(body))
                    self._hold(conn)
                    return
                action = self._decide()
                if action == "503":
                    self._record(method, path, host, action, 503, len(body))
                    conn.sendall(_busy_response())
                    return
                if action in ("cut", "reset-before"):
                    self._record(method, path, host, action, None, len(body))
                    raise _Reset()
                if self.latency:
                    time.sleep(self.latency)
                try:
                    if upstream is None:
                        upstream = http.client.HTTPConnection(*self.upstream, timeout=60)
                    status, reason, resp_headers, resp_body = _forward(upstream, method, target, headers, body,
                                                                       self.upstream)
                except (OSError, http.client.HTTPException):
                    self._record(method, path, host, "upstream-down", None, len(body))
                    raise _Reset() from None
                if self._holed:  # stored upstream, the answer lost in the black hole
                    self._record(method, path, host, "blackhole", status, len(body))
                    self._hold(conn)
                    return
                if action == "reset-after" or self._cut:  # stored upstream, but the answer is lost
                    self._record(method, path, host, "reset-after", status, len(body))
                    raise _Reset()
                self._record(method, path, host, "forwarded", status, len(body))
                conn.sendall(_response_bytes(status, reason, resp_headers, resp_body))
        except _Reset:
            _rst(conn)
            conn = None  # type: ignore[assignment]
        except (OSError, ValueError):
            pass
        finally:
            if upstream is not None:
                upstream.close()
            try:
                rfile.close()
            except OSError:
                pass
            if conn is not None:
                try:
                    conn.close()
                except OSError:
                    pass
            with self._lock:
                self._clients.discard(sock)

    def _hold(self, conn: socket.socket) -> None:
        """Keep the connection open and silent until the proxy stops (then a plain close)."""
        with self._lock:
            self._held.add(conn)
        self._stopped.wait()

    def _decide(self) -> str:
        with self._lock:
            if self._cut:
                return "cut"
            if self._script:
                return self._script.pop(0)
            r = self._rng.random()
            if r < self.reset_rate:
                return "reset-before" if self._rng.random() < 0.5 else "reset-after"
            if r < self.reset_rate + self.error_rate:
                return "503"
            return "forward"

    def _record(self, method: str, path: str, host: str, action: str, status: int | None, n: int) -> None:
        with self._lock:
            self.log.append(Request(time.time(), method, path, host, action, status, n))


# ---- HTTP plumbing ----------------------------------------------------------------------------------
def _arm_rst(conn: socket.socket) -> None:
    """SO_LINGER on with timeout 0: the socket's close sends a TCP RST instead of a FIN."""
    try:
        linger = struct.pack("hh", 1, 0) if os.name == "nt" else struct.pack("ii", 1, 0)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
    except OSError:
        pass


def _rst(conn: socket.socket) -> None:
    """Close with a TCP RST, as a dropped link or a crashed front end does (the last reference's close
    sends it: a makefile() reader may still hold the socket)."""
    _arm_rst(conn)
    try:
        conn.close()
    except OSError:
        pass


def _read_request(rfile) -> tuple[str, str, list[tuple[str, str]], bytes] | None:
    line = rfile.readline(65537)
    if not line or not line.strip():
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        raise ValueError("not HTTP")
    method, target, _version = parts
    headers: list[tuple[str, str]] = []
    while True:
        h = rfile.readline(65537)
        if not h:
            return None
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    lower = {k.lower(): v for k, v in headers}
    if "chunked" in lower.get("transfer-encoding", "").lower():
        chunks = []
        while True:
            size_line = rfile.readline(65537)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                break
            chunks.append(rfile.read(size))
            rfile.readline(65537)
        body = b"".join(chunks)
    else:
        n = int(lower.get("content-length", "0") or 0)
        body = rfile.read(n) if n else b""
        if len(body) != n:
            return None
    return method, target, headers, body


def _forward(upstream: http.client.HTTPConnection, method: str, target: str, headers: list[tuple[str, str]],
             body: bytes, up: tuple[str, int]) -> tuple[int, str, list[tuple[str, str]], bytes]:
    upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
    for k, v in headers:
        kl = k.lower()
        if kl in _HOP_BY_HOP or kl == "content-length":
            continue
        if kl == "host":
            v = f"{up[0]}:{up[1]}"
        upstream.putheader(k, v)
    if body or method in ("PUT", "POST", "PATCH"):
        upstream.putheader("Content-Length", str(len(body)))
    upstream.endheaders(body if body else None)
    resp = upstream.getresponse()
    data = resp.read()
    out_headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP]
    if resp.will_close:
        upstream.close()
    bodyless = method == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
    if not bodyless:
        out_headers = [(k, v) for k, v in out_headers if k.lower() != "content-length"]
        out_headers.append(("Content-Length", str(len(data))))
        return resp.status, resp.reason, out_headers, data
    return resp.status, resp.reason, out_headers, b""


def _response_bytes(status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _busy_response() -> bytes:
    """What Azure's front end answers when it sheds load: 503 ServerBusy with its XML error body."""
    rid = str(uuid.uuid4())
    now = time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime())
    body = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is currently '
            f"unable to receive requests. Please retry your request.\nRequestId:{rid}\nTime:{now}</Message>"
            "</Error>").encode()
    headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(body))),
               ("Server", "Windows-Azure-Blob/1.0 Microsoft-HTTPAPI/2.0"), ("x-ms-request-id", rid),
               ("x-ms-version", "2021-12-02"), ("x-ms-error-code", "ServerBusy"),
               ("Date", formatdate(usegmt=True)), ("Connection", "close")]
    return _response_bytes(503, "Server Busy", headers, body)


# ---- helpers shared by the fault and security tests ------------------------------------------------
class ScaledClock:
    """Real time, running `speed` times faster for the code under test: a 60 s backoff or a 20 s
    "link is down" threshold becomes 1/speed of that in real seconds. Injected through run(clock=...),
    so the uploader's real timing logic runs unchanged, just compressed."""

    def __init__(self, speed: float = 10.0) -> None:
        self.speed = speed
        self._t0 = time.monotonic()

    def monotonic(self) -> float:
        return self._t0 + (time.monotonic() - self._t0) * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)

    def now(self):
        from datetime import datetime, timezone

        return datetime.now(timezone.utc).astimezone()


def make_tree(root, files: dict[str, bytes]):
    """Write {relative/path: bytes} under root; returns root."""
    from pathlib import Path

    root = Path(root)
    for rel, data in files.items():
        p = root.joinpath(*rel.split("/"))
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return root


def camera_files(n: int, size: int = 20_000, seed: int = 0) -> dict[str, bytes]:
    """n incompressible camera-trap-like files over a few sites and cameras (names reused per camera)."""
    rng = random.Random(seed)
    return {f"site{i % 3}/cam{i % 2}/DCIM/IMG_{i // 6:04d}.JPG": b"\xff\xd8" + rng.randbytes(size + i) + b"\xff\xd9"
            for i in range(n)}


def blobs(azurite, container: str) -> dict[str, dict]:
    """name -> {size, etag, md5 (hex of the stored Content-MD5)} straight from Azurite (account key)."""
    cc = azurite.service_client().get_container_client(container)
    return {b.name: {"size": b.size, "etag": b.etag,
                     "md5": bytes(b.content_settings.content_md5 or b"").hex()} for b in cc.list_blobs()}


def assert_all_there(azurite, container: str, expected: dict[str, bytes], prefix: str = "",
                     exact: bool = True) -> None:
    """Every expected file is a blob whose bytes and stored MD5 match; with exact, nothing else is there."""
    import hashlib
    import unicodedata

    there = blobs(azurite, container)
    cc = azurite.service_client().get_container_client(container)
    names = set()
    for rel, data in expected.items():
        name = unicodedata.normalize("NFC", f"{prefix}/{rel}" if prefix else rel)
        names.add(name)
        assert name in there, f"{name} is missing from the container"
        assert there[name]["size"] == len(data), f"{name}: size {there[name]['size']} != {len(data)}"
        assert there[name]["md5"] == hashlib.md5(data).hexdigest(), f"{name}: stored MD5 differs"
        assert hashlib.md5(cc.download_blob(name).readall()).hexdigest() == hashlib.md5(data).hexdigest(), name
    if exact:
        assert set(there) == names, f"unexpected blobs: {sorted(set(there) - names)}"


def signature(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["sig"][0]


def sig_forms(url: str) -> list[bytes]:
    """The signature as it could appear anywhere: raw, percent-encoded once and twice."""
    from urllib.parse import quote

    sig = signature(url)
    forms = {sig, quote(sig, safe=""), quote(quote(sig, safe=""), safe="")}
    return [f.encode() for f in forms]


def journal_rows(path, sql: str, args: tuple = ()) -> list[tuple]:
    """Read a journal while its writer may still be alive (WAL allows one more reader)."""
    import sqlite3

    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def integrity_ok(path) -> bool:
    import sqlite3

    con = sqlite3.connect(str(path), timeout=5)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        con.close()
