"""The OpenAPI document: FastAPI's, plus the schedule language and the error codes.

The language is JSON Schema for the document and the catalog: pydantic's schema of
`Schedule` names colliding models by module path and repeats the
whole union inside every composite type. Here each type becomes the component
`Schedule.<type>` (e.g. `Schedule.cosine`, `Schedule.keras.ExponentialDecay`), and every
full union is one `$ref` to the component `Schedule`."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from ..schedules import Schedule
from .errors import ERROR_CODES

COMPONENTS = "#/components/schemas/"
_RAW_REF = "#/$defs/"


@functools.cache
def schedule_schemas() -> dict[str, dict[str, Any]]:
    """Component name -> JSON schema: `Schedule` plus one `Schedule.<type>` per type."""
    raw = TypeAdapter(Schedule).json_schema(ref_template=_RAW_REF + "{model}")
    defs: dict[str, Any] = raw.pop("$defs", {})
    rename = {}
    for def_name, schema in defs.items():
        const = schema.get("properties", {}).get("type", {}).get("const")
        rename[def_name] = f"Schedule.{const}" if const else f"Schedule._{def_name}"
    union_refs = {item["$ref"] for item in raw.get("oneOf", [])}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            if _is_union(node, union_refs):
                kept = {k: v for k, v in node.items() if k in ("description", "default")}
                return {"$ref": COMPONENTS + "Schedule", **kept}
            return {k: rewrite_ref(v) if k == "$ref" else rewrite(v) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        if isinstance(node, str) and node.startswith(_RAW_REF):
            return rewrite_ref(node)
        return node

    def rewrite_ref(ref: str) -> str:
        return COMPONENTS + rename[ref.removeprefix(_RAW_REF)]

    components = {
        "Schedule": {
            "title": "Schedule",
            "description": "A schedule definition: a JSON object whose `type` selects one of "
            "the types below (GET /v1/types lists them with their parameters).",
            "oneOf": [{"$ref": rewrite_ref(item["$ref"])} for item in raw["oneOf"]],
            "discriminator": {
                "propertyName": "type",
                "mapping": {k: rewrite_ref(v) for k, v in raw["discriminator"]["mapping"].items()},
            },
        }
    }
    for def_name in sorted(defs, key=lambda d: rename[d]):
        components[rename[def_name]] = rewrite(defs[def_name])
    return components


def _is_union(node: dict[str, Any], union_refs: set[str]) -> bool:
    one_of = node.get("oneOf")
    if not isinstance(one_of, list) or "discriminator" not in node:
        return False
    refs = {item.get("$ref") for item in one_of if isinstance(item, dict)}
    return refs == union_refs


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document for `app` plus the schedule language's schemas and the error
    codes of `ERROR_CODES` (cached on the app). Raises RuntimeError if a language schema
    name collides with an API model's."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in schedule_schemas().items():
            if name in schemas:
                raise RuntimeError(f"OpenAPI schema name collision: {name}")
            schemas[name] = schema
        if "Problem" in schemas:
            _document_error_codes(schemas["Problem"])
        app.openapi_schema = document
    return app.openapi_schema


def _document_error_codes(problem: dict[str, Any]) -> None:
    """List every error code, with its status and title, in the Problem schema."""
    problem["description"] = (
        f"{problem.get('description', '').strip()} `code` is one of `x-error-codes`, each "
        "answered with one HTTP status and title."
    )
    problem["properties"]["code"]["enum"] = list(ERROR_CODES)
    problem["x-error-codes"] = [
        {"code": e.code, "status": e.status, "title": e.title} for e in ERROR_CODES.values()
    ]
