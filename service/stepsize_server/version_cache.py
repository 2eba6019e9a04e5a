"""Compiled immutable versions, shared by the routes: a query never re-parses a definition.

Three LRUs: (namespace, name, version) -> PinnedVersion, digest -> Compiled (so two
schedules or versions with one definition share one compiled tree), and (template digest,
total_steps, steps_per_epoch) -> the compiled binding of a run-length template (whose tree
is shared by its bound digest in the second). Tags and `latest`
are not cached: they move, and another replica may move them. The store only persists;
this cache sits between it and the API.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .schedules import Compiled, bind, compile_definition, is_template
from .store.versions import get_version

if TYPE_CHECKING:
    from .store.db import Database
    from .store.records import VersionRecord

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A thread-safe least-recently-used map with hit and miss counters."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: K, value: V) -> V:
        """Store `value` unless another thread stored one first; return the stored one."""
        with self._lock:
            value = self._data.setdefault(key, value)
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)
            return value

    def __len__(self) -> int:
        return len(self._data)


@dataclass(frozen=True, slots=True)
class PinnedVersion:
    """One immutable version, compiled and ready to evaluate (`tree` is None for a
    run-length template, which is compiled per binding: `VersionCache.bound`)."""

    record: VersionRecord
    tree: Compiled | None

    @property
    def template(self) -> bool:
        return self.tree is None

    @property
    def compiled(self) -> Compiled:
        """The compiled definition. Raises UnboundTemplate (422) for a template."""
        if self.tree is None:
            return compile_definition(self.record.definition)  # raises UnboundTemplate
        return self.tree

    @property
    def schedule(self) -> str:
        return self.record.schedule

    @property
    def version(self) -> int:
        return self.record.version

    @property
    def digest(self) -> str:
        # The stored digest identifies the version, even if a later release of the
        # language were to normalize the definition differently.
        return self.record.digest


class VersionCache:
    """Compiled versions by (namespace, name, version) and compiled trees by digest."""

    def __init__(self, db: Database, *, size: int) -> None:
        self.db = db
        self.versions: LRU[tuple[str, str, int], PinnedVersion] = LRU(size)
        self.compiled: LRU[str, Compiled] = LRU(size)
        self.bindings: LRU[tuple[str, int, int | None], Compiled] = LRU(size)

    def get(self, namespace: str, name: str, version: int) -> PinnedVersion | None:
        """The cached version, or None; never blocks on I/O."""
        return self.versions.get((namespace, name, version))

    def load(self, namespace: str, name: str, version: int) -> PinnedVersion:
        """The version read from the database (blocking) and cached; call after `get`
        missed. Raises ScheduleNotFound or VersionNotFound."""
        record = get_version(self.db, namespace=namespace, name=name, version=version)
        return self.remember(record)

    def remember(self, record: VersionRecord, compiled: Compiled | None = None) -> PinnedVersion:
        """Cache a version read or written elsewhere; a caller that has just compiled its
        definition (publish) passes `compiled`, so it is not parsed a second time."""
        tree: Compiled | None = None
        if compiled is not None and compiled.digest == record.digest:
            tree = self.compiled.put(record.digest, compiled)
        elif not is_template(record.definition):
            tree = self.compile(record.digest, record.definition)
        pinned = PinnedVersion(record=record, tree=tree)
        return self.versions.put((record.namespace, record.name, record.version), pinned)

    def compile(self, digest: str, definition: dict[str, Any]) -> Compiled:
        """The compiled tree for a stored definition (checked when it was published, so
        the publish grid is skipped)."""
        compiled = self.compiled.get(digest)
        if compiled is None:
            compiled = self.compiled.put(digest, compile_definition(definition, check_values=False))
        return compiled

    def bound(
        self,
        template_digest: str,
        definition: dict[str, Any],
        total_steps: int,
        steps_per_epoch: int | None,
    ) -> Compiled:
        """The compiled binding of a stored template (checked when it was published) for
        `total_steps` (and `steps_per_epoch`). Raises InvalidDefinition when that binding
        is invalid (e.g. a 0.001dur warmup of 100 steps is 0 steps)."""
        key = (template_digest, total_steps, steps_per_epoch)
        compiled = self.bindings.get(key)
        if compiled is None:
            fresh = compile_definition(
                bind(definition, total_steps, steps_per_epoch), check_values=False
            )
            compiled = self.bindings.put(key, self.compiled.put(fresh.digest, fresh))
        return compiled
