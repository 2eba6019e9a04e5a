"""`Client`, which pins references to `Schedule`s for training code (SPEC section 7).

The pinned `Schedule` itself is in `schedule.py`; `to_definition` in `definitions.py`.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from . import cache
from .cache import DEFAULT_CHUNK_STEPS, MAX_VALUES_PER_REQUEST, Curve
from .definitions import to_definition
from .disk import DiskCache, check_values
from .errors import NotFound, ScheduleUnavailable, StepsizeError, Unreachable
from .refs import Ref
from .schedule import Identity, Schedule, check_step
from .transport import Retry, Transport

log = logging.getLogger("stepsize")

DEFAULT_URL = "http://127.0.0.1:8000"
_TRUE = {"1", "true", "yes", "on"}


def _optional_int(name: str, value: Any, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"Argument `{name}` must be an integer >= {minimum}. Received: {name}={value!r}"
        )
    return value


@dataclass(frozen=True)
class Published:
    """The answer to `Client.publish`: `created` is False when the latest had that digest."""

    schedule: str
    version: int
    digest: str
    created: bool
    data: dict[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.schedule}@{self.version}"


class Client:
    """A connection to a stepsize registry, with its caches.

    Args:
        url: the server, default `STEPSIZE_URL` or `http://127.0.0.1:8000`.
        token: a bearer token for writes (and reads on a private server), default
            `STEPSIZE_TOKEN`. Sent only in the Authorization header, never stored elsewhere.
        cache_dir: the disk cache, default `STEPSIZE_CACHE_DIR` or `~/.cache/stepsize`;
            `False` keeps values in memory only.
        offline: never call the server, default `STEPSIZE_OFFLINE=1`.
        retry: timeouts and retries (`stepsize.Retry`): by default 3 attempts of 5 s.
        chunk_steps: steps per fetched chunk of an open-ended curve.
        upfront_limit: at most this many values are fetched at construction.
        transport: an `httpx` transport (tests pass `httpx.MockTransport`).

    Example:
        >>> client = stepsize.Client()
        >>> sched = client.schedule("vision/resnet50:prod", total_steps=100_000)
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        cache_dir: str | os.PathLike[str] | bool | None = None,
        offline: bool | None = None,
        retry: Retry | None = None,
        chunk_steps: int = DEFAULT_CHUNK_STEPS,
        upfront_limit: int = MAX_VALUES_PER_REQUEST,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = (url or os.environ.get("STEPSIZE_URL") or DEFAULT_URL).rstrip("/")
        if token is None:
            token = os.environ.get("STEPSIZE_TOKEN") or None
        if offline is None:
            offline = os.environ.get("STEPSIZE_OFFLINE", "").strip().lower() in _TRUE
        self.offline = bool(offline)
        self.retry = retry or Retry()
        if cache_dir is False:
            self.cache: DiskCache | None = None
        else:
            self.cache = DiskCache(None if cache_dir in (None, True) else cache_dir)  # type: ignore[arg-type]
        self.chunk_steps = _optional_int("chunk_steps", chunk_steps, 2) or DEFAULT_CHUNK_STEPS
        self.upfront_limit = _optional_int("upfront_limit", upfront_limit, 1) or 1
        self._http = Transport(self.url, token=token, retry=self.retry, transport=transport)

    def __repr__(self) -> str:
        mode = ", offline" if self.offline else ""
        return f"Client({self.url!r}, cache={self.cache!r}{mode})"

    def __reduce__(self) -> Any:
        raise TypeError(
            "a stepsize Client holds a token and connections and is not picklable; "
            "pickle the Schedule (or its shims) instead"
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close this process's connections (a later call opens new ones)."""
        self._http.close()

    @property
    def has_token(self) -> bool:
        """Whether a token is configured (it is never shown)."""
        return self._http.has_token

    @property
    def requests(self) -> int:
        """HTTP attempts this client sent from this process."""
        return self._http.requests

    @property
    def wait_timeout(self) -> float:
        """The longest one request may block, retries included (seconds)."""
        r = self.retry
        return r.attempts * r.timeout + (r.attempts - 1) * r.max_backoff

    # the pinned schedule

    def schedule(
        self,
        ref: str,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        *,
        distributed: bool | None = None,
    ) -> Schedule:
        """Pin `ref` to one version and load its values.

        A tag or `latest` is resolved once, here. With `total_steps` (or a definition
        whose horizon is finite) every value the run needs is fetched now; otherwise
        the first chunk is, and later chunks are prefetched in the background.

        Args:
            ref: `ns/name`, `ns/name@3` or `ns/name:prod`.
            total_steps: the number of optimizer updates the run will make.
            steps_per_epoch: for schedules written in epochs without their own.
            distributed: with torch.distributed initialized (None: auto), rank 0 talks
                to the server and broadcasts; call this on every rank. False: this
                process fetches for itself.

        Raises:
            ScheduleUnavailable: the server is unreachable (after retries, at most
                `wait_timeout` seconds) and the cache has no values for `ref`.
            NotFound, AuthError, InvalidRequest: what the server answered.
            ValueError: a malformed reference or argument.
        """
        parsed = Ref.parse(ref)
        total_steps = _optional_int("total_steps", total_steps, 0)
        steps_per_epoch = _optional_int("steps_per_epoch", steps_per_epoch, 1)
        dist = _torch_distributed() if distributed is not False else None
        if distributed is True and dist is None:
            raise ValueError(
                "distributed=True needs an initialized torch.distributed process group"
            )
        if dist is not None:
            from .distributed import broadcast_schedule

            identity, curve = broadcast_schedule(self, dist, parsed, total_steps, steps_per_epoch)
        else:
            identity = self._resolve(parsed, total_steps, steps_per_epoch)
            curve = self._load_curve(identity)
        return Schedule(identity, curve, requested=str(parsed))

    def _resolve(
        self, parsed: Ref, total_steps: int | None, steps_per_epoch: int | None
    ) -> Identity:
        if self.offline:
            return self._resolve_cached(parsed, total_steps, steps_per_epoch, "STEPSIZE_OFFLINE=1")
        try:
            version = parsed.version
            if version is None:
                summary = self._http.request("GET", parsed.path).json()
                version = _select(summary, parsed)
                if self.cache is not None:
                    record = {"version": version, "resolved_at": time.time()}
                    self.cache.store_json(
                        "refs", parsed.namespace, parsed.name, parsed.selector, record
                    )
            info = self._version_info(parsed.pinned(version), steps_per_epoch)
        except Unreachable as exc:
            return self._resolve_cached(parsed, total_steps, steps_per_epoch, str(exc))
        return Identity(
            ref=str(parsed.pinned(version)),
            digest=info["digest"],
            horizon=info.get("horizon"),
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
        )

    def _version_info(self, pinned: Ref, steps_per_epoch: int | None = None) -> dict[str, Any]:
        """The immutable facts of one version, from the disk cache or the server. With
        `steps_per_epoch`, the horizon of a schedule written in epochs is known too."""
        leaf = _version_leaf(pinned.version, steps_per_epoch)
        if self.cache is not None:
            cached = self.cache.load_json("versions", pinned.namespace, pinned.name, leaf)
            if cached and isinstance(cached.get("digest"), str):
                return cached
        if self.offline:
            raise ScheduleUnavailable(f"{pinned}: STEPSIZE_OFFLINE=1 and not in the cache")
        params = None if steps_per_epoch is None else {"steps_per_epoch": steps_per_epoch}
        path = f"{pinned.path}/versions/{pinned.version}"
        info = self._http.request("GET", path, params=params).json()
        horizon = info.get("horizon")
        record = {
            "schedule": info.get("schedule", pinned.schedule),
            "version": int(info.get("version", pinned.version)),
            "digest": str(info["digest"]),
            "horizon": int(horizon) if horizon is not None else None,
            "definition": info.get("definition"),
        }
        if self.cache is not None:
            self.cache.store_json("versions", pinned.namespace, pinned.name, leaf, record)
        return record

    def _resolve_cached(
        self, parsed: Ref, total_steps: int | None, steps_per_epoch: int | None, why: str
    ) -> Identity:
        version = parsed.version
        where = f"the cache ({self.cache.root})" if self.cache is not None else "memory"
        if version is None and self.cache is not None:
            record = self.cache.load_json("refs", parsed.namespace, parsed.name, parsed.selector)
            if record and isinstance(record.get("version"), int):
                version = record["version"]
                when = time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.localtime(record.get("resolved_at", 0))
                )
                log.warning(
                    "stepsize: %s; using the cached resolution %s -> @%s from %s",
                    why,
                    parsed,
                    version,
                    when,
                )
        info = None
        if version is not None and self.cache is not None:
            leaf = _version_leaf(int(version), steps_per_epoch)
            info = self.cache.load_json("versions", parsed.namespace, parsed.name, leaf)
        if info is None:
            raise ScheduleUnavailable(
                f"cannot resolve {parsed}: {why}, and {where} has no entry for it. Check that "
                f"the server at {self.url} is up (STEPSIZE_URL), or run once online to fill "
                "the cache."
            )
        return Identity(
            ref=str(parsed.pinned(int(version))),  # type: ignore[arg-type]
            digest=str(info["digest"]),
            horizon=info.get("horizon"),
            total_steps=total_steps,
            steps_per_epoch=steps_per_epoch,
        )

    def _load_curve(self, identity: Identity, *, fetch_upfront: bool = True) -> Curve:
        curve = cache.lookup(identity.key)
        if curve is None:
            curve = cache.register(
                Curve(
                    identity.key,
                    label=identity.ref,
                    horizon=identity.horizon,
                    total_steps=identity.total_steps,
                    chunk_steps=self.chunk_steps,
                    disk=self.cache,
                    source=None if self.offline else self.source(identity),
                    wait_timeout=self.wait_timeout,
                )
            )
        else:
            if curve.source is None and not self.offline:
                curve.source = self.source(identity)
            if identity.total_steps is not None and (
                curve.total_steps is None or identity.total_steps > curve.total_steps
            ):
                curve.total_steps = identity.total_steps
                curve._add({})  # the fast tables may now run further
        if fetch_upfront:
            curve.ensure(0, curve.upfront_chunks(self.upfront_limit))
        return curve

    def source(self, identity: Identity) -> cache.Source:
        """A function fetching `[start, stop)` of `identity`'s curve (raises Unreachable)."""
        pinned = Ref.parse(identity.ref)
        http = self._http

        def fetch(start: int, stop: int) -> np.ndarray:
            response = http.request(
                "GET",
                f"{pinned.path}/lr",
                params={
                    "start": start,
                    "stop": stop,
                    "stride": 1,
                    "version": pinned.version,
                    "steps_per_epoch": identity.steps_per_epoch,
                },
                headers={"Accept": "application/x-npy"},
            )
            served = response.headers.get("X-Stepsize-Digest")
            if served is not None and served != identity.digest:
                raise StepsizeError(
                    f"{pinned}: the server answered values of digest {served}, "
                    f"expected {identity.digest}"
                )
            try:
                values = np.load(io.BytesIO(response.content), allow_pickle=False)
                return check_values(values, stop - start)
            except (ValueError, OSError, EOFError) as exc:
                raise StepsizeError(
                    f"{pinned}: the server sent an unusable .npy body: {exc}"
                ) from exc

        return fetch

    # registry operations

    def publish(
        self,
        ref: str,
        definition: Any,
        *,
        description: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> Published:
        """Publish a new version of `ref` (`ns/name`).

        `definition` is a definition dict, a Keras `LearningRateSchedule` (through its
        `get_config()`), or a torch scheduler of a supported class (through its
        parameters and the optimizer's initial lr). Publishing the same definition as
        the latest version returns that version with `created=False`.

        Raises `AuthError` without a token with `write:<ns>`, `InvalidRequest` with the
        server's JSON pointers for an invalid definition, `TypeError` for an object it
        cannot convert, and `Unreachable` when the server cannot be reached.
        """
        parsed = Ref.parse(ref)
        if parsed.version is not None or parsed.tag is not None:
            raise ValueError(
                f"publish takes 'namespace/name' without a version or tag. Received: ref={ref!r}"
            )
        body: dict[str, Any] = {"definition": to_definition(definition, client=self)}
        if description is not None:
            body["description"] = description
        if labels is not None:
            body["labels"] = labels
        response = self._http.request("POST", f"{parsed.path}/versions", json=body)
        data = response.json()
        return Published(
            schedule=data.get("schedule", parsed.schedule),
            version=int(data["version"]),
            digest=str(data["digest"]),
            created=response.status_code == 201,
            data=data,
        )

    def info(self, ref: str) -> dict[str, Any]:
        """The summary of a schedule (latest version, tags, version count). Raises NotFound."""
        return self._http.request("GET", Ref.parse(ref).path).json()

    def version(self, ref: str) -> dict[str, Any]:
        """One version (a tag or latest is resolved now) with its normalized definition."""
        parsed = Ref.parse(ref)
        version = parsed.version
        if version is None:
            version = _select(self.info(ref), parsed)
        return self._http.request("GET", f"{parsed.path}/versions/{version}").json()

    def versions(self, ref: str) -> Any:
        """Every version of a schedule, as the server lists them."""
        return self._http.request("GET", f"{Ref.parse(ref).path}/versions").json()

    def list(
        self,
        *,
        namespace: str | None = None,
        q: str | None = None,
        tag: str | None = None,
        limit: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Iterate over schedules (following cursors), `limit` per request."""
        cursor = None
        while True:
            page = self._http.request(
                "GET",
                "/v1/schedules",
                params={
                    "namespace": namespace,
                    "q": q,
                    "tag": tag,
                    "limit": limit,
                    "cursor": cursor,
                },
            ).json()
            if isinstance(page, dict):
                items = list(page.get("items") or [])
                cursor = page.get("next_cursor")
            else:
                items, cursor = list(page or []), None
            yield from items
            if not cursor or not items:
                return

    def tag(
        self, ref: str, tag: str, version: int, *, expected: int | None = None
    ) -> dict[str, Any]:
        """Point `tag` of `ns/name` at `version`.

        `expected` is the version the tag points at now (sent as If-Match); when None
        the current one is read first. Raises `Conflict` when the tag moved meanwhile.
        """
        parsed = Ref.parse(ref)
        if expected is None:
            expected = (self.info(ref).get("tags") or {}).get(tag)
        headers = {"If-Match": f'"{expected}"'} if expected is not None else None
        return self._http.request(
            "PUT", f"{parsed.path}/tags/{tag}", json={"version": int(version)}, headers=headers
        ).json()

    def lr(self, ref: str, step: int, *, steps_per_epoch: int | None = None) -> float:
        """The lr of `ref` at one step, straight from the server (no cache)."""
        parsed = Ref.parse(ref)
        data = self._http.request(
            "GET",
            f"{parsed.path}/lr",
            params={
                "step": check_step(step),
                **_selector(parsed),
                "steps_per_epoch": steps_per_epoch,
            },
        ).json()
        return float(data["lr"])

    def values(
        self,
        ref: str,
        start: int,
        stop: int,
        stride: int = 1,
        *,
        steps_per_epoch: int | None = None,
    ) -> np.ndarray:
        """Values of `ref` for `range(start, stop, stride)`, straight from the server (.npy)."""
        parsed = Ref.parse(ref)
        response = self._http.request(
            "GET",
            f"{parsed.path}/lr",
            params={
                "start": start,
                "stop": stop,
                "stride": stride,
                **_selector(parsed),
                "steps_per_epoch": steps_per_epoch,
            },
            headers={"Accept": "application/x-npy"},
        )
        return np.load(io.BytesIO(response.content), allow_pickle=False)

    def validate(self, definition: Any) -> dict[str, Any]:
        """The server's verdict on a definition: normalized form, digest, horizon, warnings."""
        return self._http.request(
            "POST", "/v1/validate", json={"definition": to_definition(definition)}
        ).json()

    def evaluate(
        self,
        definition: Any,
        start: int,
        stop: int,
        stride: int = 1,
        *,
        steps_per_epoch: int | None = None,
    ) -> np.ndarray:
        """Values of an unpublished definition for `range(start, stop, stride)`."""
        body: dict[str, Any] = {
            "definition": to_definition(definition),
            "start": start,
            "stop": stop,
            "stride": stride,
        }
        if steps_per_epoch is not None:
            body["steps_per_epoch"] = steps_per_epoch
        data = self._http.request("POST", "/v1/evaluate", json=body).json()
        return np.asarray(data["lr"], dtype=np.float64)


def _select(summary: dict[str, Any], parsed: Ref) -> int:
    if parsed.tag is None or parsed.tag == "latest":
        version = summary.get("latest_version")
        if version is None:
            raise NotFound(f"{parsed.schedule} has no versions", status=404)
        return int(version)
    tags = summary.get("tags") or {}
    if parsed.tag not in tags:
        known = ", ".join(sorted(tags)) or "none"
        raise NotFound(f"{parsed.schedule} has no tag {parsed.tag!r} (tags: {known})", status=404)
    return int(tags[parsed.tag])


def _selector(parsed: Ref) -> dict[str, Any]:
    if parsed.version is not None:
        return {"version": parsed.version}
    if parsed.tag is not None:
        return {"tag": parsed.tag}
    return {}


def _torch_distributed() -> Any:
    """torch.distributed when torch is already imported and a group of >1 is initialized."""
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    dist = getattr(torch, "distributed", None)
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return None
    return dist if dist.get_world_size() > 1 else None


# Shims restored from a pickle, a checkpoint or a saved Keras model find their values
# through this client when neither memory nor disk has them.
_default: Client | None = None
_default_lock = threading.Lock()


def default_client() -> Client:
    """The process's client for restored shims: configured from STEPSIZE_* variables."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Client()
        return _default


def set_default_client(client: Client | None) -> None:
    """Use `client` (None: a new one from the environment) for restored shims."""
    global _default
    with _default_lock:
        _default = client


def curve_for(identity: Identity) -> Curve:
    """The loaded curve of `identity`: memory, else disk, else the default client's server.

    Raises ScheduleUnavailable when none has it.
    """
    curve = cache.lookup(identity.key)
    if curve is not None:
        return curve
    return default_client()._load_curve(identity)


def restore(identity: dict[str, Any]) -> Schedule:
    """Rebuild a pickled `Schedule` (see `Schedule.__reduce__`)."""
    ident = Identity(**identity)
    return Schedule(ident, curve_for(ident))


__all__ = [
    "Client",
    "Identity",
    "Published",
    "Schedule",
    "curve_for",
    "default_client",
    "restore",
    "set_default_client",
    "to_definition",
]


def _version_leaf(version: int | None, steps_per_epoch: int | None) -> str:
    """Disk-cache key of a version's facts: the horizon depends on steps_per_epoch."""
    return str(version) if steps_per_epoch is None else f"{version}-spe{steps_per_epoch}"
