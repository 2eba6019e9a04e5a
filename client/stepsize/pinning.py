"""Pinning: a reference resolved once to an `Identity`, and the loaded `Curve` of it.

This is the public layer the shims (`stepsize.keras`, `stepsize.torch`,
`stepsize.distributed`) and `Client` stand on:

    pinning = Pinning(ClientSettings.resolve())     # or client.pinning
    identity = pinning.resolve(Ref.parse("team/cosine:prod"), total_steps=10_000)
    curve = pinning.load_curve(identity)            # values in memory, on disk, fetched
    curve.value(500)

`Identity` is what a pinned schedule is (reference, digest, horizon, sizes): small,
picklable and free of tokens, URLs and values. A run-length template (durations such as
"0.1dur") is bound once, here, to `total_steps`: its identity's `digest` is the bound
definition's (the curve's), `template_digest` the version's own.

A restored shim (pickle, checkpoint, saved Keras model) calls `curve_for(identity)`: the
memory cache, else the disk cache, else the server of the default pinning (`set_default`,
which `stepsize.set_default_client` calls, else one configured from the `STEPSIZE_*`
variables).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import curves
from .curves import Curve, Source
from .disk import CurveKey, DiskCache
from .errors import ScheduleUnavailable, Unreachable
from .refs import Ref
from .registry import Registry, select_version
from .settings import ClientSettings
from .transport import Transport

__all__ = [
    "Identity",
    "Pinning",
    "curve_for",
    "default_pinning",
    "restoring",
    "set_default",
]

log = logging.getLogger("stepsize")


@dataclass(frozen=True)
class Identity:
    """What a pinned schedule is: small, picklable, free of tokens, URLs and values.

    For a run-length template, `digest` is its binding's (to `total_steps`, which
    therefore travels with every saved identity) and `template_digest` the version's."""

    ref: str
    digest: str
    horizon: int | None
    total_steps: int | None = None
    steps_per_epoch: int | None = None
    template_digest: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The fields that find the curve, as a dict (what pickles, state dicts and Keras
        configs hold): all but `template_digest`, which only describes it."""
        fields = asdict(self)
        del fields["template_digest"]
        return fields

    @property
    def key(self) -> CurveKey:
        """The curve's key in the memory and disk caches: `(digest, steps_per_epoch)`."""
        return (self.digest, self.steps_per_epoch)


class Pinning:
    """Resolves references against one server and loads their curves, with the caches.

    Built from `ClientSettings`; `registry` is the server's REST calls, `disk` the disk
    cache (None: memory only).
    """

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self.url = settings.url
        self.offline = settings.offline
        self.chunk_steps = settings.chunk_steps
        self.upfront_limit = settings.upfront_limit
        self.wait_timeout = settings.wait_timeout
        self.disk = DiskCache(settings.cache_dir) if settings.cache_dir is not None else None
        self.transport = Transport(
            settings.url, token=settings.token, retry=settings.retry, transport=settings.transport
        )
        self.registry = Registry(self.transport)

    def __repr__(self) -> str:
        return f"Pinning({self.url!r}, cache={self.disk!r})"

    def pin(
        self, ref: Ref, total_steps: int | None = None, steps_per_epoch: int | None = None
    ) -> tuple[Identity, Curve]:
        """`resolve` then `load_curve`, within one wait: when resolving found the server
        unreachable (and fell back on the cache), the values come from the cache only,
        so this blocks at most about `wait_timeout` seconds, not twice that.

        Raises what `resolve` and `load_curve` raise.
        """
        identity, unreachable = self._resolve(ref, total_steps, steps_per_epoch)
        return identity, self.load_curve(identity, unreachable=unreachable)

    def resolve(
        self, ref: Ref, total_steps: int | None = None, steps_per_epoch: int | None = None
    ) -> Identity:
        """Pin `ref` to one version, once: a tag or latest is resolved now.

        When the server is unreachable (or offline), the last resolution and the
        version's facts in the disk cache are used. Raises `ScheduleUnavailable` (naming
        the reference and the URL) when neither has it, and `NotFound`, `AuthError` or
        `InvalidRequest` for what the server answered.
        """
        return self._resolve(ref, total_steps, steps_per_epoch)[0]

    def _resolve(
        self, ref: Ref, total_steps: int | None, steps_per_epoch: int | None
    ) -> tuple[Identity, str]:
        """The identity, and why the server was unreachable ("" when it answered)."""
        if self.offline:
            why = "offline (STEPSIZE_OFFLINE=1 or offline=True)"
            return self._resolve_cached(ref, total_steps, steps_per_epoch, why), ""
        try:
            version = ref.version
            if version is None:
                version = select_version(self.registry.summary(ref), ref)
                if self.disk is not None:
                    record = {"version": version, "resolved_at": time.time()}
                    self.disk.store_json("refs", ref.namespace, ref.name, ref.selector, record)
            info = self.version_info(ref.pinned(version), steps_per_epoch)
            if info.get("template"):
                check_bindable(ref.pinned(version), total_steps)
                info = self.version_info(ref.pinned(version), steps_per_epoch, total_steps)
        except Unreachable as exc:
            return self._resolve_cached(ref, total_steps, steps_per_epoch, str(exc)), str(exc)
        return identity_of(ref.pinned(version), info, total_steps, steps_per_epoch), ""

    def version_info(
        self, pinned: Ref, steps_per_epoch: int | None = None, total_steps: int | None = None
    ) -> dict[str, Any]:
        """The immutable facts of one version (digest, horizon, definition, `template`),
        from the disk cache or the server. With `steps_per_epoch`, the horizon of a
        schedule written in epochs is known too; with `total_steps`, a template's binding
        (`bound`: definition, digest, horizon). Raises `ScheduleUnavailable` offline when
        not cached."""
        leaf = _version_leaf(pinned.version, steps_per_epoch, total_steps)
        if self.disk is not None:
            cached = self.disk.load_json("versions", pinned.namespace, pinned.name, leaf)
            if cached and isinstance(cached.get("digest"), str):
                return cached
        if self.offline:
            raise ScheduleUnavailable(
                f"{pinned}: STEPSIZE_OFFLINE=1 and not in the cache (server {self.url} not called)",
                ref=str(pinned),
                url=self.url,
            )
        info = self.registry.version(
            pinned, steps_per_epoch=steps_per_epoch, total_steps=total_steps
        )
        horizon = info.get("horizon")
        record = {
            "schedule": info.get("schedule", pinned.schedule),
            "version": int(info["version"]),
            "digest": str(info["digest"]),
            "horizon": int(horizon) if horizon is not None else None,
            "definition": info.get("definition"),
            "template": bool(info.get("template", False)),
            "bound": info.get("bound"),
        }
        if self.disk is not None:
            self.disk.store_json("versions", pinned.namespace, pinned.name, leaf, record)
        return record

    def _resolve_cached(
        self, ref: Ref, total_steps: int | None, steps_per_epoch: int | None, why: str
    ) -> Identity:
        version = ref.version
        where = f"the cache ({self.disk.root})" if self.disk is not None else "memory"
        if version is None and self.disk is not None:
            record = self.disk.load_json("refs", ref.namespace, ref.name, ref.selector)
            if record and isinstance(record.get("version"), int):
                version = record["version"]
                when = time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.localtime(record.get("resolved_at", 0))
                )
                log.warning(
                    "%s; using the cached resolution %s -> @%s from %s",
                    why,
                    ref,
                    version,
                    when,
                )
        info = None
        if version is not None and self.disk is not None:
            leaf = _version_leaf(version, steps_per_epoch)
            info = self.disk.load_json("versions", ref.namespace, ref.name, leaf)
            if info is not None and info.get("template"):
                check_bindable(ref.pinned(version), total_steps)
                leaf = _version_leaf(version, steps_per_epoch, total_steps)
                info = self.disk.load_json("versions", ref.namespace, ref.name, leaf)
        if version is None or info is None:
            if self.offline:
                advice = (
                    "The client is offline (STEPSIZE_OFFLINE=1 or offline=True) and never "
                    f"calls the server ({self.url}); run once online to fill the cache."
                )
            else:
                advice = (
                    f"Check that the server at {self.url} is up (STEPSIZE_URL), or run once "
                    "online to fill the cache."
                )
            raise ScheduleUnavailable(
                f"cannot resolve {ref}: {why}, and {where} has no entry for it. {advice}",
                ref=str(ref),
                url=self.url,
            )
        return identity_of(ref.pinned(version), info, total_steps, steps_per_epoch)

    def new_curve(self, identity: Identity, *, chunk_steps: int | None = None) -> Curve:
        """The process's curve of `identity`, registered empty if it was not loaded yet
        (it fetches from this server unless offline)."""
        curve = curves.lookup(identity.key)
        if curve is not None:
            return curve
        return curves.register(
            Curve(
                identity.key,
                label=identity.ref,
                url=self.url,
                horizon=identity.horizon,
                total_steps=identity.total_steps,
                chunk_steps=chunk_steps or self.chunk_steps,
                disk=self.disk,
                source=None if self.offline else self.source(identity),
                wait_timeout=self.wait_timeout,
            )
        )

    def load_curve(
        self, identity: Identity, *, fetch_upfront: bool = True, unreachable: str = ""
    ) -> Curve:
        """The curve of `identity` with its up-front range loaded (the whole run with
        `total_steps` or a finite horizon, else the first chunk); blocks at most about
        `wait_timeout`. With `unreachable` (why the server just failed) the up-front
        range comes from the caches only. Raises `ScheduleUnavailable` (`CacheError` for
        a corrupt cached chunk) when the values are neither cached nor fetchable."""
        curve = curves.lookup(identity.key)
        created = curve is None
        if curve is None:
            curve = self.new_curve(identity)
        else:
            if curve.source is None and not self.offline:
                curve.source = self.source(identity)
            if identity.total_steps is not None:
                curve.extend_run(identity.total_steps)  # the fast tables may run further
        try:
            if fetch_upfront and unreachable:
                curve.ensure_cached(0, curve.upfront_chunks(self.upfront_limit), why=unreachable)
            elif fetch_upfront:
                curve.ensure(0, curve.upfront_chunks(self.upfront_limit))
        except BaseException:
            if created:
                # leave nothing behind: a later attempt (another client) starts afresh
                curves.unregister(curve)
            raise
        self._warn_if_open_ended(identity, curve)
        return curve

    def _warn_if_open_ended(self, identity: Identity, curve: Curve) -> None:
        """An open-ended run fetches chunks as it goes: an outage later stops it at a
        chunk edge, unless the chunks are cached already."""
        if identity.horizon is not None or identity.total_steps is not None:
            return
        with curve.lock:
            warned, curve.warned_open_ended = curve.warned_open_ended, True
        if not warned:
            log.warning(
                "%s has no horizon and no total_steps was given: only steps 0..%d are "
                "loaded; later chunks are fetched as the run goes, so a server outage then "
                "would stop it at a chunk edge. Pass total_steps to load the whole run now.",
                identity.ref,
                curve.loaded_steps - 1,
            )

    def source(self, identity: Identity) -> Source:
        """A function fetching `[start, stop)` of `identity`'s curve (raises Unreachable)."""
        pinned = Ref.parse(identity.ref)
        registry = self.registry

        def fetch(start: int, stop: int) -> np.ndarray:
            # total_steps binds a template (whose identity's digest is the binding's);
            # the server ignores it otherwise, so a restored shim (whose saved identity
            # may not say whether it is a template) finds the same curve either way
            return registry.pinned_values(
                pinned,
                identity.digest,
                start,
                stop,
                steps_per_epoch=identity.steps_per_epoch,
                total_steps=identity.total_steps,
            )

        return fetch


def _version_leaf(
    version: int | None, steps_per_epoch: int | None, total_steps: int | None = None
) -> str:
    """Disk-cache key of a version's facts: the horizon depends on steps_per_epoch, a
    template's binding on total_steps too."""
    leaf = str(version) if steps_per_epoch is None else f"{version}-spe{steps_per_epoch}"
    return leaf if total_steps is None else f"{leaf}-total{total_steps}"


def check_bindable(pinned: Ref, total_steps: int | None) -> None:
    """Raises ValueError unless `total_steps` can bind the run-length template `pinned`."""
    if total_steps is None or total_steps < 1:
        given = "" if total_steps is None else f" (got total_steps={total_steps})"
        raise ValueError(
            f"{pinned} is a run-length template (it holds durations such as '0.1dur'): pass "
            f"total_steps=N, the run's number of optimizer updates (>= 1), to bind it{given}"
        )


def identity_of(
    pinned: Ref, info: dict[str, Any], total_steps: int | None, steps_per_epoch: int | None
) -> Identity:
    """The identity of a version from its facts (`version_info`); a template's from its
    binding (`info["bound"]`, fetched with total_steps)."""
    bound = info.get("bound") if info.get("template") else None
    facts = bound if isinstance(bound, dict) else info
    return Identity(
        ref=str(pinned),
        digest=str(facts["digest"]),
        horizon=facts.get("horizon"),
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
        template_digest=str(info["digest"]) if bound is not None else None,
    )


# Shims restored from a pickle, a checkpoint or a saved Keras model find their values
# through, in order: the pinning passed to `curve_for` (a shim built by a client), the
# one of `restoring(...)` in this context, the one `set_default` gave, the environment.
_default: Pinning | None = None
_default_lock = threading.Lock()
_restoring: contextvars.ContextVar[Pinning | None] = contextvars.ContextVar(
    "stepsize_restoring", default=None
)


def default_pinning() -> Pinning:
    """The process's pinning for restored shims: the one of `restoring(...)` (this context),
    else the one `set_default` gave, else one configured from the STEPSIZE_* variables
    (made on first use)."""
    global _default
    explicit = _restoring.get()
    if explicit is not None:
        return explicit
    with _default_lock:
        if _default is None:
            _default = Pinning(ClientSettings.resolve())
        return _default


def set_default(pinning: Pinning | None) -> None:
    """Use `pinning` (None: a new one from the environment) for restored shims."""
    global _default
    with _default_lock:
        _default = pinning


@contextlib.contextmanager
def restoring(pinning: Pinning) -> Iterator[Pinning]:
    """Within the block (this thread or task), restored shims load through `pinning`
    before the default (`set_default`) and the environment."""
    token = _restoring.set(pinning)
    try:
        yield pinning
    finally:
        _restoring.reset(token)


def curve_for(identity: Identity, pinning: Pinning | None = None) -> Curve:
    """The loaded curve of `identity`: memory, else disk, else the server of `pinning`
    (given: the client that built the shim), else of `default_pinning()`.

    Raises `ScheduleUnavailable` when none has it; a failed load leaves no entry behind,
    so a later call with a working client succeeds.
    """
    curve = curves.lookup(identity.key)
    if curve is not None:
        return curve
    return (pinning or default_pinning()).load_curve(identity)
