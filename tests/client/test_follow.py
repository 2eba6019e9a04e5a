"""Following amendments (issue 11 items 3 and 4): `client.schedule(ref, follow=True)`.

Real server (`live`, or `own_server` where it is killed), real torch gloo jobs (the
4-process acceptance, a server killed mid-run, too-late amendments) run by
`_follow_ranks.py`; the one-process follower is driven update by update here.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import stepsize
from stepsize.follow import Follower

from .conftest import Live

JOB = Path(__file__).with_name("_follow_ranks.py")
ROOT = Path(__file__).resolve().parents[2]
BASE = {"type": "cosine", "start": 0.1, "end": 0.001, "steps": 1000}
COOLDOWN = {"type": "linear", "start": 0.02, "end": 0.0, "steps": 100}
LATER = {"type": "constant", "value": 0.005}
_names = itertools.count()


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def new_schedule(live: Live, definition: dict[str, Any] = BASE) -> str:
    """A schedule of its own for one test, version 1 published: `ns/name`."""
    name = f"follow/s{next(_names)}-{time.monotonic_ns() % 10**9}"
    live.client().publish(name, definition)
    return name


def evaluated(live: Live, definition: dict[str, Any], stop: int) -> np.ndarray:
    """`definition`'s values at local steps [0, stop), by the server's evaluator."""
    return live.client().evaluate(definition, 0, stop)


@pytest.fixture
def fast_follow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEPSIZE_FOLLOW_POLL_S", "0.05")
    monkeypatch.setenv("STEPSIZE_REGISTER_RUNS", "0")


def follower_of(sched: stepsize.Schedule) -> Follower:
    follower = Follower.of(sched.track)
    assert follower is not None
    return follower


def train(sched: stepsize.Schedule, start: int, stop: int, lrs: list[float]) -> None:
    """Updates [start, stop): each uses lr(k) of what the track follows, then the
    follower's point (what the shims' optimizer hook calls)."""
    for k in range(start, stop):
        lrs.append(sched(k))
        sched.track.after_update(k)


# -- one process ---------------------------------------------------------------------


def test_amend_publishes_a_version_equal_before_from_step(live, fast_follow):
    name = new_schedule(live)
    client = live.client()
    published = client.amend(name, 1, 300, COOLDOWN, description="cool down now")
    assert published.version == 2 and published.created
    assert published.data["amends"] == {"version": 1, "from_step": 300}
    old = np.asarray(live.registry_values(f"{name}@1", 400))
    new = np.asarray(live.registry_values(f"{name}@2", 400))
    assert (new[:300] == old[:300]).all()
    assert (new[300:] == evaluated(live, COOLDOWN, 100)).all()
    with pytest.raises(ValueError, match="amend takes 'namespace/name'"):
        client.amend(f"{name}@1", 1, 300, COOLDOWN)
    with pytest.raises(ValueError, match="from_step"):
        client.amend(name, 1, 0, COOLDOWN)
    with pytest.raises(stepsize.NotFound):
        client.amend(name, 9, 300, COOLDOWN)


def test_one_process_switches_at_exactly_from_step_and_follows_a_chain(live, fast_follow):
    name = new_schedule(live)
    client = live.client()
    sched = client.schedule(f"{name}@1", total_steps=600, follow=True)
    follower = follower_of(sched)
    lrs: list[float] = []
    train(sched, 0, 50, lrs)
    client.amend(name, 1, 120, COOLDOWN)  # v2
    wait_until(lambda: follower.prepared is not None, "the follower to prepare v2")
    train(sched, 50, 150, lrs)
    assert sched.ref == f"{name}@2"
    assert follower.adopted == [(2, 50)]
    client.amend(name, 2, 300, LATER)  # v3, an amendment of the amendment
    wait_until(lambda: follower.prepared is not None, "the follower to prepare v3")
    train(sched, 150, 600, lrs)
    assert sched.ref == f"{name}@3" and follower.adopted == [(2, 50), (3, 150)]
    old = np.asarray(live.registry_values(f"{name}@1", 600))
    got = np.asarray(lrs)
    assert (got[:120] == old[:120]).all()  # bit-identical to the old version before S
    assert (got[120:220] == evaluated(live, COOLDOWN, 100)).all()
    assert (got[300:] == 0.005).all()
    assert (got == np.asarray(live.registry_values(f"{name}@3", 600))).all()
    follower.close()


def test_an_unrelated_tag_move_or_version_is_not_adopted(live, fast_follow):
    name = new_schedule(live)
    client = live.client()
    client.tag(name, "prod", 1)
    sched = client.schedule(f"{name}:prod", total_steps=300, follow=True)
    follower = follower_of(sched)
    unrelated = client.publish(name, LATER)  # v2: not an amendment of v1
    client.tag(name, "prod", unrelated.version)
    polls = follower.polls
    wait_until(lambda: follower.polls >= polls + 3, "three more polls")
    lrs: list[float] = []
    train(sched, 0, 300, lrs)
    assert sched.ref == f"{name}@1" and follower.adopted == [] and follower.prepared is None
    assert lrs == live.registry_values(f"{name}@1", 300)
    follower.close()


def test_one_process_refuses_an_amendment_whose_from_step_it_passed(live, fast_follow, caplog):
    name = new_schedule(live)
    client = live.client()
    sched = client.schedule(f"{name}@1", total_steps=300, follow=True)
    follower = follower_of(sched)
    lrs: list[float] = []
    train(sched, 0, 80, lrs)
    client.amend(name, 1, 40, COOLDOWN)  # the job did update 79 already
    wait_until(lambda: follower.prepared is not None, "the follower to prepare v2")
    with caplog.at_level(logging.WARNING, logger="stepsize"):
        train(sched, 80, 300, lrs)
    assert sched.ref == f"{name}@1" and follower.adopted == []
    assert [version for version, _ in follower.refused] == [2]
    assert "not adopting" in caplog.text and "past its from_step 40" in caplog.text
    assert "had done update 80" in caplog.text  # its first update after the poll
    assert lrs == live.registry_values(f"{name}@1", 300)
    follower.close()


def test_a_server_outage_is_counted_and_the_job_keeps_its_curve(own_server, fast_follow, caplog):
    name = new_schedule(own_server)
    sched = own_server.client().schedule(f"{name}@1", total_steps=200, follow=True)
    follower = follower_of(sched)
    expected = own_server.registry_values(f"{name}@1", 200)
    wait_until(lambda: follower.polls >= 1, "a first poll")
    with caplog.at_level(logging.WARNING, logger="stepsize"):
        own_server.server.kill()
        wait_until(lambda: follower.poll_failures >= 1, "a failed poll")
        lrs: list[float] = []
        train(sched, 0, 200, lrs)
    assert sched.ref == f"{name}@1" and follower.adopted == []
    assert lrs == expected
    assert "asking" in caplog.text and "the job keeps its curve" in caplog.text
    follower.close()
