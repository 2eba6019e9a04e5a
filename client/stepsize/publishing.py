"""Publishing: definition dicts from what users publish, and the answer to a publish.

`to_definition` accepts a definition dict, a Keras `LearningRateSchedule`, a torch
scheduler, a scheduler of `transformers.get_scheduler` (an `hf.*` definition), or a pinned
`Schedule` (whose version's definition is read from the server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .refs import Ref
from .registry import Registry
from .schedule import Schedule

__all__ = ["Published", "publish", "to_definition"]


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
        """The published version's reference, `ns/name@VERSION`."""
        return f"{self.schedule}@{self.version}"


def to_definition(obj: Any, registry: Registry) -> dict[str, Any]:
    """A definition dict from a dict, a Keras schedule, a torch scheduler, a
    `transformers.get_scheduler` scheduler (its `hf.*` definition, `base_lr` the
    optimizer's initial lr) or a Schedule.

    Raises TypeError for any other object (and for framework schedules the registry
    cannot evaluate); a `Schedule`'s definition is read through `registry`.
    """
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, Schedule):
        definition: dict[str, Any] = registry.version(Ref.parse(obj.ref))["definition"]
        return definition
    from .integrations.hf_schedulers import definition_from_hf, is_hf_scheduler

    if is_hf_scheduler(obj):  # a LambdaLR of transformers: checked before torch's
        return definition_from_hf(obj)
    package = type(obj).__module__.split(".", 1)[0]
    if package in {"keras", "tf_keras", "tensorflow"} or hasattr(obj, "get_config"):
        from .keras import definition_from_keras

        return definition_from_keras(obj)
    if package == "torch" or hasattr(obj, "optimizer"):
        from .torch import definition_from_torch

        return definition_from_torch(obj)
    raise TypeError(
        "Argument `definition` must be a dict, a Keras LearningRateSchedule or a torch "
        f"LRScheduler. Received: {type(obj).__name__}"
    )


def publish(
    registry: Registry,
    ref: str,
    definition: Any,
    *,
    description: str | None = None,
    labels: dict[str, str] | None = None,
    amends: dict[str, int] | None = None,
) -> Published:
    """Publish a new version of `ref` (`ns/name`); see `Client.publish`. With `amends`
    (`{"version", "from_step"}`), an amendment of that version; see `Client.amend`.

    Raises ValueError for a reference with a version or tag, TypeError for an object
    that cannot be converted, and what the server answered (`AuthError`,
    `InvalidRequest`, `Conflict` for an archived schedule or a passed amendment,
    `Unreachable`).
    """
    parsed = Ref.parse(ref)
    if parsed.version is not None or parsed.tag is not None:
        what = "and the version to amend" if amends else "without a version or tag"
        verb = "amend" if amends else "publish"
        raise ValueError(f"{verb} takes 'namespace/name' {what}. Received: ref={ref!r}")
    body: dict[str, Any] = {"definition": to_definition(definition, registry)}
    if amends is not None:
        body["amends"] = amends
    if description is not None:
        body["description"] = description
    if labels is not None:
        body["labels"] = labels
    data, created = registry.publish(parsed, body)
    return Published(
        schedule=data.get("schedule", parsed.schedule),
        version=int(data["version"]),
        digest=str(data["digest"]),
        created=created,
        data=data,
    )
