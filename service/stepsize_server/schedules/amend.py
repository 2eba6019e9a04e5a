"""Amendments (SPEC 4): a version equal to another before `from_step`, then a new curve.

`amended_definition(base, from_step, continuation)` builds the definition an amendment
publishes: `base` (version V's normalized definition) at every step before `from_step`
S, and `continuation` D at the local step `step - S` from S on. It is a `sequence`:

- `{"type": "sequence", "schedules": [V, D], "boundaries": [S]}` in general;
- flattened when V is itself a `sequence` with integer boundaries (an amendment of an
  amendment, typically): V's children that start before S are kept with their
  boundaries, the ones starting at or after S (never reached before S) are dropped, and
  D is appended with boundary S. A chain of amendments so stays one level deep instead
  of nesting once more per amendment (SPEC 3's depth limit is 16).

Both forms have the same values, bit for bit: at a step t < S the sequence picks the
same child as V (the children starting before S keep their starts) and evaluates it at
the same local step (`t - start`, exact in float64 below 2**53); from S on it is
D(t - S). `check_prefix` verifies it on the compiled trees at every step of
`[max(0, S - PREFIX_TAIL), S)` and at `PREFIX_SPREAD` steps spread over `[0, S)`: by
construction it never fails, it guards the builder.

Run-length templates are refused (`check_not_template`): a template's values before S
depend on each run's total_steps, and durations in D would count fractions of a run of
unknown length; amend a binding published as an ordinary version instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .cost import Deadline
from .errors import ErrorItem, InvalidDefinition
from .evaluation import Compiled
from .templates import durations

PREFIX_TAIL = 4096
"""Every step of the last PREFIX_TAIL before from_step is compared with the base."""
PREFIX_SPREAD = 4096
"""And this many steps spread over [0, from_step) (log-spaced and evenly spaced)."""


def amended_definition(
    base: dict[str, Any], from_step: int, continuation: dict[str, Any]
) -> dict[str, Any]:
    """The (not yet normalized) definition equal to `base` before `from_step` and to
    `continuation` at `step - from_step` from there on (see the module docstring for its
    form). `base` and `continuation` are normalized definitions; `from_step` >= 1.

    Raises ValueError for `from_step` < 1 (the route refuses it first)."""
    if isinstance(from_step, bool) or not isinstance(from_step, int) or from_step < 1:
        raise ValueError(f"from_step must be an integer >= 1, not {from_step!r}")
    if _flattenable(base):
        starts = [0, *base["boundaries"]]
        kept = sum(1 for start in starts if start < from_step)
        return {
            "type": "sequence",
            "schedules": [*base["schedules"][:kept], continuation],
            "boundaries": [*base["boundaries"][: kept - 1], from_step],
        }
    return {"type": "sequence", "schedules": [base, continuation], "boundaries": [from_step]}


def continuation_pointer(amended: dict[str, Any]) -> str:
    """The JSON pointer of the continuation inside a definition `amended_definition`
    made (the last child of its sequence)."""
    return f"/schedules/{len(amended['schedules']) - 1}"


def _flattenable(base: dict[str, Any]) -> bool:
    boundaries = base.get("boundaries")
    return (
        base.get("type") == "sequence"
        and isinstance(base.get("schedules"), list)
        and isinstance(boundaries, list)
        and len(boundaries) == len(base["schedules"]) - 1
        and all(isinstance(b, int) and not isinstance(b, bool) for b in boundaries)
    )


def check_not_template(definition: Any, *, what: str) -> None:
    """Raise InvalidDefinition pointing at each duration of `definition` if it is a
    run-length template (`what` names it in the messages: "the continuation", ...)."""
    found = durations(definition)
    if found:
        errors: list[ErrorItem] = [
            {
                "path": d.path,
                "message": f"{d.text!r} is a run-length duration: {what} is a template, "
                "and an amendment cannot be built from one (its values before from_step "
                "would depend on each run's total_steps); write step counts",
            }
            for d in found
        ]
        raise InvalidDefinition(errors)


def prefix_steps(from_step: int) -> np.ndarray:
    """The steps `check_prefix` compares: all of `[max(0, S - PREFIX_TAIL), S)` and up
    to `PREFIX_SPREAD` more spread over `[0, S)` (sorted, unique, int64)."""
    tail = np.arange(max(0, from_step - PREFIX_TAIL), from_step, dtype=np.int64)
    if from_step <= PREFIX_TAIL:
        return tail
    half = PREFIX_SPREAD // 2
    even = np.linspace(0, from_step - 1, half).round().astype(np.int64)
    logs = (np.geomspace(1, from_step, half) - 1).round().astype(np.int64)
    spread = np.clip(np.concatenate([even, logs]), 0, from_step - 1)
    return np.unique(np.concatenate([spread, tail]))


def check_prefix(
    base: Compiled,
    amended: Compiled,
    from_step: int,
    *,
    budget: int | None = None,
    deadline: Deadline | None = None,
) -> int:
    """Compare `amended` with `base` bit for bit at `prefix_steps(from_step)`; return
    how many steps were compared.

    Raises InvalidDefinition (path "") naming the first step whose values differ; what
    evaluating either raises (CostTooLarge over `budget`, EvaluationError for a bad
    value of the base, EvaluationTimeout once `deadline` passed)."""
    steps = prefix_steps(from_step)
    expected = base.evaluate(steps, budget=budget, deadline=deadline)
    got = amended.evaluate(steps, budget=budget, deadline=deadline)
    differ = np.flatnonzero(expected.view(np.uint64) != got.view(np.uint64))
    if differ.size:
        at = int(differ[0])
        raise InvalidDefinition.at(
            "",
            f"the amended definition differs from the amended version at step "
            f"{int(steps[at])} (before from_step {from_step}): {got[at]!r} instead of "
            f"{expected[at]!r}",
        )
    return int(steps.size)
