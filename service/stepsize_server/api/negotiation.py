"""Content negotiation for learning rates: the media types offered, which one an Accept
header prefers, and how many values each may carry (SPEC 4)."""

from __future__ import annotations

from .errors import ApiError

JSON = "application/json"
NPY = "application/x-npy"
CSV = "text/csv"
MEDIA_TYPES = (JSON, NPY, CSV)
# Values per answer (SPEC 4).
MAX_VALUES = {JSON: 1_000_000, NPY: 10_000_000, CSV: 1_000_000}


def negotiate(accept: str | None, offered: tuple[str, ...] = MEDIA_TYPES) -> str:
    """The offered media type the Accept header prefers (JSON when absent or `*/*`).
    Raises ApiError 406 when it accepts none of them."""
    if not accept:
        return offered[0]
    best, best_q = None, 0.0
    for index, part in enumerate(accept.split(",")):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = _quality(params)
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


def _quality(params: str) -> float:
    """The `q=` of one Accept entry's parameters (1 when absent, 0 when unreadable)."""
    q = 1.0
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip() == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
    return q
