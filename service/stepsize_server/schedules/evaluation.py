"""The entry points on whole definitions: compile, normalize, digest, evaluate, horizon.

Re-exported by `stepsize_server.schedules`. Parsing is in `validation`, the checks of the
values in `lint`, the checks of the steps in `steps`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cost import Deadline, check_cost, estimate_cost, per_step_cost
from .errors import CostTooLarge, EvaluationError, InvalidDefinition
from .lint import DEFAULT_BUDGET, check_grid, check_values, relocated, values_chunked
from .node import Context, Node
from .steps import as_number, check_scalar_step, check_steps, context
from .templates import (
    PLAUSIBLE_EPOCHS,
    PLAUSIBLE_TOTALS,
    Duration,
    bind,
    durations,
    fit_errors,
    is_template,
    reference_epoch,
    set_at,
)
from .validation import parse

TEMPLATE_SAMPLES = 1025
"""Steps a template's binding is checked at, for each plausible length (0 to total + 1)."""


@dataclass(frozen=True)
class Compiled:
    """A validated definition, ready to evaluate many times without re-parsing."""

    node: Node
    normalized: dict[str, Any]
    digest: str

    def evaluate(
        self,
        steps: Any,
        *,
        steps_per_epoch: int | None = None,
        budget: int | None = None,
        deadline: Deadline | None = None,
    ) -> np.ndarray:
        """Learning rates at `steps` (float64); see `evaluate` for `budget` and `deadline`.

        Raises InvalidStep, CostTooLarge, EvaluationError or EvaluationTimeout."""
        return evaluate_node(
            self.node, steps, steps_per_epoch=steps_per_epoch, budget=budget, deadline=deadline
        )

    def value(self, step: Any, *, steps_per_epoch: int | None = None) -> float:
        """The learning rate at one step: `evaluate` without its array bookkeeping.

        Raises InvalidStep or EvaluationError exactly as `evaluate` does."""
        check_scalar_step(step)
        ctx = context(steps_per_epoch)
        with np.errstate(all="ignore"):
            try:
                out = float(self.node.values(np.array([float(step)]), ctx)[0])
            except EvaluationError as exc:
                raise relocated(exc, as_number(step)) from None
        if not math.isfinite(out) or out < 0:
            what = "negative" if math.isfinite(out) else "non-finite"
            step = as_number(step)
            raise EvaluationError(step, f"the learning rate at step {step} is {what} ({out!r})")
        return out

    def horizon(self, *, steps_per_epoch: int | None = None) -> int | None:
        """The first step from which the value never changes, or None."""
        return self.node.horizon(Context(steps_per_epoch=steps_per_epoch))


def compile_definition(
    definition: Any,
    *,
    check_values: bool = True,
    budget: int = DEFAULT_BUDGET,
    deadline: Deadline | None = None,
) -> Compiled:
    """Parse, normalize and digest `definition`; with `check_values`, also reject a
    definition that yields a non-finite or negative value on the publish grid, after
    estimating that check's cost against `budget` (cost units, ~1 ns each).

    Raises InvalidDefinition (EvaluationError for a bad value, CostTooLarge when the
    publish check would cost more than `budget`), EvaluationTimeout when `deadline`
    passes during the check."""
    node = parse(definition)
    normalized = dump(node)
    if check_values:
        check_grid(node, budget=budget, deadline=deadline)
    return Compiled(node=node, normalized=normalized, digest=digest_of_normalized(normalized))


def normalize(definition: Any) -> dict[str, Any]:
    """The validated definition with defaults filled in and keys sorted; a template's
    durations kept, canonically written ("0.10dur" is "0.1dur").

    Raises InvalidDefinition (with JSON pointers) for any broken rule, including values
    that are negative or non-finite on the publish grid, and for a template that
    `check_template` rejects; CostTooLarge when the publish check is over budget."""
    if is_template(definition):
        return normalize_template(definition)
    return compile_definition(definition).normalized


def digest(definition: Any) -> str:
    """`sha256:<hex>` of the canonical JSON of the normalized definition (a template's
    normalized form keeps its durations: its digest is its own, not a binding's).

    Raises InvalidDefinition for a bad definition (values are not checked)."""
    if is_template(definition):
        return digest_of_normalized(normalize_template(definition))
    return digest_of_normalized(compile_definition(definition, check_values=False).normalized)


def horizon(definition: Any, *, steps_per_epoch: int | None = None) -> int | None:
    """The first step from which the value never changes, or None if it never settles.

    Raises InvalidDefinition for a bad definition."""
    return parse(definition).horizon(Context(steps_per_epoch=steps_per_epoch))


def evaluate(
    definition: Any,
    steps: Any,
    *,
    steps_per_epoch: int | None = None,
    budget: int | None = None,
    deadline: Deadline | None = None,
) -> np.ndarray:
    """Learning rates (float64 array shaped like `steps`) for a definition.

    With `budget` (cost units, ~1 ns each), the cost is estimated first (nothing is
    evaluated if it is over); with `deadline` (a callable that returns True once time is
    up), the steps are evaluated in chunks of ~20 ms, the deadline checked before each.

    Raises InvalidDefinition for a bad definition, InvalidStep for a bad step,
    CostTooLarge over the budget, EvaluationError naming the first step whose value is
    non-finite or negative, EvaluationTimeout once the deadline has passed."""
    return evaluate_node(
        parse(definition), steps, steps_per_epoch=steps_per_epoch, budget=budget,
        deadline=deadline,
    )  # fmt: skip


def evaluate_node(
    node: Node,
    steps: Any,
    *,
    steps_per_epoch: int | None = None,
    budget: int | None = None,
    deadline: Deadline | None = None,
) -> np.ndarray:
    """Evaluate a parsed node at validated steps, checking every value (see `evaluate`)."""
    t = check_steps(steps)
    ctx = context(steps_per_epoch)
    flat = t.reshape(-1)
    if budget is not None:
        check_cost(node, flat.size, max_step=int(flat.max()) if flat.size else 0, budget=budget)
    out = values_chunked(node, flat, ctx, deadline)
    check_values(flat, out)
    return out.reshape(t.shape)


def normalize_template(definition: Any) -> dict[str, Any]:
    """The normalized form of a template: its binding at a reference length normalized,
    with each duration put back, canonically written ("0.10dur" is "0.1dur"). Its values
    are checked by `check_template` (at every plausible length) instead of on the
    publish grid. Raises InvalidDefinition (CostTooLarge) if `check_template` does."""
    found = check_template(definition)
    bound = bind(definition, PLAUSIBLE_TOTALS[-1], reference_epoch(found))
    normalized = compile_definition(bound, check_values=False).normalized
    for d in found:
        set_at(normalized, d.path, d.text)
    return normalized


def check_template(
    definition: Any, steps_per_epoch: int | None = None, *, budget: int = DEFAULT_BUDGET
) -> list[Duration]:
    """The durations of a valid template (empty for an ordinary definition, which is not
    checked here).

    Raises InvalidDefinition: durations out of range; parts that cannot fit in the run
    (e.g. a 0.6dur warmup before a 0.6dur decay: the decay would end at 1.2dur); or the
    first plausible length (`PLAUSIBLE_TOTALS`, with `PLAUSIBLE_EPOCHS` when no
    `steps_per_epoch` is given) whose binding is invalid or has a non-finite or negative
    value at one of `TEMPLATE_SAMPLES` steps spread over the run (its messages prefixed
    with the length, its pointers unchanged). CostTooLarge when checking every binding
    would cost more than `budget` (estimated before any is evaluated)."""
    found = durations(definition)
    if not found:
        return found
    fit = fit_errors(definition)
    if fit:
        raise InvalidDefinition(fit)
    epochs = [steps_per_epoch] if steps_per_epoch else list(PLAUSIBLE_EPOCHS)
    checks: list[tuple[str, Compiled, np.ndarray]] = []
    for spe in epochs if any(d.unit == "ep" for d in found) else [None]:
        for total in PLAUSIBLE_TOTALS:
            where = f"total_steps={total}" + (f", steps_per_epoch={spe}" if spe else "")
            with _bound_for(where):
                compiled = compile_definition(bind(definition, total, spe), check_values=False)
            sample = np.unique(np.linspace(0, total + 1, TEMPLATE_SAMPLES).round())
            checks.append((where, compiled, sample))
    cost = sum(estimate_cost(c, s.size, max_step=int(s[-1])) for _, c, s in checks)
    if cost > budget:
        per_step = max(per_step_cost(c) for _, c, _ in checks)
        raise CostTooLarge(
            cost=cost, budget=budget, per_step=per_step, fixed=cost, max_steps=0,
            what="checking this template at every plausible length",
        )  # fmt: skip
    for where, compiled, sample in checks:
        with _bound_for(where):
            compiled.evaluate(sample)
    return found


@contextmanager
def _bound_for(where: str) -> Iterator[None]:
    """Prefix the messages of an InvalidDefinition raised inside with the binding."""
    try:
        yield
    except InvalidDefinition as exc:
        raise InvalidDefinition(
            [
                {"path": e["path"], "message": f"bound for {where}: {e['message']}"}
                for e in exc.errors
            ]
        ) from None


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, floats in shortest round-trip form (Python's repr)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def digest_of_normalized(normalized: dict[str, Any]) -> str:
    """`sha256:<hex>` of the canonical JSON of an already normalized definition."""
    return "sha256:" + hashlib.sha256(canonical_json(normalized).encode()).hexdigest()


def dump(node: Node) -> dict[str, Any]:
    """The normalized JSON form of a node tree (defaults filled, None-valued keys kept
    except where a family's `tidy_dump` drops them), keys sorted recursively."""
    data: dict[str, Any] = node.model_dump(mode="json")
    _tidy(node, data)
    return _sorted(data)


def _tidy(node: Node, data: dict[str, Any]) -> None:
    node.tidy_dump(data)
    for rel, child in node.children():
        _tidy(child, _resolve(data, rel))


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
