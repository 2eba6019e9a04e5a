"""The client and run-length templates, against the real server (issue 9 item 1, client):
`client.schedule(ref, total_steps=N)` binds once at construction, reports the binding,
and restores (pickle, torch state dict) follow the same curve."""

from __future__ import annotations

import io
import pickle
from typing import Any

import httpx
import numpy as np
import pytest
import stepsize
import torch
from stepsize import curves

from .conftest import Live

TEMPLATE = {
    "type": "warmup",
    "steps": "0.1dur",
    "schedule": {"type": "cosine", "start": 0.1, "steps": "0.9dur"},
}


def by_hand(total: int) -> dict[str, Any]:
    return {
        "type": "warmup",
        "steps": total // 10,
        "schedule": {"type": "cosine", "start": 0.1, "steps": (9 * total) // 10},
    }


def publish(live: Live, ref: str, definition: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(
        f"{live.url}/v1/schedules/{ref}/versions",
        json={"definition": definition},
        headers={"Authorization": f"Bearer {live.token}"},
    )
    r.raise_for_status()
    body: dict[str, Any] = r.json()
    return body


@pytest.fixture
def published(live: Live) -> dict[str, Any]:
    return {
        "template": publish(live, "tmpl/warm", TEMPLATE),
        "hand": publish(live, "tmpl/hand400", by_hand(400)),
    }


def test_binds_once_and_reports_the_binding(live: Live, published: dict[str, Any]) -> None:
    client = live.client()
    sched = client.schedule("tmpl/warm", total_steps=400)
    hand = client.schedule("tmpl/hand400", total_steps=400)
    assert sched.ref == "tmpl/warm@1"
    assert sched.digest == published["hand"]["digest"] == hand.digest
    assert sched.template_digest == published["template"]["digest"] != sched.digest
    assert hand.template_digest is None and hand.template_definition is None
    assert sched.definition == published["hand"]["definition"] == hand.definition
    assert sched.template_definition == published["template"]["definition"]
    assert sched.horizon == 400 and sched.total_steps == 400
    assert np.array_equal(sched.values(0, 401), hand.values(0, 401))
    assert sched.values(0, 401)[40] == pytest.approx(0.1)
    # the same values as the server's answer for the binding, fetched independently
    r = httpx.get(
        f"{live.url}/v1/schedules/tmpl/warm/lr",
        params={"start": 0, "stop": 401, "total_steps": 400, "version": 1},
    )
    assert sched.values(0, 401).tolist() == r.json()["lr"]


def test_each_length_binds_its_own_curve(live: Live, published: dict[str, Any]) -> None:
    client = live.client()
    short = client.schedule("tmpl/warm", total_steps=400)
    long = client.schedule("tmpl/warm", total_steps=2000)
    assert short.digest != long.digest and short.template_digest == long.template_digest
    assert short(40) == pytest.approx(0.1) and long(40) == pytest.approx(0.1 * 40 / 200)


def test_an_unbound_template_is_a_clear_error_at_construction(
    live: Live, published: dict[str, Any]
) -> None:
    client = live.client()
    with pytest.raises(ValueError, match=r"run-length template .* pass total_steps=N"):
        client.schedule("tmpl/warm")
    with pytest.raises(ValueError, match=r"got total_steps=0"):
        client.schedule("tmpl/warm", total_steps=0)


def test_a_pickled_bound_schedule_finds_the_same_curve(
    live: Live, published: dict[str, Any]
) -> None:
    client = live.client()
    stepsize.set_default_client(client)
    sched = client.schedule("tmpl/warm", total_steps=400)
    data = pickle.dumps(sched)
    curves.forget_all()
    again = pickle.loads(data)
    assert again.total_steps == 400 and again.digest == sched.digest
    assert again.template_digest == sched.template_digest
    assert np.array_equal(again.values(0, 401), sched.values(0, 401))


def test_a_torch_state_dict_restores_the_binding(
    live: Live, published: dict[str, Any], tmp_path: Any
) -> None:
    client = live.client()
    stepsize.set_default_client(client)
    sched = client.schedule("tmpl/warm", total_steps=400)

    def scheduler() -> Any:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        return opt, sched.torch_scheduler(opt)

    opt, lr = scheduler()
    for _ in range(25):
        opt.step()
        lr.step()
    buffer = io.BytesIO()
    torch.save({"scheduler": lr.state_dict(), "optimizer": opt.state_dict()}, buffer)
    curves.forget_all()  # and a fresh disk cache: the restore must ask the server
    restored_client = live.client(cache_dir=tmp_path / "other")
    stepsize.set_default_client(restored_client)
    opt2, lr2 = scheduler()
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # as HF's Trainer loads scheduler.pt
    opt2.load_state_dict(state["optimizer"])
    lr2.load_state_dict(state["scheduler"])
    got = []
    want = []
    for _ in range(30):
        got.append(opt2.param_groups[0]["lr"])
        want.append(opt.param_groups[0]["lr"])
        opt.step()
        lr.step()
        opt2.step()
        lr2.step()
    assert got == want
    assert got[0] == pytest.approx(sched(25))
