"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs too much per request): metrics and
the access log of every request, the request-body limit, and the request-body deadline."""

from __future__ import annotations

import logging
import time
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..api.errors import problem_response
from .logs import ACCESS_LOGGER
from .metrics import Metrics

UNMATCHED = "<unmatched>"


class ObservabilityMiddleware:
    """Counts and times every request per route template (never the raw path, so that
    metrics stay bounded) and writes one JSON access-log line per request."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, access_log: bool) -> None:
        self.app = app
        self.metrics = metrics
        self.log = logging.getLogger(ACCESS_LOGGER) if access_log else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(elapsed)
            if self.log is not None and self.log.isEnabledFor(logging.INFO):
                self.log.info(
                    "request",
                    extra={
                        "fields": {
                            "method": method,
                            "route": route,
                            "path": scope["path"],
                            "status": status,
                            "duration_ms": round(elapsed * 1000, 3),
                            "client": _client(scope),
                        }
                    },
                )


class BodyLimitMiddleware:
    """Refuses request bodies over `max_bytes` with 413 before anything parses them: by
    Content-Length when given, else by counting a chunked body as it arrives."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read the body here, up to the limit.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            "body_too_large",
            f"the request body is larger than {self.max_bytes} bytes",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class HeadLimitMiddleware:
    """Refuses a request whose line and headers are over `max_bytes` with 431 and closes
    its connection. The protocol (observability/protocols.py) cuts a head that is still
    arriving at the same limit; this catches one that arrived whole in a single read."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and head_size(scope) > self.max_bytes:
            response = problem_response(
                "header_too_large",
                f"the request line and headers are over {self.max_bytes} bytes",
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def head_size(scope: Scope) -> int:
    """The bytes of a request's line and headers as sent (give or take the separators)."""
    size = len(scope["method"]) + len(scope.get("raw_path") or b"") + 12
    size += len(scope.get("query_string") or b"")
    for name, value in scope["headers"]:
        size += len(name) + len(value) + 4
    return size


class BodyTimeoutMiddleware:
    """Answers 408 and closes the connection when a request's body has not fully arrived
    `timeout_s` seconds after its headers (a client that stalls, or trickles its body, to
    hold a connection and a worker). The time counts from the request's start, so a body
    sent a byte at a time cannot stretch it.

    On the deadline, the 408 is sent from inside the app's `receive()`, which then answers
    `http.disconnect` (the app stops as for a client that left); whatever the app sends
    after that is dropped."""

    def __init__(self, app: ASGIApp, *, timeout_s: float) -> None:
        self.app = app
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = time.monotonic() + self.timeout_s
        body_done = False
        started = False
        timed_out = False

        async def timed_receive() -> Message:
            nonlocal body_done, timed_out
            if body_done or timed_out:
                return await receive()  # after the body: only the disconnect comes
            message: Message | None = None
            with anyio.move_on_after(deadline - time.monotonic()):
                message = await receive()
            if message is None:
                timed_out = True
                if not started:
                    await self._refuse(scope, send)
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if timed_out:
                return  # the 408 has been answered
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, timed_receive, guarded_send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        response = problem_response(
            "request_timeout",
            f"the request body did not arrive within {self.timeout_s:g} s",
            headers={"Connection": "close"},
        )

        async def nothing() -> Message:
            return {"type": "http.disconnect"}

        await response(scope, nothing, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1").strip()
    return None


def _client(scope: Scope) -> Any:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else None
