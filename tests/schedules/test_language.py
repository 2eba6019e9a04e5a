"""The language as a whole: normalization, digests, limits, steps, the publish grid."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from stepsize_server.schedules import (
    MAX_STEP,
    EvaluationError,
    InvalidDefinition,
    InvalidStep,
    canonical_json,
    compile_definition,
    digest,
    evaluate,
    horizon,
    normalize,
)

COSINE = {"type": "cosine", "start": 0.1, "steps": 1000}


def test_normalize_fills_defaults_and_sorts_keys():
    n = normalize({"steps": 1000, "type": "cosine", "start": 0.1})
    assert n == {"end": 0.0, "exponent": 1.0, "start": 0.1, "steps": 1000, "type": "cosine"}
    assert list(n) == sorted(n)


def test_same_meaning_same_digest():
    a = {"type": "warmup", "steps": 10, "schedule": {"type": "cosine", "start": 1, "steps": 100}}
    b = {
        "schedule": {"steps": 100.0, "start": 1.0, "end": 0, "type": "cosine", "exponent": 1},
        "shape": "linear",
        "start": 0.0,
        "type": "warmup",
        "steps": 10,
    }
    assert digest(a) == digest(b)
    assert digest(a).startswith("sha256:") and len(digest(a)) == 7 + 64
    assert digest(a) != digest({**a, "steps": 11})


def test_digest_is_sha256_of_canonical_json():
    import hashlib

    n = normalize(COSINE)
    text = canonical_json(n)
    assert " " not in text
    assert json.loads(text) == n
    assert digest(COSINE) == "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_canonical_floats_shortest_round_trip():
    n = normalize({"type": "constant", "value": 0.1})
    assert canonical_json(n) == '{"type":"constant","value":0.1}'


def test_normalized_definition_is_a_fixed_point():
    d = {
        "type": "sequence",
        "schedules": [COSINE, {"type": "constant", "value": 0.0}],
        "boundaries": [1000],
    }
    n = normalize(d)
    assert normalize(n) == n
    assert digest(n) == digest(d)


def test_compiled_reuse():
    c = compile_definition(COSINE)
    assert c.normalized == normalize(COSINE)
    assert c.digest == digest(COSINE)
    assert np.array_equal(c.evaluate([0, 500, 1000]), evaluate(COSINE, [0, 500, 1000]))
    assert c.horizon() == 1000


def test_evaluate_keeps_shape_and_dtype():
    out = evaluate(COSINE, np.arange(12).reshape(3, 4))
    assert out.shape == (3, 4) and out.dtype == np.float64


@pytest.mark.parametrize(
    "bad", [-1, 1.5, float("nan"), float("inf"), "abc", MAX_STEP + 1, True, None]
)
def test_invalid_steps_name_the_value(bad):
    with pytest.raises(InvalidStep) as info:
        evaluate(COSINE, [0, bad])
    assert f"Received: {bad!r}" in str(info.value)


def test_largest_step_is_valid():
    assert evaluate(COSINE, [MAX_STEP])[0] == 0.0
    assert evaluate(COSINE, np.array([MAX_STEP], dtype=np.uint64))[0] == 0.0


def test_negative_value_rejected_at_publish_naming_the_step():
    d = {
        "type": "scale",
        "factor": 1.0,
        "schedule": {"type": "linear", "start": 1.0, "end": 0.0, "steps": 10},
    }
    normalize(d)  # fine
    # A product of something that never goes negative stays fine; a huge linear multiplier
    # overflows to inf far beyond the horizon: caught on the sparse grid.
    growing = {
        "type": "product",
        "schedules": [
            {"type": "exponential", "start": 1.0, "rate": 10.0, "steps": 1},
            {"type": "constant", "value": 1.0},
        ],
    }
    with pytest.raises(EvaluationError) as info:
        normalize(growing)
    assert "non-finite" in str(info.value)
    assert info.value.step > 0


def test_digest_skips_value_check_but_normalize_does_not():
    growing = {"type": "exponential", "start": 1.0, "rate": 10.0, "steps": 1}
    assert digest(growing).startswith("sha256:")
    with pytest.raises(EvaluationError):
        normalize(growing)
    with pytest.raises(EvaluationError) as info:
        evaluate(growing, [0, 1, 400])
    assert info.value.step == 400


def test_limits_depth_nodes_lists():
    d = {"type": "constant", "value": 0.1}
    for _ in range(16):
        d = {"type": "scale", "factor": 1.0, "schedule": d}
    with pytest.raises(InvalidDefinition, match="deeper than 16"):
        normalize(d)
    many = {"type": "product", "schedules": [{"type": "constant", "value": 1.0}] * 256}
    with pytest.raises(InvalidDefinition, match="256"):
        normalize(many)
    long = {"type": "piecewise", "boundaries": list(range(1, 10_002)), "values": [0.1] * 10_002}
    with pytest.raises(InvalidDefinition, match="10000"):
        normalize(long)


def test_hostile_nesting_is_fast_and_clean():
    deep: object = 1
    for _ in range(100_000):
        deep = [deep]
    t0 = time.perf_counter()
    with pytest.raises(InvalidDefinition):
        normalize({"type": "constant", "value": deep})
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("bad", [None, [], "cosine", 3, {"type": 3}, {}])
def test_not_an_object(bad):
    with pytest.raises(InvalidDefinition):
        normalize(bad)


def test_horizon_of_composites():
    assert horizon({"type": "warmup", "steps": 10, "schedule": COSINE}) == 1010
    assert horizon({"type": "expression", "expr": "0.1"}) == 0
    assert horizon({"type": "cycle", "period": 10, "schedule": COSINE}) is None
    assert horizon({"type": "epochs", "schedule": COSINE}) is None
    assert horizon({"type": "epochs", "schedule": COSINE}, steps_per_epoch=3) == 3000


def test_cumulative_schedule_publishes_and_names_its_limit():
    from stepsize_server.schedules import StepOutOfRange

    d = {"type": "torch.MultiplicativeLR", "base_lr": 0.1, "lr_lambda": "0.5 if epoch % 2 else 2"}
    compiled = compile_definition(d)  # the publish grid stops at the limit
    assert list(compiled.evaluate([0, 1, 2, 3])) == [0.1, 0.05, 0.1, 0.05]
    with pytest.raises(StepOutOfRange) as info:
        compiled.evaluate([5, 10**7 + 1])
    assert info.value.step == 10**7 + 1
    assert info.value.limit == 10**7


def test_value_is_evaluate_for_one_step():
    c = compile_definition({"type": "warmup", "steps": 10, "schedule": COSINE})
    for step in (0, 5, 10, 600, MAX_STEP):
        assert c.value(step) == c.evaluate([step])[0]
    with pytest.raises(InvalidStep):
        c.value(-1)
    with pytest.raises(InvalidStep):
        c.value(2.5)
    bad = compile_definition({"type": "expression", "expr": "1 / (step - 5)"}, check_values=False)
    with pytest.raises(EvaluationError) as info:
        bad.value(5)
    assert info.value.step == 5
