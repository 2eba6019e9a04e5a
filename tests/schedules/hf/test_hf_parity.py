"""Parity of the `hf.*` family with transformers' own schedulers (SPEC 3.3).

The reference is computed here, by transformers 5.23 itself: `get_scheduler(name, SGD(lr=
base_lr), num_warmup_steps=..., num_training_steps=..., scheduler_specific_kwargs=...)`,
read as `base_lrs[0] * lr_lambdas[0](step)` (what `LambdaLR` computes) at every step up to
at least twice the schedule's length plus ~2,000 random steps up to 10**6 and a few huge
ones; for the first `STEPPED` steps the scheduler is also stepped for real, to show that
the lambda reading is what `get_last_lr()` reports.

Relative error = |ours - ref| / max(|ref|, ZERO_FLOOR * base_lr). The floor matters only
where the reference is (nearly) 0; 1e-7 * base_lr turns the 1e-9 bound there into an
absolute bound of 1e-16 * base_lr, under one rounding of the peak value.
"""

from __future__ import annotations

import functools
import json
import math
from typing import Any

import numpy as np
import pytest
import torch
from stepsize_server.schedules import (
    InvalidDefinition,
    Node,
    digest,
    evaluate,
    normalize,
    parse,
)
from stepsize_server.schedules import hf as hf_family
from stepsize_server.schedules.node import Context
from transformers import get_scheduler

TOLERANCE = 1e-9
ZERO_FLOOR = 1e-7  # times base_lr; see the module docstring
STEPPED = 300
RANDOM_STEPS = 2_000
SEED = 20_240_917
HUGE_STEPS = [10**7, 10**9, 2**31 + 7, 10**12, 2**53 - 1, 2**53]

# type -> (worst relative error, where), filled by every comparison made in this module.
WORST: dict[str, tuple[float, str]] = {}


def _case(type_: str, base_lr: float, **params: Any) -> dict[str, Any]:
    return {"type": "hf." + type_, "base_lr": base_lr, **params}


CASES: list[dict[str, Any]] = [
    # linear
    _case("linear", 1e-3, num_warmup_steps=10, num_training_steps=100),
    _case("linear", 0.5, num_warmup_steps=0, num_training_steps=37),
    _case("linear", 2.0, num_warmup_steps=30, num_training_steps=20),
    _case("linear", 0.1, num_warmup_steps=1, num_training_steps=1),
    # cosine
    _case("cosine", 3e-4, num_warmup_steps=20, num_training_steps=200),
    _case("cosine", 1e-2, num_warmup_steps=5, num_training_steps=60, num_cycles=1.0),
    _case("cosine", 0.7, num_warmup_steps=0, num_training_steps=97, num_cycles=2.5),
    _case("cosine", 1e-3, num_warmup_steps=7, num_training_steps=50, num_cycles=0.0),
    _case("cosine", 1e-3, num_warmup_steps=50, num_training_steps=40),
    # cosine_with_restarts
    _case("cosine_with_restarts", 1e-4, num_warmup_steps=10, num_training_steps=110),
    _case("cosine_with_restarts", 0.3, num_warmup_steps=0, num_training_steps=90, num_cycles=3),
    _case("cosine_with_restarts", 5e-4, num_warmup_steps=13, num_training_steps=200, num_cycles=4),
    _case("cosine_with_restarts", 1.0, num_warmup_steps=20, num_training_steps=10),
    # polynomial
    _case("polynomial", 1e-3, num_warmup_steps=10, num_training_steps=100),
    _case("polynomial", 1e-3, num_warmup_steps=5, num_training_steps=80, lr_end=1e-4, power=2.0),
    _case("polynomial", 0.2, num_warmup_steps=0, num_training_steps=64, lr_end=0.0, power=0.5),
    _case("polynomial", 1.0, num_warmup_steps=40, num_training_steps=30, lr_end=0.3, power=3.7),
    _case("polynomial", 0.05, num_warmup_steps=3, num_training_steps=71, lr_end=0.01, power=1.3),
    # constant, constant_with_warmup
    _case("constant", 0.01),
    _case("constant_with_warmup", 1e-3, num_warmup_steps=25),
    _case("constant_with_warmup", 0.4, num_warmup_steps=0),
    _case("constant_with_warmup", 0.4, num_warmup_steps=1),
    # inverse_sqrt
    _case("inverse_sqrt", 1e-3, num_warmup_steps=100),
    _case("inverse_sqrt", 1e-3, num_warmup_steps=0),
    _case("inverse_sqrt", 0.01, num_warmup_steps=50, timescale=300),
    _case("inverse_sqrt", 1.0, num_warmup_steps=1, timescale=1),
    # cosine_with_min_lr
    _case("cosine_with_min_lr", 1e-3, num_warmup_steps=10, num_training_steps=100, min_lr_rate=0.1),
    _case(
        "cosine_with_min_lr",
        1e-3,
        num_warmup_steps=0,
        num_training_steps=77,
        num_cycles=1.0,
        min_lr=1e-5,
    ),
    _case(
        "cosine_with_min_lr",
        0.02,
        num_warmup_steps=4,
        num_training_steps=60,
        num_cycles=0.25,
        min_lr_rate=0.0,
    ),
    _case("cosine_with_min_lr", 0.02, num_warmup_steps=4, num_training_steps=60, min_lr_rate=1.0),
    # cosine_warmup_with_min_lr
    _case(
        "cosine_warmup_with_min_lr",
        1e-3,
        num_warmup_steps=10,
        num_training_steps=100,
        min_lr_rate=0.1,
    ),
    _case(
        "cosine_warmup_with_min_lr", 3e-4, num_warmup_steps=3, num_training_steps=50, min_lr=3e-5
    ),
    _case(
        "cosine_warmup_with_min_lr",
        1.0,
        num_warmup_steps=3,
        num_training_steps=7,
        min_lr_rate=0.1,
        warmup_lr_rate=0.2,
    ),
    _case(
        "cosine_warmup_with_min_lr",
        0.1,
        num_warmup_steps=1,
        num_training_steps=40,
        min_lr_rate=0.3,
        warmup_lr_rate=0.0,
        num_cycles=1.0,
    ),
    _case(
        "cosine_warmup_with_min_lr",
        0.1,
        num_warmup_steps=0,
        num_training_steps=45,
        min_lr_rate=0.05,
    ),
    # warmup_stable_decay
    _case(
        "warmup_stable_decay", 1e-3, num_warmup_steps=10, num_decay_steps=30, num_training_steps=100
    ),
    _case(
        "warmup_stable_decay",
        1e-3,
        num_warmup_steps=5,
        num_decay_steps=20,
        num_stable_steps=40,
        decay_type="linear",
        min_lr_ratio=0.1,
    ),
    _case(
        "warmup_stable_decay",
        0.3,
        num_warmup_steps=16,
        num_decay_steps=25,
        num_training_steps=90,
        warmup_type="cosine",
        decay_type="1-sqrt",
        min_lr_ratio=0.05,
    ),
    _case(
        "warmup_stable_decay",
        0.3,
        num_warmup_steps=9,
        num_decay_steps=9,
        num_stable_steps=0,
        warmup_type="1-sqrt",
        decay_type="linear",
    ),
    _case(
        "warmup_stable_decay",
        2e-4,
        num_warmup_steps=0,
        num_decay_steps=50,
        num_training_steps=120,
        num_cycles=1.0,
        min_lr_ratio=0.2,
    ),
    _case(
        "warmup_stable_decay", 2e-4, num_warmup_steps=10, num_decay_steps=0, num_training_steps=60
    ),
    _case(
        "warmup_stable_decay",
        2e-4,
        num_warmup_steps=10,
        num_decay_steps=10,
        num_training_steps=60,
        warmup_type="cosine",
        min_lr_ratio=1.0,
    ),
    # every type's catalog example
    *(dict(t.example) for t in hf_family.TYPES),
]

# Types whose curve never settles (for the parameters above, with num_cycles > 0 and a floor
# below base_lr).
NEVER_SETTLES = {
    "hf.cosine",
    "hf.inverse_sqrt",
    "hf.cosine_with_min_lr",
    "hf.cosine_warmup_with_min_lr",
}


def _id(definition: dict[str, Any]) -> str:
    rest = ",".join(f"{k}={v}" for k, v in definition.items() if k != "type")
    return f"{definition['type']}[{rest}]"


def _key(definition: dict[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True)


def _scheduler(definition: dict[str, Any]) -> torch.optim.lr_scheduler.LambdaLR:
    """transformers' scheduler for `definition`, on a one-parameter SGD with lr=base_lr."""
    params = dict(definition)
    name = params.pop("type").removeprefix("hf.")
    base_lr = params.pop("base_lr")
    warmup = params.pop("num_warmup_steps", None)
    total = params.pop("num_training_steps", None)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    return get_scheduler(
        name,
        optimizer,
        num_warmup_steps=warmup,
        num_training_steps=total,
        scheduler_specific_kwargs=params,
    )


def _length(definition: dict[str, Any]) -> int:
    """The longest span the definition names: the dense grid goes to twice it."""
    d = definition
    warmup = d.get("num_warmup_steps") or 0
    wsd_end = warmup + (d.get("num_stable_steps") or 0) + (d.get("num_decay_steps") or 0)
    spans = [warmup, d.get("num_training_steps") or 0, d.get("timescale") or 0, wsd_end]
    return max(*spans, STEPPED)


def _steps(definition: dict[str, Any]) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    dense = np.arange(2 * _length(definition) + 2)
    sparse = rng.integers(0, 10**6, size=RANDOM_STEPS, endpoint=True)
    return np.unique(np.concatenate([dense, sparse, np.array(HUGE_STEPS, dtype=np.int64)]))


def _relative_error(ours: np.ndarray, ref: np.ndarray, base_lr: float) -> np.ndarray:
    return np.abs(ours - ref) / np.maximum(np.abs(ref), ZERO_FLOOR * base_lr)


def _record(type_: str, err: np.ndarray, steps: np.ndarray, what: str) -> float:
    i = int(np.argmax(err))
    worst = float(err[i])
    if type_ not in WORST or worst > WORST[type_][0]:
        WORST[type_] = (worst, f"{what} at step {int(steps[i])}")
    return worst


@functools.cache
def _measure(key: str) -> tuple[float, int]:
    """Worst relative error of our values against transformers' lambda over `_steps`."""
    definition = json.loads(key)
    steps = _steps(definition)
    sched = _scheduler(definition)
    base, lam = sched.base_lrs[0], sched.lr_lambdas[0]
    ref = np.array([base * lam(int(s)) for s in steps], dtype=np.float64)
    ours = evaluate(definition, steps)
    assert ours.dtype == np.float64 and ours.shape == steps.shape
    err = _relative_error(ours, ref, definition["base_lr"])
    worst = _record(definition["type"], err, steps, _id(definition))
    return worst, int(steps[int(np.argmax(err))])


@pytest.mark.parametrize("definition", CASES, ids=_id)
def test_values_match_transformers(definition: dict[str, Any]) -> None:
    worst, step = _measure(_key(definition))
    assert worst <= TOLERANCE, f"relative error {worst:.3g} at step {step}"


@pytest.mark.parametrize("definition", CASES, ids=_id)
def test_stepping_matches_lambda(definition: dict[str, Any]) -> None:
    """`get_last_lr()` after N real `step()` calls is `base_lr * lr_lambda(N)`, bit for bit,
    so the lambda reading above is the framework's own answer (SPEC 2)."""
    sched = _scheduler(definition)
    optimizer = sched.optimizer
    base, lam = sched.base_lrs[0], sched.lr_lambdas[0]
    stepped = []
    for _ in range(STEPPED):
        stepped.append(sched.get_last_lr()[0])
        optimizer.step()
        sched.step()
    stepped_arr = np.array(stepped, dtype=np.float64)
    steps = np.arange(STEPPED)
    from_lambda = np.array([base * lam(int(s)) for s in steps], dtype=np.float64)
    np.testing.assert_array_equal(stepped_arr, from_lambda)
    err = _relative_error(evaluate(definition, steps), stepped_arr, definition["base_lr"])
    worst = _record(definition["type"], err, steps, _id(definition) + " (stepped)")
    assert worst <= TOLERANCE


@pytest.mark.parametrize("definition", CASES, ids=_id)
def test_horizon_is_first_constant_step(definition: dict[str, Any]) -> None:
    node = parse(definition)
    h = node.horizon(Context())
    steps = _steps(definition)
    values = node.values(steps.astype(np.float64), Context())
    flat = definition.get("num_cycles") == 0 or definition.get("min_lr_rate") == 1
    if definition["type"] in NEVER_SETTLES and not flat:
        assert h is None
        assert np.unique(values[steps >= 10 * _length(definition)]).size > 1
        return
    assert h is not None
    at_h = node.values(np.array([h, max(h - 1, 0)], dtype=np.float64), Context())
    assert np.all(values[steps >= h] == at_h[0]), "value changes after the horizon"
    assert h == 0 or at_h[1] != at_h[0], "the value was already constant before the horizon"


@pytest.mark.parametrize("type_", hf_family.TYPES, ids=lambda t: t.model_fields["type"].default)
def test_docstring_states_the_formula(type_: type[Node]) -> None:
    doc = type_.__doc__ or ""
    assert "lr_lambda" in doc or "factor" in doc
    assert "Args:" in doc and "base_lr:" in doc


def test_every_hf_type_is_covered() -> None:
    covered = {d["type"] for d in CASES}
    names = {t.model_fields["type"].default for t in hf_family.TYPES}
    assert covered == names
    assert len(names) == 10


# -- validation ------------------------------------------------------------------------


def _errors(definition: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidDefinition) as info:
        parse(definition)
    return info.value.errors


LIN = {"type": "hf.linear", "base_lr": 1e-3, "num_warmup_steps": 10, "num_training_steps": 100}
POLY = {**LIN, "type": "hf.polynomial"}
MINLR = {**LIN, "type": "hf.cosine_with_min_lr"}
WMINLR = {**LIN, "type": "hf.cosine_warmup_with_min_lr", "min_lr_rate": 0.1}
WSD = {
    "type": "hf.warmup_stable_decay",
    "base_lr": 1e-3,
    "num_warmup_steps": 10,
    "num_decay_steps": 20,
}

INVALID = [
    (
        {**LIN, "num_training_steps": 0},
        "/num_training_steps",
        "Argument `num_training_steps` must be > 0. Received: num_training_steps=0",
    ),
    (
        {**LIN, "num_training_steps": -5},
        "/num_training_steps",
        "Argument `num_training_steps` must be > 0. Received: num_training_steps=-5",
    ),
    (
        {**LIN, "num_warmup_steps": -1},
        "/num_warmup_steps",
        "Argument `num_warmup_steps` must be >= 0. Received: num_warmup_steps=-1",
    ),
    ({**LIN, "num_training_steps": 1.5}, "/num_training_steps", "integer"),
    (
        {k: v for k, v in LIN.items() if k != "num_warmup_steps"},
        "/num_warmup_steps",
        "missing required parameter `num_warmup_steps`",
    ),
    (
        {k: v for k, v in LIN.items() if k != "num_training_steps"},
        "/num_training_steps",
        "missing required parameter `num_training_steps`",
    ),
    ({k: v for k, v in LIN.items() if k != "base_lr"}, "/base_lr", "missing required parameter"),
    (
        {**LIN, "base_lr": -1e-3},
        "/base_lr",
        "Argument `base_lr` must be >= 0. Received: base_lr=-0.001",
    ),
    ({**LIN, "base_lr": math.inf}, "/base_lr", "finite"),
    ({**LIN, "warmup_steps": 10}, "/warmup_steps", "unknown parameter `warmup_steps`"),
    ({**LIN, "num_cycles": 2}, "/num_cycles", "unknown parameter `num_cycles`"),
    (
        {"type": "hf.constant", "base_lr": 1e-3, "num_warmup_steps": 100},
        "/num_warmup_steps",
        "unknown parameter `num_warmup_steps`",
    ),
    (
        {"type": "hf.constant", "base_lr": 1e-3, "num_training_steps": 100},
        "/num_training_steps",
        "unknown parameter",
    ),
    (
        {
            "type": "hf.constant_with_warmup",
            "base_lr": 1e-3,
            "num_warmup_steps": 5,
            "num_training_steps": 9,
        },
        "/num_training_steps",
        "unknown parameter",
    ),
    (
        {
            "type": "hf.inverse_sqrt",
            "base_lr": 1e-3,
            "num_warmup_steps": 5,
            "num_training_steps": 9,
        },
        "/num_training_steps",
        "unknown parameter",
    ),
    (
        {"type": "hf.inverse_sqrt", "base_lr": 1e-3, "num_warmup_steps": 5, "timescale": 0},
        "/timescale",
        "Argument `timescale` must be > 0. Received: timescale=0",
    ),
    ({**LIN, "type": "hf.cosine", "num_cycles": -0.5}, "/num_cycles", "must be >= 0"),
    ({**LIN, "type": "hf.cosine_with_restarts", "num_cycles": 0}, "/num_cycles", "must be > 0"),
    ({**LIN, "type": "hf.cosine_with_restarts", "num_cycles": 1.5}, "/num_cycles", "integer"),
    ({**POLY, "lr_end": 0.01}, "/lr_end", "Argument `lr_end` must be < `base_lr`"),
    ({**POLY, "lr_end": 1e-3}, "/lr_end", "Received: lr_end=0.001, base_lr=0.001"),
    ({**POLY, "base_lr": 1e-8}, "/lr_end", "Received: lr_end=1e-07, base_lr=1e-08"),
    ({**POLY, "num_training_steps": 10}, "/num_training_steps", "must differ from"),
    ({**POLY, "power": 0}, "/power", "Argument `power` must be > 0. Received: power=0"),
    (MINLR, "/min_lr_rate", "One of `min_lr` or `min_lr_rate` must be set"),
    ({**MINLR, "min_lr": 1e-5, "min_lr_rate": 0.1}, "/min_lr_rate", "Only one of"),
    ({**MINLR, "min_lr_rate": 1.5}, "/min_lr_rate", "must be between 0 and 1"),
    ({**MINLR, "min_lr": 0.01}, "/min_lr", "Argument `min_lr` must be <= `base_lr`"),
    ({**MINLR, "base_lr": 0.0, "min_lr": 0.0}, "/min_lr", "needs `base_lr` > 0"),
    ({**WMINLR, "warmup_lr_rate": 2.0}, "/warmup_lr_rate", "must be between 0 and 1"),
    ({**WMINLR, "min_lr_rate": None}, "/min_lr_rate", "One of"),
    (WSD, "/num_stable_steps", "One of `num_training_steps` or `num_stable_steps`"),
    ({**WSD, "num_training_steps": 100, "num_stable_steps": 50}, "/num_stable_steps", "Only one"),
    (
        {**WSD, "num_training_steps": 25},
        "/num_training_steps",
        "must be >= num_warmup_steps + num_decay_steps (30)",
    ),
    (
        {k: v for k, v in WSD.items() if k != "num_decay_steps"} | {"num_training_steps": 9},
        "/num_decay_steps",
        "missing",
    ),
    (
        {**WSD, "num_stable_steps": 5, "warmup_type": "exp"},
        "/warmup_type",
        "'linear', 'cosine' or '1-sqrt'",
    ),
    ({**WSD, "num_stable_steps": 5, "decay_type": "sqrt"}, "/decay_type", "'1-sqrt'"),
    ({**WSD, "num_stable_steps": 5, "min_lr_ratio": -0.1}, "/min_lr_ratio", "between 0 and 1"),
    ({**LIN, "type": "hf.linearr"}, "/type", "did you mean 'hf.linear'"),
    (
        {"type": "scale", "factor": 1.0, "schedule": {**LIN, "num_training_steps": 0}},
        "/schedule/num_training_steps",
        "Argument `num_training_steps` must be > 0. Received: num_training_steps=0",
    ),
    (
        {
            "type": "scale",
            "factor": 1.0,
            "schedule": {"type": "hf.constant", "base_lr": 1.0, "power": 2},
        },
        "/schedule/power",
        "unknown parameter `power` for type 'hf.constant'",
    ),
]


@pytest.mark.parametrize(("definition", "path", "message"), INVALID, ids=lambda x: str(x)[:60])
def test_invalid_definitions_name_the_field(definition: Any, path: str, message: str) -> None:
    errors = _errors(definition)
    assert any(e["path"] == path and message in e["message"] for e in errors), errors


# Definitions transformers itself refuses: we refuse them too (at validation, not mid-run).
TRANSFORMERS_REFUSES = [
    {**POLY, "lr_end": 0.01},
    {**POLY, "base_lr": 1e-8},
    MINLR,
    {**MINLR, "min_lr": 1e-5, "min_lr_rate": 0.1},
    WSD,
    {**WSD, "num_stable_steps": 5, "warmup_type": "exp"},
    {k: v for k, v in LIN.items() if k != "num_training_steps"},
    {k: v for k, v in LIN.items() if k != "num_warmup_steps"},
]


@pytest.mark.parametrize("definition", TRANSFORMERS_REFUSES, ids=_id)
def test_refused_like_transformers(definition: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _scheduler(definition)
    _errors(definition)


def test_polynomial_warmup_equal_to_training_crashes_transformers() -> None:
    sched = _scheduler({**POLY, "num_training_steps": 10})
    with pytest.raises(ZeroDivisionError):
        sched.lr_lambdas[0](10)
    _errors({**POLY, "num_training_steps": 10})


def test_constant_rejects_the_warmup_transformers_ignores() -> None:
    sched = _scheduler({"type": "hf.constant", "base_lr": 0.1, "num_warmup_steps": 100})
    assert sched.get_last_lr()[0] == 0.1  # no warmup happened
    assert _errors({"type": "hf.constant", "base_lr": 0.1, "num_warmup_steps": 100})


def test_inverse_sqrt_timescale_is_stored_resolved() -> None:
    implicit = {"type": "hf.inverse_sqrt", "base_lr": 1e-3, "num_warmup_steps": 0}
    assert normalize(implicit)["timescale"] == 10_000
    assert normalize({**implicit, "num_warmup_steps": 40})["timescale"] == 40
    assert digest(implicit) == digest({**implicit, "timescale": 10_000})
    assert digest({**implicit, "timescale": None}) == digest(implicit)


def test_normalized_definition_lists_defaults() -> None:
    assert normalize({**POLY}) == {
        "base_lr": 1e-3,
        "lr_end": 1e-7,
        "num_training_steps": 100,
        "num_warmup_steps": 10,
        "power": 1.0,
        "type": "hf.polynomial",
    }


def test_report_worst_error() -> None:
    """Prints the worst relative error per type (over every comparison in this module)."""
    for definition in CASES:
        _measure(_key(definition))
    width = max(len(t) for t in WORST)
    print(f"\nworst relative error vs transformers (floor {ZERO_FLOOR:g} * base_lr):")
    for type_ in sorted(WORST):
        err, where = WORST[type_]
        print(f"  {type_:<{width}}  {err:.3e}  ({where})")
    overall = max(err for err, _ in WORST.values())
    print(f"  {'hf.* (all)':<{width}}  {overall:.3e}")
    assert overall <= TOLERANCE
