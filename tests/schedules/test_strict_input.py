"""Strict input in definitions (issue 13, item 4): numbers only where numbers are meant,
integers only where integers are meant, booleans only where booleans are meant.

Every numeric and boolean field of every type in the registry is probed, from the type's
catalog example: `true` is not 1, `"0.1"` is not 0.1, `2.5` is not an integer, but an
integral float such as `18750.0` is the integer 18750 (normalized to it, same digest).
"""

from __future__ import annotations

import copy
import typing
from typing import Any

import pytest
from pydantic import BeforeValidator
from stepsize_server.schedules import TYPES, InvalidDefinition, digest, normalize, parse
from stepsize_server.schedules.params import StepCount, strict_bool, strict_int, strict_real

KINDS = {strict_real: "number", strict_int: "integer", strict_bool: "boolean"}


def _kind(annotation: Any) -> str | None:
    """'number', 'integer' or 'boolean' for a field type of the shared vocabulary."""
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, BeforeValidator) and meta.func in KINDS:
            return KINDS[meta.func]
        if isinstance(meta, StepCount):
            return "integer"
    return None


def _leaves(annotation: Any, at: tuple[int, ...] = ()) -> list[tuple[tuple[int, ...], str]]:
    """(position inside the field's value, kind) of every scalar a field type holds:
    () for a scalar, (0,) for a list item, (0, 1) for the second item of a listed pair."""
    kind = _kind(annotation)
    if kind is not None:
        return [(at, kind)]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _leaves(args[0], at)
    if origin is list:
        return _leaves(args[0], (*at, 0))
    if origin is tuple:
        return [leaf for i, arg in enumerate(args) for leaf in _leaves(arg, (*at, i))]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return [leaf for arg in args if arg is not type(None) for leaf in _leaves(arg, at)]
    return []


def _name(model: type) -> str:
    return model.model_fields["type"].default


def _field_leaves(info: Any) -> list[tuple[tuple[int, ...], str]]:
    # pydantic keeps a top-level Annotated's metadata on the field, not in its annotation.
    kind = _kind(typing.Annotated[object, *info.metadata]) if info.metadata else None
    return [((), kind)] if kind is not None else _leaves(info.annotation)


FIELDS = [
    (_name(model), model, field, position, kind)
    for model in TYPES
    for field, info in model.model_fields.items()
    for position, kind in _field_leaves(info)
]
# Every kind occurs, and every family has numeric fields probed.
assert {kind for *_, kind in FIELDS} == {"number", "integer", "boolean"}
assert {name.split(".")[0] for name, *_ in FIELDS if "." in name} == {"keras", "torch", "hf"}


def _with(example: dict, field: str, position: tuple[int, ...], value: Any) -> dict:
    """The example with the scalar at `field` + `position` replaced by `value`."""
    definition = copy.deepcopy(example)
    if not position:
        definition[field] = value
        return definition
    current = definition.get(field)
    if not isinstance(current, list) or not current:
        current = definition[field] = [[0, 0.1] if len(position) > 1 else value]
    holder: Any = current
    for i in position[:-1]:
        holder = holder[i]
    if isinstance(holder, tuple):
        holder = list(holder)
    holder[position[-1]] = value
    return definition


def _pointer(field: str, position: tuple[int, ...]) -> str:
    return "/" + "/".join([field.removesuffix("_"), *map(str, position)])


def _errors(definition: dict) -> list[dict]:
    with pytest.raises(InvalidDefinition) as info:
        parse(definition)
    return info.value.errors


BAD = {
    "number": [True, False, "0.1", "1", None, [0.1]],
    "integer": [True, False, "3", "3.0", 2.5, 1e-3, float("inf")],
    "boolean": [1, 0, "true", "false", 1.0],
}


@pytest.mark.parametrize(
    ("name", "model", "field", "position", "kind"), FIELDS, ids=[f"{f[0]}-{f[2]}" for f in FIELDS]
)
def test_a_non_number_is_refused_with_the_field_pointer(name, model, field, position, kind):
    wanted = {"number": "a number", "integer": "an integer", "boolean": "a boolean"}[kind]
    key = field.removesuffix("_")
    for bad in BAD[kind]:
        if bad is None and _optional(model, field):
            continue  # null is the documented "absent" of an optional number
        if (name, field) in KERAS_CASTS and isinstance(bad, float) and bad != float("inf"):
            continue  # test_keras_boundaries_are_truncated_as_keras_casts_them
        errors = _errors(_with(model.example, key, position, bad))
        pointer = _pointer(field, position)
        mine = [e for e in errors if e["path"] == pointer]
        assert mine, f"{name}.{field}={bad!r}: no error at {pointer}: {errors}"
        if bad is not None and not isinstance(bad, list):
            assert mine[0]["message"].startswith(f"Argument `{key}` must be {wanted}"), mine


# Keras casts a PiecewiseConstantDecay boundary to the integer step type (2.5 acts as 2):
# a fraction is truncated there, as documented on the type.
KERAS_CASTS = {("keras.PiecewiseConstantDecay", "boundaries")}


def test_keras_boundaries_are_truncated_as_keras_casts_them():
    definition = {"type": "keras.PiecewiseConstantDecay", "boundaries": [2.5], "values": [1, 0]}
    assert normalize(definition)["boundaries"] == [2]
    for bad in (True, "2"):
        (error,) = _errors(dict(definition, boundaries=[bad]))
        assert error["path"] == "/boundaries/0"


def _optional(model: type, field: str) -> bool:
    return not model.model_fields[field].is_required() and model.model_fields[field].default is None


INTEGER_FIELDS = [f for f in FIELDS if f[4] == "integer" and f[2].removesuffix("_") in f[1].example]


@pytest.mark.parametrize(
    ("name", "model", "field", "position", "kind"),
    INTEGER_FIELDS,
    ids=[f"{f[0]}-{f[2]}" for f in INTEGER_FIELDS],
)
def test_an_integral_float_is_the_integer(name, model, field, position, kind):
    key = field.removesuffix("_")
    value = model.example[key]
    for i in position:
        value = value[i]
    as_float = _with(model.example, key, position, float(value))
    assert normalize(as_float) == normalize(model.example)
    assert digest(as_float) == digest(model.example)
    held = normalize(as_float)[key]
    for i in position:
        held = held[i]
    assert type(held) is int


def test_every_family_has_integer_fields_probed_with_integral_floats():
    assert {f[0].split(".")[0] for f in INTEGER_FIELDS if "." in f[0]} == {"keras", "torch", "hf"}


def test_the_seed_scripts_integral_float_is_a_valid_step_count():
    definition = {
        "type": "keras.CosineDecay",
        "initial_learning_rate": 0.1,
        "decay_steps": 60000 / 32 * 10,  # 18750.0
    }
    assert normalize(definition)["decay_steps"] == 18750
    fractional = dict(definition, decay_steps=18750.5)
    assert _errors(fractional) == [
        {
            "path": "/decay_steps",
            "message": "Argument `decay_steps` must be an integer. Received: decay_steps=18750.5",
        }
    ]


def test_nested_fields_are_named_by_their_pointer():
    definition = {
        "type": "sequence",
        "boundaries": [100],
        "schedules": [
            {"type": "constant", "value": 0.1},
            {"type": "linear", "start": "0.1", "end": 0, "steps": True},
        ],
    }
    assert _errors(definition) == [
        {
            "path": "/schedules/1/start",
            "message": 'Argument `start` must be a number. Received: start="0.1"',
        },
        {
            "path": "/schedules/1/steps",
            "message": "Argument `steps` must be an integer. Received: steps=true",
        },
    ]
    assert _errors({"type": "torch.MultiStepLR", "base_lr": 0.1, "milestones": [2, True]}) == [
        {
            "path": "/milestones/1",
            "message": "Argument `milestones` must be an integer. Received: milestones=true",
        }
    ]
