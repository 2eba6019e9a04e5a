"""GET /v1/types: the catalog covers every type of the language."""

from __future__ import annotations

import httpx
from stepsize_server.api.openapi import schedule_schemas
from stepsize_server.schedules import TYPE_NAMES, TYPES, compile_definition


def test_catalog_lists_every_type_with_parameters(anon: httpx.Client) -> None:
    types = {t["type"]: t for t in anon.get("/v1/types").json()["types"]}
    assert set(types) == set(TYPE_NAMES)
    for name, info in types.items():
        assert info["summary"], name
        assert info["family"] == (name.split(".")[0] if "." in name else "core")
        assert info["example"]["type"] == name
        for parameter in info["parameters"]:
            assert {"name", "type", "required", "default", "schema"} <= parameter.keys()
    cosine = {p["name"]: p for p in types["cosine"]["parameters"]}
    assert cosine["start"]["type"] == "number" and cosine["start"]["required"] is True
    assert cosine["end"]["default"] == 0.0 and cosine["end"]["required"] is False
    assert cosine["steps"]["type"] == "integer"
    warmup = {p["name"]: p for p in types["warmup"]["parameters"]}
    assert warmup["schedule"]["type"] == "schedule"
    assert warmup["shape"]["schema"]["enum"] == ["linear", "cosine", "exponential"]
    piecewise = {p["name"]: p for p in types["piecewise"]["parameters"]}
    assert piecewise["values"]["type"] == "array of number"  # the key, not `values_`
    sequence = {p["name"]: p for p in types["sequence"]["parameters"]}
    assert sequence["schedules"]["type"] == "array of schedule"


def test_catalog_examples_are_valid(anon: httpx.Client) -> None:
    for info in anon.get("/v1/types").json()["types"]:
        compile_definition(info["example"])


def test_every_parameter_is_described(anon: httpx.Client) -> None:
    """The catalog's words come from the models' field descriptions, the same ones that
    openapi.yaml shows; a parameter without one leaves the UI without help."""
    types = anon.get("/v1/types").json()["types"]
    undescribed = [
        f"{info['type']}.{parameter['name']}"
        for info in types
        for parameter in info["parameters"]
        if not (parameter["description"] or "").strip()
    ]
    total = sum(len(info["parameters"]) for info in types)
    assert total > 0
    assert not undescribed, f"{len(undescribed)} of {total} parameters lack a description"


def test_parameter_descriptions_are_the_model_fields(anon: httpx.Client) -> None:
    """Each description is the schedule model's own `Field(description=...)`, also the
    description of that property in the type's JSON schema."""
    models = {cls.model_fields["type"].default: cls for cls in TYPES}
    for info in anon.get("/v1/types").json()["types"]:
        fields = {f.alias or name: f for name, f in models[info["type"]].model_fields.items()}
        properties = schedule_schemas()[f"Schedule.{info['type']}"]["properties"]
        # Every key of the type's schema, in the model's order; nothing the schema refuses.
        assert [p["name"] for p in info["parameters"]] == [
            key for key in fields if key != "type" and key in properties
        ]
        for parameter in info["parameters"]:
            field = fields[parameter["name"]]  # the definition's key, e.g. `values`
            assert parameter["description"] == field.description, parameter["name"]
            if field.description:
                assert parameter["schema"].get("description") == field.description
