"""Every type documents itself: a one-line summary and an example that is valid."""

from __future__ import annotations

import numpy as np
import pytest
from stepsize_server.schedules import TYPE_NAMES, compile_definition

FAMILIES = {"keras", "torch", "hf"}


def test_every_family_is_present():
    prefixes = {name.split(".", 1)[0] for name in TYPE_NAMES if "." in name}
    assert prefixes == FAMILIES
    assert {"constant", "warmup", "sequence", "epochs", "expression"} <= set(TYPE_NAMES)


@pytest.mark.parametrize("name", sorted(TYPE_NAMES))
def test_example_is_valid_and_evaluates(name):
    cls = TYPE_NAMES[name]
    assert cls.summary and "\n" not in cls.summary
    assert cls.example["type"] == name
    compiled = compile_definition(cls.example)
    values = compiled.evaluate(np.arange(0, 5000, 7), steps_per_epoch=10)
    assert np.isfinite(values).all() and (values >= 0).all()
    assert compiled.normalized["type"] == name


@pytest.mark.parametrize("name", sorted(TYPE_NAMES))
def test_every_parameter_is_described(name):
    # /v1/types and openapi.yaml render these words; a parameter without them is undocumented.
    for field, info in TYPE_NAMES[name].model_fields.items():
        if field == "type":
            continue
        text = info.description
        assert text and not text[0].islower() and text.endswith("."), (name, field, text)
        assert "\n" not in text and len(text) <= 160, (name, field, text)
