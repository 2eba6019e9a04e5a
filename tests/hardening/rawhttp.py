"""HTTP/1.1 over a bare socket, for the tests that must misbehave as a client: stall a
body, trickle headers, send more than any library would."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class RawAnswer:
    """One answer read to the end of the connection: status, headers, body; `closed` says
    the server closed the connection after it, `seconds` how long after the call began."""

    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def connect(port: int, timeout: float = 30.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def read_answer(sock: socket.socket, started: float, *, wait_close: bool = True) -> RawAnswer:
    """Read one answer (by Content-Length), then (with `wait_close`) whether the server
    closes the connection within the socket's timeout. Raises AssertionError when the
    connection ends before a whole answer."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        assert piece, f"connection closed before an answer: {data!r}"
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        piece = sock.recv(65536)
        assert piece, "connection closed inside the body"
        body += piece
    seconds = time.monotonic() - started
    closed = wait_close and closed_silently(sock)
    return RawAnswer(status, headers, body[:length], closed, seconds)


def closed_silently(sock: socket.socket) -> bool:
    """Whether the server closes the connection without writing anything."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
