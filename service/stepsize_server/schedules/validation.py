"""Parsing a definition into a node tree: limits, pydantic, placement rules, messages.

`parse` checks the definition's size (SPEC 3 limits) before pydantic sees it, validates it
against the discriminated union of every type, asks each node for the rules that depend
on where it sits (`Node.placement_errors`), and turns pydantic's errors into
`{path, message}` items with JSON pointers.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from pydantic import ValidationError

from .errors import ErrorItem, InvalidDefinition, pointer
from .node import Node
from .registry import ADAPTER, TYPE_NAMES
from .templates import check_unbound

# SPEC 3 limits on a definition's size.
MAX_DEPTH = 16
MAX_NODES = 256
MAX_LIST = 10_000
MAX_JSON_NESTING = 64


def parse(definition: Any) -> Node:
    """Validate `definition` into a node tree. Raises InvalidDefinition (UnboundTemplate
    for a run-length template); never anything else."""
    check_shape(definition)
    check_unbound(definition)
    try:
        node = ADAPTER.validate_python(definition)
    except ValidationError as exc:
        raise InvalidDefinition(convert_errors(exc, definition)) from None
    except RecursionError:
        raise InvalidDefinition.at("", "definition is nested too deeply") from None
    errors: list[ErrorItem] = []
    _check_tree(node, "", None, errors)
    if errors:
        raise InvalidDefinition(errors)
    return node


def check_shape(definition: Any) -> None:
    """Raise InvalidDefinition if `definition` is not an object or exceeds a SPEC 3 limit
    (JSON nesting, nodes, schedule depth, list length)."""
    if not isinstance(definition, dict):
        raise InvalidDefinition.at("", "a definition must be a JSON object with a `type`")
    nodes = 0
    stack: list[tuple[Any, str, int, int]] = [(definition, "", 0, 1)]
    while stack:
        value, path, nesting, depth = stack.pop()
        if nesting > MAX_JSON_NESTING:
            raise InvalidDefinition.at(path, f"nested deeper than {MAX_JSON_NESTING} levels")
        if isinstance(value, dict):
            is_node = "type" in value
            if is_node:
                nodes += 1
                if nodes > MAX_NODES:
                    raise InvalidDefinition.at(path, f"more than {MAX_NODES} schedule nodes")
                if depth > MAX_DEPTH:
                    raise InvalidDefinition.at(path, f"schedules nested deeper than {MAX_DEPTH}")
            for key, item in value.items():
                if isinstance(item, dict | list):
                    child_depth = depth + 1 if is_node else depth
                    stack.append((item, path + pointer(key), nesting + 1, child_depth))
        elif isinstance(value, list):
            if len(value) > MAX_LIST:
                raise InvalidDefinition.at(path, f"a list may hold at most {MAX_LIST} items")
            for i, item in enumerate(value):
                if isinstance(item, dict | list):
                    stack.append((item, path + pointer(i), nesting + 1, depth))


def _check_tree(node: Node, path: str, parent: Node | None, errors: list[ErrorItem]) -> None:
    """Record each node's JSON pointer and collect the rules that depend on its parent."""
    node._path = path
    errors.extend(node.placement_errors(path, parent))
    for rel, child in node.children():
        _check_tree(child, path + rel, node, errors)


# -- pydantic errors to JSON pointers ----------------------------------------------------


def convert_errors(exc: ValidationError, data: Any) -> list[ErrorItem]:
    """One `{path, message}` per distinct pydantic error, with pointers into `data`."""
    items: list[ErrorItem] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        path, parent = _pointer_for(err["loc"], data)
        if err["type"] in {"union_tag_invalid", "union_tag_not_found"}:
            path += "/type"
        message = _message(err, parent)
        if (path, message) not in seen:
            seen.add((path, message))
            items.append({"path": path, "message": message})
    return items


def _pointer_for(loc: tuple[Any, ...], data: Any) -> tuple[str, Any]:
    """Walk `loc` through the input, dropping the union tags pydantic inserts."""
    parts: list[str | int] = []
    current: Any = data
    parent: Any = None
    for item in loc:
        if isinstance(current, dict):
            if item not in current and current.get("type") == item:
                continue
            parent = current
            parts.append(item)
            current = current.get(item) if isinstance(item, str) else None
        elif isinstance(current, list) and isinstance(item, int):
            parent = current
            parts.append(item)
            current = current[item] if 0 <= item < len(current) else None
        else:
            if isinstance(item, str) and item in TYPE_NAMES:
                continue
            parts.append(item)
            current = None
    return pointer(*parts), parent


def _message(err: Any, parent: Any) -> str:
    kind = err["type"]
    loc = err["loc"]
    field = loc[-1] if loc else ""
    if kind == "union_tag_invalid":
        tag = err["input"].get("type") if isinstance(err["input"], dict) else None
        close = difflib.get_close_matches(str(tag), TYPE_NAMES, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown schedule type {tag!r}{hint} (GET /v1/types lists them)"
    if kind == "union_tag_not_found":
        return "a schedule needs a `type` (GET /v1/types lists them)"
    if kind == "extra_forbidden":
        model = TYPE_NAMES.get(str(parent.get("type"))) if isinstance(parent, dict) else None
        known = sorted(k for k in (model.model_fields if model else {}) if k != "type")
        close = difflib.get_close_matches(str(field), known, n=1)
        hint = f"; did you mean `{close[0]}`?" if close else ""
        where = f" for type '{parent.get('type')}'" if isinstance(parent, dict) else ""
        return f"unknown parameter `{field}`{where}{hint}"
    if kind == "missing":
        return f"missing required parameter `{field}`"
    msg: str = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if "input" in err and kind not in {"value_error", "assertion_error"}:
        return f"{msg}. Received: {field}={_short(err['input'])}"
    return msg


def _short(value: Any) -> str:
    text = json.dumps(value) if _jsonable(value) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
