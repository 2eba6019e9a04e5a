"""Run-length templates over real HTTP (issue 9 item 1, SPEC 3.6): `total_steps=` binds a
template on every lr route and on /v1/evaluate; answers carry both digests; /v1/validate
shows a binding; templates whose parts cannot fit are rejected with JSON pointers."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import PROBLEM_JSON, publish, published

TEMPLATE = {
    "type": "warmup",
    "steps": "0.1dur",
    "schedule": {"type": "cosine", "start": 0.1, "steps": "0.9dur"},
}


def by_hand(total: int) -> dict[str, Any]:
    """The template written by hand for a run of `total` steps."""
    warm = total // 10
    return {
        "type": "warmup",
        "steps": warm,
        "schedule": {"type": "cosine", "start": 0.1, "steps": (9 * total) // 10},
    }


NOT_FITTING = {  # a 0.6dur warmup, then a 0.6dur decay: ends at 1.2dur
    "type": "warmup",
    "steps": "0.6dur",
    "schedule": {"type": "cosine", "start": 0.1, "steps": "0.6dur"},
}


def npy(response: httpx.Response) -> np.ndarray:
    return np.load(io.BytesIO(response.content), allow_pickle=False)


def problem(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def pair(admin: httpx.Client, ns: str) -> dict[str, Any]:
    """The template and its hand-written form for 1,000 steps, both published."""
    template = published(admin, f"{ns}/warm", TEMPLATE)
    hand = published(admin, f"{ns}/hand", by_hand(1000))
    return {"ns": ns, "template": template, "hand": hand}


def test_publish_keeps_the_durations_and_the_template_digest(admin: httpx.Client, ns: str) -> None:
    body = published(admin, f"{ns}/warm", TEMPLATE)
    assert body["definition"]["steps"] == "0.1dur"
    assert body["definition"]["schedule"]["steps"] == "0.9dur"
    assert body["template"] is True and body["horizon"] is None
    checked = admin.post("/v1/validate", json={"definition": TEMPLATE}).json()
    assert checked["digest"] == body["digest"] and checked["template"] is True
    assert "bound" not in checked

    again = admin.get(f"/v1/schedules/{ns}/warm/versions/1", params={"total_steps": 1000})
    assert again.status_code == 200, again.text
    bound = again.json()["bound"]
    hand = admin.post("/v1/validate", json={"definition": by_hand(1000)}).json()
    assert bound["definition"] == hand["normalized"] and bound["digest"] == hand["digest"]
    assert bound["total_steps"] == 1000 and bound["horizon"] == hand["horizon"]


def test_single_step_binds_and_carries_both_digests(
    admin: httpx.Client, pair: dict[str, Any]
) -> None:
    ns, template, hand = pair["ns"], pair["template"], pair["hand"]
    for step in (0, 50, 99, 100, 101, 600, 1000, 1500):
        got = admin.get(f"/v1/schedules/{ns}/warm/lr", params={"step": step, "total_steps": 1000})
        want = admin.get(f"/v1/schedules/{ns}/hand/lr", params={"step": step}).json()
        assert got.status_code == 200, got.text
        body = got.json()
        assert body["lr"] == want["lr"]
        assert body["digest"] == body["bound_digest"] == hand["digest"]
        assert body["template_digest"] == template["digest"] != hand["digest"]
        assert got.headers["X-Stepsize-Digest"] == hand["digest"]
        assert got.headers["X-Stepsize-Template-Digest"] == template["digest"]


@pytest.mark.parametrize("accept", ["application/json", "application/x-npy", "text/csv"])
def test_range_binds_in_every_representation(
    admin: httpx.Client, pair: dict[str, Any], accept: str
) -> None:
    ns, template, hand = pair["ns"], pair["template"], pair["hand"]
    params = {"start": 0, "stop": 1201, "stride": 3}
    got = admin.get(
        f"/v1/schedules/{ns}/warm/lr",
        params={**params, "total_steps": 1000},
        headers={"Accept": accept},
    )
    want = admin.get(f"/v1/schedules/{ns}/hand/lr", params=params, headers={"Accept": accept})
    assert got.status_code == 200, got.text
    assert got.headers["X-Stepsize-Digest"] == hand["digest"]
    assert got.headers["X-Stepsize-Template-Digest"] == template["digest"]
    if accept == "application/x-npy":
        assert np.array_equal(npy(got), npy(want)) and npy(got).size == len(range(0, 1201, 3))
    elif accept == "text/csv":
        rows = list(csv.reader(io.StringIO(got.text)))
        assert rows == list(csv.reader(io.StringIO(want.text))) and rows[0] == ["step", "lr"]
    else:
        body = got.json()
        assert body["lr"] == want.json()["lr"]
        assert body["template_digest"] == template["digest"]
        assert body["digest"] == body["bound_digest"] == hand["digest"]


def test_post_steps_binds(admin: httpx.Client, pair: dict[str, Any]) -> None:
    ns, template, hand = pair["ns"], pair["template"], pair["hand"]
    steps = [0, 7, 99, 100, 555, 1000, 2000]
    got = admin.post(
        f"/v1/schedules/{ns}/warm/lr", params={"total_steps": 1000}, json={"steps": steps}
    )
    want = admin.post(f"/v1/schedules/{ns}/hand/lr", json={"steps": steps}).json()
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["lr"] == want["lr"] and body["steps"] == steps
    assert body["template_digest"] == template["digest"]
    assert body["digest"] == body["bound_digest"] == hand["digest"]
    assert got.headers["X-Stepsize-Template-Digest"] == template["digest"]


def test_each_total_is_its_own_curve_and_etag(admin: httpx.Client, pair: dict[str, Any]) -> None:
    ns = pair["ns"]
    url = f"/v1/schedules/{ns}/warm/lr"
    a = admin.get(url, params={"stop": 300, "total_steps": 1000, "version": 1})
    b = admin.get(url, params={"stop": 300, "total_steps": 2000, "version": 1})
    assert a.json()["digest"] != b.json()["digest"]
    assert a.json()["template_digest"] == b.json()["template_digest"]
    assert a.json()["lr"] != b.json()["lr"] and a.headers["ETag"] != b.headers["ETag"]
    hand = published(admin, f"{ns}/hand2000", by_hand(2000))
    assert b.json()["digest"] == hand["digest"]
    again = admin.get(
        url,
        params={"stop": 300, "total_steps": 1000, "version": 1},
        headers={"If-None-Match": a.headers["ETag"]},
    )
    assert again.status_code == 304
    assert again.headers["X-Stepsize-Template-Digest"] == pair["template"]["digest"]


def test_a_template_without_total_steps_is_a_422_naming_it(
    admin: httpx.Client, pair: dict[str, Any]
) -> None:
    url = f"/v1/schedules/{pair['ns']}/warm/lr"
    for response in (
        admin.get(url, params={"step": 5}),
        admin.get(url, params={"stop": 10}, headers={"Accept": "application/x-npy"}),
        admin.post(url, json={"steps": [1, 2]}),
    ):
        body = problem(response)
        assert "total_steps=" in body["detail"] and "run-length template" in body["detail"]
        assert body["errors"][0]["path"] == "/query/total_steps"
        assert body["code"] == "unbound_template"


def test_a_binding_invalid_for_that_length_is_a_422(admin: httpx.Client, ns: str) -> None:
    short = {"type": "warmup", "steps": "0.01dur", "schedule": {"type": "constant", "value": 0.1}}
    published(admin, f"{ns}/short", short)
    response = admin.get(f"/v1/schedules/{ns}/short/lr", params={"step": 0, "total_steps": 50})
    body = problem(response)
    assert body["errors"][0]["path"] == "/steps"
    assert body["errors"][0]["message"].startswith("bound for total_steps=50: ")
    ok = admin.get(f"/v1/schedules/{ns}/short/lr", params={"step": 0, "total_steps": 100})
    assert ok.status_code == 200 and ok.json()["lr"] == 0.0


def test_total_steps_is_ignored_for_an_ordinary_definition(
    admin: httpx.Client, pair: dict[str, Any]
) -> None:
    url = f"/v1/schedules/{pair['ns']}/hand/lr"
    plain = admin.get(url, params={"step": 300}).json()
    given = admin.get(url, params={"step": 300, "total_steps": 77})
    assert given.json() == plain and "X-Stepsize-Template-Digest" not in given.headers
    assert "template_digest" not in plain


def test_total_steps_is_checked(admin: httpx.Client, pair: dict[str, Any]) -> None:
    url = f"/v1/schedules/{pair['ns']}/warm/lr"
    for bad in ("0", "-3", "abc", "1e3"):
        body = problem(admin.get(url, params={"step": 1, "total_steps": bad}))
        assert body["errors"][0]["path"] == "/query/total_steps"


def test_evaluate_binds_a_template(admin: httpx.Client) -> None:
    hand = admin.post("/v1/evaluate", json={"definition": by_hand(400), "stop": 500}).json()
    got = admin.post("/v1/evaluate", json={"definition": TEMPLATE, "stop": 500, "total_steps": 400})
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["lr"] == hand["lr"]
    assert body["digest"] == body["bound_digest"] == hand["digest"]
    template_digest = admin.post("/v1/validate", json={"definition": TEMPLATE}).json()["digest"]
    assert body["template_digest"] == template_digest
    one = admin.post("/v1/evaluate", json={"definition": TEMPLATE, "step": 20, "total_steps": 400})
    assert one.json()["lr"] == hand["lr"][20] and one.json()["template_digest"] == template_digest

    missing = problem(admin.post("/v1/evaluate", json={"definition": TEMPLATE, "step": 3}))
    assert missing["errors"][0]["path"] == "/body/total_steps"
    assert missing["code"] == "unbound_template"
    assert "total_steps=" in missing["detail"]


def test_validate_shows_the_binding(admin: httpx.Client) -> None:
    body = admin.post("/v1/validate", json={"definition": TEMPLATE, "total_steps": 1000})
    assert body.status_code == 200, body.text
    checked = body.json()
    hand = admin.post("/v1/validate", json={"definition": by_hand(1000)}).json()
    assert checked["template"] is True and checked["normalized"]["steps"] == "0.1dur"
    assert checked["bound"]["definition"] == hand["normalized"]
    assert checked["bound"]["digest"] == hand["digest"] != checked["digest"]
    assert checked["bound"]["horizon"] == hand["horizon"] == 1000
    assert any("total_steps" in w for w in checked["warnings"])


@pytest.mark.parametrize(
    ("definition", "pointer", "words"),
    [
        (NOT_FITTING, "/body/definition/schedule/steps", "do not fit in the run"),
        (
            {
                "type": "sequence",
                "boundaries": ["0.6dur"],
                "schedules": [
                    {"type": "linear", "start": 0, "end": 0.1, "steps": "0.6dur"},
                    {"type": "cosine", "start": 0.1, "steps": "0.6dur"},
                ],
            },
            "/body/definition/schedules/1/steps",
            "do not fit in the run",
        ),
        (
            {"type": "warmup", "steps": "0.001dur", "schedule": {"type": "constant", "value": 1}},
            "/body/definition/steps",
            "bound for total_steps=100",
        ),
        (
            {"type": "warmup", "steps": "1.5dur", "schedule": {"type": "constant", "value": 1}},
            "/body/definition/steps",
            "fraction in (0, 1]",
        ),
    ],
)
def test_templates_that_cannot_fit_are_rejected_with_pointers(
    admin: httpx.Client, ns: str, definition: dict[str, Any], pointer: str, words: str
) -> None:
    for response in (
        admin.post("/v1/validate", json={"definition": definition}),
        admin.post("/v1/validate", json={"definition": definition, "total_steps": 1000}),
        publish(admin, f"{ns}/bad", definition),
    ):
        body = problem(response)
        assert any(e["path"] == pointer and words in e["message"] for e in body["errors"]), body
    assert admin.get(f"/v1/schedules/{ns}/bad").status_code == 404


def test_validate_rejects_a_binding_invalid_for_the_given_total(admin: httpx.Client) -> None:
    short = {"type": "warmup", "steps": "0.01dur", "schedule": {"type": "constant", "value": 0.1}}
    body = problem(admin.post("/v1/validate", json={"definition": short, "total_steps": 50}))
    assert body["errors"][0]["path"] == "/body/definition/steps"
    assert body["errors"][0]["message"].startswith("bound for total_steps=50: ")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    warm=st.integers(10, 990),  # both parts at least one step at 100 steps
    total=st.integers(1000, 200_000),
    stride=st.integers(1, 997),
)
def test_binding_over_http_equals_the_hand_written_schedule(
    admin: httpx.Client, warm: int, total: int, stride: int
) -> None:
    """A warmup of `warm`/1000 of the run then a cosine over the rest, bound by the server
    for `total` steps, gives the values and digest of the same schedule written by hand."""
    template = {
        "type": "warmup",
        "steps": f"{warm / 1000:g}dur",
        "schedule": {"type": "cosine", "start": 0.1, "steps": f"{(1000 - warm) / 1000:g}dur"},
    }
    hand = {
        "type": "warmup",
        "steps": warm * total // 1000,
        "schedule": {"type": "cosine", "start": 0.1, "steps": (1000 - warm) * total // 1000},
    }
    span = {"start": 0, "stop": total + 2, "stride": stride}
    bound = admin.post("/v1/evaluate", json={"definition": template, "total_steps": total, **span})
    want = admin.post("/v1/evaluate", json={"definition": hand, **span})
    assert bound.status_code == 200, bound.text
    assert bound.json()["lr"] == want.json()["lr"]
    assert bound.json()["digest"] == want.json()["digest"]


def test_epochs_bind_with_steps_per_epoch(admin: httpx.Client, ns: str) -> None:
    """A template in epochs binds with steps_per_epoch= beside total_steps=; without it
    the binding is a 422 at the duration."""
    template = {"type": "torch.StepLR", "base_lr": 0.1, "step_size": "2ep", "gamma": 0.5}
    published(admin, f"{ns}/epochs", template)
    published(admin, f"{ns}/hand", {**template, "step_size": 20})
    query = {"stop": 100, "total_steps": 100, "steps_per_epoch": 10}
    got = admin.get(f"/v1/schedules/{ns}/epochs/lr", params=query)
    want = admin.get(f"/v1/schedules/{ns}/hand/lr", params={"stop": 100})
    assert got.status_code == 200, got.text
    assert got.json()["lr"] == want.json()["lr"]
    assert got.json()["digest"] == want.json()["digest"]
    body = problem(admin.get(f"/v1/schedules/{ns}/epochs/lr", params={"step": 3, "total_steps": 9}))
    assert body["errors"][0]["path"] == "/step_size"
    assert "steps_per_epoch" in body["errors"][0]["message"]


def test_plot_svg_binds_a_template_by_total_steps(anon: httpx.Client, pair: dict[str, Any]) -> None:
    ns = pair["ns"]
    unbound = problem(anon.get(f"/v1/schedules/{ns}/warm/plot.svg"))
    assert unbound["code"] == "unbound_template"
    bound = anon.get(f"/v1/schedules/{ns}/warm/plot.svg", params={"total_steps": 1000})
    hand = anon.get(f"/v1/schedules/{ns}/hand/plot.svg")
    assert bound.status_code == hand.status_code == 200, bound.text
    assert bound.headers["x-stepsize-digest"] == pair["hand"]["digest"]
    assert bound.headers["x-stepsize-template-digest"] == pair["template"]["digest"]
    assert bound.headers["etag"] == hand.headers["etag"]
    assert "(total_steps=1000)" in bound.text
    # the same curve: the drawn polyline is the hand-written schedule's
    assert bound.text.split("<polyline")[1] == hand.text.split("<polyline")[1]
