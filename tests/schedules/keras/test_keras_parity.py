"""Parity of the `keras.*` family with Keras 3 itself (SPEC 3.1).

The reference is computed here, by Keras 3 on the TensorFlow backend (CPU): each case
builds `keras.optimizers.schedules.X(**params)` and our definition is
`{"type": "keras." + type(schedule).__name__, **schedule.get_config()}`, so the get_config
round trip is tested too. Keras is called the way an optimizer calls it, on one int64
step at a time (`schedule(optimizer.iterations)`), at every step up to at least twice the
schedule's length, ~2,000 random steps up to 10**6 and steps around 2**24 and up to 2**53.

The reference is Keras's eager answer, op by op as its source is written (what
`optimizer.learning_rate` reads, checked below). For speed the calls run as one graph
(`tf.map_fn` in a `tf.function`) with Grappler off: Grappler would turn `x / constant` into
`x * (1 / constant)`, which moves results by an ulp. A call on a whole tensor of steps is
not used either: TensorFlow then evaluates cos/log/pow with vectorized approximations that
differ from its scalar (glibc) ones by an ulp now and then, which near the end of a cosine
(`1 + cos` ~ 0) is a relative error well above 1e-6 (see the docstring of
stepsize_server.schedules.keras).

Relative error = |ours - ref| / max(|ref|, 2**-126): below the smallest normal float32
TensorFlow flushes to zero, so where Keras says 0 we must say 0 too.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any

os.environ["KERAS_BACKEND"] = "tensorflow"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras.optimizers import schedules
from stepsize_server.schedules import (
    InvalidDefinition,
    digest,
    evaluate,
    normalize,
    parse,
)
from stepsize_server.schedules import keras as keras_family
from stepsize_server.schedules.node import Context

TOLERANCE = 1e-6
FLOOR = 2.0**-126
RANDOM_STEPS = 2_000
SEED = 20_240_917
HUGE_STEPS = [
    *range(2**24 - 3, 2**24 + 6),
    10**7 + 1,
    2**25 + 3,
    2**31 - 1,
    2**31,
    2**31 + 7,
    10**12 + 1,
    2**53 - 1,
    2**53,
]

# type -> (worst relative error, where), filled by every comparison made in this module.
WORST: dict[str, tuple[float, str]] = {}

E, P, Poly, Inv, Cos, Sgdr = (
    schedules.ExponentialDecay,
    schedules.PiecewiseConstantDecay,
    schedules.PolynomialDecay,
    schedules.InverseTimeDecay,
    schedules.CosineDecay,
    schedules.CosineDecayRestarts,
)

# (Keras class, constructor kwargs, extra steps to check)
CASES: list[tuple[type, dict[str, Any], list[int]]] = [
    (E, {"initial_learning_rate": 0.1, "decay_steps": 1000, "decay_rate": 0.96}, []),
    (
        E,
        {"initial_learning_rate": 0.1, "decay_steps": 1000, "decay_rate": 0.96, "staircase": True},
        [],
    ),
    (E, {"initial_learning_rate": 1.0, "decay_steps": 7, "decay_rate": 0.5}, []),
    (E, {"initial_learning_rate": 3e-4, "decay_steps": 100, "decay_rate": 1.0}, []),
    (E, {"initial_learning_rate": 0.5, "decay_steps": 3, "decay_rate": 0.0, "staircase": True}, []),
    (P, {"boundaries": [100, 110], "values": [1.0, 0.5, 0.1]}, []),
    (P, {"boundaries": [2, 4], "values": [1.0, 0.5, 0.1]}, []),
    (P, {"boundaries": [0], "values": [0.3, 0.2]}, []),
    (P, {"boundaries": [3.7, 10.0], "values": [0.1, 0.01, 0.001]}, []),
    (P, {"boundaries": list(range(5, 500, 10)), "values": [1 / (i + 1) for i in range(51)]}, []),
    (Poly, {"initial_learning_rate": 0.1, "decay_steps": 1000}, []),
    (
        Poly,
        {"initial_learning_rate": 1.0, "decay_steps": 4, "end_learning_rate": 0.1, "power": 2.0},
        [],
    ),
    (
        Poly,
        {
            "initial_learning_rate": 0.1,
            "decay_steps": 100,
            "end_learning_rate": 0.01,
            "power": 0.5,
            "cycle": True,
        },
        [],
    ),
    (
        Poly,
        {"initial_learning_rate": 1.0, "decay_steps": 4, "end_learning_rate": 0.0, "cycle": True},
        [],
    ),
    (
        Poly,
        {"initial_learning_rate": 1e-3, "decay_steps": 50, "end_learning_rate": 1e-2, "power": 3.0},
        [],
    ),
    (Inv, {"initial_learning_rate": 0.1, "decay_steps": 1000, "decay_rate": 0.5}, []),
    (
        Inv,
        {"initial_learning_rate": 0.1, "decay_steps": 1000, "decay_rate": 0.5, "staircase": True},
        [],
    ),
    (Inv, {"initial_learning_rate": 1.0, "decay_steps": 2, "decay_rate": 0.5}, []),
    (Cos, {"initial_learning_rate": 1.0, "decay_steps": 1000}, []),
    (Cos, {"initial_learning_rate": 0.1, "decay_steps": 100, "alpha": 0.1}, []),
    (Cos, {"initial_learning_rate": 1.0, "decay_steps": 10, "warmup_steps": 4}, []),
    (
        Cos,
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 1000,
            "warmup_target": 0.1,
            "warmup_steps": 100,
        },
        [],
    ),
    (
        Cos,
        {
            "initial_learning_rate": 0.1,
            "decay_steps": 500,
            "warmup_target": 0.05,
            "warmup_steps": 0,
        },
        [],
    ),
    (
        Cos,
        {
            "initial_learning_rate": 1e-3,
            "decay_steps": 2000,
            "alpha": 0.01,
            "warmup_target": 1e-2,
            "warmup_steps": 300,
        },
        [],
    ),
    (
        Cos,
        {
            "initial_learning_rate": 0.1,
            "decay_steps": 100,
            "warmup_target": 0.01,
            "warmup_steps": 50,
        },
        [],
    ),
    (Sgdr, {"initial_learning_rate": 1.0, "first_decay_steps": 4}, [32764, 65532]),
    (Sgdr, {"initial_learning_rate": 0.01, "first_decay_steps": 1000}, [8_191_000]),
    (Sgdr, {"initial_learning_rate": 0.5, "first_decay_steps": 7}, [57_337]),
    (
        Sgdr,
        {
            "initial_learning_rate": 0.1,
            "first_decay_steps": 100,
            "t_mul": 1.5,
            "m_mul": 0.9,
            "alpha": 0.05,
        },
        [],
    ),
    (
        Sgdr,
        {
            "initial_learning_rate": 1.0,
            "first_decay_steps": 4,
            "t_mul": 1.0,
            "m_mul": 0.5,
            "alpha": 0.1,
        },
        [],
    ),
    (Sgdr, {"initial_learning_rate": 0.1, "first_decay_steps": 10, "t_mul": 1.1}, []),
    (Sgdr, {"initial_learning_rate": 0.3, "first_decay_steps": 50, "t_mul": 3.0, "m_mul": 0.7}, []),
]


def _settles(cls: type, params: dict[str, Any]) -> bool:
    """Whether the value is constant from some step on, for the parameters above."""
    if cls in (E, Inv):
        return params["decay_rate"] in (0.0, 1.0)
    if cls is Poly:
        return not params.get("cycle", False)
    return cls is not Sgdr


def _id(case: tuple[type, dict[str, Any], list[int]]) -> str:
    cls, params, _ = case
    rest = ",".join(f"{k}={v}" for k, v in params.items())
    return f"{cls.__name__}[{rest}]"[:120]


def _schedule(index: int) -> schedules.LearningRateSchedule:
    cls, params, _ = CASES[index]
    return cls(**params)


def _definition(sched: schedules.LearningRateSchedule) -> dict[str, Any]:
    return {"type": "keras." + type(sched).__name__, **sched.get_config()}


def _length(cls: type, params: dict[str, Any]) -> int:
    """The span the dense grid covers twice."""
    if cls is P:
        return int(params["boundaries"][-1])
    if cls is Sgdr:
        t_mul, first = params.get("t_mul", 2.0), params["first_decay_steps"]
        return min(int(first * sum(t_mul**k for k in range(4))), 20_000)
    return params["decay_steps"] + params.get("warmup_steps", 0)


def _steps(index: int) -> np.ndarray:
    cls, params, extra = CASES[index]
    rng = np.random.default_rng(SEED)
    dense = np.arange(2 * max(_length(cls, params), 150) + 2)
    sparse = rng.integers(0, 10**6, size=RANDOM_STEPS, endpoint=True)
    return np.unique(np.concatenate([dense, sparse, HUGE_STEPS, extra]).astype(np.int64))


@contextlib.contextmanager
def _without_grappler() -> Iterator[None]:
    """Graphs run op by op as written, as in eager mode (see the module docstring)."""
    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


def _keras(
    sched: schedules.LearningRateSchedule, steps: np.ndarray, dtype: tf.DType = tf.int64
) -> np.ndarray:
    """Keras's eager value at each step, one scalar step at a time (as the optimizer calls
    it), run as a graph for speed."""
    one_by_one = tf.function(lambda s: tf.map_fn(sched, s, fn_output_signature=tf.float32))
    with _without_grappler():
        return one_by_one(tf.constant(steps, dtype=dtype)).numpy().astype(np.float64)


def _relative_error(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(ours - ref) / np.maximum(np.abs(ref), FLOOR)


def _record(type_: str, err: np.ndarray, steps: np.ndarray, what: str) -> float:
    i = int(np.argmax(err))
    worst = float(err[i])
    if type_ not in WORST or worst > WORST[type_][0]:
        WORST[type_] = (worst, f"{what} at step {int(steps[i])}")
    return worst


@functools.cache
def _reference(index: int) -> tuple[np.ndarray, np.ndarray]:
    steps = _steps(index)
    return steps, _keras(_schedule(index), steps)


@functools.cache
def _measure(index: int) -> tuple[float, int]:
    """Worst relative error of our values against Keras's over `_steps`."""
    sched = _schedule(index)
    steps, ref = _reference(index)
    ours = evaluate(_definition(sched), steps)
    assert ours.dtype == np.float64 and ours.shape == steps.shape
    err = _relative_error(ours, ref)
    worst = _record(type(sched).__name__, err, steps, _id(CASES[index]))
    return worst, int(steps[int(np.argmax(err))])


INDICES = range(len(CASES))
IDS = [_id(c) for c in CASES]


def test_keras_runs_on_tensorflow() -> None:
    assert keras.backend.backend() == "tensorflow"


@pytest.mark.parametrize("index", INDICES, ids=IDS)
def test_values_match_keras(index: int) -> None:
    worst, step = _measure(index)
    assert worst <= TOLERANCE, f"relative error {worst:.3g} at step {step}"


@pytest.mark.parametrize("index", INDICES, ids=IDS)
def test_optimizer_sees_the_reference(index: int) -> None:
    """`optimizer.learning_rate` (eager) at `iterations == step` is the reference value, bit
    for bit, at the ends of the schedule, the extra steps and a few more (SPEC 2)."""
    cls, params, extra = CASES[index]
    steps, ref = _reference(index)
    length = _length(cls, params)
    wanted = {0, 1, length - 2, length - 1, length, length + 1, *extra, 2**24 + 1, 2**53}
    picks = [*np.flatnonzero(np.isin(steps, list(wanted))), *range(0, len(steps), 500)]
    optimizer = keras.optimizers.SGD(learning_rate=_schedule(index))
    for i in picks:
        optimizer.iterations.assign(int(steps[i]))
        assert float(optimizer.learning_rate) == ref[i], f"step {steps[i]}"


@pytest.mark.parametrize(
    "index", [i for i in INDICES if CASES[i][0] in (P, Sgdr, Cos)], ids=lambda i: IDS[i]
)
def test_int32_steps_give_the_same_values(index: int) -> None:
    """Keras casts the step (and PiecewiseConstantDecay's boundaries) to the step's dtype;
    int32 and int64 steps agree wherever int32 can hold the step."""
    steps, ref = _reference(index)
    small = steps < 2**31
    int32 = _keras(_schedule(index), steps[small], dtype=tf.int32)
    np.testing.assert_array_equal(int32, ref[small])


@pytest.mark.parametrize("index", INDICES, ids=IDS)
def test_horizon_is_first_constant_step(index: int) -> None:
    sched = _schedule(index)
    node = parse(_definition(sched))
    h = node.horizon(Context())
    steps = _steps(index).astype(np.float64)
    values = node.values(steps, Context())
    if h is None:
        assert not _settles(*CASES[index][:2])
        assert np.unique(values[steps >= 3 * _length(*CASES[index][:2])]).size > 1
        return
    assert _settles(*CASES[index][:2])
    at_h = node.values(np.array([h, max(h - 1, 0)], dtype=np.float64), Context())
    assert np.all(values[steps >= h] == at_h[0]), "value changes after the horizon"
    assert h == 0 or at_h[1] != at_h[0], "the value was already constant before the horizon"


def test_restart_glitch_is_reproduced() -> None:
    """Keras's float32 log puts step 32764 (a restart of first_decay_steps=4) one period low:
    the rate there is 0, not the peak. We say the same."""
    sched = Sgdr(1.0, 4)
    assert float(sched(tf.constant(32764, tf.int64))) == 0.0
    assert evaluate(_definition(sched), [32764, 32763, 32765]).tolist()[0] == 0.0


def test_every_keras_type_is_covered() -> None:
    covered = {"keras." + c.__name__ for c, _, _ in CASES}
    names = {t.model_fields["type"].default for t in keras_family.TYPES}
    assert covered == names
    assert len(names) == 6


@pytest.mark.parametrize("type_", keras_family.TYPES, ids=lambda t: t.__name__)
def test_catalog_example_matches_keras(type_: type) -> None:
    example = dict(type_.example)
    cls = getattr(schedules, example.pop("type").removeprefix("keras."))
    sched = cls(**example)
    steps = np.arange(0, 30_000, 7)
    err = _relative_error(evaluate(_definition(sched), steps), _keras(sched, steps))
    assert _record(cls.__name__, err, steps, f"{cls.__name__} example") <= TOLERANCE


# -- validation ------------------------------------------------------------------------


def _errors(definition: Any) -> list[dict[str, str]]:
    with pytest.raises(InvalidDefinition) as info:
        parse(definition)
    return info.value.errors


EXP = {
    "type": "keras.ExponentialDecay",
    "initial_learning_rate": 0.1,
    "decay_steps": 100,
    "decay_rate": 0.9,
}
PIECES = {
    "type": "keras.PiecewiseConstantDecay",
    "boundaries": [100, 200],
    "values": [1.0, 0.5, 0.1],
}
COS = {"type": "keras.CosineDecay", "initial_learning_rate": 0.1, "decay_steps": 100}
SGDR = {"type": "keras.CosineDecayRestarts", "initial_learning_rate": 0.1, "first_decay_steps": 10}

INVALID = [
    (
        {**EXP, "decay_steps": 0},
        "/decay_steps",
        "Argument `decay_steps` must be > 0. Received: decay_steps=0",
    ),
    ({**EXP, "decay_steps": -5}, "/decay_steps", "Received: decay_steps=-5"),
    ({**EXP, "decay_steps": 2.5}, "/decay_steps", "integer"),
    ({**EXP, "decay_step": 100}, "/decay_step", "unknown parameter `decay_step`"),
    ({**EXP, "decay_step": 100}, "/decay_step", "did you mean `decay_steps`?"),
    (
        {**EXP, "initial_learning_rate": -0.1},
        "/initial_learning_rate",
        "Argument `initial_learning_rate` must be >= 0. Received: initial_learning_rate=-0.1",
    ),
    ({**EXP, "decay_rate": float("nan")}, "/decay_rate", "finite"),
    (
        {k: v for k, v in EXP.items() if k != "decay_rate"},
        "/decay_rate",
        "missing required parameter",
    ),
    (
        {**COS, "decay_steps": 0},
        "/decay_steps",
        "Argument `decay_steps` must be > 0. Received: decay_steps=0",
    ),
    ({**COS, "warmup_steps": -1}, "/warmup_steps", "Argument `warmup_steps` must be >= 0"),
    ({**COS, "warmup_target": -1.0}, "/warmup_target", "Argument `warmup_target` must be >= 0"),
    ({**COS, "decay_steps": 2**53 + 1}, "/decay_steps", "must be <= 2**53"),
    (
        {**SGDR, "first_decay_steps": 0},
        "/first_decay_steps",
        "Argument `first_decay_steps` must be > 0. Received: first_decay_steps=0",
    ),
    ({**SGDR, "t_mul": 0.0}, "/t_mul", "Argument `t_mul` must be > 0. Received: t_mul=0.0"),
    ({**SGDR, "m_mul": -0.5}, "/m_mul", "Argument `m_mul` must be >= 0. Received: m_mul=-0.5"),
    (
        {**PIECES, "boundaries": [100]},
        "",
        "The length of boundaries should be 1 less than the length of values. Received: "
        "boundaries=[100] of length 1, and values=[1.0, 0.5, 0.1] of length 3.",
    ),
    ({**PIECES, "boundaries": [200, 100]}, "/boundaries", "must be strictly increasing"),
    ({**PIECES, "boundaries": [100, 100]}, "/boundaries", "boundaries[0]=100, boundaries[1]=100"),
    ({**PIECES, "boundaries": [2.2, 2.7]}, "/boundaries", "strictly increasing"),
    ({**PIECES, "boundaries": []}, "/boundaries", "at least 1 item"),
    (
        {**PIECES, "boundaries": [-1, 5]},
        "/boundaries/0",
        "Argument `boundaries` must be >= 0. Received: boundaries=-1",
    ),
    (
        {**PIECES, "values": [1.0, -0.5, 0.1]},
        "/values/1",
        "Argument `values` must be >= 0. Received: values=-0.5",
    ),
    ({**PIECES, "boundary": [1]}, "/boundary", "unknown parameter `boundary`"),
    (
        {"type": "scale", "factor": 2.0, "schedule": {**EXP, "decay_steps": 0}},
        "/schedule/decay_steps",
        "Argument `decay_steps` must be > 0. Received: decay_steps=0",
    ),
]


@pytest.mark.parametrize(("definition", "path", "message"), INVALID, ids=lambda x: str(x)[:60])
def test_invalid_definitions_name_the_field(definition: Any, path: str, message: str) -> None:
    errors = _errors(definition)
    assert any(e["path"] == path and message in e["message"] for e in errors), errors


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        (E, {"initial_learning_rate": 0.1, "decay_steps": 0, "decay_rate": 0.9}),
        (Poly, {"initial_learning_rate": 0.1, "decay_steps": -3}),
        (Inv, {"initial_learning_rate": 0.1, "decay_steps": 0, "decay_rate": 0.5}),
        (Cos, {"initial_learning_rate": 0.1, "decay_steps": 0}),
        (Sgdr, {"initial_learning_rate": 0.1, "first_decay_steps": 0}),
        (P, {"boundaries": [100, 200], "values": [1.0, 0.5]}),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_refused_with_keras_own_message(cls: type, params: dict[str, Any]) -> None:
    with pytest.raises(ValueError) as keras_error:
        cls(**params)
    errors = _errors({"type": "keras." + cls.__name__, **params})
    assert str(keras_error.value) in [e["message"] for e in errors]


def test_name_is_accepted_and_ignored() -> None:
    sched = Cos(0.1, 1000, alpha=0.1, name="my_cosine")
    with_name = _definition(sched)
    assert with_name["name"] == "my_cosine"
    without = {k: v for k, v in with_name.items() if k != "name"}
    assert digest(with_name) == digest(without) == digest({**without, "name": "other"})
    assert "name" not in normalize(with_name)


def test_fractional_boundaries_are_stored_truncated() -> None:
    assert normalize({**PIECES, "boundaries": [100.9, 200.0]})["boundaries"] == [100, 200]
    assert digest({**PIECES, "boundaries": [100.9, 200.0]}) == digest(PIECES)


def test_normalized_definition_lists_keras_defaults() -> None:
    assert normalize(COS) == {
        "alpha": 0.0,
        "decay_steps": 100,
        "initial_learning_rate": 0.1,
        "type": "keras.CosineDecay",
        "warmup_steps": 0,
        "warmup_target": None,
    }
    assert normalize(SGDR) == {
        "alpha": 0.0,
        "first_decay_steps": 10,
        "initial_learning_rate": 0.1,
        "m_mul": 1.0,
        "t_mul": 2.0,
        "type": "keras.CosineDecayRestarts",
    }


def test_report_worst_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the worst relative error per type (over every comparison in this module)."""
    for index in INDICES:
        _measure(index)
    width = max(len(t) for t in WORST)
    lines = [f"\nworst relative error vs Keras {keras.__version__} (floor 2**-126):"]
    for type_ in sorted(WORST):
        err, where = WORST[type_]
        lines.append(f"  keras.{type_:<{width}}  {err:.3e}  ({where})")
    overall = max(err for err, _ in WORST.values())
    lines.append(f"  {'keras.* (all)':<{width + 6}}  {overall:.3e}")
    with capsys.disabled():
        print("\n".join(lines))
    assert overall <= TOLERANCE
