"""Bounded cost (issue 13, item 1): a request's cost is estimated from the definition before
anything is evaluated; over the budget it is a `cost_too_large` error naming the budget
and how to split the request; a deadline stops an evaluation between chunks.

Timings here are generous upper bounds (the machine is shared); the measured figures are
in /work/notes/language_api.md.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from stepsize_server import demo
from stepsize_server.schedules import (
    DEFAULT_BUDGET,
    TYPES,
    CostTooLarge,
    EvaluationError,
    EvaluationTimeout,
    InvalidDefinition,
    check_cost,
    compile_definition,
    deadline_after,
    estimate_cost,
    evaluate,
    fixed_cost,
    per_step_cost,
)
from stepsize_server.schedules.cost import PER_STEP
from stepsize_server.schedules.lint import publish_grid
from stepsize_server.schedules.node import NODE_COST

from tests.golden import load_cases


def _long_expression() -> str:
    """A balanced sum of cosines, as long as the expression limits allow (~500 chars)."""
    terms = [f"cos(step/{i + 1})" for i in range(32)]
    while len(terms) > 1:
        terms = ["(" + "+".join(terms[i : i + 2]) + ")" for i in range(0, len(terms), 2)]
    return "1e-3*abs" + terms[0] + "+1e-3"


LONG = _long_expression()


def _product(n: int) -> dict:
    return {"type": "product", "schedules": [{"type": "expression", "expr": LONG}] * n}


def test_the_long_expression_is_near_the_limits():
    assert 400 < len(LONG) <= 512
    compile_definition({"type": "expression", "expr": LONG})


def test_a_product_of_64_long_expressions_over_a_million_steps_is_refused_at_once():
    definition = _product(64)
    started = time.perf_counter()
    with pytest.raises(CostTooLarge) as info:
        evaluate(definition, range(1_000_000), budget=DEFAULT_BUDGET)
    assert time.perf_counter() - started < 5  # was 24 s of evaluation before
    error = info.value
    assert error.code == "cost_too_large" and isinstance(error, InvalidDefinition)
    assert error.budget == DEFAULT_BUDGET and error.cost > DEFAULT_BUDGET
    assert error.max_steps == (DEFAULT_BUDGET - error.fixed) // error.per_step
    assert 0 < error.max_steps < 1_000_000
    (item,) = error.errors
    assert item["path"] == ""
    assert f"over the budget of {DEFAULT_BUDGET:,}" in item["message"]
    assert f"ask for at most {error.max_steps:,} steps per request" in item["message"]


def test_the_largest_request_within_the_budget_answers_in_bounded_time():
    definition = compile_definition(_product(64), check_values=False)
    n = check_cost_max_steps(definition)
    assert estimate_cost(definition, n) <= DEFAULT_BUDGET < estimate_cost(definition, n + 1)
    started = time.perf_counter()
    values = definition.evaluate(np.arange(n), budget=DEFAULT_BUDGET)
    assert time.perf_counter() - started < 5
    assert values.shape == (n,)


def check_cost_max_steps(definition) -> int:
    with pytest.raises(CostTooLarge) as info:
        check_cost(definition, 10**9)
    return info.value.max_steps


def test_publishing_a_product_of_255_long_expressions_is_refused_at_once():
    started = time.perf_counter()
    with pytest.raises(CostTooLarge) as info:
        compile_definition(_product(255))
    assert time.perf_counter() - started < 5  # was 32 s before its 422
    assert info.value.errors[0]["message"].startswith("the publish check would cost about")


def _realistic() -> list[tuple[str, dict]]:
    out = [("example-" + t.model_fields["type"].default, t.example) for t in TYPES]
    out += [(f"golden-{i}", case["definition"]) for i, case in enumerate(load_cases())]
    out += [(f"demo-{name}", definition) for _, name, definition in demo.DEMOS]
    return out


REALISTIC = _realistic()


@pytest.mark.parametrize(("name", "definition"), REALISTIC, ids=[n for n, _ in REALISTIC])
def test_realistic_schedules_are_within_budget(name, definition):
    compiled = compile_definition(definition)  # the publish check is within budget too
    grid = publish_grid(compiled.node)
    assert estimate_cost(compiled, grid.size, max_step=int(grid[-1])) <= DEFAULT_BUDGET
    # A JSON or CSV range (1,000,000 values) and an .npy range (10,000,000).
    assert estimate_cost(compiled, 1_000_000) <= DEFAULT_BUDGET
    assert estimate_cost(compiled, 10_000_000) <= DEFAULT_BUDGET
    check_cost(compiled, 10_000_000)


def test_a_cumulative_schedule_costs_its_largest_step_even_for_one_step():
    stepped = compile_definition(
        {"type": "torch.MultiplicativeLR", "base_lr": 0.1, "lr_lambda": "1 - 1e-6 * (epoch % 3)"}
    )
    assert fixed_cost(stepped, 10**7) > 100 * fixed_cost(stepped, 10**4) > 0
    assert estimate_cost(stepped, 1, max_step=10**7) > estimate_cost(stepped, 1, max_step=10)
    closed = compile_definition({"type": "torch.StepLR", "base_lr": 0.1, "step_size": 3})
    assert fixed_cost(closed, 10**7) == 0


def test_expressions_cost_by_their_operations():
    cheap = compile_definition({"type": "expression", "expr": "0.1 + step * 0"})
    costly = compile_definition({"type": "expression", "expr": "0.1 + abs(cos(step)) * 0"})
    folded = compile_definition({"type": "expression", "expr": "0.1 * cos(0)"})
    assert per_step_cost(folded) < per_step_cost(cheap) < per_step_cost(costly)
    one = per_step_cost({"type": "expression", "expr": LONG}) - PER_STEP
    assert per_step_cost(_product(4)) == PER_STEP + NODE_COST + 4 * one
    # A raw definition, a Compiled and a node give the same estimate.
    raw = {"type": "expression", "expr": LONG}
    compiled = compile_definition(raw)
    assert estimate_cost(raw, 10) == estimate_cost(compiled, 10) == estimate_cost(compiled.node, 10)


def test_a_passed_deadline_stops_before_evaluating():
    with pytest.raises(EvaluationTimeout) as info:
        evaluate({"type": "constant", "value": 0.1}, range(10), deadline=lambda: True)
    assert (info.value.done, info.value.total) == (0, 10)
    assert info.value.code == "evaluation_timeout"
    with pytest.raises(EvaluationTimeout):
        compile_definition({"type": "constant", "value": 0.1}, deadline=lambda: True)


def test_a_deadline_stops_between_chunks():
    calls = []

    def deadline() -> bool:
        calls.append(1)
        return len(calls) > 2  # time is up before the third chunk

    definition = _product(8)
    with pytest.raises(EvaluationTimeout) as info:
        evaluate(definition, range(200_000), deadline=deadline)
    assert 0 < info.value.done < 200_000 and len(calls) == 3


def test_the_wall_clock_deadline_bounds_a_long_evaluation():
    started = time.perf_counter()
    with pytest.raises(EvaluationTimeout):
        evaluate(_product(64), range(1_000_000), deadline=deadline_after(0.2))
    assert time.perf_counter() - started < 5  # 24 s without the deadline


@pytest.mark.parametrize(
    "definition",
    [case["definition"] for case in load_cases()[::7]]
    + [
        {"type": "torch.MultiplicativeLR", "base_lr": 0.1, "lr_lambda": "1 - 1e-6 * (epoch % 3)"},
        _product(3),
    ],
)
def test_chunked_evaluation_equals_one_call(definition):
    steps = np.arange(300_000)
    far = deadline_after(600)
    assert np.array_equal(evaluate(definition, steps, deadline=far), evaluate(definition, steps))


def test_chunked_evaluation_names_the_same_first_bad_step():
    definition = {"type": "expression", "expr": "0.1 - step * 1e-6"}  # negative past 100,000
    errors = []
    for deadline in (None, deadline_after(600)):
        with pytest.raises(EvaluationError) as info:
            evaluate(definition, range(300_000), deadline=deadline)
        errors.append((info.value.step, info.value.errors))
    assert errors[0] == errors[1] and errors[0][0] == 100_001
