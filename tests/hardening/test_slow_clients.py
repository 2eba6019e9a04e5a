"""Slow and oversized clients, held off by the server itself (no proxy in front): a body
that does not arrive in time is 408 and the connection closed; a head (request line and
headers) over the limit is 431, one that does not arrive in time 408; a body over the
limit is 413. Raw sockets against real servers, on both of uvicorn's HTTP parsers."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.hardening.rawhttp import RawAnswer, closed_silently, connect, read_answer
from tests.support.live_server import LiveServer

BODY_TIMEOUT_S = 1.0
HEADER_TIMEOUT_S = 1.5
MAX_HEADER_BYTES = 8192
MAX_BODY_BYTES = 4096
PROBLEM_JSON = "application/problem+json"
EVALUATE = b'{"definition": {"type": "constant", "value": 0.1}, "step": 3}'


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    env = {
        "STEPSIZE_HTTP": request.param,
        "STEPSIZE_BODY_TIMEOUT": str(BODY_TIMEOUT_S),
        "STEPSIZE_HEADER_TIMEOUT": str(HEADER_TIMEOUT_S),
        "STEPSIZE_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
        "STEPSIZE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
    }
    with LiveServer(tmp_path_factory.mktemp(f"slow-{request.param}"), env=env) as live:
        yield live


def _post_head(length: int | None, extra: str = "") -> bytes:
    size = "Transfer-Encoding: chunked" if length is None else f"Content-Length: {length}"
    return (
        f"POST /v1/evaluate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        f"{size}\r\n{extra}\r\n"
    ).encode()


def _problem(answer: RawAnswer, status: int, code: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["code"] == code and answer.json()["status"] == status
    assert answer.closed, "the server must close the connection"


def _still_serving(server: LiveServer) -> None:
    assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200


def test_a_body_that_stalls_gets_408_and_the_connection_closed(server: LiveServer) -> None:
    with connect(server.port, timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(_post_head(len(EVALUATE)) + EVALUATE[:10])
        answer = read_answer(sock, started)
    _problem(answer, 408, "request_timeout")
    assert f"{BODY_TIMEOUT_S:g} s" in answer.json()["detail"]
    assert BODY_TIMEOUT_S <= answer.seconds < BODY_TIMEOUT_S + 2
    _still_serving(server)


def test_a_trickled_chunked_body_cannot_stretch_the_deadline(server: LiveServer) -> None:
    with connect(server.port, timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(_post_head(None))
        answer = None
        for byte in EVALUATE:
            try:
                sock.sendall(b"1\r\n" + bytes([byte]) + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.1)
            if time.monotonic() - started > BODY_TIMEOUT_S + 0.5:
                break
        answer = read_answer(sock, started)
    _problem(answer, 408, "request_timeout")
    assert answer.seconds < BODY_TIMEOUT_S + 2


def test_a_slow_body_within_the_deadline_is_answered(server: LiveServer) -> None:
    with connect(server.port, timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(_post_head(len(EVALUATE)))
        for piece in (EVALUATE[:20], EVALUATE[20:40], EVALUATE[40:]):
            time.sleep(BODY_TIMEOUT_S / 5)
            sock.sendall(piece)
        answer = read_answer(sock, started, wait_close=False)
    assert answer.status == 200, answer
    assert answer.json()["lr"] == 0.1


def test_headers_over_the_limit_get_431_and_the_connection_closed(server: LiveServer) -> None:
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * (2 * MAX_HEADER_BYTES))
        answer = read_answer(sock, started)
    _problem(answer, 431, "header_too_large")
    # Many small headers count as much as one big one.
    with connect(server.port) as sock:
        started = time.monotonic()
        many = b"".join(b"X-%d: %s\r\n" % (i, b"b" * 60) for i in range(MAX_HEADER_BYTES // 50))
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + many + b"\r\n")
        answer = read_answer(sock, started)
    _problem(answer, 431, "header_too_large")
    _still_serving(server)


# Far more than the kernel's socket buffers on loopback hold (a few MiB at most), so a
# server that kept reading would take it all and one that cuts the head at the limit
# resets the connection long before.
ENDLESS = 64 * 1024 * 1024


def test_an_endless_header_is_cut_at_the_limit(server: LiveServer) -> None:
    sent = 0
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Endless: ")
        try:
            while sent < ENDLESS:
                sock.sendall(b"c" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = read_answer(sock, started)
            _problem(answer, 431, "header_too_large")
        except ConnectionResetError:
            pass  # reset while we were still sending: cut all the same
    assert sent < ENDLESS, "the server kept reading an endless header"
    _still_serving(server)


def test_a_head_that_stalls_gets_408_and_a_silent_connection_is_closed(
    server: LiveServer,
) -> None:
    # The server's clock starts when it accepts the connection: ours before connecting.
    started = time.monotonic()
    with connect(server.port, timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        answer = read_answer(sock, started)
    _problem(answer, 408, "request_timeout")
    assert HEADER_TIMEOUT_S <= answer.seconds < HEADER_TIMEOUT_S + 2
    with connect(server.port, timeout=10) as sock:
        started = time.monotonic()
        assert closed_silently(sock)
        assert time.monotonic() - started < HEADER_TIMEOUT_S + 2
    # After an answer, a kept-alive connection gets the same time for its next head.
    with connect(server.port, timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        first = read_answer(sock, started, wait_close=False)
        assert first.status == 200 and not first.closed
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        again = read_answer(sock, time.monotonic())
    _problem(again, 408, "request_timeout")


def test_bodies_over_the_limit_get_413_at_the_server(server: LiveServer) -> None:
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(_post_head(10 * MAX_BODY_BYTES) + b"{")
        answer = read_answer(sock, started)
    _problem(answer, 413, "body_too_large")
    with connect(server.port) as sock:
        started = time.monotonic()
        sock.sendall(_post_head(None))
        piece = b"x" * 1024
        try:
            for _ in range(2 * MAX_BODY_BYTES // 1024):
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_answer(sock, started)
    _problem(answer, 413, "body_too_large")
    _still_serving(server)
