"""One vocabulary of parameter types: the same mistake reads the same in every family."""

from __future__ import annotations

from typing import Annotated

import pytest
from pydantic import BaseModel, Field, ValidationError
from stepsize_server.schedules import MAX_STEP, TYPE_NAMES, InvalidDefinition, parse
from stepsize_server.schedules.params import NonNegSteps, StepCount, Steps

ZERO_STEPS = [
    ({"type": "linear", "start": 1, "end": 0, "steps": 0}, "steps"),
    ({"type": "warmup", "steps": 0, "schedule": {"type": "constant", "value": 1}}, "steps"),
    (
        {"type": "keras.ExponentialDecay", "initial_learning_rate": 0.1, "decay_steps": 0,
         "decay_rate": 0.5},
        "decay_steps",
    ),
    ({"type": "torch.StepLR", "base_lr": 0.1, "step_size": 0}, "step_size"),
    ({"type": "torch.CosineAnnealingWarmRestarts", "base_lr": 0.1, "T_0": 0}, "T_0"),
    (
        {"type": "hf.linear", "base_lr": 0.1, "num_warmup_steps": 0, "num_training_steps": 0},
        "num_training_steps",
    ),
]  # fmt: skip

NEGATIVE_RATES = [
    ({"type": "constant", "value": -0.5}, "value"),
    (
        {"type": "keras.InverseTimeDecay", "initial_learning_rate": -0.5, "decay_steps": 10,
         "decay_rate": 0.5},
        "initial_learning_rate",
    ),
    ({"type": "torch.ExponentialLR", "base_lr": -0.5, "gamma": 0.9}, "base_lr"),
    ({"type": "hf.constant", "base_lr": -0.5}, "base_lr"),
]  # fmt: skip


def _only_error(definition):
    with pytest.raises(InvalidDefinition) as info:
        parse(definition)
    assert len(info.value.errors) == 1, info.value.errors
    return info.value.errors[0]


@pytest.mark.parametrize(("definition", "field"), ZERO_STEPS, ids=lambda x: str(x)[:40])
def test_a_zero_step_count_reads_the_same_in_every_family(definition, field):
    error = _only_error(definition)
    assert error == {
        "path": f"/{field}",
        "message": f"Argument `{field}` must be > 0. Received: {field}=0",
    }


@pytest.mark.parametrize(("definition", "field"), NEGATIVE_RATES, ids=lambda x: str(x)[:40])
def test_a_negative_rate_reads_the_same_in_every_family(definition, field):
    error = _only_error(definition)
    assert error == {
        "path": f"/{field}",
        "message": f"Argument `{field}` must be >= 0. Received: {field}=-0.5",
    }


class _Counts(BaseModel):
    steps: Steps = 1
    offset: NonNegSteps = 0
    capped: Annotated[int, StepCount(minimum=1, maximum=10)] = 1


def test_step_counts_check_their_bounds_in_keras_wording():
    for field, value, rule in [
        ("steps", 0, "> 0"),
        ("offset", -1, ">= 0"),
        ("capped", 0, "> 0"),
        ("capped", 11, "<= 10"),
        ("steps", MAX_STEP + 1, f"<= 2**53 ({MAX_STEP})"),
        ("offset", 10**30, f"<= 2**53 ({MAX_STEP})"),
    ]:
        with pytest.raises(ValidationError) as info:
            _Counts(**{field: value})
        message = info.value.errors()[0]["msg"]
        assert (
            message == f"Value error, Argument `{field}` must be {rule}. Received: {field}={value}"
        )
    assert _Counts(steps=MAX_STEP, offset=MAX_STEP, capped=10).steps == MAX_STEP


def test_step_counts_publish_their_bounds_in_the_json_schema():
    props = _Counts.model_json_schema()["properties"]
    assert props["steps"]["exclusiveMinimum"] == 0 and props["steps"]["maximum"] == MAX_STEP
    assert props["offset"]["minimum"] == 0 and props["offset"]["maximum"] == MAX_STEP
    assert props["capped"]["exclusiveMinimum"] == 0 and props["capped"]["maximum"] == 10
    assert StepCount(minimum=1, maximum=10) == StepCount(minimum=1, maximum=10)


def test_a_field_description_reaches_the_json_schema():
    class Described(BaseModel):
        steps: Steps = Field(description="Steps of the decay, > 0.")

    assert Described.model_json_schema()["properties"]["steps"]["description"] == (
        "Steps of the decay, > 0."
    )
    schema = TYPE_NAMES["keras.CosineDecay"].model_json_schema()["properties"]
    assert schema["decay_steps"]["description"].startswith("Steps of the cosine")
    assert schema["decay_steps"]["exclusiveMinimum"] == 0
