"""The REST calls of `Client` against the real server: versions, lists, validate, evaluate."""

from __future__ import annotations

import httpx
import keras
import numpy as np
import pytest
import stepsize

from .fakes import COSINE, OPEN, WARMUP


def test_versions_returns_every_version_across_pages(live):
    client = live.client()
    count = 105  # more than one page of the server's default 100
    for i in range(count):
        client.publish("paging/many", {"type": "constant", "value": 0.001 * (i + 1)})
    versions = client.versions("paging/many")
    assert [v["version"] for v in versions] == list(range(count, 0, -1))
    digests = {v["digest"] for v in versions}
    assert len(digests) == count
    assert versions[0]["digest"] == client.version("paging/many")["digest"]
    assert all("definition" not in v for v in versions)  # the list is the short form


def test_versions_of_a_missing_schedule(live):
    with pytest.raises(stepsize.NotFound):
        live.client().versions("paging/missing")


def test_list_follows_the_cursors(live):
    client = live.client()
    names = [s["name"] for s in client.list(namespace="team", limit=1)]
    assert names == sorted(names) and {"cosine", "open", "piecewise", "warmup"} <= set(names)
    assert names == [s["name"] for s in client.list(namespace="team", limit=500)]


def test_validate_answers_the_normalized_definition(live):
    client = live.client()
    verdict = client.validate(COSINE)
    assert verdict["digest"] == client.schedule("team/cosine@1").digest
    assert verdict["horizon"] == 1000
    assert verdict["normalized"]["type"] == "cosine"
    assert isinstance(verdict["warnings"], list)
    assert client.validate(OPEN)["horizon"] is None
    keras_verdict = client.validate(keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.5))
    assert keras_verdict["normalized"]["type"] == "keras.ExponentialDecay"
    pinned = client.schedule("team/warmup")
    assert client.validate(pinned)["digest"] == pinned.digest  # a Schedule's own definition


def test_evaluate_equals_the_published_values(live):
    client = live.client()
    got = client.evaluate(WARMUP, 0, 1500, 7)
    assert got.dtype == np.float64
    assert got.tolist() == live.registry_values("team/warmup@1", 1500)[::7]
    spe = client.evaluate(
        {
            "type": "epochs",
            "schedule": {"type": "piecewise", "boundaries": [2], "values": [1, 0.5]},
        },
        0,
        40,
        steps_per_epoch=10,
    )
    assert spe.tolist() == [1.0] * 20 + [0.5] * 20
    keras_schedule = keras.optimizers.schedules.PolynomialDecay(0.1, 300, end_learning_rate=0.001)
    np.testing.assert_allclose(
        client.evaluate(keras_schedule, 0, 300),
        [float(keras_schedule(s)) for s in range(300)],
        rtol=1e-6,
    )


def test_evaluate_rejects_a_bad_definition_with_pointers(live):
    with pytest.raises(stepsize.InvalidRequest) as info:
        live.client().evaluate({"type": "cosine", "start": 0.1}, 0, 10)
    assert info.value.status == 422
    assert any(e["path"].startswith("/body/definition") for e in info.value.errors)


def test_evaluate_and_validate_call_their_routes_without_a_token(live):
    seen: list[httpx.Request] = []
    inner = httpx.HTTPTransport()

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return inner.handle_request(request)

    client = stepsize.Client(live.url, token=None, transport=Recording())
    client.validate(COSINE)
    client.evaluate(COSINE, 0, 3)
    assert [r.url.path for r in seen] == ["/v1/validate", "/v1/evaluate"]
    assert all("authorization" not in r.headers for r in seen)
