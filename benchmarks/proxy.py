"""A delaying TCP proxy: adds a fixed one-way delay in each direction without capping throughput.

The kernel here has tbf but not netem, so the round trip of a far-away storage region is made by this
proxy, run inside the lab's network namespace in front of Azurite (or the ceiling's sink):

    ip netns exec NS python -m benchmarks.proxy --listen 10.213.7.2:9000 --target 127.0.0.1:10000 \\
        --delay-ms 50

Each direction of each connection is a delay line: a reader stamps every chunk with the time it
arrived and queues it; a writer sends each chunk once its stamp is `delay` old. Reading never waits for
writing, so a stream keeps its full rate and only its bytes arrive `delay` later (what a long wire does),
instead of the rate collapsing to chunk/delay as a sleep-per-chunk relay would. A request/response
exchange therefore sees an added round trip of 2 x delay. The line holds at most `window` bytes per
direction (back-pressure past that), which bounds memory and plays the part of a TCP window.

Limits, said plainly: the proxy ends TCP, so the client's connection itself has a short round trip;
slow start and loss recovery on a long path are not reproduced, only the request/response latency.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import signal
import sys
import time
from dataclasses import dataclass

CHUNK = 256 * 1024
DEFAULT_WINDOW = 4 * 1024 * 1024


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
        return cls(host.strip("[]"), int(port))


class DelayLine:
    """One direction of one connection: bytes in, the same bytes out `delay` seconds later."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, delay: float,
                 window: int = DEFAULT_WINDOW, counter: list[int] | None = None) -> None:
        self.counter = counter  # a shared one-element total, for the proxy's --stats
        self.reader = reader
        self.writer = writer
        self.delay = max(0.0, delay)
        self.window = max(CHUNK, window)
        self._queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self._queued = 0
        self._arrived = asyncio.Event()  # set when the queue gains an item
        self._room = asyncio.Event()  # set when the queue is under its window
        self._room.set()
        self.bytes = 0

    async def run(self) -> None:
        feeder = asyncio.create_task(self._feed())
        try:
            await self._drain()
        finally:
            feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await feeder

    async def _feed(self) -> None:
        while True:
            await self._room.wait()
            try:
                chunk = await self.reader.read(CHUNK)
            except (ConnectionError, OSError):
                chunk = b""
            stamp = time.monotonic() + self.delay
            self._queue.append((stamp, chunk or None))
            self._arrived.set()
            if not chunk:
                return
            self._queued += len(chunk)
            if self._queued >= self.window:
                self._room.clear()

    async def _drain(self) -> None:
        while True:
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            due, chunk = self._queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            # Send everything that is due by now in one write: fewer syscalls at high rates.
            parts: list[bytes] = []
            now = time.monotonic()
            eof = False
            while self._queue and self._queue[0][0] <= now:
                _, item = self._queue.popleft()
                if item is None:
                    eof = True
                    break
                parts.append(item)
            if parts:
                data = b"".join(parts)
                self.writer.write(data)
                await self.writer.drain()
                self.bytes += len(data)
                if self.counter is not None:
                    self.counter[0] += len(data)
                self._queued -= len(data)
                if self._queued < self.window:
                    self._room.set()
            if eof:
                if self.writer.can_write_eof():
                    with contextlib.suppress(OSError):
                        self.writer.write_eof()
                return


class DelayProxy:
    """Accepts on `listen`, connects each client to `target`, delays each direction."""

    def __init__(self, listen: Endpoint, target: Endpoint, *, up_delay: float, down_delay: float,
                 window: int = DEFAULT_WINDOW) -> None:
        self.listen = listen
        self.target = target
        self.up_delay = up_delay
        self.down_delay = down_delay
        self.window = window
        self.server: asyncio.base_events.Server | None = None
        self.connections = 0
        self._handlers: set[asyncio.Task] = set()
        self.up_bytes = [0]  # delivered to the target (the upload direction)
        self.down_bytes = [0]

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, self.listen.host, self.listen.port,
                                                 limit=CHUNK, backlog=512)
        return self.server.sockets[0].getsockname()[1]

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        me = asyncio.current_task()
        if me is not None:
            self._handlers.add(me)
            me.add_done_callback(self._handlers.discard)
        try:
            t_reader, t_writer = await asyncio.wait_for(
                asyncio.open_connection(self.target.host, self.target.port, limit=CHUNK), timeout=10)
        except (OSError, asyncio.TimeoutError):
            c_writer.close()
            return
        up = DelayLine(c_reader, t_writer, delay=self.up_delay, window=self.window, counter=self.up_bytes)
        down = DelayLine(t_reader, c_writer, delay=self.down_delay, window=self.window,
                         counter=self.down_bytes)
        tasks = [asyncio.create_task(up.run()), asyncio.create_task(down.run())]
        try:
            # Either side failing ends the connection; a clean half-close lets the other side finish.
            for task in asyncio.as_completed(tasks):
                try:
                    await task
                except (ConnectionError, OSError):
                    break
        finally:
            for task in tasks:
                task.cancel()
            for w in (c_writer, t_writer):
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()

    async def record(self, path: str, interval: float = 0.1) -> None:
        """Append `monotonic up_bytes down_bytes` every `interval` s (the cap benchmark reads it)."""
        with open(path, "a", encoding="ascii") as out:
            while True:
                out.write(f"{time.monotonic():.4f} {self.up_bytes[0]} {self.down_bytes[0]}\n")
                out.flush()
                await asyncio.sleep(interval)

    async def close(self) -> None:
        """Stop listening and end every open connection."""
        if self.server is not None:
            self.server.close()
        handlers = list(self._handlers)
        for task in handlers:
            task.cancel()
        if handlers:
            await asyncio.wait(handlers, timeout=2)
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), timeout=1)


async def _serve(args: argparse.Namespace) -> None:
    up = args.up_delay_ms if args.up_delay_ms is not None else args.delay_ms
    down = args.down_delay_ms if args.down_delay_ms is not None else args.delay_ms
    proxy = DelayProxy(args.listen, args.target, up_delay=up / 1000, down_delay=down / 1000,
                       window=args.window)
    port = await proxy.start()
    recorder = asyncio.create_task(proxy.record(args.stats)) if args.stats else None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    # The parent waits for this line before it sends anything through us.
    print(f"ready {args.listen.host}:{port}", flush=True)
    await stop.wait()
    if recorder is not None:
        recorder.cancel()
    await proxy.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--listen", type=Endpoint.parse, required=True, help="HOST:PORT (port 0 = any)")
    parser.add_argument("--target", type=Endpoint.parse, required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="one-way delay in each direction")
    parser.add_argument("--up-delay-ms", type=float, default=None, help="client->target delay (overrides)")
    parser.add_argument("--down-delay-ms", type=float, default=None, help="target->client delay (overrides)")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW, help="max bytes in flight per direction")
    parser.add_argument("--stats", default=None, help="file to append 'time up_bytes down_bytes' to, 10/s")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
