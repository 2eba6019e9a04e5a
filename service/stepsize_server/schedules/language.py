"""Parsing, normalization, digests and evaluation of whole definitions.

This module assembles the discriminated union of every schedule type (`Schedule`), turns
pydantic's errors into `{path, message}` items with JSON pointers, and offers the public
entry points re-exported by `stepsize_server.schedules`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Annotated, Any, Union

import numpy as np
from pydantic import Field, TypeAdapter, ValidationError

from . import core, core_composite, hf_family, keras_family, torch_family
from .base import MAX_STEP, Context, Node
from .errors import (
    ErrorItem,
    EvaluationError,
    InvalidDefinition,
    InvalidStep,
    StepOutOfRange,
    pointer,
)

TYPES: tuple[type[Node], ...] = (
    *core.TYPES,
    *core_composite.TYPES,
    *keras_family.TYPES,
    *torch_family.TYPES,
    *hf_family.TYPES,
)
TYPE_NAMES: dict[str, type[Node]] = {t.model_fields["type"].default: t for t in TYPES}

Schedule = Annotated[Union[TYPES], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
for _model in TYPES:
    _model.model_rebuild(_types_namespace={"Schedule": Schedule})
_ADAPTER: TypeAdapter[Node] = TypeAdapter(Schedule)

# SPEC 3 limits on a definition's size.
MAX_DEPTH = 16
MAX_NODES = 256
MAX_LIST = 10_000
MAX_JSON_NESTING = 64


@dataclass(frozen=True)
class Compiled:
    """A validated definition, ready to evaluate many times without re-parsing."""

    node: Node
    normalized: dict[str, Any]
    digest: str

    def evaluate(self, steps: Any, *, steps_per_epoch: int | None = None) -> np.ndarray:
        """Learning rates at `steps` (float64). Raises InvalidStep or EvaluationError."""
        return evaluate_node(self.node, steps, steps_per_epoch=steps_per_epoch)

    def value(self, step: Any, *, steps_per_epoch: int | None = None) -> float:
        """The learning rate at one step: `evaluate` without its array bookkeeping.

        Raises InvalidStep or EvaluationError exactly as `evaluate` does."""
        _check_scalar_step(step)
        ctx = _context(steps_per_epoch)
        with np.errstate(all="ignore"):
            try:
                out = float(self.node.values(np.array([float(step)]), ctx)[0])
            except EvaluationError as exc:
                raise _relocated(exc, _as_number(step)) from None
        if not math.isfinite(out) or out < 0:
            what = "negative" if math.isfinite(out) else "non-finite"
            step = _as_number(step)
            raise EvaluationError(step, f"the learning rate at step {step} is {what} ({out!r})")
        return out

    def horizon(self, *, steps_per_epoch: int | None = None) -> int | None:
        return self.node.horizon(Context(steps_per_epoch=steps_per_epoch))


def parse(definition: Any) -> Node:
    """Validate `definition` into a node tree. Raises InvalidDefinition; never anything else."""
    _check_shape(definition)
    try:
        node = _ADAPTER.validate_python(definition)
    except ValidationError as exc:
        raise InvalidDefinition(_convert_errors(exc, definition)) from None
    except RecursionError:
        raise InvalidDefinition.at("", "definition is nested too deeply") from None
    errors: list[ErrorItem] = []
    _check_tree(node, "", errors, inside_torch_composite=False)
    if errors:
        raise InvalidDefinition(errors)
    return node


def compile_definition(definition: Any, *, check_values: bool = True) -> Compiled:
    """Parse, normalize and digest `definition`; with `check_values`, also reject a
    definition that yields a non-finite or negative value on the publish grid."""
    node = parse(definition)
    normalized = dump(node)
    if check_values:
        check_grid(node)
    return Compiled(node=node, normalized=normalized, digest=digest_of_normalized(normalized))


def normalize(definition: Any) -> dict[str, Any]:
    """The validated definition with defaults filled in and keys sorted.

    Raises InvalidDefinition (with JSON pointers) for any broken rule, including values
    that are negative or non-finite on the publish grid."""
    return compile_definition(definition).normalized


def digest(definition: Any) -> str:
    """`sha256:<hex>` of the canonical JSON of the normalized definition."""
    return digest_of_normalized(compile_definition(definition, check_values=False).normalized)


def horizon(definition: Any, *, steps_per_epoch: int | None = None) -> int | None:
    """The first step from which the value never changes, or None if it never settles."""
    return parse(definition).horizon(Context(steps_per_epoch=steps_per_epoch))


def evaluate(definition: Any, steps: Any, *, steps_per_epoch: int | None = None) -> np.ndarray:
    """Learning rates (float64 array shaped like `steps`) for a definition.

    Raises InvalidDefinition for a bad definition, InvalidStep for a bad step and
    EvaluationError naming the first step whose value is non-finite or negative."""
    return evaluate_node(parse(definition), steps, steps_per_epoch=steps_per_epoch)


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, floats in shortest round-trip form (Python's repr)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest_of_normalized(normalized: dict[str, Any]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(normalized).encode()).hexdigest()


def dump(node: Node) -> dict[str, Any]:
    """The normalized JSON form of a node tree (defaults filled, None-valued keys kept
    except a torch child's absent `base_lr`), keys sorted recursively."""
    data = node.model_dump(mode="json")
    _strip_inherited(node, data)
    return _sorted(data)


def check_steps(steps: Any) -> np.ndarray:
    """Validate steps (SPEC 2): integers with 0 <= step <= 2**53, as a float64 array (exact
    for every valid step). Raises InvalidStep naming the first offending value."""
    if isinstance(steps, range):
        steps = np.arange(steps.start, steps.stop, steps.step, dtype=np.int64)
    if not isinstance(steps, np.ndarray):
        items = np.asarray(steps, dtype=object)
        for value in items.reshape(-1):
            _check_scalar_step(value)
        return items.astype(np.float64)
    if steps.dtype.kind == "b" or steps.dtype.kind not in "iuf":
        if steps.size == 0:
            return steps.astype(np.float64)
        if steps.dtype == object:
            for value in steps.reshape(-1):
                _check_scalar_step(value)
            return steps.astype(np.float64)
        raise InvalidStep(steps.reshape(-1)[0].item(), "a step must be an integer")
    if steps.size == 0:
        return steps.astype(np.float64)
    # Two reductions settle the common case without temporaries (NaN fails `lo >= 0`).
    lo, hi = steps.min(), steps.max()
    if steps.dtype.kind == "f":
        in_range = bool(lo >= 0 and hi <= MAX_STEP)
        if not in_range or not np.array_equal(np.floor(steps), steps):
            bad = ~np.isfinite(steps) | (steps != np.floor(steps)) | (steps < 0)
            bad |= steps > MAX_STEP
            _check_scalar_step(steps[bad][0].item())
        return steps.astype(np.float64)
    if lo < 0 or hi > MAX_STEP:
        bad = (steps < 0) | (steps > MAX_STEP)
        _check_scalar_step(steps[bad][0].item())
    return steps.astype(np.float64)


def _check_scalar_step(value: Any) -> None:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidStep(value, "a step must be an integer")
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise InvalidStep(value, "a step must be an integer")
    if value < 0:
        raise InvalidStep(value, "a step must be >= 0")
    if value > MAX_STEP:
        raise InvalidStep(value, f"a step must be <= 2**53 ({MAX_STEP})")


def evaluate_node(node: Node, steps: Any, *, steps_per_epoch: int | None = None) -> np.ndarray:
    """Evaluate a parsed node at validated steps, checking every value (see `evaluate`)."""
    t = check_steps(steps)
    ctx = _context(steps_per_epoch)
    flat = t.reshape(-1)
    out = _values_located(node, flat, ctx)
    _check_values(flat, out)
    return out.reshape(t.shape)


def _check_values(steps: np.ndarray, values: np.ndarray) -> None:
    """Raise EvaluationError naming the first step whose value is non-finite or negative."""
    if values.size == 0:
        return
    lo, hi = values.min(), values.max()  # NaN propagates into both and fails the test
    if lo >= 0 and hi < np.inf:
        return
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        i = int(np.argmax(bad))
        step = _as_number(steps[i])
        what = "negative" if np.isfinite(values[i]) else "non-finite"
        value = float(values[i])
        raise EvaluationError(step, f"the learning rate at step {step} is {what} ({value!r})")


def _context(steps_per_epoch: Any) -> Context:
    if steps_per_epoch is not None and (
        isinstance(steps_per_epoch, bool)
        or not isinstance(steps_per_epoch, int)
        or steps_per_epoch <= 0
    ):
        raise InvalidStep(steps_per_epoch, "steps_per_epoch must be a positive integer")
    return Context(steps_per_epoch=steps_per_epoch)


def _values_located(node: Node, flat: np.ndarray, ctx: Context) -> np.ndarray:
    """node.values(flat), but an EvaluationError names the first global step that fails."""
    with np.errstate(all="ignore"):
        try:
            return np.asarray(node.values(flat, ctx), dtype=np.float64)
        except EvaluationError as exc:
            if flat.size <= 1:
                step = _as_number(flat[0]) if flat.size else exc.step
                raise _relocated(exc, step) from None
            lo, hi = 0, flat.size
            while hi - lo > 1:  # the failure is in flat[lo:hi]; keep the first failing half
                mid = (lo + hi) // 2
                try:
                    node.values(flat[lo:mid], ctx)
                except EvaluationError:
                    hi = mid
                else:
                    lo = mid
            step = _as_number(flat[lo])
            raise _relocated(exc, step) from None


def _relocated(exc: EvaluationError, step: int | float) -> EvaluationError:
    """The same error, naming the global `step` (and keeping a StepOutOfRange's limit)."""
    path = exc.errors[0]["path"]
    if isinstance(exc, StepOutOfRange):
        return StepOutOfRange(step, exc.limit, _at_step(exc, step), path)
    return EvaluationError(step, _at_step(exc, step), path)


def _at_step(exc: EvaluationError, step: int | float) -> str:
    message = exc.errors[0]["message"]
    return message if f"step {step}" in message else f"{message} at step {step}"


def _as_number(value: Any) -> int | float:
    v = value.item() if hasattr(value, "item") else value
    if isinstance(v, float) and v.is_integer() and abs(v) <= MAX_STEP * 2:
        return int(v)
    return v


# -- the publish grid -------------------------------------------------------------------

DENSE_LIMIT = 200_000
SPARSE_POINTS = 4_096


def publish_grid(node: Node) -> np.ndarray:
    """Steps checked when a definition is published: dense up to its horizon (or the first
    200,000 steps), strided beyond that up to the horizon, then sparse up to 2**53."""
    h = node.horizon(Context(steps_per_epoch=1))
    end = DENSE_LIMIT if h is None else max(h, 1) + 2
    dense = np.arange(min(end, DENSE_LIMIT), dtype=np.float64)
    parts = [dense]
    if end > DENSE_LIMIT:
        parts.append(np.unique(np.linspace(DENSE_LIMIT, end, DENSE_LIMIT).round()))
    parts.append(np.unique(np.geomspace(max(end, 1), MAX_STEP, SPARSE_POINTS).round()))
    grid = np.unique(np.concatenate(parts))
    return grid[grid <= MAX_STEP]


def check_grid(node: Node) -> None:
    """Raise EvaluationError if the node yields a bad value on the publish grid.

    Types that can only be evaluated up to some step (cumulative torch schedules) are
    checked up to that step."""
    grid = publish_grid(node)
    ctx = Context(steps_per_epoch=1)
    while True:
        try:
            values = _values_located(node, grid, ctx)
            break
        except EvaluationError as exc:
            limit = getattr(exc, "limit", None)
            if limit is None:
                raise
            grid = grid[grid <= limit]
    _check_values(grid, values)


# -- shape checks before pydantic --------------------------------------------------------


def _check_shape(definition: Any) -> None:
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


def _check_tree(node: Node, path: str, errors: list[ErrorItem], *, inside_torch_composite: bool):
    """Rules that depend on where a node sits: torch base_lr is required at the top of a
    torch subtree and forbidden on children of SequentialLR/ChainedScheduler."""
    node._path = path
    if isinstance(node, torch_family.TorchNode) and node.inherits_base_lr:
        has_base = node.base_lr is not None
        if inside_torch_composite and has_base:
            errors.append(
                {
                    "path": path + "/base_lr",
                    "message": "a child of torch.SequentialLR/ChainedScheduler inherits "
                    "`base_lr` from its parent; remove it here",
                }
            )
        elif not inside_torch_composite and not has_base:
            errors.append(
                {
                    "path": path + "/base_lr",
                    "message": "missing required parameter `base_lr` (the learning rate "
                    "the optimizer was built with)",
                }
            )
    composite = isinstance(node, torch_family.TorchComposite)
    for rel, child in node.children():
        _check_tree(child, path + rel, errors, inside_torch_composite=composite)


def _strip_inherited(node: Node, data: dict[str, Any]) -> None:
    if isinstance(node, torch_family.TorchComposite):
        for rel, child in node.children():
            target = _resolve(data, rel)
            if isinstance(child, torch_family.TorchNode) and child.base_lr is None:
                target.pop("base_lr", None)
    for rel, child in node.children():
        _strip_inherited(child, _resolve(data, rel))


def _resolve(data: Any, rel: str) -> Any:
    for part in rel.split("/")[1:]:
        key = part.replace("~1", "/").replace("~0", "~")
        data = data[int(key)] if isinstance(data, list) else data[key]
    return data


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


# -- pydantic errors to JSON pointers ----------------------------------------------------


def _convert_errors(exc: ValidationError, data: Any) -> list[ErrorItem]:
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
    msg = err["msg"]
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
