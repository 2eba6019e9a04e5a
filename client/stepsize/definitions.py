"""Definition dicts from what users publish: dicts, Keras schedules, torch schedulers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .schedule import Schedule

if TYPE_CHECKING:
    from .client import Client


def to_definition(obj: Any, *, client: Client | None = None) -> dict[str, Any]:
    """A definition dict from a dict, a Keras schedule, a torch scheduler or a Schedule."""
    if isinstance(obj, dict):
        return dict(obj)
    if isinstance(obj, Schedule):
        from .client import default_client  # client.py imports this module

        return (client or default_client()).version(obj.ref)["definition"]
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


__all__ = ["to_definition"]
