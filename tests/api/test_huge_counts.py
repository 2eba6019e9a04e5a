"""Step counts beyond 2**53 (found by the fuzzer's stateful phase): a 422 naming the
argument and the bound, or, where the count only places a horizon far out, a valid answer;
never a 500 from numpy's arithmetic on a huge integer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .conftest import problem

HUGE = 10**30
CONSTANT = {"type": "constant", "value": 0.1}

REFUSED = [
    ({"type": "linear", "start": 0.1, "end": 0.0, "steps": HUGE}, "steps", "/steps"),
    (
        {
            "type": "hf.linear",
            "base_lr": 0.1,
            "num_warmup_steps": 10**21,
            "num_training_steps": 10**22,
        },
        "num_warmup_steps",
        "/num_warmup_steps",
    ),
    (
        {"type": "piecewise", "boundaries": [10**25], "values": [0.1, 0.01]},
        "boundaries",
        "/boundaries/0",
    ),
    ({"type": "torch.StepLR", "base_lr": 0.1, "step_size": 10**22}, "step_size", "/step_size"),
    ({"type": "cycle", "period": HUGE, "schedule": CONSTANT}, "period", "/period"),
    (
        {"type": "torch.MultiStepLR", "base_lr": 0.1, "milestones": [HUGE]},
        "milestones",
        "/milestones/0",
    ),
    (
        {"type": "epochs", "steps_per_epoch": HUGE, "schedule": CONSTANT},
        "steps_per_epoch",
        "/steps_per_epoch",
    ),
]


@pytest.mark.parametrize(("definition", "name", "pointer"), REFUSED)
@pytest.mark.parametrize("route", ["/v1/validate", "/v1/evaluate"])
def test_a_step_count_past_2_53_is_422(
    anon: httpx.Client, route: str, definition: dict[str, Any], name: str, pointer: str
) -> None:
    body = (
        {"definition": definition, "steps": [0, 5]}
        if route == "/v1/evaluate"
        else {"definition": definition}
    )
    answer = problem(anon.post(route, json=body), 422)
    error = answer["errors"][0]
    assert error["path"] == "/body/definition" + pointer
    assert error["message"].startswith(f"Argument `{name}` must be <= 2**53 (9007199254740992)")


@pytest.mark.parametrize(
    "definition",
    [
        {"type": "interpolate", "points": [[0, 0.1], [HUGE, 0.01]]},
        {"type": "torch.OneCycleLR", "max_lr": 0.1, "total_steps": HUGE},
    ],
)
def test_a_horizon_past_2_53_is_checked_up_to_2_53(
    anon: httpx.Client, definition: dict[str, Any]
) -> None:
    validated = anon.post("/v1/validate", json={"definition": definition})
    assert validated.status_code == 200, validated.text
    evaluated = anon.post("/v1/evaluate", json={"definition": definition, "steps": [0, 2**53]})
    assert evaluated.status_code == 200, evaluated.text
    assert all(v >= 0 for v in evaluated.json()["lr"])
