"""Bounded cost: what evaluating a definition will cost, estimated before anything runs.

The estimate is a sum over the definition's nodes, computed from the definition alone:
every node costs `Node.step_cost()` units per requested step (an expression adds its own
cost: its operations, transcendental functions and powers weighing most), plus
`PER_STEP` for the step and value checks; a cumulative torch scheduler adds the
recurrence stepped from 0 up to the largest step asked for (`Node.stepped_steps`, counted
once, at the outermost node that steps): `STEPPED_COST` plus its whole subtree's per-step
cost for each step walked.

Units: 1 unit is about 1 ns of one CPU core of the machine the weights were measured on
(the measurements are in the module docstrings of `node`, `torch.node` and
`expressions.compiler`, and in /work/notes/language_api.md). `DEFAULT_BUDGET` (1.5 s
worth) keeps the worst request within the API's limits under 2 s, while every realistic
schedule fits over 10,000,000 steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from .errors import CostTooLarge
from .node import Node

DEFAULT_BUDGET = 1_500_000_000
"""The default budget of one request, in cost units (~1.5 s of one core)."""

PER_STEP = 10
"""Cost units per requested step beyond the nodes': the step and value checks."""

STEPPED_COST = 40
"""Cost units per step of a recurrence walked (`Stepper`'s scan), beyond the maps' own cost
(the nodes' per-step costs)."""

Deadline = Callable[[], bool]
"""A callable that returns True once the caller's time is up (or its client left)."""


def deadline_after(seconds: float) -> Deadline:
    """A `Deadline` that passes `seconds` from now (monotonic clock)."""
    end = time.monotonic() + seconds
    return lambda: time.monotonic() >= end


def as_node(definition: Any) -> Node:
    """The node tree of a `Compiled`, a `Node` or a raw definition (parsed: raises
    InvalidDefinition)."""
    if isinstance(definition, Node):
        return definition
    node = getattr(definition, "node", None)
    if isinstance(node, Node):
        return node
    from .validation import parse  # the raw-definition case only

    return parse(definition)


def per_step_cost(definition: Any) -> int:
    """Cost units per requested step of `definition` (a Compiled, Node or definition)."""
    return PER_STEP + _nodes_cost(as_node(definition))


def _nodes_cost(node: Node) -> int:
    return sum(n.step_cost() for n in _walk(node))


def fixed_cost(definition: Any, max_step: int) -> int:
    """Cost units that do not shrink with fewer steps: cumulative recurrences stepped up
    to `max_step`, each counted at the outermost node that steps it."""
    total = 0
    stack = [as_node(definition)]
    while stack:
        node = stack.pop()
        walked = node.stepped_steps(max_step)
        if walked:
            total += walked * (STEPPED_COST + _nodes_cost(node))
        else:
            stack.extend(child for _, child in node.children())
    return total


def estimate_cost(definition: Any, n_steps: int, *, max_step: int | None = None) -> int:
    """The estimated cost, in units (~1 ns of one core), of evaluating `definition` (a
    `Compiled`, a `Node` or a raw definition) at `n_steps` steps whose largest is
    `max_step` (default: `n_steps`, as for the range 0..n_steps-1). Pure arithmetic on
    the definition: microseconds even for the largest definition.

    Raises InvalidDefinition for a raw definition that does not parse."""
    node = as_node(definition)
    top = n_steps if max_step is None else max_step
    return n_steps * per_step_cost(node) + fixed_cost(node, max(int(top), 0))


def check_cost(
    definition: Any,
    n_steps: int,
    *,
    max_step: int | None = None,
    budget: int = DEFAULT_BUDGET,
    what: str = "this request",
) -> int:
    """`estimate_cost(definition, n_steps, max_step=max_step)` if within `budget`.

    Raises CostTooLarge (an InvalidDefinition with code `cost_too_large`) naming the
    estimate, the budget and the most steps one request may ask for."""
    node = as_node(definition)
    per_step = per_step_cost(node)
    fixed = fixed_cost(node, max(int(n_steps if max_step is None else max_step), 0))
    cost = n_steps * per_step + fixed
    if cost > budget:
        max_steps = max((budget - fixed) // per_step, 0)
        raise CostTooLarge(
            cost=cost, budget=budget, per_step=per_step, fixed=fixed, max_steps=max_steps,
            what=what,
        )  # fmt: skip
    return cost


def _walk(node: Node) -> list[Node]:
    out, stack = [], [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(child for _, child in current.children())
    return out
