"""The load generator of server.py, run in its own process: requests with bodies,
latencies, and refresh tokens chained per connection.

It builds on _load.py (the response framing and the server's CPU clock) and differs
from it in three ways the server's endpoints need:

* a request may carry a body (``POST``), sent with its ``Content-Length``;
* a request may depend on the previous answer on its connection (``chain``): each
  refresh token is used once, so every connection starts from a token of its own
  session and sends the one the last answer returned;
* a request may need a value that works once (an authorization code): ``pool`` holds
  one body per request, and a target whose pool runs dry stops sending (the slice it
  happened in is marked ``partial``);
* every answer's latency (from the request's first byte out to the response's last
  byte in) is recorded, for the percentiles.

Targets are loaded in turn, in short slices whose order reverses every round (A B, B A,
...), as in _load.py; within a slice each connection has exactly one request in
flight, and at its end the requests in flight are awaited. server.py starts it with
``--serve`` and writes one JSON job per line (the keyword arguments of :func:`measure`);
it answers each with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import selectors
import socket
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from _load import ResponseError, _complete, cpu_clock


@dataclass
class Spec:
    """What one target sends (a JSON object of the job, keyword for keyword).

    ``body`` is sent as is; with ``chain``, ``body`` is a template whose ``{token}`` is
    replaced by the connection's current token, which the first request takes from
    ``chain["seeds"]`` (one per connection) and every answer replaces with its JSON
    field ``chain["field"]``. With ``pool``, each request takes the next body of it.
    With ``collect``, that JSON field of every expected answer is kept and returned
    (the refresh tokens of the sessions login made, for the refresh load). ``port`` and
    ``pid`` send this target to another server than the job's.
    """

    method: str = "GET"
    path: str = "/"
    headers: list[str] = field(default_factory=list)
    body: str | None = None
    expect: int = 200
    connections: int = 16
    chain: dict[str, Any] | None = None
    pool: list[str] | None = None
    collect: str | None = None
    #: Another server than the job's (its port, and its pid for the CPU clock): the
    #: targets of one job may load several servers in turn (history.py).
    port: int | None = None
    pid: int | None = None


@dataclass
class Connection:
    """One keep-alive connection, its pending response and its chained token."""

    sock: socket.socket
    buffer: bytearray = field(default_factory=bytearray)
    sent_at: float = 0.0
    token: str | None = None
    broken: bool = False  # a chained request failed: the chain cannot go on


class Stream:
    """The connections of one target to the server, loaded one slice at a time."""

    def __init__(self, port: int, pid: int | None, spec: Spec) -> None:
        self.port = spec.port or port
        self.spec = spec
        self.cpu = cpu_clock(spec.pid or pid)
        self.selector = selectors.DefaultSelector()
        self.unexpected = 0
        self.first_unexpected = ""
        self.latencies: list[float] = []
        self.collected: list[Any] = []
        self.pool = list(reversed(spec.pool)) if spec.pool is not None else None
        self.exhausted = False
        self.head = (
            f"{spec.method} {spec.path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            + "".join(f"{h}\r\n" for h in spec.headers)
        )
        seeds = list(spec.chain["seeds"]) if spec.chain else []
        if spec.chain and len(seeds) < spec.connections:
            raise ValueError(f"{len(seeds)} chain seeds for {spec.connections} connections")
        for i in range(spec.connections):
            self._connect(seeds[i] if seeds else None)

    def _connect(self, token: str | None) -> Connection:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        conn = Connection(sock, token=token)
        self.selector.register(sock, selectors.EVENT_READ, conn)
        return conn

    def _request(self, conn: Connection) -> bytes:
        body = self.pool.pop() if self.pool is not None else self.spec.body
        if body is None:
            return (self.head + "\r\n").encode("latin-1")
        if self.spec.chain is not None:
            body = body.replace("{token}", conn.token or "")
        raw = body.encode()
        return (self.head + f"Content-Length: {len(raw)}\r\n\r\n").encode("latin-1") + raw

    def _send(self, conn: Connection) -> bool:
        if conn.broken:
            return False
        if self.pool is not None and not self.pool:
            self.exhausted = True
            return False
        conn.sent_at = time.perf_counter()
        conn.sock.send(self._request(conn))  # under 2 KiB: fits an idle send buffer
        return True

    def _answered(self, conn: Connection, status: int, response: bytes) -> None:
        if status != self.spec.expect:
            self.unexpected += 1
            if not self.first_unexpected:
                self.first_unexpected = response.decode("latin-1")[:500]
            conn.broken = self.spec.chain is not None
            return
        if self.spec.chain is not None or self.spec.collect is not None:
            answer = json.loads(response[response.find(b"\r\n\r\n") + 4:])
            if self.spec.chain is not None:
                conn.token = answer[self.spec.chain["field"]]
            if self.spec.collect is not None:
                self.collected.append(answer[self.spec.collect])

    def load(self, seconds: float, *, record: bool) -> dict[str, Any]:
        """One slice of ``seconds``; with ``record``, keep each answer's latency."""
        conns = [key.data for key in self.selector.get_map().values()]
        cpu0, start = self.cpu(), time.perf_counter()
        until = start + seconds
        in_flight = sum(self._send(conn) for conn in conns)
        answers = 0
        while in_flight:
            ready = self.selector.select(timeout=10)
            if not ready:
                raise ResponseError(f"no answer from port {self.port} within 10 s")
            for key, _ in ready:
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
                now = time.perf_counter()
                answers += 1
                in_flight -= 1
                if record:
                    self.latencies.append(now - conn.sent_at)
                status, total, close = done
                self._answered(conn, status, bytes(conn.buffer[:total]))
                del conn.buffer[:total]
                if close:
                    raise ResponseError(f"port {self.port} closed the connection ({status})")
                if now < until and self._send(conn):
                    in_flight += 1
        end, cpu1 = time.perf_counter(), self.cpu()
        return {
            "partial": self.exhausted,
            "requests": answers,
            "seconds": end - start,
            "server_cpu": None if cpu0 is None or cpu1 is None else cpu1 - cpu0,
        }

    def percentiles(self) -> dict[str, float | int | None]:
        """p50, p90 and p99 of the recorded latencies, in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return {"count": 0, "p50": None, "p90": None, "p99": None}

        def at(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return {"count": len(ordered), "p50": at(0.50), "p90": at(0.90), "p99": at(0.99)}

    def close(self) -> None:
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        self.selector.close()


def measure(
    port: int,
    targets: Sequence[dict[str, Any]],
    pid: int | None = None,
    warmup: float = 1.0,
    slice_seconds: float = 0.25,
    rounds: int = 16,
) -> dict[str, Any]:
    """Load each target (a :class:`Spec` as a dict) of the server on ``port`` in turn.

    ``slices[r][i]`` is what target ``i`` measured in round ``r``; ``latency[i]`` its
    percentiles over every timed slice (the warm-up is not recorded).
    """
    own0, began = time.process_time(), time.perf_counter()
    streams: list[Stream] = []
    try:
        for spec in targets:
            streams.append(Stream(port, pid, Spec(**spec)))
        for stream in streams:
            stream.load(warmup, record=False)
        slices: list[list[dict[str, Any]]] = []
        indexes = list(range(len(streams)))
        for r in range(rounds):
            got: dict[int, dict[str, Any]] = {}
            for i in indexes if r % 2 == 0 else indexes[::-1]:
                got[i] = streams[i].load(slice_seconds, record=True)
            slices.append([got[i] for i in indexes])
    finally:
        for stream in streams:
            stream.close()
    return {
        "slices": slices,
        "latency": [s.percentiles() for s in streams],
        "collected": [s.collected for s in streams],
        "unexpected": [s.unexpected for s in streams],
        "first_unexpected": [s.first_unexpected for s in streams],
        # Near 1.0 the generator, not the server, limited the rate.
        "generator_cpu_share": (time.process_time() - own0) / (time.perf_counter() - began),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", action="store_true", help="take JSON jobs from stdin")
    args = parser.parse_args(argv)
    if not args.serve:
        parser.error("run by server.py with --serve")
    for line in sys.stdin:
        try:
            answer = measure(**json.loads(line))
        except (ResponseError, OSError, ValueError) as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # server.py reports the interruption
        sys.exit(130)
