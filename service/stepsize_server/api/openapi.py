"""The OpenAPI document: FastAPI's, plus the schedule language and the error codes.

The language is JSON Schema for the document and the catalog: pydantic's schema of
`Schedule` names colliding models by module path and repeats the
whole union inside every composite type. Here each type becomes the component
`Schedule.<type>` (e.g. `Schedule.cosine`, `Schedule.keras.ExponentialDecay`), and every
full union is one `$ref` to the component `Schedule`."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import TypeAdapter

from ..schedules import Schedule
from .deps import BEARER, require_admin, require_read, require_write
from .errors import ERROR_CODES, PROBLEM_JSON
from .models import Problem

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
        schema = rewrite(defs[def_name])
        if "type" in schema.get("properties", {}):
            # The discriminator: a definition without `type` is refused (422), so the
            # document must not call it valid, though each model has it as a default.
            schema["required"] = ["type", *(k for k in schema.get("required", []) if k != "type")]
        components[rename[def_name]] = schema
    return components


def _is_union(node: dict[str, Any], union_refs: set[str]) -> bool:
    one_of = node.get("oneOf")
    if not isinstance(one_of, list) or "discriminator" not in node:
        return False
    refs = {item.get("$ref") for item in one_of if isinstance(item, dict)}
    return refs == union_refs


def build_openapi(app: FastAPI, routers: Sequence[APIRouter]) -> dict[str, Any]:
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
        _document_problems(document)
        _parameters_are_never_null(document)
        _document_error_codes(schemas["Problem"])
        _document_security(document, routers)
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


PROBLEM_REF = {"$ref": COMPONENTS + "Problem"}
PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": PROBLEM_REF}}
# Answered by any operation: a bad request or token, a path or version that does not
# exist, a body too large, the server's own failure or overload.
ANY_ERROR = {
    "4XX": {"description": "a problem with the request (see `code`)", "content": PROBLEM_CONTENT},
    "5XX": {"description": "the server failed or is overloaded", "content": PROBLEM_CONTENT},
}


def _document_problems(document: dict[str, Any]) -> None:
    """Every error of every operation as `application/problem+json` (the `Problem`
    schema), in place of FastAPI's `HTTPValidationError` in `application/json`."""
    schemas = document["components"]["schemas"]
    problem = Problem.model_json_schema(ref_template=COMPONENTS + "{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    for path in document["paths"].values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = PROBLEM_CONTENT
                    if status == "422":
                        response["description"] = "invalid input: `errors` points at it"
            for status, response in ANY_ERROR.items():
                responses.setdefault(status, response)


def _document_security(document: dict[str, Any], routers: Sequence[APIRouter]) -> None:
    """The bearer scheme, and on each operation the token it needs: none or any for a
    read (public reads are the default), one with a scope for a write or admin route."""
    document["components"]["securitySchemes"] = {
        BEARER: {"type": "http", "scheme": "bearer", "description": "a stepsize token"}
    }
    for route in (route for router in routers for route in router.routes):
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        calls = _dependency_calls(route.dependant)
        if require_write in calls or require_admin in calls:
            security: list[dict[str, list[str]]] = [{BEARER: []}]
        elif require_read in calls or (route.openapi_extra and "security" in route.openapi_extra):
            security = [{}, {BEARER: []}]
        else:
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format].get(method.lower())
            if operation is not None:
                operation.setdefault("security", security)


def _dependency_calls(dependant: Dependant) -> set[Any]:
    """Every callable `dependant` depends on, directly or through others."""
    calls: set[Any] = set()
    for sub in dependant.dependencies:
        calls.add(sub.call)
        calls |= _dependency_calls(sub)
    return calls


def _parameters_are_never_null(document: dict[str, Any]) -> None:
    """A path, query or header parameter is a string or absent, never JSON null: drop the
    `null` branch pydantic gives an optional parameter's schema (a fuzzer would send the
    text `null`, which no parameter accepts)."""
    for path in document["paths"].values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                branches = schema.get("anyOf")
                if not isinstance(branches, list):
                    continue
                kept = [b for b in branches if b != {"type": "null"}]
                if len(kept) == 1:
                    others = {k: v for k, v in schema.items() if k != "anyOf"}
                    parameter["schema"] = {**kept[0], **others}
