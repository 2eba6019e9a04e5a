"""The on-disk cache of pinned curves' chunks and resolutions, shared by a node's processes.

Disk layout under the cache root (`STEPSIZE_CACHE_DIR`, default `~/.cache/stepsize`):

    curves/<digest hex>/spe-<n|none>/c<C>-<index>.npy      float64 values of one chunk
    curves/<digest hex>/spe-<n|none>/c<C>-<index>.npy.sha256   its checksum
    versions/<ns>/<name>/<version>.json                   digest and horizon (immutable)
    refs/<ns>/<name>/<tag or latest>.json                 last known resolution of a tag

Every file is written to a temporary file in the same folder and moved into place with
`os.replace`, so readers on the same node (other ranks, data-loader workers) see either
nothing or a complete file. A chunk is verified on every read (checksum, dtype, shape,
finite and non-negative values); a bad one is deleted and `CacheError` tells the caller,
which fetches it again (or, when no server can, raises that `CacheError`).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CacheError
from .steps import check_values

log = logging.getLogger("stepsize")

CurveKey = tuple[str, int | None]


def default_cache_dir() -> Path:
    """`STEPSIZE_CACHE_DIR`, else `~/.cache/stepsize`."""
    env = os.environ.get("STEPSIZE_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "stepsize"


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _safe_part(text: str) -> str:
    if re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,127}", text) and ".." not in text:
        return text
    return "x-" + hashlib.sha256(text.encode()).hexdigest()[:32]


class DiskCache:
    """Chunks and resolutions on disk, shared by every process of a node.

    A missing entry is a miss (None). A corrupt chunk (wrong checksum, unparsable, wrong
    shape or values) is deleted, counted in `corrupt` and reported as `CacheError`; an
    unparsable JSON record is deleted and is a miss. Writes never raise: a read-only or
    full disk logs a warning and the client goes on with the memory cache.
    """

    def __init__(self, root: str | os.PathLike[str] | None = None) -> None:
        self.root = Path(root).expanduser() if root is not None else default_cache_dir()
        self.corrupt = 0
        self._warned = False

    def __repr__(self) -> str:
        return f"DiskCache({str(self.root)!r})"

    # chunks

    def chunk_path(self, key: CurveKey, chunk_steps: int, index: int) -> Path:
        digest, spe = key
        hexpart = digest.split(":", 1)[-1]
        spe_part = "spe-none" if spe is None else f"spe-{int(spe)}"
        return (
            self.root
            / "curves"
            / _safe_part(hexpart)
            / spe_part
            / f"c{chunk_steps}-{index:09d}.npy"
        )

    def load_chunk(self, key: CurveKey, chunk_steps: int, index: int) -> np.ndarray | None:
        """Chunk `index` of the curve `key`, or None when it is not on disk.

        Raises `CacheError` (naming the file, which is deleted first so that the next
        read is a miss) when the file's checksum is wrong or its values are unusable.
        """
        path = self.chunk_path(key, chunk_steps, index)
        sidecar = path.with_name(path.name + ".sha256")
        for attempt in range(2):
            try:
                data = path.read_bytes()
                expected = sidecar.read_text().strip()
            except OSError:
                return None
            if hashlib.sha256(data).hexdigest() == expected:
                break
            if attempt == 1:  # a second read rules out a concurrent writer
                raise self._discard(path, sidecar, "checksum mismatch")
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
            return check_values(arr, chunk_steps)
        except (ValueError, OSError, EOFError) as exc:
            raise self._discard(path, sidecar, str(exc)) from exc

    def store_chunk(self, key: CurveKey, chunk_steps: int, index: int, values: np.ndarray) -> None:
        path = self.chunk_path(key, chunk_steps, index)
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(values, dtype=np.float64), allow_pickle=False)
        data = buf.getvalue()
        try:
            _atomic_write(path, data)
            _atomic_write(
                path.with_name(path.name + ".sha256"),
                hashlib.sha256(data).hexdigest().encode(),
            )
        except OSError as exc:
            self._write_failed(path, exc)

    def _discard(self, path: Path, sidecar: Path, why: str) -> CacheError:
        """Delete a corrupt entry; the `CacheError` saying so, for the caller to raise."""
        self.corrupt += 1
        log.warning("corrupt cache file %s (%s); deleting it", path, why)
        for p in (path, sidecar):
            with contextlib.suppress(OSError):
                p.unlink()
        return CacheError(f"corrupt cache file {path} ({why}), deleted", path=str(path))

    def _write_failed(self, path: Path, exc: OSError) -> None:
        if not self._warned:
            self._warned = True
            log.warning("cannot write the disk cache (%s: %s); memory only", path, exc)

    # small JSON records: immutable version facts and last known tag resolutions

    def _json_path(self, kind: str, namespace: str, name: str, leaf: str) -> Path:
        return (
            self.root / kind / _safe_part(namespace) / _safe_part(name) / f"{_safe_part(leaf)}.json"
        )

    def load_json(self, kind: str, namespace: str, name: str, leaf: str) -> dict[str, Any] | None:
        """The record, or None when it is missing or unparsable (then deleted)."""
        path = self._json_path(kind, namespace, name, leaf)
        try:
            record = json.loads(path.read_text())
        except OSError:
            return None
        except ValueError:
            self._discard(path, path.with_suffix(".missing"), "unparsable JSON")
            return None
        return record if isinstance(record, dict) else None

    def store_json(
        self, kind: str, namespace: str, name: str, leaf: str, record: dict[str, Any]
    ) -> None:
        path = self._json_path(kind, namespace, name, leaf)
        try:
            _atomic_write(path, json.dumps(record, sort_keys=True).encode())
        except OSError as exc:
            self._write_failed(path, exc)
