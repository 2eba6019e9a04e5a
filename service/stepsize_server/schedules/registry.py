"""Every family's types, gathered into one discriminated union on `type` (`Schedule`)."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter

from . import core, hf, keras, torch
from .node import Node

TYPES: tuple[type[Node], ...] = (*core.TYPES, *keras.TYPES, *torch.TYPES, *hf.TYPES)
TYPE_NAMES: dict[str, type[Node]] = {t.model_fields["type"].default: t for t in TYPES}

Schedule = Annotated[Union[TYPES], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
for _model in TYPES:
    _model.model_rebuild(_types_namespace={"Schedule": Schedule})
ADAPTER: TypeAdapter[Node] = TypeAdapter(Schedule)
