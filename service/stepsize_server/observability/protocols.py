"""uvicorn's HTTP protocols with limits on the request head, held by the server itself (not
only behind a proxy): at most `max_header_bytes` of request line and headers (431), sent
within `header_timeout` seconds of the connection opening or of the previous answer (408,
or a silent close when nothing came at all).

httptools buffers a header of any size (20 MB were accepted in a probe) and neither parser
bounds the time a client may take to send its head, so a slow or endless head would hold
a connection and its memory forever. `serve` runs uvicorn with `protocol_path(http)`.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.util
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from ..api.errors import problem_response
from ..settings import Settings

_MODULE = __name__


@functools.cache
def head_limits() -> tuple[int, float]:
    """(max_header_bytes, header_timeout) from this process's settings, read once."""
    settings = Settings()
    return settings.max_header_bytes, settings.header_timeout


def problem_bytes(code: str, detail: str) -> bytes:
    """A whole HTTP/1.1 answer (problem+json, `Connection: close`), written straight to
    the transport: the app never saw this request."""
    response = problem_response(code, detail)
    head = [f"HTTP/1.1 {response.status_code} {_reason(code)}".encode()]
    head += [name + b": " + value for name, value in response.raw_headers]
    head.append(b"connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + bytes(response.body)


def _reason(code: str) -> str:
    from ..api.errors import ERROR_CODES

    return ERROR_CODES[code].title


class HeadLimits:
    """Mixed into a uvicorn protocol (before it in the bases). A request's head is
    complete once the protocol has made its `cycle`; until then, bytes received are
    counted and a timer runs."""

    transport: asyncio.Transport
    cycle: Any
    loop: asyncio.AbstractEventLoop

    # The protocol's own hooks, extended (super() is the uvicorn protocol in the MRO).
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._head_start()

    def data_received(self, data: bytes) -> None:
        self._head_received(data, super().data_received)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._head_start()

    def connection_lost(self, exc: Exception | None) -> None:
        self._head_cancel()
        super().connection_lost(exc)  # type: ignore[misc]

    def _head_start(self) -> None:
        """A new head may begin: count from zero, (re)arm the timer."""
        self._head_bytes = 0
        self._head_cycle = self.cycle
        self._head_cancel()
        _, timeout = head_limits()
        self._head_timer: asyncio.TimerHandle | None = self.loop.call_later(
            timeout, self._head_timed_out
        )

    def _head_cancel(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_waiting(self) -> bool:
        return getattr(self, "_head_cycle", None) is self.cycle and hasattr(self, "_head_bytes")

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._head_waiting() or self.transport.is_closing():
            return
        if self._head_bytes:
            _, timeout = head_limits()
            self.transport.write(
                problem_bytes(
                    "request_timeout",
                    f"the request line and headers did not arrive within {timeout:g} s",
                )
            )
        self.transport.close()

    def _head_received(self, data: bytes, feed: Any) -> None:
        """Count `data` while the head is incomplete, feed it to the parser, and refuse the
        request once the head alone is over the limit."""
        waiting = self._head_waiting()
        if waiting:
            self._head_bytes += len(data)
        feed(data)
        if waiting and self._head_waiting() and not self.transport.is_closing():
            limit, _ = head_limits()
            if self._head_bytes > limit:
                self._head_cancel()
                self.transport.write(
                    problem_bytes(
                        "header_too_large",
                        f"the request line and headers are over {limit} bytes",
                    )
                )
                self.transport.close()
        elif waiting and not self._head_waiting():
            self._head_cancel()  # the head is complete: the app's own deadlines take over


class LimitedH11Protocol(HeadLimits, H11Protocol):
    """h11 with `HeadLimits`."""


if importlib.util.find_spec("httptools") is not None:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class LimitedHttpToolsProtocol(HeadLimits, HttpToolsProtocol):
        """httptools with `HeadLimits`."""


def protocol_path(http: str) -> str:
    """uvicorn's `http=` for the setting `http` (auto: httptools when installed)."""
    if http == "auto":
        http = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    name = "LimitedHttpToolsProtocol" if http == "httptools" else "LimitedH11Protocol"
    return f"{_MODULE}:{name}"
