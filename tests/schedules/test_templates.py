"""Run-length templates (SPEC 3.6, issue 9 item 1): step counts as fractions of the run
("<x>dur") or epochs ("<n>ep"), bound by `total_steps` into ordinary definitions.

The hand-written definitions here compute each count with integer arithmetic
(`k * N // 1000` for "0.<k>dur"), independently of `bind`'s exact decimals.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stepsize_server.schedules import (
    PLAUSIBLE_TOTALS,
    CostTooLarge,
    InvalidDefinition,
    UnboundTemplate,
    bind,
    check_template,
    compile_definition,
    digest,
    evaluate,
    horizon,
    is_template,
    normalize,
)

TOTALS = st.integers(min_value=100, max_value=10_000_000)
PERMILLE = st.integers(min_value=1, max_value=1000)


def _dur(k: int) -> str:
    """k/1000 of the run, written as a decimal ("0.25dur", "1dur")."""
    return f"{k / 1000:g}dur" if k < 1000 else "1dur"


def _share(k: int, total: int) -> int:
    return k * total // 1000


def _warmup_cosine(warmup: object, decay: object) -> dict:
    return {
        "type": "warmup",
        "steps": warmup,
        "schedule": {"type": "cosine", "start": 0.1, "end": 0.001, "steps": decay},
    }


def _keras_cosine(warmup: object, decay: object) -> dict:
    return {
        "type": "keras.CosineDecay",
        "initial_learning_rate": 0.0,
        "warmup_target": 0.1,
        "warmup_steps": warmup,
        "decay_steps": decay,
    }


@st.composite
def warmup_then_decay(draw: st.DrawFn) -> tuple:
    """A warmup then a decay that fit in the run (each at least 1% of it)."""
    make = draw(st.sampled_from([_warmup_cosine, _keras_cosine]))
    w = draw(st.integers(10, 500))
    return make, (w, draw(st.integers(10, 1000 - w)))


@st.composite
def hf_cosine(draw: st.DrawFn) -> tuple:
    w = draw(st.integers(10, 500))

    def make(warmup: object, training: object) -> dict:
        return {
            "type": "hf.cosine",
            "base_lr": 0.1,
            "num_warmup_steps": warmup,
            "num_training_steps": training,
        }

    return make, (w, 1000)


@st.composite
def torch_sequence(draw: st.DrawFn) -> tuple:
    m = draw(st.integers(10, 900))

    def make(milestone: object, warmup: object) -> dict:
        return {
            "type": "torch.SequentialLR",
            "base_lr": 0.1,
            "milestones": [milestone],
            "schedulers": [
                {"type": "torch.LinearLR", "start_factor": 0.1, "total_iters": warmup},
                {"type": "torch.ExponentialLR", "gamma": 0.999},
            ],
        }

    return make, (m, m)


TEMPLATES = st.one_of(warmup_then_decay(), hf_cosine(), torch_sequence())


@settings(max_examples=60, deadline=None)
@given(TEMPLATES, TOTALS, TOTALS)
def test_a_binding_equals_the_definition_written_by_hand(template, total, other_total):
    make, shares = template
    definition = make(*map(_dur, shares))
    assert is_template(definition)
    check_template(definition)
    for n in (total, other_total):
        by_hand = make(*(_share(k, n) for k in shares))
        bound = bind(definition, n)
        assert bound == by_hand and not is_template(bound)
        assert digest(bound) == digest(by_hand)
        steps = np.unique(np.linspace(0, n + 10, 257).round())
        assert np.array_equal(evaluate(bound, steps), evaluate(by_hand, steps))
    # One digest per template, whatever the length; one per binding.
    assert digest(definition) == digest(make(*map(_dur, shares)))
    assert digest(definition) not in {digest(bind(definition, n)) for n in (total, other_total)}
    differ = [_share(k, total) != _share(k, other_total) for k in shares]
    if any(differ):
        assert digest(bind(definition, total)) != digest(bind(definition, other_total))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 50), st.integers(1, 10_000), TOTALS)
def test_epochs_bind_by_steps_per_epoch(epochs, steps_per_epoch, total):
    definition = {"type": "torch.StepLR", "base_lr": 0.1, "step_size": f"{epochs}ep"}
    bound = bind(definition, total, steps_per_epoch)
    assert bound == {"type": "torch.StepLR", "base_lr": 0.1, "step_size": epochs * steps_per_epoch}


def test_the_normalized_template_keeps_its_durations_canonically_written():
    definition = {
        "type": "warmup",
        "steps": "0.10dur",
        "schedule": {"type": "cosine", "start": 0.1, "steps": "0.9dur"},
    }
    normalized = normalize(definition)
    assert normalized["steps"] == "0.1dur" and normalized["schedule"]["steps"] == "0.9dur"
    assert normalized["schedule"]["end"] == 0.0  # defaults filled in, as for any definition
    assert digest(definition) == digest(dict(definition, steps="0.1dur"))
    assert digest(definition) != digest(dict(definition, steps="0.05dur"))
    assert normalize(normalized) == normalized


def test_exact_decimals_not_floats():
    definition = {
        "type": "warmup",
        "steps": "0.29dur",
        "schedule": {"type": "constant", "value": 1},
    }
    assert bind(definition, 100)["steps"] == 29  # float: 0.29 * 100 = 28.999999999999996


def test_an_unbound_template_is_a_clear_error_naming_total_steps():
    definition = {"type": "warmup", "steps": "0.1dur", "schedule": {"type": "constant", "value": 1}}
    for use in (
        lambda: evaluate(definition, [0, 1]),
        lambda: horizon(definition),
        lambda: compile_definition(definition),
    ):
        with pytest.raises(UnboundTemplate) as info:
            use()
        (error,) = info.value.errors
        assert info.value.code == "unbound_template" and error["path"] == "/steps"
        assert "bind it with `total_steps`" in error["message"]


@pytest.mark.parametrize(
    ("definition", "path", "start"),
    [
        (  # warmup 0.6dur then a decay of 0.6dur
            {
                "type": "warmup",
                "steps": "0.6dur",
                "schedule": {"type": "cosine", "start": 0.1, "steps": "0.6dur"},
            },
            "/schedule/steps",
            "the parts of this template do not fit in the run: '0.6dur' starts at 0.6dur "
            "and would end at 1.2dur",
        ),
        (  # the same inside a sequence
            {
                "type": "sequence",
                "boundaries": ["0.6dur"],
                "schedules": [
                    {"type": "linear", "start": 0, "end": 0.1, "steps": "0.6dur"},
                    {"type": "cosine", "start": 0.1, "steps": "0.6dur"},
                ],
            },
            "/schedules/1/steps",
            "the parts of this template do not fit in the run: '0.6dur' starts at 0.6dur",
        ),
        (  # Keras: the decay steps come after the warmup steps
            {
                "type": "keras.CosineDecay",
                "initial_learning_rate": 0.0,
                "warmup_target": 0.1,
                "warmup_steps": "0.5dur",
                "decay_steps": "0.7dur",
            },
            "/decay_steps",
            "the parts of this template do not fit in the run: '0.7dur' starts at 0dur and "
            "would end at 1.2dur",
        ),
        (  # torch: the scheduler after the milestone
            {
                "type": "torch.SequentialLR",
                "base_lr": 0.1,
                "milestones": ["0.8dur"],
                "schedulers": [
                    {"type": "torch.ConstantLR", "factor": 0.5, "total_iters": 3},
                    {"type": "torch.CosineAnnealingLR", "T_max": "0.3dur"},
                ],
            },
            "/schedulers/1/T_max",
            "the parts of this template do not fit in the run: '0.3dur' starts at 0.8dur",
        ),
        (  # too short for a plausible run: 0.001 of 100 steps is 0
            {
                "type": "warmup",
                "steps": "0.001dur",
                "schedule": {"type": "constant", "value": 0.1},
            },
            "/steps",
            "bound for total_steps=100: Argument `steps` must be > 0. Received: steps=0",
        ),
        (  # two boundaries that 100 steps cannot tell apart (50 and 50)
            {
                "type": "keras.PiecewiseConstantDecay",
                "boundaries": ["0.5dur", "0.505dur"],
                "values": [0.1, 0.05, 0.01],
            },
            "/boundaries",
            "bound for total_steps=100: Argument `boundaries` must be strictly increasing",
        ),
        (
            {"type": "warmup", "steps": "1.5dur", "schedule": {"type": "constant", "value": 1}},
            "/steps",
            "Argument `steps` must be a fraction in (0, 1]. Received: steps='1.5dur'",
        ),
        (
            {"type": "warmup", "steps": "0dur", "schedule": {"type": "constant", "value": 1}},
            "/steps",
            "Argument `steps` must be a fraction in (0, 1]",
        ),
    ],
)
def test_a_template_whose_parts_cannot_fit_is_rejected_with_its_pointer(definition, path, start):
    assert is_template(definition)
    for check in (check_template, normalize, digest):
        with pytest.raises(InvalidDefinition) as info:
            check(definition)
        errors = info.value.errors
        assert any(e["path"] == path and e["message"].startswith(start) for e in errors), errors


def test_the_plausible_lengths_are_documented():
    assert PLAUSIBLE_TOTALS == (100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000)


def test_binding_errors():
    epochs = {"type": "torch.StepLR", "base_lr": 0.1, "step_size": "2ep"}
    with pytest.raises(InvalidDefinition) as info:
        bind(epochs, 1000)
    assert info.value.errors == [
        {"path": "/step_size", "message": "'2ep' counts epochs: binding it needs `steps_per_epoch`"}
    ]
    for bad in (0, -1, True, 2.5, "100"):
        with pytest.raises(InvalidDefinition) as info:
            bind(epochs, bad, 10)
        assert info.value.errors[0]["message"].startswith("`total_steps` must be a positive")
    plain = {"type": "constant", "value": 0.1}
    assert bind(plain, 1000) == plain and not is_template(plain)


def test_other_strings_in_step_counts_name_the_accepted_forms():
    with pytest.raises(InvalidDefinition) as info:
        normalize({"type": "torch.StepLR", "base_lr": 0.1, "step_size": "ten"})
    assert info.value.errors == [
        {
            "path": "/step_size",
            "message": 'Argument `step_size` must be an integer, "<x>dur" (0 < x <= 1) or '
            '"<n>ep". Received: step_size="ten"',
        }
    ]


def test_checking_a_template_is_bounded_by_the_budget():
    from tests.schedules.test_cost import _product

    # The costliest template the node limit allows: checked within the budget, in bounded
    # time (its bindings' samples are estimated at most DEFAULT_BUDGET together).
    definition = {"type": "warmup", "steps": "0.1dur", "schedule": _product(254)}
    started = time.perf_counter()
    check_template(definition)
    assert time.perf_counter() - started < 5
    # Over a smaller budget it is refused before any binding is evaluated.
    started = time.perf_counter()
    with pytest.raises(CostTooLarge) as info:
        check_template(definition, budget=10**8)
    assert time.perf_counter() - started < 1
    assert info.value.errors[0]["message"].startswith(
        "checking this template at every plausible length would cost about"
    )
