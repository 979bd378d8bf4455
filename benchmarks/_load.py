"""A small HTTP/1.1 keep-alive load generator, run by guard.py in its own process.

It holds ``connections`` keep-alive connections to each of several servers (the
variants of one framework) and loads them in turn, in short slices: A, B, C, then
C, B, A, and so on, so that every variant meets the same machine, on average, however
busy it is. Within a slice each connection has exactly one request in flight (no
pipelining, as HTTP clients behave); at the end of a slice no new request is sent and
the ones in flight are awaited, so every request a slice sends is answered inside it.
For each slice it records the answers, the seconds, and the CPU time the server's
process used, read from that process's CPU clock.

Any answer whose status is not the expected one is counted and shown (guard.py then
refuses the run, so a guard that quickly answered 401 can never pass for a fast one).

guard.py starts it with ``--serve`` and writes one JSON job per line (the keyword
arguments of :func:`measure`); it answers each with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


class ResponseError(Exception):
    """Raised for an answer the generator cannot read (chunked, malformed, closed)."""


def _complete(buffer: bytearray) -> tuple[int, int, bool] | None:
    """(status, length, close) of the response at the head of ``buffer`` once whole."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buffer[:end]).lower()
    status = int(head[9:12])
    length = None
    close = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name == b"content-length":
            length = int(value)
        elif name == b"connection":
            close = b"close" in value
        elif name == b"transfer-encoding":
            raise ResponseError("chunked responses are not supported by this generator")
    if length is None:
        raise ResponseError("a response without Content-Length")
    total = end + 4 + length
    return (status, total, close) if len(buffer) >= total else None


def cpu_clock(pid: int | None) -> Callable[[], float | None]:
    """Seconds of CPU the process ``pid`` has used (all its threads), or ``None``.

    Linux exposes every process's CPU-time clock as a clock id derived from its pid
    (``clock_getcpuclockid``; the kernel's ``MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)``),
    precise to the nanosecond; elsewhere the figure is simply absent.
    """
    if pid is None or not sys.platform.startswith("linux"):
        return lambda: None
    clock_id = ((~pid) << 3) | 2

    def read() -> float | None:
        try:
            return time.clock_gettime(clock_id)
        except OSError:
            return None

    return read


@dataclass
class Connection:
    """One keep-alive connection and the bytes of the response being read."""

    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)


class Target:
    """The connections to one server, loaded one slice at a time."""

    def __init__(
        self, port: int, pid: int | None, request: bytes, connections: int, expect: int
    ) -> None:
        self.port = port
        self.request = request
        self.expect = expect
        self.cpu = cpu_clock(pid)
        self.selector = selectors.DefaultSelector()
        self.unexpected = 0
        self.first_unexpected = ""
        for _ in range(connections):
            self._connect()

    def _connect(self) -> Connection:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = Connection(sock)
        self.selector.register(sock, selectors.EVENT_READ, conn)
        return conn

    def load(self, seconds: float) -> dict[str, Any]:
        """One slice: keep every connection busy for ``seconds``, then await the rest."""
        conns = [key.data for key in self.selector.get_map().values()]
        cpu0, start = self.cpu(), time.perf_counter()
        until = start + seconds
        for conn in conns:
            conn.sock.send(self.request)  # a few hundred bytes fit an empty send buffer
        in_flight, answers = len(conns), 0
        while in_flight:
            for key, _ in self.selector.select(timeout=5):
                conn = key.data
                try:
                    chunk = conn.sock.recv(65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    raise ResponseError(f"port {self.port} closed a keep-alive connection")
                conn.buffer += chunk
                done = _complete(conn.buffer)
                if done is None:
                    continue
                answers += 1
                in_flight -= 1
                status, total, close = done
                if status != self.expect:
                    self.unexpected += 1
                    if not self.first_unexpected:
                        raw = bytes(conn.buffer[:total])
                        self.first_unexpected = raw.decode("latin-1")[:500]
                del conn.buffer[:total]
                if close:
                    self.selector.unregister(conn.sock)
                    conn.sock.close()
                    conn = self._connect()
                if time.perf_counter() < until:
                    conn.sock.send(self.request)
                    in_flight += 1
        end, cpu1 = time.perf_counter(), self.cpu()
        return {
            "requests": answers,
            "seconds": end - start,
            # Seconds of CPU the server used in the slice, all threads (None if unknown).
            "server_cpu": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
        }

    def close(self) -> None:
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()


def measure(
    targets: Sequence[dict[str, int]],
    path: str = "/hello",
    headers: Sequence[str] = (),
    connections: int = 16,
    warmup: float = 1.0,
    slice_seconds: float = 0.25,
    rounds: int = 24,
    expect: int = 200,
) -> dict[str, Any]:
    """Load each target (``{"port": ..., "pid": ...}``) in turn for ``rounds`` rounds.

    ``slices[r][i]`` is what target ``i`` measured in round ``r``; the order of the
    targets reverses every round, so that no target always follows the same one.
    """
    own0, began = time.process_time(), time.perf_counter()
    loaded: list[Target] = []
    try:
        for t in targets:
            request = (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{t['port']}\r\n"
                + "".join(f"{h}\r\n" for h in headers)
                + "\r\n"
            ).encode("latin-1")
            loaded.append(Target(t["port"], t.get("pid"), request, connections, expect))
        for target in loaded:
            target.load(warmup)
        slices: list[list[dict[str, Any]]] = []
        indexes = list(range(len(loaded)))
        for r in range(rounds):
            got: dict[int, dict[str, Any]] = {}
            for i in indexes if r % 2 == 0 else indexes[::-1]:
                got[i] = loaded[i].load(slice_seconds)
            slices.append([got[i] for i in indexes])
    finally:
        for target in loaded:
            target.close()
    return {
        "slices": slices,
        "unexpected": [t.unexpected for t in loaded],
        "first_unexpected": [t.first_unexpected for t in loaded],
        # Near 1.0 the generator, not the servers, limited the rate.
        "generator_cpu_share": (time.process_time() - own0) / (time.perf_counter() - began),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help="take JSON jobs from stdin")
    parser.add_argument("--port", type=int, action="append", default=[],
                        help="a server to load (repeat for several)")
    parser.add_argument("-H", "--header", action="append", default=[])
    parser.add_argument("--slice", type=float, default=0.25)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args(argv)
    if args.serve:
        for line in sys.stdin:
            print(json.dumps(measure(**json.loads(line))), flush=True)
        return 0
    if not args.port:
        parser.error("give --serve, or at least one --port")
    result = measure(
        [{"port": p} for p in args.port], headers=args.header, slice_seconds=args.slice,
        rounds=args.rounds,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # guard.py reports the interruption
        sys.exit(130)
