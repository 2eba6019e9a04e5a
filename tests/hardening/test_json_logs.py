"""Logs stay JSON: every line a server writes parses as one JSON object, whoever wrote it
(our code, uvicorn, a numpy RuntimeWarning, a library's warning, a thread that died)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.hardening.rawhttp import connect
from tests.support.live_server import LiveServer

# Loaded by the server's interpreter at start (PYTHONPATH): on SIGUSR1 it makes numpy
# divide by zero, warns as a library would (UserWarning; DeprecationWarning is hidden by
# Python's default filters), and lets a thread die of an exception — all
# in the running server, after its logging is configured.
PROVOKER = """
import signal, threading, warnings

def _provoke(signum, frame):
    import numpy
    numpy.float64(1.0) / numpy.float64(0.0)
    warnings.warn("a library's warning", UserWarning, stacklevel=1)
    def die():
        raise RuntimeError("a thread died")
    threading.Thread(target=die, name="doomed").start()

signal.signal(signal.SIGUSR1, _provoke)
"""
DEFINITION = {"type": "constant", "value": 0.1}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(PROVOKER)
    env = {
        "PYTHONPATH": os.pathsep.join([str(hooks), os.environ.get("PYTHONPATH", "")]),
        "STEPSIZE_LOG_LEVEL": "DEBUG",
        "STEPSIZE_BODY_TIMEOUT": "0.5",
    }
    with LiveServer(tmp_path / "server", env=env) as live:
        yield live


def _records(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    assert lines, "the server wrote nothing"
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"line {number} of the server's log is not JSON: {line!r}")
        assert isinstance(record, dict) and {"ts", "level", "logger", "message"} <= set(record)
        records.append(record)
    return records


def test_every_line_of_the_log_is_json(server: LiveServer) -> None:
    assert server.process is not None
    token = server.admin_token
    with httpx.Client(base_url=server.url, timeout=30) as client:
        auth = {"Authorization": f"Bearer {token}"}
        ref = "/v1/schedules/logs/spike"
        spike = {"type": "expression", "expr": "0.001 + abs(1 / (step - 300001)) * 1e-9"}
        assert client.post(
            f"{ref}/versions", json={"definition": spike}, headers=auth
        ).status_code == 201  # fmt: skip
        # Errors of every kind: 4xx, a bad token, a stream cut short (uvicorn logs the
        # exception with its traceback).
        assert client.get("/v1/schedules/logs/nothing/lr", params={"step": 1}).status_code == 404
        assert (
            client.post(
                "/v1/evaluate", content=b"{not json", headers={"Content-Type": "application/json"}
            ).status_code
            == 400
        )
        assert client.get("/v1/audit", headers={"Authorization": "Bearer ssz_x"}).status_code == 401
        with pytest.raises(httpx.RemoteProtocolError):
            client.get(f"{ref}/lr", params={"stop": 1_000_000},
                       headers={"Accept": "application/x-npy"})  # fmt: skip
    # Garbage on the wire (uvicorn's "Invalid HTTP request"), a stalled body (408).
    with connect(server.port, timeout=5) as sock:
        sock.sendall(b"\x00\x01 not http at all\r\n\r\n")
        sock.recv(1024)
    with connect(server.port, timeout=5) as sock:
        sock.sendall(b"POST /v1/evaluate HTTP/1.1\r\nHost: t\r\nContent-Length: 50\r\n\r\n{")
        assert b" 408 " in sock.recv(1024)
    # A numpy warning, library warnings, a thread's death, in the running server.
    os.kill(server.process.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while "a thread died" not in server.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    server.stop()  # graceful: uvicorn's shutdown lines too
    records = _records(server.log_path)
    warnings = [r for r in records if r["logger"] == "py.warnings"]
    assert any("divide by zero" in r["message"] and "RuntimeWarning" in r["message"]
               for r in warnings), warnings  # fmt: skip
    assert any("a library's warning" in r["message"] for r in warnings)
    died = [r for r in records if "a thread died" in r.get("exc", "")]
    assert died and died[0]["thread"] == "doomed"
    assert any("cut short" in r["message"] for r in records)
    assert any(r["logger"].startswith("uvicorn") and r["level"] == "WARNING" for r in records)
    assert any(r.get("status") == 408 for r in records)
    assert any(r["logger"] == "uvicorn.error" and "Shutting down" in r["message"]
               for r in records)  # fmt: skip
