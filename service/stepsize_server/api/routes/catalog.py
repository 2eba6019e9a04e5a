"""GET /v1/types: every schedule type with its parameters, meaning and an example."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter
from pydantic_core import PydanticUndefined

from ...schedules import TYPES
from ..deps import Reader
from ..models import Catalog, TypeInfo, TypeParameter
from ..openapi import COMPONENTS, schedule_schemas

router = APIRouter(prefix="/v1", tags=["language"])


@router.get("/types", response_model=Catalog, summary="the catalog of schedule types")
def list_types(caller: Reader) -> Catalog:
    """Every type: parameters (name, JSON type, default, required, description), a
    one-line summary, the docstring and an example definition."""
    return catalog()


@functools.cache
def catalog() -> Catalog:
    """The catalog, built once from the language's types: each parameter's description is
    its model field's (`Field(description=...)`), as in the OpenAPI document."""
    schemas = schedule_schemas()
    types = []
    for cls in TYPES:
        type_name = cls.model_fields["type"].default
        properties = schemas[f"Schedule.{type_name}"].get("properties", {})
        parameters = []
        for field_name, field in cls.model_fields.items():
            if field_name == "type":
                continue
            # A definition's key is the alias where the model needs one (`values_`).
            key = field.alias or field_name
            if key not in properties:
                continue  # kept out of the language's schema: a key the type refuses
            schema = properties[key]
            default = None if field.default is PydanticUndefined else field.default
            parameters.append(
                TypeParameter(
                    name=key,
                    type=json_type(schema),
                    required=field.is_required(),
                    default=default,
                    description=field.description,
                    json_schema=schema,
                )
            )
        types.append(
            TypeInfo(
                type=type_name,
                family=type_name.split(".")[0] if "." in type_name else "core",
                summary=cls.summary,
                description=(cls.__doc__ or "").strip() or None,
                parameters=parameters,
                example=cls.example,
            )
        )
    return Catalog(types=types)


def json_type(schema: dict[str, Any]) -> str:
    """A short JSON type name: number, integer, string, boolean, schedule, array of
    schedule, number | null, ..."""
    if schema.get("$ref") == COMPONENTS + "Schedule":
        return "schedule"
    if "$ref" in schema:
        return "schedule" if schema["$ref"].startswith(COMPONENTS + "Schedule.") else "object"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            names = []
            for option in schema[key]:
                name = json_type(option)
                if name not in names:
                    names.append(name)
            return " | ".join(names)
    kind = schema.get("type")
    if kind == "array":
        return "array of " + json_type(schema.get("items", {}))
    if "enum" in schema and kind is None:
        return "string"
    if "const" in schema and kind is None:
        return "string"
    return str(kind or "any")
