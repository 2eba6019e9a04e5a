"""`Client`: a thin facade over the pinning layer, the REST calls and publishing (SPEC 7).

client.schedule(ref, ...)    -> pinning.Pinning (resolve once, load the curve), or
                                distributed.broadcast_schedule under torch.distributed
client.publish(ref, obj)     -> publishing.publish
client.amend(ref, v, s, obj) -> publishing.publish with `amends` (adopted by follow.Follower)
client.info/version/...      -> registry.Registry
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any, NoReturn

import httpx
import numpy as np

from . import pinning as pinning_layer
from .curves import DEFAULT_CHUNK_STEPS
from .disk import DiskCache
from .distributed import broadcast_schedule, torch_distributed
from .follow import Follower
from .pinning import Pinning
from .publishing import Published, publish, to_definition
from .refs import Ref
from .runs import start_run
from .schedule import Schedule, restore
from .settings import ClientSettings, optional_int
from .steps import MAX_VALUES_PER_REQUEST
from .track import Track
from .transport import Retry

__all__ = ["Client", "set_default_client"]


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

    Every call to the server raises `Unreachable` (after the retries, naming the
    reference and the URL) or the `ServerError` subclass of the server's problem code.

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
        settings = ClientSettings.resolve(
            url,
            token,
            cache_dir=cache_dir,
            offline=offline,
            retry=retry,
            chunk_steps=chunk_steps,
            upfront_limit=upfront_limit,
            transport=transport,
        )
        self.pinning = Pinning(settings)
        self.registry = self.pinning.registry
        self._http = self.pinning.transport
        self.url = settings.url
        self.offline = settings.offline
        self.retry = settings.retry
        self.chunk_steps = settings.chunk_steps
        self.upfront_limit = settings.upfront_limit
        self.cache: DiskCache | None = self.pinning.disk

    def __repr__(self) -> str:
        mode = ", offline" if self.offline else ""
        return f"Client({self.url!r}, cache={self.cache!r}{mode})"

    def __reduce__(self) -> NoReturn:
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
        return self.pinning.wait_timeout

    def schedule(
        self,
        ref: str,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        *,
        distributed: bool | None = None,
        follow: bool = False,
        register_run: bool | None = None,
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
            follow: adopt amendments of the pinned version (and of those, in a chain)
                while the job runs: every rank switches at the amendment's `from_step`,
                or none does (`stepsize.follow`).
            register_run: register the job as a run with the server and report its
                progress and observed lr in the background (rank 0 only; never fatal).
                None: `STEPSIZE_REGISTER_RUNS` (on unless 0/false/off).

        Raises:
            ScheduleUnavailable: the server is unreachable (after retries, at most about
                `wait_timeout` seconds) and the cache has no values for `ref`; the
                message and its `ref` and `url` name the reference and the server.
            CacheError: a cached chunk was corrupt and the server could not replace it.
            NotFound, AuthError, InvalidRequest: what the server answered.
            ValueError: a malformed reference or argument.
        """
        parsed = Ref.parse(ref)
        total_steps = optional_int("total_steps", total_steps, 0)
        steps_per_epoch = optional_int("steps_per_epoch", steps_per_epoch, 1)
        dist = torch_distributed() if distributed is not False else None
        if distributed is True and dist is None:
            raise ValueError(
                "distributed=True needs an initialized torch.distributed process group"
            )
        if dist is not None:
            identity, curve = broadcast_schedule(
                self.pinning, dist, parsed, total_steps, steps_per_epoch
            )
        else:
            identity, curve = self.pinning.pin(parsed, total_steps, steps_per_epoch)
        track = Track(identity, curve)
        if register_run is None:
            register_run = self.pinning.settings.register_runs
        if register_run and not self.offline and (dist is None or dist.get_rank() == 0):
            world = dist.get_world_size() if dist is not None else 1
            track.run = start_run(self.pinning, identity, follow=follow, world_size=world)
        if follow:
            Follower.attach(self.pinning, track, dist=dist)
        return Schedule(identity, curve, requested=str(parsed), pinning=self.pinning, track=track)

    def restoring(self) -> contextlib.AbstractContextManager[Pinning]:
        """A block in which restored shims load through this client first.

        Restoring a pickle, `torch.load` of a pickled shim or `keras.models.load_model`
        inside it asks this client's server (and cache) before
        `stepsize.set_default_client` and the environment:

            with client.restoring():
                sched = pickle.load(f)

        Shims handed out by this client's schedules (`torch_lambda`, `torch_scheduler`)
        restore through it by themselves, e.g. in `load_state_dict`.
        """
        return pinning_layer.restoring(self.pinning)

    def restore(self, state: dict[str, Any]) -> Schedule:
        """`stepsize.restore(state, client=self)`: a `Schedule` rebuilt from a saved
        identity, its values from this client's cache or server. Raises
        `ScheduleUnavailable` when they cannot be had (nothing of the attempt is kept)."""
        return restore(state, client=self)

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
        server's JSON pointers for an invalid definition, `Conflict` for an archived
        schedule, `TypeError` for an object it cannot convert, and `Unreachable` when the
        server cannot be reached.
        """
        return publish(self.registry, ref, definition, description=description, labels=labels)

    def amend(
        self,
        ref: str,
        version: int,
        from_step: int,
        definition: Any,
        *,
        description: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> Published:
        """Publish an amendment of `ref`@`version` (`ref` is `ns/name`): a new version
        equal to `version` at every step before `from_step` and continuing with
        `definition` from there (which sees the local step `step - from_step`, as a
        child of `sequence` does). Jobs following `version` (`follow=True`) switch to it
        at update `from_step`, on every rank, or not at all.

        `definition` is anything `publish` takes. Raises ValueError for a reference with
        a version or tag or a `version` < 1 or `from_step` < 1; what the server answers:
        `Conflict` (409 `amendment_passed`, naming the runs) when a live follower has
        passed `from_step`, `NotFound` for an unknown version, `AuthError` without
        `write:<ns>`, `InvalidRequest`, and `Unreachable`.
        """
        version = optional_int("version", version, 1) or 1
        from_step = optional_int("from_step", from_step, 1) or 1
        return publish(
            self.registry,
            ref,
            definition,
            description=description,
            labels=labels,
            amends={"version": version, "from_step": from_step},
        )

    def info(self, ref: str) -> dict[str, Any]:
        """The summary of a schedule (latest version, tags, version count). Raises NotFound."""
        return self.registry.summary(Ref.parse(ref))

    def version(self, ref: str) -> dict[str, Any]:
        """One version (a tag or latest is resolved now) with its normalized definition.

        Raises `NotFound` for an unknown schedule, version or tag, or a tag or latest of
        an archived schedule (code `archived_unpinned`).
        """
        return self.registry.version(Ref.parse(ref))

    def versions(self, ref: str) -> list[dict[str, Any]]:
        """Every version of a schedule, newest first, without definitions (all pages)."""
        return self.registry.versions(Ref.parse(ref))

    def list(
        self,
        *,
        namespace: str | None = None,
        q: str | None = None,
        tag: str | None = None,
        limit: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Iterate over schedules (following cursors), `limit` per request."""
        return self.registry.schedules(namespace=namespace, q=q, tag=tag, limit=limit)

    def tag(
        self, ref: str, tag: str, version: int, *, expected: int | None = None
    ) -> dict[str, Any]:
        """Point `tag` of `ns/name` at `version`.

        `expected` is the version the tag points at now (sent as If-Match); when None
        the current one is read first. Raises `Conflict` when the tag moved meanwhile.
        """
        parsed = Ref.parse(ref)
        if expected is None:
            expected = (self.registry.summary(parsed).get("tags") or {}).get(tag)
        return self.registry.put_tag(parsed, tag, version, expected=expected)

    def lr(self, ref: str, step: int, *, steps_per_epoch: int | None = None) -> float:
        """The lr of `ref` at one step, straight from the server (no cache)."""
        return self.registry.lr(Ref.parse(ref), step, steps_per_epoch=steps_per_epoch)

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
        return self.registry.values(
            Ref.parse(ref), start, stop, stride, steps_per_epoch=steps_per_epoch
        )

    def validate(self, definition: Any) -> dict[str, Any]:
        """The server's verdict on a definition: normalized form, digest, horizon, warnings.

        Raises `InvalidRequest` (with the server's JSON pointers) for an invalid one.
        """
        return self.registry.validate(to_definition(definition, self.registry))

    def evaluate(
        self,
        definition: Any,
        start: int,
        stop: int,
        stride: int = 1,
        *,
        steps_per_epoch: int | None = None,
    ) -> np.ndarray:
        """Values of an unpublished definition for `range(start, stop, stride)`.

        Raises `InvalidRequest` for an invalid definition or range.
        """
        body: dict[str, Any] = {
            "definition": to_definition(definition, self.registry),
            "start": start,
            "stop": stop,
            "stride": stride,
        }
        if steps_per_epoch is not None:
            body["steps_per_epoch"] = steps_per_epoch
        return self.registry.evaluate(body)


def set_default_client(client: Client | None) -> None:
    """Use `client` (None: a new one from the environment) for restored shims."""
    pinning_layer.set_default(client.pinning if client is not None else None)
