"""Bounded cost (issue 13 item 1, API side): evaluation runs off the event loop under a
deadline, nothing blocks /healthz, and a request whose client left ends at once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from stepsize_server.api import errors
from stepsize_server.api.compute import Abandoned, checkpoint, off_loop

from tests.support.live_server import LiveServer

from .conftest import problem, published

# torch.MultiplicativeLR has no closed form: its value at a step is computed by stepping
# every epoch before it. Its first query at a far step is slow (~1 s here), yet within
# the cost budget (estimated ~1.2e9 of 1.5e9 units).


CUMULATIVE = {
    "type": "torch.MultiplicativeLR",
    "base_lr": 0.1,
    "lr_lambda": "1 + 0.0000000001 * (sin(epoch / 2) * cos(epoch / 3))",
}
# Over the budget even for one far step: 8 times the stepping work.
TOO_CUMULATIVE = {
    **CUMULATIVE,
    "lr_lambda": "1 + 0.0000000001 * ("
    + " + ".join(f"sin(epoch / {i + 2}) * cos(epoch / {i + 3})" for i in range(8))
    + ")",
}
# The costliest per-step definition within the limits (64 expressions of ~435
# characters): ~45,000 units per step, so at most ~33,000 steps per request.
TERM = "sin(step / 7) * cos(step / 3) + exp(-step / 1000) * sqrt(step + 1) + log(step + 2)"
EXPR = {"type": "expression", "expr": "0.001 * abs(" + " + ".join([TERM] * 5) + ")"}
HEAVIEST = {"type": "product", "schedules": [EXPR] * 64}
# Heavy, yet its publish check fits the budget.
HEAVY = {"type": "product", "schedules": [EXPR] * 8}
BUDGET = "1,500,000,000"
FAR_STEP = 9_999_999


@pytest.fixture
def cold_server(tmp_path: Path) -> Iterator[tuple[LiveServer, httpx.Client]]:
    """A server of its own holding CUMULATIVE as s/cold@1, restarted so that nothing of it
    is computed yet (a publish keeps the warm, grid-checked version in memory)."""
    with LiveServer(tmp_path, env={"STEPSIZE_LOG_LEVEL": "INFO"}) as server:
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            created = client.post("/v1/schedules/s/cold/versions", json={"definition": CUMULATIVE})
            assert created.status_code == 201, created.text
            server.restart()
            yield server, client


def test_healthz_answers_while_a_cold_cumulative_query_runs(
    cold_server: tuple[LiveServer, httpx.Client],
) -> None:
    _, client = cold_server
    answer: list[httpx.Response] = []
    slow = threading.Thread(
        target=lambda: answer.append(
            client.get("/v1/schedules/s/cold/lr", params={"step": FAR_STEP, "version": 1})
        )
    )
    started = time.perf_counter()
    slow.start()
    worst = 0.0
    probes = 0
    while slow.is_alive():
        t0 = time.perf_counter()
        assert client.get("/healthz").status_code == 200
        worst = max(worst, time.perf_counter() - t0)
        probes += 1
        time.sleep(0.02)
    took = time.perf_counter() - started
    assert answer and answer[0].status_code == 200, answer and answer[0].text
    # The query was slow (it really computed ~10,000,000 steps) while /healthz was not.
    assert took > 0.3, took
    assert probes >= 5
    assert worst < 0.25, (worst, took)


def test_a_client_that_leaves_ends_its_request(
    cold_server: tuple[LiveServer, httpx.Client],
) -> None:
    server, client = cold_server
    with pytest.raises(httpx.ReadTimeout):
        client.get("/v1/schedules/s/cold/lr", params={"step": FAR_STEP, "version": 1}, timeout=0.1)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v1/evaluate", json={"definition": CUMULATIVE, "step": FAR_STEP}, timeout=0.1)
    # The server answers each request as soon as the disconnect is seen, not when the
    # evaluation would have finished; the access log records that answer.
    left = {"/v1/evaluate", "/v1/schedules/s/cold/lr"}
    ended: dict[str, dict] = {}
    deadline = time.monotonic() + 10
    while not left <= ended.keys() and time.monotonic() < deadline:
        lines = [json.loads(x) for x in server.log_path.read_text().splitlines() if x[:1] == "{"]
        ended = {x["path"]: x for x in lines if x.get("message") == "request"}
        time.sleep(0.05)
    assert ended.keys() >= left, ended
    for path in left:
        assert ended[path]["status"] == 400, ended[path]
        # ~100 ms (the client's timeout), where the evaluation takes ~1 s.
        assert ended[path]["duration_ms"] < 400, ended[path]
    # The server still answers (the abandoned work holds one evaluation thread at most).
    assert client.get("/healthz").status_code == 200


def _app() -> FastAPI:
    """A bare app using off_loop, with the server's problem handlers."""
    app = FastAPI()
    errors.install(app)
    stopped = threading.Event()
    app.state.stopped = stopped

    @app.get("/sleep")
    async def sleep(request: Request, seconds: float, deadline: float) -> dict[str, bool]:
        def work() -> bool:
            end = time.monotonic() + seconds
            try:
                while time.monotonic() < end:
                    time.sleep(0.01)
                    checkpoint()
            except Abandoned:
                stopped.set()
                raise
            return True

        return {"done": await off_loop(request, work, deadline_s=deadline)}

    @app.get("/fail")
    async def fail(request: Request) -> None:
        def work() -> None:
            raise errors.ApiError("validation_error", "bad input, in the thread")

        await off_loop(request, work)

    return app


def test_the_deadline_answers_503_and_stops_the_work_at_its_checkpoint() -> None:
    app = _app()
    with TestClient(app) as client:
        assert client.get("/sleep", params={"seconds": 0.05, "deadline": 5}).json() == {
            "done": True
        }
        started = time.perf_counter()
        body = problem(
            client.get("/sleep", params={"seconds": 5, "deadline": 0.3}),
            503,
            "evaluation_timeout",
        )
        assert time.perf_counter() - started < 2
        assert "0.3 s" in body["detail"] and body["deadline_s"] == 0.3
        assert app.state.stopped.wait(2), "the work did not stop at its checkpoint"


def test_errors_raised_in_the_thread_reach_the_client_as_they_are() -> None:
    with TestClient(_app()) as client:
        body = problem(client.get("/fail"), 422, "validation_error")
        assert body["detail"] == "bad input, in the thread"


def _timed(send: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    response = send()
    return response, time.perf_counter() - started


def test_evaluating_over_the_budget_is_422_naming_it_and_how_to_split(
    anon: httpx.Client,
) -> None:
    over, took = _timed(
        lambda: anon.post("/v1/evaluate", json={"definition": HEAVIEST, "stop": 1_000_000})
    )
    body = problem(over, 422, "cost_too_large")
    assert took < 2, took
    assert BUDGET in body["detail"] and "split" in body["detail"], body["detail"]
    assert body["budget"] == 1_500_000_000 and body["cost"] > body["budget"]
    assert body["errors"][0]["path"].startswith("/body/definition")
    # The most steps it names is what fits: the worst request within the budget answers
    # in under 2 s (~0.6 s here), values and all.
    most = body["max_steps"]
    assert 1_000 < most < 1_000_000
    fits, took = _timed(
        lambda: anon.post("/v1/evaluate", json={"definition": HEAVIEST, "stop": most})
    )
    assert fits.status_code == 200, fits.text
    assert len(fits.json()["lr"]) == most
    assert took < 2, took
    problem(
        anon.post("/v1/evaluate", json={"definition": HEAVIEST, "stop": most + 1}),
        422,
        "cost_too_large",
    )


def test_a_far_step_of_a_cumulative_schedule_over_the_budget_is_422(anon: httpx.Client) -> None:
    body = problem(
        anon.post("/v1/evaluate", json={"definition": TOO_CUMULATIVE, "step": FAR_STEP}),
        422,
        "cost_too_large",
    )
    assert body["max_steps"] == 0 and "earlier step" in body["detail"]
    # An early step of the same schedule is cheap.
    early = anon.post("/v1/evaluate", json={"definition": TOO_CUMULATIVE, "step": 1000})
    assert early.status_code == 200, early.text


@pytest.mark.parametrize("route", ["/v1/validate", "publish"])
def test_a_publish_check_over_the_budget_is_422_at_once(
    admin: httpx.Client, ns: str, route: str
) -> None:
    path = f"/v1/schedules/{ns}/s/versions" if route == "publish" else route
    response, took = _timed(lambda: admin.post(path, json={"definition": HEAVIEST}))
    body = problem(response, 422, "cost_too_large")
    assert BUDGET in body["detail"] and took < 2, (took, body)


def test_a_stored_range_over_the_budget_is_422_and_its_largest_part_answers(
    anon: httpx.Client, admin: httpx.Client, ns: str
) -> None:
    published(admin, f"{ns}/s", HEAVY)
    lr = f"/v1/schedules/{ns}/s/lr"
    body = problem(anon.get(lr, params={"stop": 1_000_000}), 422, "cost_too_large")
    most = body["max_steps"]
    assert 10_000 < most < 1_000_000 and "split" in body["detail"]
    fits, took = _timed(lambda: anon.get(lr, params={"stop": most}))
    assert fits.status_code == 200 and len(fits.json()["lr"]) == most, fits.text
    assert took < 2, took
