"""The registry's REST calls (SPEC section 4), one method each, over a `Transport`.

Everything here takes and answers plain data (references, definition dicts, JSON
objects, numpy arrays); caching and pinning are the layers above. Every method raises
`Unreachable` (after the retries, naming the reference and the URL) or the `ServerError`
subclass of the server's problem code.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import NotFound, StepsizeError
from .refs import Ref
from .steps import check_step, check_values
from .transport import Transport

__all__ = ["RUN_KEY_HEADER", "Registry", "select_version"]

NPY = {"Accept": "application/x-npy"}
RUN_KEY_HEADER = "X-Stepsize-Run-Key"


class Registry:
    """The REST calls of one server (`transport.url`)."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    @property
    def url(self) -> str:
        return self.transport.url

    def summary(self, ref: Ref) -> dict[str, Any]:
        """The schedule's summary: latest version, tags, version count, archived."""
        result: dict[str, Any] = self.transport.request("GET", ref.path, ref=str(ref)).json()
        return result

    def version(
        self, ref: Ref, *, steps_per_epoch: int | None = None, total_steps: int | None = None
    ) -> dict[str, Any]:
        """One version with its normalized definition; a tag or latest is resolved now
        (raises `NotFound` for a tag or latest of an archived schedule). A run-length
        template (`"template": true`) given `total_steps` also answers its binding
        (`"bound"`: definition, digest, horizon)."""
        number = ref.version
        if number is None:
            number = select_version(self.summary(ref), ref)
        given = {"steps_per_epoch": steps_per_epoch, "total_steps": total_steps}
        params = {key: value for key, value in given.items() if value is not None} or None
        result: dict[str, Any] = self.transport.request(
            "GET", f"{ref.path}/versions/{number}", params=params, ref=str(ref)
        ).json()
        return result

    def versions(self, ref: Ref, *, limit: int = 100) -> list[dict[str, Any]]:
        """Every version of a schedule, newest first (following the cursors)."""
        return list(self._pages(f"{ref.path}/versions", {"limit": limit}, ref=str(ref)))

    def schedules(
        self,
        *,
        namespace: str | None = None,
        q: str | None = None,
        tag: str | None = None,
        limit: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Schedules, following the cursors, `limit` per request."""
        params = {"namespace": namespace, "q": q, "tag": tag, "limit": limit}
        return self._pages("/v1/schedules", params)

    def _pages(self, path: str, params: dict[str, Any], *, ref: str = "") -> Iterator[Any]:
        cursor = None
        while True:
            page = self.transport.request(
                "GET", path, params={**params, "cursor": cursor}, ref=ref
            ).json()
            items = list(page.get("items") or [])
            yield from items
            cursor = page.get("next_cursor")
            if not cursor or not items:
                return

    def publish(self, ref: Ref, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """POST a new version; the answer and whether it was created (201, not 200)."""
        response = self.transport.request("POST", f"{ref.path}/versions", json=body, ref=str(ref))
        return response.json(), response.status_code == 201

    def put_tag(self, ref: Ref, tag: str, version: int, *, expected: int | None) -> dict[str, Any]:
        """Point `tag` at `version`; `expected` is sent as If-Match (Conflict if it moved)."""
        headers = {"If-Match": f'"{expected}"'} if expected is not None else None
        result: dict[str, Any] = self.transport.request(
            "PUT",
            f"{ref.path}/tags/{tag}",
            json={"version": int(version)},
            headers=headers,
            ref=str(ref),
        ).json()
        return result

    def lr(self, ref: Ref, step: int, *, steps_per_epoch: int | None = None) -> float:
        """The lr of `ref` at one step (raises ValueError for an invalid step)."""
        params = {"step": check_step(step), **_selector(ref), "steps_per_epoch": steps_per_epoch}
        data = self.transport.request("GET", f"{ref.path}/lr", params=params, ref=str(ref)).json()
        return float(data["lr"])

    def values(
        self,
        ref: Ref,
        start: int,
        stop: int,
        stride: int = 1,
        *,
        steps_per_epoch: int | None = None,
    ) -> np.ndarray:
        """Values of `ref` for `range(start, stop, stride)` as a float64 array (.npy)."""
        params = {
            "start": start,
            "stop": stop,
            "stride": stride,
            **_selector(ref),
            "steps_per_epoch": steps_per_epoch,
        }
        response = self.transport.request(
            "GET", f"{ref.path}/lr", params=params, headers=NPY, ref=str(ref)
        )
        return _npy(response.content, str(ref), len(range(start, stop, stride)))

    def pinned_values(
        self,
        pinned: Ref,
        digest: str,
        start: int,
        stop: int,
        *,
        steps_per_epoch: int | None,
        total_steps: int | None = None,
    ) -> np.ndarray:
        """Values of `[start, stop)` of a pinned version whose digest must be `digest` (a
        run-length template's: the digest of its binding to `total_steps`, which the
        server ignores for an ordinary definition).

        Raises `StepsizeError` when the server answers another digest or a bad body.
        """
        params = {
            "start": start,
            "stop": stop,
            "stride": 1,
            "version": pinned.version,
            "steps_per_epoch": steps_per_epoch,
            "total_steps": total_steps or None,
        }
        response = self.transport.request(
            "GET", f"{pinned.path}/lr", params=params, headers=NPY, ref=str(pinned)
        )
        served = response.headers.get("X-Stepsize-Digest")
        if served is not None and served != digest:
            raise StepsizeError(
                f"{pinned}: the server answered values of digest {served}, expected {digest}"
            )
        return _npy(response.content, str(pinned), stop - start)

    def validate(self, definition: dict[str, Any]) -> dict[str, Any]:
        """The server's verdict: normalized definition, digest, horizon, warnings."""
        result: dict[str, Any] = self.transport.request(
            "POST", "/v1/validate", json={"definition": definition}
        ).json()
        return result

    def evaluate(self, body: dict[str, Any]) -> np.ndarray:
        """POST /v1/evaluate: the values of an unpublished definition as float64."""
        data = self.transport.request("POST", "/v1/evaluate", json=body).json()
        return np.asarray(data["lr"], dtype=np.float64)

    # Runs (SPEC 4): a run is written only with the key its registration answered.

    def register_run(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/runs: `{"id", "key", "run"}` (the key is shown once)."""
        result: dict[str, Any] = self.transport.request(
            "POST", "/v1/runs", json=body, ref=str(body.get("schedule", ""))
        ).json()
        return result

    def heartbeat(self, run_id: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/runs/{id}/heartbeat with the run's key: the run as the server has it."""
        result: dict[str, Any] = self.transport.request(
            "POST",
            f"/v1/runs/{run_id}/heartbeat",
            json=body,
            headers={RUN_KEY_HEADER: key},
        ).json()
        return result

    def runs(self, ref: Ref, *, limit: int = 100) -> list[dict[str, Any]]:
        """The runs of a schedule (of `ref.version` when pinned), newest first (all pages)."""
        params: dict[str, Any] = {"schedule": ref.schedule, "version": ref.version, "limit": limit}
        return list(self._pages("/v1/runs", params, ref=str(ref)))

    def run(self, run_id: str) -> dict[str, Any]:
        """One run with its observed points and events."""
        result: dict[str, Any] = self.transport.request("GET", f"/v1/runs/{run_id}").json()
        return result

    def amendments(self, pinned: Ref) -> dict[str, Any]:
        """GET .../versions/{v}/amendments: the amendments descending from a version and
        `latest` (the newest of them, with `from_step`, where it first may differ)."""
        result: dict[str, Any] = self.transport.request(
            "GET", f"{pinned.path}/versions/{pinned.version}/amendments", ref=str(pinned)
        ).json()
        return result


def select_version(summary: dict[str, Any], ref: Ref) -> int:
    """The version a tag or latest of `ref` points at, by the schedule's summary.

    Raises `NotFound` for an unknown tag, a schedule without versions, or (as the
    server's lr route answers 410 `archived_unpinned`) an archived schedule.
    """
    if summary.get("archived"):
        raise NotFound(
            f"410 Gone: schedule {ref.schedule} is archived: only pinned versions "
            f"({ref.schedule}@N) still resolve, not {ref}",
            status=410,
            code="archived_unpinned",
        )
    if ref.tag is None or ref.tag == "latest":
        version = summary.get("latest_version")
        if version is None:
            raise NotFound(f"{ref.schedule} has no versions", status=404)
        return int(version)
    tags = summary.get("tags") or {}
    if ref.tag not in tags:
        known = ", ".join(sorted(tags)) or "none"
        raise NotFound(f"{ref.schedule} has no tag {ref.tag!r} (tags: {known})", status=404)
    return int(tags[ref.tag])


def _selector(ref: Ref) -> dict[str, Any]:
    if ref.version is not None:
        return {"version": ref.version}
    if ref.tag is not None:
        return {"tag": ref.tag}
    return {}


def _npy(content: bytes, ref: str, length: int) -> np.ndarray:
    try:
        return check_values(np.load(io.BytesIO(content), allow_pickle=False), length)
    except (ValueError, OSError, EOFError) as exc:
        raise StepsizeError(f"{ref}: the server sent an unusable .npy body: {exc}") from exc
