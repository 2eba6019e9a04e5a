"""What a client is configured with: arguments, else `STEPSIZE_*` variables, else defaults.

`ClientSettings.resolve` is the one place that reads the environment, for `Client` and
for the default pinning that restored shims use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .curves import DEFAULT_CHUNK_STEPS
from .disk import default_cache_dir
from .steps import MAX_VALUES_PER_REQUEST
from .transport import Retry

__all__ = ["DEFAULT_URL", "ClientSettings"]

DEFAULT_URL = "http://127.0.0.1:8000"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def optional_int(name: str, value: Any, minimum: int) -> int | None:
    """`value` if None or an int >= `minimum`; ValueError naming the argument otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Argument `{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
        )
    return value


@dataclass(frozen=True)
class ClientSettings:
    """A client's configuration, every field resolved (see `Client` for their meaning).

    `cache_dir` None means memory only; `token` is never shown by `repr`.
    """

    url: str
    token: str | None
    cache_dir: Path | None
    offline: bool
    retry: Retry
    chunk_steps: int
    upfront_limit: int
    transport: httpx.BaseTransport | None = None
    # runs (SPEC 7): rank 0 registers a run and reports it every `heartbeat_s` seconds;
    # a follower asks for amendments every `follow_poll_s` seconds and, under
    # torch.distributed, its ranks agree on them every `follow_sync_steps` updates
    register_runs: bool = True
    heartbeat_s: float = 10.0
    follow_poll_s: float = 10.0
    follow_sync_steps: int = 100

    def __repr__(self) -> str:
        return f"ClientSettings({self.url!r}, cache_dir={self.cache_dir!r}, offline={self.offline})"

    @property
    def wait_timeout(self) -> float:
        """The longest one request may block, retries included (seconds)."""
        r = self.retry
        return r.attempts * r.timeout + (r.attempts - 1) * r.max_backoff

    @classmethod
    def resolve(
        cls,
        url: str | None = None,
        token: str | None = None,
        *,
        cache_dir: str | os.PathLike[str] | bool | None = None,
        offline: bool | None = None,
        retry: Retry | None = None,
        chunk_steps: int = DEFAULT_CHUNK_STEPS,
        upfront_limit: int = MAX_VALUES_PER_REQUEST,
        transport: httpx.BaseTransport | None = None,
        register_runs: bool | None = None,
    ) -> ClientSettings:
        """Settings from the arguments, then `STEPSIZE_URL`, `STEPSIZE_TOKEN`,
        `STEPSIZE_CACHE_DIR`, `STEPSIZE_OFFLINE`, `STEPSIZE_REGISTER_RUNS` (0/false/off:
        no runs), `STEPSIZE_HEARTBEAT_S`, `STEPSIZE_FOLLOW_POLL_S`,
        `STEPSIZE_FOLLOW_SYNC_STEPS`. Raises ValueError for a bad argument or variable."""
        if register_runs is None:
            flag = os.environ.get("STEPSIZE_REGISTER_RUNS", "").strip().lower()
            register_runs = flag not in _FALSE
        if token is None:
            token = os.environ.get("STEPSIZE_TOKEN") or None
        if offline is None:
            offline = os.environ.get("STEPSIZE_OFFLINE", "").strip().lower() in _TRUE
        directory: Path | None
        if cache_dir is False:
            directory = None
        elif cache_dir is None or cache_dir is True:
            directory = default_cache_dir()
        else:
            directory = Path(cache_dir).expanduser()
        return cls(
            url=(url or os.environ.get("STEPSIZE_URL") or DEFAULT_URL).rstrip("/"),
            token=token,
            cache_dir=directory,
            offline=bool(offline),
            retry=retry or Retry(),
            chunk_steps=optional_int("chunk_steps", chunk_steps, 2) or DEFAULT_CHUNK_STEPS,
            upfront_limit=optional_int("upfront_limit", upfront_limit, 1) or 1,
            transport=transport,
            register_runs=bool(register_runs),
            heartbeat_s=_env_float("STEPSIZE_HEARTBEAT_S", 10.0),
            follow_poll_s=_env_float("STEPSIZE_FOLLOW_POLL_S", 10.0),
            follow_sync_steps=_env_int("STEPSIZE_FOLLOW_SYNC_STEPS", 100),
        )


def _env_float(name: str, default: float) -> float:
    """A positive number from the environment; ValueError naming the variable otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"{name} must be a number of seconds > 0. Received: {name}={raw!r}")
    return value


def _env_int(name: str, default: int) -> int:
    """An integer >= 1 from the environment; ValueError naming the variable otherwise."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name} must be an integer >= 1. Received: {name}={raw!r}")
    return int(raw)
