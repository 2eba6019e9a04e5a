"""Parameters of the hot routes, validated in one step.

FastAPI validates each declared parameter separately, which costs ~20 µs apiece; for the
single-step lr query that is most of the request. The hot route therefore takes the
`Request`, validates the path names with one regex and the query with one pydantic model
(`parse`), and documents both in OpenAPI from the same model (`openapi_parameters`). The
bounds and descriptions are those of `params`, declared once for every route.
Errors are the same `RequestValidationError` FastAPI would raise, so they become the same
problem+json documents."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from .names import NAME_PATTERN
from .params import NAME, NAMESPACE

M = TypeVar("M", bound=BaseModel)
_NAME = re.compile(NAME_PATTERN)
PATH_DOCS = {"namespace": NAMESPACE.description, "name": NAME.description}


def names(request: Request) -> tuple[str, str]:
    """The (namespace, name) path parameters. Raises RequestValidationError (422)."""
    params = request.path_params
    namespace, name = params["namespace"], params["name"]
    # fullmatch: Python's `$` would also match before a trailing newline (`a%0A`).
    if _NAME.fullmatch(namespace) and _NAME.fullmatch(name):
        return namespace, name
    errors = [
        {
            "type": "string_pattern_mismatch",
            "loc": ("path", key),
            "msg": f"String should match pattern '{NAME_PATTERN}'",
            "input": value,
            "ctx": {"pattern": NAME_PATTERN},
        }
        for key, value in (("namespace", namespace), ("name", name))
        if not _NAME.fullmatch(value)
    ]
    raise RequestValidationError(errors)


def parse(model: type[M], request: Request) -> M:
    """The query string validated by `model` (unknown parameters are ignored).
    Raises RequestValidationError (422) naming each bad parameter and its value."""
    try:
        return model.model_validate(request.query_params)
    except ValidationError as exc:
        errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None


def openapi_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting the path names and `model`'s fields as parameters."""
    schema = model.model_json_schema()
    parameters: list[dict[str, Any]] = [
        {
            "name": key,
            "in": "path",
            "required": True,
            "description": doc,
            "schema": {"type": "string", "pattern": NAME_PATTERN, "title": key.title()},
        }
        for key, doc in PATH_DOCS.items()
    ]
    for key, field in schema["properties"].items():
        field = dict(field)
        description = field.pop("description", None)
        parameters.append(
            {
                "name": key,
                "in": "query",
                "required": key in schema.get("required", ()),
                "description": description,
                "schema": field,
            }
        )
    return {"parameters": parameters}
