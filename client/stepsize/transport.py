"""HTTP to the registry: one httpx client per process, timeouts, retries, error mapping.

Retries use tenacity: exponential backoff with full jitter, on connection errors,
timeouts and 429/502/503/504 answers. Every other error status maps to one exception of
`stepsize.errors` straight away, chosen by the problem's `code` (`errors.exception_for`).
After the last attempt a network failure is raised as `Unreachable`, which the callers
turn into a cache fallback or `ScheduleUnavailable`.

The connection pool is per process: after `fork` (data-loader workers) the child gets a
fresh `httpx.Client` on first use instead of sharing the parent's sockets.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import tenacity

from .errors import ServerError, Unreachable, exception_for
from .version import __version__

RETRY_STATUSES = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Retry:
    """How long the client waits for the server.

    Args:
        attempts: tries per request (the first one included).
        timeout: seconds per attempt for connecting, reading and writing.
        backoff: scale of the exponential backoff in seconds; the wait before attempt
            `n + 1` is uniform in `[0, min(max_backoff, backoff * 2**n)]` (full jitter).
        max_backoff: upper bound of one wait, in seconds.

    A request therefore blocks at most about `attempts * timeout + (attempts - 1) *
    max_backoff` seconds (default: 3 x 5 s + 2 x 2 s) before `Unreachable` is raised.
    """

    attempts: int = 3
    timeout: float = 5.0
    backoff: float = 0.25
    max_backoff: float = 2.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(
                f"Argument `attempts` must be >= 1. Received: attempts={self.attempts}"
            )
        if self.timeout <= 0:
            raise ValueError(f"Argument `timeout` must be > 0. Received: timeout={self.timeout}")
        if self.backoff < 0 or self.max_backoff < 0:
            raise ValueError(
                "Arguments `backoff` and `max_backoff` must be >= 0. "
                f"Received: backoff={self.backoff}, max_backoff={self.max_backoff}"
            )


class _RetryableStatus(Exception):
    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


class Transport:
    """A process-aware `httpx.Client` with retries; the only place that speaks HTTP."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None,
        retry: Retry,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.retry = retry
        self._token = token
        self._transport = transport
        self._sleep = sleep
        self._client: httpx.Client | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self.requests = 0  # requests sent by this process (attempts included)

    def __repr__(self) -> str:  # never shows the token
        return f"Transport({self.url!r})"

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a stepsize Transport holds a token and sockets; it is not picklable")

    @property
    def has_token(self) -> bool:
        return bool(self._token)

    def _http(self) -> httpx.Client:
        pid = os.getpid()
        if pid != self._pid:
            # A forked child: the parent's pool and lock are not ours; never close them
            # here (that could shut the parent's sockets), just start over.
            self._lock = threading.Lock()
            self._client = None
            self._pid = pid
        with self._lock:
            if self._client is None:
                headers = {"User-Agent": f"stepsize-client/{__version__}"}
                if self._token:
                    headers["Authorization"] = f"Bearer {self._token}"
                self._client = httpx.Client(
                    base_url=self.url,
                    headers=headers,
                    timeout=httpx.Timeout(self.retry.timeout),
                    transport=self._transport,
                    follow_redirects=False,
                )
            return self._client

    def close(self) -> None:
        """Close this process's connections; the next request opens new ones."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            client.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (),
        ref: str = "",
    ) -> httpx.Response:
        """Send one request with retries; answers 2xx (and statuses in `ok`).

        Raises `Unreachable` (naming `ref` and the URL) when every attempt failed on the
        network or with 429/5xx gateway statuses, and the `ServerError` subclass of the
        problem's code for any other error status. Blocks at most the bound documented
        on `Retry`.
        """
        retry = self.retry
        kwargs: dict[str, Any] = {}
        if self._sleep is not None:
            kwargs["sleep"] = self._sleep
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(retry.attempts),
            wait=tenacity.wait_random_exponential(multiplier=retry.backoff, max=retry.max_backoff),
            retry=tenacity.retry_if_exception_type((httpx.TransportError, _RetryableStatus)),
            reraise=True,
            **kwargs,
        )
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            for attempt in retrying:
                with attempt:
                    self.requests += 1
                    response = self._http().request(
                        method, path, params=clean, json=json, headers=headers
                    )
                    if response.status_code in RETRY_STATUSES:
                        raise _RetryableStatus(response)
        except httpx.TransportError as exc:
            raise Unreachable(
                f"{_about(ref)}{method} {self.url}{path}: the server is unreachable after "
                f"{retry.attempts} attempt(s) ({type(exc).__name__}: {exc or 'no detail'})",
                url=f"{self.url}{path}",
                ref=ref,
            ) from exc
        except _RetryableStatus as exc:
            raise Unreachable(
                f"{_about(ref)}{method} {self.url}{path}: the server answered "
                f"{exc.response.status_code} to {retry.attempts} attempt(s)"
                f"{_problem_of(exc.response)}",
                url=f"{self.url}{path}",
                ref=ref,
            ) from exc
        if response.is_success or response.status_code in ok:
            return response
        raise error_from_response(response)


def _about(ref: str) -> str:
    return f"{ref}: " if ref else ""


def _problem_of(response: httpx.Response) -> str:
    """`" (code: detail)"` of a problem+json answer, else ""."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or not body.get("code"):
        return ""
    return f" ({body['code']}: {body.get('detail') or body.get('title') or ''})"


def error_from_response(response: httpx.Response) -> ServerError:
    """The `ServerError` subclass for an error answer (by its problem `code`, else its
    status), with the problem+json fields."""
    status = response.status_code
    body: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            body = parsed
    except ValueError:
        pass
    title = str(body.get("title") or response.reason_phrase or "")
    detail = str(body.get("detail") or (response.text[:300] if not body else ""))
    raw = body.get("errors")
    errors: list[Any] = raw if isinstance(raw, list) else []
    code = str(body.get("code") or "")
    message = f"{status} {title}" + (f": {detail}" if detail else "")
    for item in errors[:10]:
        if isinstance(item, dict):
            message += f"\n  {item.get('path', '')}: {item.get('message', '')}"
    cls = exception_for(code, status)
    return cls(message, status=status, title=title, detail=detail, code=code, errors=errors)
