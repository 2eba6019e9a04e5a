"""openapi.yaml is generated from the app and checked in; it must not drift."""

from __future__ import annotations

from pathlib import Path

import yaml
from stepsize_server.app import create_app
from stepsize_server.cli import openapi_yaml
from stepsize_server.schedules import TYPE_NAMES
from stepsize_server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_openapi_matches_the_app() -> None:
    generated = openapi_yaml(create_app(Settings(auto_migrate=False)))
    checked_in = (ROOT / "openapi.yaml").read_text(encoding="utf-8")
    assert checked_in == generated, "openapi.yaml is stale: run `make openapi` and commit it"


def test_schedule_language_is_a_real_schema() -> None:
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    union = schemas["Schedule"]
    assert union["discriminator"]["propertyName"] == "type"
    assert set(union["discriminator"]["mapping"]) == set(TYPE_NAMES)
    for name in TYPE_NAMES:
        schema = schemas[f"Schedule.{name}"]
        assert schema["properties"]["type"]["const"] == name
        assert schema["additionalProperties"] is False
    # Composite types refer to the union instead of repeating it.
    assert schemas["Schedule.warmup"]["properties"]["schedule"]["$ref"] == (
        "#/components/schemas/Schedule"
    )
    publish = document["paths"]["/v1/schedules/{namespace}/{name}/versions"]["post"]
    body_ref = publish["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    definition = schemas[body_ref.rsplit("/", 1)[1]]["properties"]["definition"]
    assert definition["allOf"] == [{"$ref": "#/components/schemas/Schedule"}]
