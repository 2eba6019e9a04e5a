"""POST /v1/evaluate and /v1/validate: values and checks without storing anything."""

from __future__ import annotations

import io

import httpx
import numpy as np
from stepsize_server.schedules import compile_definition

from .conftest import problem

LINEAR = {"type": "linear", "start": 0.0, "end": 1.0, "steps": 10}
# Valid, but 10**step overflows to infinity past step 308.
OVERFLOW = {"type": "exponential", "start": 1.0, "rate": 10.0, "steps": 1}


def test_evaluate_single_list_and_range(anon: httpx.Client) -> None:
    digest = compile_definition(LINEAR).digest
    one = anon.post("/v1/evaluate", json={"definition": LINEAR, "step": 5})
    assert one.status_code == 200
    assert one.json() == {"digest": digest, "step": 5, "lr": 0.5}
    some = anon.post("/v1/evaluate", json={"definition": LINEAR, "steps": [0, 10, 20]}).json()
    assert some == {"digest": digest, "steps": [0, 10, 20], "lr": [0.0, 1.0, 1.0]}
    span = anon.post(
        "/v1/evaluate", json={"definition": LINEAR, "start": 2, "stop": 7, "stride": 2}
    ).json()
    assert span == {"digest": digest, "start": 2, "stop": 7, "stride": 2, "lr": [0.2, 0.4, 0.6]}
    npy = anon.post(
        "/v1/evaluate",
        json={"definition": LINEAR, "stop": 11},
        headers={"Accept": "application/x-npy"},
    )
    np.testing.assert_allclose(np.load(io.BytesIO(npy.content)), np.linspace(0, 1, 11))
    assert anon.get("/v1/schedules", params={"q": "linear"}).json()["items"] == []


def test_evaluate_epochs_with_steps_per_epoch(anon: httpx.Client) -> None:
    per_epoch = {
        "type": "epochs",
        "schedule": {"type": "piecewise", "boundaries": [2], "values": [1.0, 0.5]},
    }
    body = problem(anon.post("/v1/evaluate", json={"definition": per_epoch, "step": 30}), 422)
    assert "steps_per_epoch" in body["detail"]
    ok = anon.post(
        "/v1/evaluate", json={"definition": per_epoch, "step": 30, "steps_per_epoch": 10}
    )
    assert ok.json()["lr"] == 0.5


def test_evaluate_rejects_bad_requests(anon: httpx.Client) -> None:
    problem(anon.post("/v1/evaluate", json={"definition": LINEAR}), 422)
    problem(anon.post("/v1/evaluate", json={"definition": LINEAR, "step": 1, "steps": [1]}), 422)
    body = problem(
        anon.post("/v1/evaluate", json={"definition": LINEAR, "step": -1}), 422, "invalid_step"
    )
    assert "-1" in body["detail"]
    body = problem(anon.post("/v1/evaluate", json={"definition": LINEAR, "stop": "ten"}), 422)
    assert "ten" in body["detail"]
    body = problem(
        anon.post("/v1/evaluate", json={"definition": {"type": "linear"}, "step": 1}),
        422,
        "invalid_definition",
    )
    assert {e["path"] for e in body["errors"]} >= {"/body/definition/start"}
    body = problem(
        anon.post("/v1/evaluate", json={"definition": OVERFLOW, "step": 400}),
        422,
        "evaluation_error",
    )
    assert body["step"] == 400 and "400" in body["detail"]
    assert anon.post("/v1/evaluate", json={"definition": OVERFLOW, "step": 3}).json()["lr"] == 1e3
    problem(anon.post("/v1/evaluate", json={"definition": LINEAR, "step": 1, "extra": 1}), 422)


def test_validate(anon: httpx.Client) -> None:
    body = anon.post("/v1/validate", json={"definition": LINEAR}).json()
    compiled = compile_definition(LINEAR)
    assert body == {
        "normalized": compiled.normalized,
        "digest": compiled.digest,
        "horizon": 10,
        "warnings": [],
    }
    forever = anon.post(
        "/v1/validate",
        json={"definition": {"type": "exponential", "start": 1.0, "rate": 0.5, "steps": 10}},
    ).json()
    assert forever["horizon"] is None and any("never" in w for w in forever["warnings"])
    open_epochs = {"type": "epochs", "schedule": LINEAR}
    warned = anon.post("/v1/validate", json={"definition": open_epochs}).json()
    assert any("steps_per_epoch" in w for w in warned["warnings"])
    big = anon.post("/v1/validate", json={"definition": {"type": "constant", "value": 3.0}}).json()
    assert any("above 1.0" in w for w in big["warnings"])
    body = problem(
        anon.post("/v1/validate", json={"definition": OVERFLOW}), 422, "evaluation_error"
    )
    assert body["step"] > 300


def test_evaluation_error_names_the_step_and_points_into_the_definition(
    anon: httpx.Client,
) -> None:
    definition = {"type": "expression", "expr": "1 / (step - 5)"}
    answer = anon.post("/v1/evaluate", json={"definition": definition, "steps": [1, 5, 9]})
    assert answer.status_code == 422
    body = answer.json()
    assert body["step"] == 5
    assert body["errors"][0]["path"] == "/body/definition/expr"
    assert "step 5" in body["errors"][0]["message"]
