"""Content negotiation, encoders and conditional-request helpers for learning rates.

Encoders have no Python-level loop over steps: `.npy` is a header plus the array's bytes,
JSON and CSV are formatted by C iteration (`tolist`, `json.dumps`, `map`/`join`)."""

from __future__ import annotations

import hashlib
import io
import json
from typing import Any

import numpy as np
from starlette.responses import Response

from .problems import ApiError

JSON = "application/json"
NPY = "application/x-npy"
CSV = "text/csv"
MEDIA_TYPES = (JSON, NPY, CSV)
# Values per answer (SPEC 4).
MAX_VALUES = {JSON: 1_000_000, NPY: 10_000_000, CSV: 1_000_000}
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"


def negotiate(accept: str | None, offered: tuple[str, ...] = MEDIA_TYPES) -> str:
    """The offered media type the Accept header prefers (JSON when absent or `*/*`).
    Raises ApiError 406 when it accepts none of them."""
    if not accept:
        return offered[0]
    best, best_q = None, 0.0
    for index, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        for rank, candidate in enumerate(offered):
            if (
                media == candidate
                or media == "*/*"
                or (media.endswith("/*") and candidate.startswith(media[:-1]))
            ):
                # Exact matches beat wildcards; then the client's q; then our order.
                score = q + (0.001 if media == candidate else 0) - rank * 1e-6 - index * 1e-9
                if q > 0 and score > best_q:
                    best, best_q = candidate, score
    if best is None:
        raise ApiError(
            "not_acceptable",
            f"cannot answer Accept: {accept}; offered: {', '.join(offered)}",
        )
    return best


def etag(digest: str, query: str, media: str) -> str:
    """A strong ETag for the values of `digest` asked by `query` in `media`."""
    raw = f"{digest}\x00{query}\x00{media}".encode()
    return '"' + hashlib.blake2b(raw, digest_size=16).hexdigest() + '"'


def matches(if_none_match: str | None, tag: str) -> bool:
    """Whether an If-None-Match header matches `tag` (weak comparison, `*` included)."""
    if not if_none_match:
        return False
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == tag:
            return True
    return False


def lr_headers(version: int, digest: str, tag: str, pinned: bool) -> dict[str, str]:
    return {
        "X-Stepsize-Version": str(version),
        "X-Stepsize-Digest": digest,
        "ETag": tag,
        "Cache-Control": IMMUTABLE if pinned else NO_CACHE,
    }


def check_size(count: int, media: str, *, path: str = "/query/stop") -> None:
    """Raises ApiError 422 when `count` values are too many for `media`."""
    limit = MAX_VALUES[media]
    if count > limit:
        hint = " (ask for application/x-npy, up to 10,000,000)" if media != NPY else ""
        raise ApiError(
            "range_too_large",
            f"the range holds {count} values; {media} answers at most {limit}{hint}",
            errors=[{"path": path, "message": f"at most {limit} values per request"}],
        )


def json_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), allow_nan=False).encode()


def npy_bytes(values: np.ndarray) -> bytes:
    """A float64 `.npy` file (header + raw little-endian bytes)."""
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(values, dtype="<f8"), allow_pickle=False)
    return buffer.getvalue()


def csv_bytes(steps: np.ndarray, values: np.ndarray) -> bytes:
    """`step,lr` then one row per step; floats in shortest round-trip form."""
    if steps.size == 0:
        return b"step,lr\n"
    # map/zip/join iterate in C; repr is the shortest string that round-trips.
    step_text = map(str, steps.astype(np.int64).tolist())
    value_text = map(repr, values.tolist())
    return (
        "step,lr\n" + "\n".join(map(",".join, zip(step_text, value_text, strict=True))) + "\n"
    ).encode()


def encode(media: str, payload: dict[str, Any], steps: np.ndarray, values: np.ndarray) -> bytes:
    """The body for `media`: JSON gets `payload` plus `"lr"`; npy and CSV the values."""
    if media == NPY:
        return npy_bytes(values)
    if media == CSV:
        return csv_bytes(steps, values)
    return json_bytes({**payload, "lr": values.tolist()})


def respond(body: bytes, media: str, headers: dict[str, str], status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=media, headers=headers)


def not_modified(headers: dict[str, str]) -> Response:
    return Response(status_code=304, headers=headers)
