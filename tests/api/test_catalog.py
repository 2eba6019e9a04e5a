"""GET /v1/types: the catalog covers every type of the language."""

from __future__ import annotations

import httpx
from stepsize_server.schedules import TYPE_NAMES, compile_definition


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
    sequence = {p["name"]: p for p in types["sequence"]["parameters"]}
    assert sequence["schedules"]["type"] == "array of schedule"


def test_catalog_examples_are_valid(anon: httpx.Client) -> None:
    for info in anon.get("/v1/types").json()["types"]:
        compile_definition(info["example"])
