"""Core family: the formulas of SPEC 3.4, checked with hypothesis on random parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stepsize_server.schedules import InvalidDefinition, evaluate, horizon

lrs = st.floats(min_value=0.0, max_value=10.0, allow_nan=False, allow_infinity=False)
positive_lrs = st.floats(min_value=1e-8, max_value=10.0)
lengths = st.integers(min_value=1, max_value=100_000)
steps = st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=50)

SETTINGS = settings(max_examples=60, deadline=None)


def close(a, b, rel=1e-12, abs_=1e-12):
    # Parameters are at most 10, so 1e-12 absolute is ~100 ulps of the largest value.
    return np.allclose(a, b, rtol=rel, atol=abs_)


@SETTINGS
@given(value=lrs, ts=steps)
def test_constant(value, ts):
    assert close(evaluate({"type": "constant", "value": value}, ts), [value] * len(ts))


@SETTINGS
@given(start=lrs, end=lrs, n=lengths, ts=steps)
def test_linear_formula_and_monotone(start, end, n, ts):
    d = {"type": "linear", "start": start, "end": end, "steps": n}
    expected = [start + (end - start) * min(t, n) / n for t in ts]
    assert close(evaluate(d, ts), expected)
    grid = evaluate(d, np.arange(0, n + 2))
    diffs = np.diff(grid)
    assert (diffs <= 1e-15).all() if end <= start else (diffs >= -1e-15).all()
    assert horizon(d) == n


@SETTINGS
@given(start=lrs, end=lrs, n=lengths, exponent=st.floats(0.1, 4.0), ts=steps)
def test_cosine_formula(start, end, n, exponent, ts):
    d = {"type": "cosine", "start": start, "end": end, "steps": n, "exponent": exponent}
    expected = [
        end + (start - end) * ((1 + math.cos(math.pi * min(t, n) / n)) / 2) ** exponent for t in ts
    ]
    assert close(evaluate(d, ts), expected)


@SETTINGS
@given(start=positive_lrs, end=lrs, n=st.integers(1, 5000))
def test_cosine_monotone_decay(start, end, n):
    if end > start:
        start, end = end, start
    d = {"type": "cosine", "start": start, "end": end, "steps": n}
    assert (np.diff(evaluate(d, np.arange(0, n + 5))) <= 1e-15).all()


@SETTINGS
@given(
    start=positive_lrs,
    rate=st.floats(0.01, 0.999),
    n=st.integers(1, 10_000),
    staircase=st.booleans(),
    end=st.one_of(st.none(), st.floats(1e-9, 1e-3)),
    ts=steps,
)
def test_exponential_formula_bound_and_horizon(start, rate, n, staircase, end, ts):
    d = {"type": "exponential", "start": start, "rate": rate, "steps": n, "staircase": staircase}
    if end is not None:
        d["end"] = end
    expected = []
    for t in ts:
        ratio = t // n if staircase else t / n
        v = start * rate**ratio
        expected.append(max(v, end) if end is not None else v)
    assert close(evaluate(d, ts), expected)
    h = horizon(d)
    if end is None:
        assert h is None
    else:
        # Constant from the horizon on: the bound is reached and holds.
        probe = evaluate(d, [h, h + 1, h + 12345])
        assert probe[0] == probe[1] == probe[2]


@SETTINGS
@given(start=lrs, end=lrs, n=lengths, power=st.floats(0.1, 4.0), ts=steps)
def test_polynomial_formula(start, end, n, power, ts):
    d = {"type": "polynomial", "start": start, "end": end, "steps": n, "power": power}
    expected = [(start - end) * (1 - min(t, n) / n) ** power + end for t in ts]
    assert close(evaluate(d, ts), expected)


@SETTINGS
@given(value=lrs, w=st.integers(1, 10_000), ts=steps)
def test_inverse_sqrt_formula(value, w, ts):
    d = {"type": "inverse_sqrt", "value": value, "warmup_steps": w}
    expected = [value * math.sqrt(w / max(t, w)) for t in ts]
    assert close(evaluate(d, ts), expected)


@SETTINGS
@given(
    bounds=st.lists(st.integers(0, 10_000), min_size=1, max_size=8, unique=True).map(sorted),
    data=st.data(),
)
def test_piecewise_half_open_segments(bounds, data):
    values = data.draw(st.lists(lrs, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    d = {"type": "piecewise", "boundaries": bounds, "values": values}
    ts = sorted({0, *bounds, *(b - 1 for b in bounds if b > 0), bounds[-1] + 7})
    got = evaluate(d, ts)
    for t, v in zip(ts, got, strict=True):
        i = sum(1 for b in bounds if b <= t)
        assert v == values[i]
    assert horizon(d) == bounds[-1]


@SETTINGS
@given(
    n=st.integers(1, 5000),
    start=lrs,
    shape=st.sampled_from(["linear", "cosine"]),
    peak=positive_lrs,
    child_len=st.integers(1, 5000),
)
def test_warmup_continuity_and_monotone(n, start, shape, peak, child_len):
    if start > peak:
        start, peak = peak, start
    child = {"type": "cosine", "start": peak, "steps": child_len}
    d = {"type": "warmup", "steps": n, "start": start, "shape": shape, "schedule": child}
    during = evaluate(d, np.arange(0, n + 1))
    assert during[0] == pytest.approx(start, rel=1e-12, abs=1e-15)
    assert during[-1] == pytest.approx(peak, rel=1e-12)  # continuous: reaches child(0)
    assert (np.diff(during) >= -1e-15).all()
    # Step size at the boundary is no bigger than the largest warmup step: no jump.
    if n > 1:
        jump = abs(during[-1] - during[-2])
        assert jump <= (peak - start) / n * (math.pi / 2) + 1e-12
    after = evaluate(d, [n + k for k in (0, 1, child_len // 2)])
    assert close(after, evaluate(child, [0, 1, child_len // 2]))


@SETTINGS
@given(n=st.integers(1, 1000), start=st.floats(1e-6, 1e-3), peak=st.floats(1e-3, 1.0))
def test_warmup_exponential_shape(n, start, peak):
    d = {
        "type": "warmup",
        "steps": n,
        "start": start,
        "shape": "exponential",
        "schedule": {"type": "constant", "value": peak},
    }
    v = evaluate(d, [0, n // 2, n])
    assert v[0] == pytest.approx(start)
    assert v[1] == pytest.approx(start * (peak / start) ** ((n // 2) / n))
    assert v[2] == pytest.approx(peak)


@SETTINGS
@given(
    b1=st.integers(1, 5000),
    gap=st.integers(1, 5000),
    ts=steps,
)
def test_sequence_local_steps(b1, gap, ts):
    a = {"type": "linear", "start": 0.0, "end": 1.0, "steps": b1}
    b = {"type": "cosine", "start": 1.0, "end": 0.1, "steps": gap}
    c = {"type": "constant", "value": 0.1}
    d = {"type": "sequence", "schedules": [a, b, c], "boundaries": [b1, b1 + gap]}
    got = evaluate(d, ts)
    for t, v in zip(ts, got, strict=True):
        if t < b1:
            want = evaluate(a, [t])[0]
        elif t < b1 + gap:
            want = evaluate(b, [t - b1])[0]
        else:
            want = 0.1
        assert v == pytest.approx(want, rel=1e-12, abs=1e-15)
    # Continuity at the boundaries of this continuous composition.
    around = evaluate(d, [b1 - 1, b1, b1 + gap - 1, b1 + gap])
    assert around[1] == pytest.approx(1.0)
    assert around[3] == pytest.approx(0.1)
    assert horizon(d) == b1 + gap


@SETTINGS
@given(
    lo=st.floats(0.0, 0.5),
    hi=st.one_of(st.none(), st.floats(0.5, 2.0)),
    child_start=lrs,
    ts=steps,
)
def test_clamp_never_below_min(lo, hi, child_start, ts):
    child = {"type": "cosine", "start": child_start, "steps": 1000}
    d = {"type": "clamp", "min": lo, "schedule": child}
    if hi is not None:
        d["max"] = hi
    got = evaluate(d, ts)
    assert (got >= lo).all()
    if hi is not None:
        assert (got <= hi).all()
    raw = evaluate(child, ts)
    assert close(got, np.clip(raw, lo, np.inf if hi is None else hi))


@SETTINGS
@given(
    period=st.integers(1, 1000),
    mul=st.sampled_from([1.0, 2.0, 1.5]),
    decay=st.floats(0.1, 1.0),
    ts=steps,
)
def test_cycle_restarts(period, mul, decay, ts):
    child = {"type": "linear", "start": 1.0, "end": 0.0, "steps": period}
    d = {"type": "cycle", "period": period, "period_mul": mul, "decay": decay, "schedule": child}
    got = evaluate(d, ts)
    for t, v in zip(ts, got, strict=True):
        k, start, length = 0, 0.0, float(period)
        while start + length <= t:
            start += length
            length *= mul
            k += 1
        want = decay**k * (1.0 - (t - start) / length)
        assert v == pytest.approx(want, rel=1e-9, abs=1e-12)
    restarts = [0, period] if mul == 1 else [0]
    assert (evaluate(d, restarts) <= 1.0 + 1e-12).all()


@SETTINGS
@given(factor=lrs, ts=steps)
def test_scale_and_product(factor, ts):
    child = {"type": "cosine", "start": 0.5, "steps": 777}
    raw = evaluate(child, ts)
    assert close(evaluate({"type": "scale", "factor": factor, "schedule": child}, ts), factor * raw)
    prod = {"type": "product", "schedules": [child, {"type": "constant", "value": factor}]}
    assert close(evaluate(prod, ts), factor * raw)


@SETTINGS
@given(spe=st.integers(1, 1000), ts=steps, fractional=st.booleans())
def test_epochs_wrapper(spe, ts, fractional):
    inner = {"type": "linear", "start": 1.0, "end": 0.0, "steps": 90}
    d = {"type": "epochs", "schedule": inner, "fractional": fractional}
    got = evaluate(d, ts, steps_per_epoch=spe)
    epochs = [t / spe if fractional else t // spe for t in ts]
    assert close(got, evaluate(inner, [0])[0] * 0 + [max(0.0, 1 - min(e, 90) / 90) for e in epochs])
    fixed = {**d, "steps_per_epoch": spe}
    assert close(evaluate(fixed, ts), got)
    assert horizon(fixed) == 90 * spe


def test_interpolate_shapes():
    pts = [[10, 1.0], [20, 0.01]]
    lin = evaluate({"type": "interpolate", "points": pts}, [0, 10, 15, 20, 99])
    assert close(lin, [1.0, 1.0, 0.505, 0.01, 0.01])
    cos = evaluate({"type": "interpolate", "points": pts, "shape": "cosine"}, [15])
    assert cos[0] == pytest.approx(0.505)
    log = evaluate({"type": "interpolate", "points": pts, "shape": "log"}, [15])
    assert log[0] == pytest.approx(0.1)


def test_epochs_needs_steps_per_epoch():
    d = {"type": "epochs", "schedule": {"type": "constant", "value": 0.1}}
    with pytest.raises(ValueError, match="steps_per_epoch"):
        evaluate(d, [0])


@pytest.mark.parametrize(
    ("definition", "path", "fragment"),
    [
        (
            {"type": "linear", "start": 1, "end": 0, "steps": 0},
            "/steps",
            "Argument `steps` must be > 0. Received: steps=0",
        ),
        (
            {"type": "constant", "value": -1},
            "/value",
            "Argument `value` must be >= 0. Received: value=-1",
        ),
        (
            {"type": "piecewise", "boundaries": [5, 5], "values": [1, 2, 3]},
            "/boundaries",
            "strictly",
        ),
        ({"type": "piecewise", "boundaries": [5], "values": [1, 2, 3]}, "", "one more item"),
        ({"type": "warmup", "steps": 5, "schedule": {"type": "nope"}}, "/schedule/type", "unknown"),
        (
            {"type": "clamp", "min": 2, "max": 1, "schedule": {"type": "constant", "value": 1}},
            "",
            "max",
        ),
        (
            {"type": "sequence", "schedules": [{"type": "constant", "value": 1, "valu": 2}]},
            "/schedules/0/valu",
            "unknown parameter",
        ),
        (
            {
                "type": "cycle",
                "period": 10,
                "period_mul": 0.5,
                "schedule": {"type": "constant", "value": 1},
            },
            "/period_mul",
            "Argument `period_mul` must be >= 1. Received: period_mul=0.5",
        ),
        ({"type": "scale", "factor": 1}, "/schedule", "missing"),
    ],
)
def test_validation_pointers(definition, path, fragment):
    with pytest.raises(InvalidDefinition) as info:
        evaluate(definition, [0])
    assert any(e["path"] == path and fragment in e["message"] for e in info.value.errors), (
        info.value.errors
    )
