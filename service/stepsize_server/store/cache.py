"""Moved to `stepsize_server.version_cache` (store/ is persistence only); this name stays
only while `store/__init__.py` re-exports it."""

from ..version_cache import LRU, PinnedVersion, VersionCache

__all__ = ["LRU", "PinnedVersion", "VersionCache"]
