"""The amendment builder (schedules.amend): equal to the base before from_step, the
continuation at the local step after it, bit for bit; checked against evaluations made
here, not against the builder's own check."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stepsize_server.schedules import TYPES, InvalidDefinition, compile_definition
from stepsize_server.schedules.amend import (
    PREFIX_SPREAD,
    PREFIX_TAIL,
    amended_definition,
    check_not_template,
    check_prefix,
    continuation_pointer,
    prefix_steps,
)

# Every type of every family, by its catalog example (all compile and evaluate on their own).
EXAMPLES = [t.example for t in TYPES]
SETTINGS = settings(max_examples=80, deadline=None)


def leaf() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(EXAMPLES)


def sequences(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A sequence of 1..4 children with random increasing boundaries."""

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        parts = draw(st.lists(children, min_size=1, max_size=4))
        bounds = sorted(
            draw(
                st.lists(
                    st.integers(1, 20_000),
                    min_size=len(parts) - 1,
                    max_size=len(parts) - 1,
                    unique=True,
                )
            )
        )
        return {"type": "sequence", "schedules": parts, "boundaries": bounds}

    return build()


definitions = st.recursive(leaf(), sequences, max_leaves=6)


def bits(values: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)


def amend(base: dict[str, Any], from_step: int, cont: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(base, continuation, amendment) compiled."""
    b = compile_definition(base, check_values=False)
    c = compile_definition(cont, check_values=False)
    a = compile_definition(
        amended_definition(b.normalized, from_step, c.normalized), check_values=False
    )
    return b, c, a


@SETTINGS
@given(
    base=definitions,
    cont=definitions,
    from_step=st.integers(1, 30_000),
    probes=st.lists(st.integers(0, 60_000), min_size=1, max_size=40),
)
def test_values_equal_the_base_before_from_step_and_the_shifted_continuation_after(
    base: dict[str, Any], cont: dict[str, Any], from_step: int, probes: list[int]
) -> None:
    b, c, a = amend(base, from_step, cont)
    before = np.array(sorted({p % from_step for p in probes} | {0, from_step - 1}), dtype=np.int64)
    after = np.array(sorted({from_step + p for p in probes} | {from_step}), dtype=np.int64)
    np.testing.assert_array_equal(bits(a.evaluate(before)), bits(b.evaluate(before)))
    np.testing.assert_array_equal(bits(a.evaluate(after)), bits(c.evaluate(after - from_step)))
    assert check_prefix(b, a, from_step) == prefix_steps(from_step).size


@SETTINGS
@given(base=definitions, cont=definitions, from_step=st.integers(1, 30_000))
def test_flattened_and_nested_forms_have_the_same_values(
    base: dict[str, Any], cont: dict[str, Any], from_step: int
) -> None:
    b, c, a = amend(base, from_step, cont)
    nested = compile_definition(
        {"type": "sequence", "schedules": [b.normalized, c.normalized], "boundaries": [from_step]},
        check_values=False,
    )
    steps = np.unique(np.concatenate([prefix_steps(from_step), from_step + np.arange(0, 5000, 7)]))
    np.testing.assert_array_equal(bits(a.evaluate(steps)), bits(nested.evaluate(steps)))


def test_an_amendment_of_an_amendment_stays_one_sequence_deep() -> None:
    base = {"type": "cosine", "start": 1e-3, "steps": 10_000}
    first = amended_definition(base, 5000, {"type": "constant", "value": 1e-4})
    assert first == {
        "type": "sequence",
        "schedules": [base, {"type": "constant", "value": 1e-4}],
        "boundaries": [5000],
    }
    # From a later step: every child kept, one appended.
    later = amended_definition(first, 8000, {"type": "constant", "value": 1e-5})
    assert later["boundaries"] == [5000, 8000] and len(later["schedules"]) == 3
    # From an earlier step: the child that started at 5000 is never reached: dropped.
    earlier = amended_definition(first, 3000, {"type": "constant", "value": 1e-5})
    assert earlier == {
        "type": "sequence",
        "schedules": [base, {"type": "constant", "value": 1e-5}],
        "boundaries": [3000],
    }
    assert continuation_pointer(later) == "/schedules/2"
    # Twenty amendments in a row: still a valid definition (depth 2).
    chain: dict[str, Any] = base
    for k in range(20):
        chain = amended_definition(chain, 100 * (k + 1), {"type": "constant", "value": 1e-5})
    assert len(compile_definition(chain).normalized["schedules"]) == 21


def test_from_step_on_a_boundary_of_the_base_drops_the_child_starting_there() -> None:
    base = compile_definition(
        {
            "type": "sequence",
            "schedules": [{"type": "constant", "value": 0.1}, {"type": "constant", "value": 0.2}],
            "boundaries": [100],
        }
    )
    built = amended_definition(base.normalized, 100, {"type": "constant", "value": 0.3})
    assert built["boundaries"] == [100] and len(built["schedules"]) == 2
    amended = compile_definition(built)
    assert amended.evaluate([99, 100]).tolist() == [0.1, 0.3]
    assert check_prefix(base, amended, 100) == 100


def test_prefix_steps_cover_the_tail_and_a_spread() -> None:
    assert prefix_steps(1).tolist() == [0]
    assert prefix_steps(PREFIX_TAIL).tolist() == list(range(PREFIX_TAIL))
    far = 10**12
    steps = prefix_steps(far)
    assert steps.min() == 0 and steps.max() == far - 1
    assert set(range(far - PREFIX_TAIL, far)) <= set(steps.tolist())
    assert steps.size <= PREFIX_TAIL + PREFIX_SPREAD
    assert np.all(np.diff(steps) > 0)
    assert (steps < far - PREFIX_TAIL).sum() > PREFIX_SPREAD // 2  # spread over the rest


def test_check_prefix_names_the_first_step_that_differs() -> None:
    base = compile_definition({"type": "linear", "start": 1.0, "end": 0.0, "steps": 1000})
    other = compile_definition(
        {
            "type": "sequence",
            "schedules": [base.normalized, {"type": "constant", "value": 0.5}],
            "boundaries": [600],
        }
    )
    assert check_prefix(base, other, 600) == 600
    with pytest.raises(InvalidDefinition) as caught:
        check_prefix(base, other, 700)
    assert "step 600 (before from_step 700)" in str(caught.value)


def test_bad_from_step_is_refused_by_the_builder() -> None:
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="from_step"):
            amended_definition(
                {"type": "constant", "value": 0.1}, bad, {"type": "constant", "value": 0.2}
            )  # type: ignore[arg-type]


def test_templates_are_refused_at_their_durations() -> None:
    template = {
        "type": "warmup",
        "steps": "0.1dur",
        "schedule": {"type": "cosine", "start": 1e-3, "steps": "0.9dur"},
    }
    with pytest.raises(InvalidDefinition) as caught:
        check_not_template(template, what="the continuation")
    assert [e["path"] for e in caught.value.errors] == ["/steps", "/schedule/steps"]
    assert "the continuation is a template" in caught.value.errors[0]["message"]
    check_not_template({"type": "constant", "value": 0.1}, what="x")  # not one: no error
