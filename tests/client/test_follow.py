"""Following amendments (issue 11 items 3 and 4): `client.schedule(ref, follow=True)`.

Real server (`live`, or `own_server` where it is killed), real torch gloo jobs (the
4-process acceptance, a server killed mid-run, too-late amendments) run by
`_follow_ranks.py`; the one-process follower is driven update by update here.
"""

from __future__ import annotations

import itertools
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import numpy as np
import pytest
import stepsize
from stepsize import curves
from stepsize.agreement import Agreement, Amendment
from stepsize.follow import Follower
from stepsize.track import Track

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


Following = Callable[[stepsize.Client, str, int], tuple[stepsize.Schedule, Follower]]


@pytest.fixture
def following() -> Iterator[Following]:
    """`following(client, ref, total_steps)`: a schedule with follow=True and its
    follower (stopped after the test)."""
    followers: list[Follower] = []

    def start(client: stepsize.Client, ref: str, total: int) -> tuple[stepsize.Schedule, Follower]:
        sched = client.schedule(ref, total_steps=total, follow=True)
        follower = Follower.of(sched.track)
        assert follower is not None
        followers.append(follower)
        return sched, follower

    yield start
    for follower in followers:
        follower.close()


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


def test_one_process_switches_at_exactly_from_step_and_follows_a_chain(
    live, fast_follow, following
):
    name = new_schedule(live)
    client = live.client()
    sched, follower = following(client, f"{name}@1", 600)
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


def test_an_unrelated_tag_move_or_version_is_not_adopted(live, fast_follow, following):
    name = new_schedule(live)
    client = live.client()
    client.tag(name, "prod", 1)
    sched, follower = following(client, f"{name}:prod", 300)
    unrelated = client.publish(name, LATER)  # v2: not an amendment of v1
    client.tag(name, "prod", unrelated.version)
    polls = follower.polls
    wait_until(lambda: follower.polls >= polls + 3, "three more polls")
    lrs: list[float] = []
    train(sched, 0, 300, lrs)
    assert sched.ref == f"{name}@1" and follower.adopted == [] and follower.prepared is None
    assert lrs == live.registry_values(f"{name}@1", 300)


def test_one_process_refuses_an_amendment_whose_from_step_it_passed(
    live, fast_follow, caplog, following
):
    name = new_schedule(live)
    client = live.client()
    sched, follower = following(client, f"{name}@1", 300)
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


def test_a_server_outage_is_counted_and_the_job_keeps_its_curve(
    own_server, fast_follow, caplog, following
):
    name = new_schedule(own_server)
    sched, follower = following(own_server.client(), f"{name}@1", 200)
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


# -- torch.distributed: N gloo ranks ----------------------------------------------------


class Job:
    """A `_follow_ranks.py` job in the background; `gate` waits until rank 0 is at GATE."""

    def __init__(self, live: Live, tmp_path: Path, nproc: int, ref: str, **kw: Any) -> None:
        self.out = tmp_path / kw.get("name", "job")
        self.out.mkdir()
        self.nproc = nproc
        env = live.env(
            STEPSIZE_CACHE_DIR=str(tmp_path / "cache"),
            STEPSIZE_FOLLOW_POLL_S="0.05",
            STEPSIZE_FOLLOW_SYNC_STEPS=str(kw.get("sync_steps", 10)),
            STEPSIZE_HEARTBEAT_S="0.2",
            STEPSIZE_REGISTER_RUNS="1" if kw.get("runs", True) else "0",
        )
        args = [str(nproc), ref, str(kw.get("total", 600)), str(kw.get("gate", 100))]
        args += [kw.get("shim", "lambda"), str(self.out), str(kw.get("start", 0))]
        args += [str(kw.get("ckpt", "-")), "1" if kw.get("follow", True) else "0"]
        self.process = subprocess.Popen(
            [sys.executable, str(JOB), *args],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def at_gate(self) -> None:
        deadline = time.monotonic() + 240
        while not (self.out / "reached").exists():
            if self.process.poll() is not None:
                raise AssertionError(f"the job ended early:\n{self.process.stdout.read()[-4000:]}")
            assert time.monotonic() < deadline, "the job did not reach its gate"
            time.sleep(0.05)

    def go(self, prepared: bool) -> None:
        (self.out / "go").write_text("prepared" if prepared else "go")

    def records(self) -> list[dict[str, Any]]:
        try:
            output, _ = self.process.communicate(timeout=300)
        finally:
            self.process.kill()
        assert self.process.returncode == 0, output[-4000:]
        return [json.loads((self.out / f"rank{r}.json").read_text()) for r in range(self.nproc)]

    def log(self, rank: int) -> str:
        return (self.out / f"rank{rank}.log").read_text()


def same_on_every_rank(records: list[dict[str, Any]]) -> np.ndarray:
    """The lrs of rank 0, after checking every rank used the very same at every update."""
    lrs = [np.asarray(record["lrs"]) for record in records]
    for rank, mine in enumerate(lrs[1:], start=1):
        assert mine.tobytes() == lrs[0].tobytes(), f"rank {rank} diverged from rank 0"
    return lrs[0]


def assert_on_curve(lrs: np.ndarray, registry: list[float]) -> None:
    """LambdaLR's lr is `initial_lr * factor`: the registry's value, or one ulp off where
    no float64 factor gives it exactly."""
    want = np.asarray(registry)
    assert (np.abs(lrs - want) <= np.spacing(want)).all()


def live_run_past(live: Live, name: str, progress: int) -> str:
    """The id of the run of `name` once the server has its heartbeat past `progress`."""
    found: list[str] = []

    def reported() -> bool:
        runs = httpx.get(f"{live.url}/v1/runs", params={"schedule": name}).json()["items"]
        found[:] = [r["id"] for r in runs if r["live"] and (r["progress"] or 0) >= progress]
        return bool(found)

    wait_until(reported, f"a heartbeat of {name} past update {progress}")
    return found[0]


def test_four_gloo_ranks_switch_at_exactly_from_step(live, tmp_path):
    """The acceptance: a 4-process job at update ~100 receives an amendment from 400."""
    name = new_schedule(live)
    job = Job(live, tmp_path, 4, f"{name}@1", total=600, gate=100, shim="scheduler")
    job.at_gate()
    run_id = live_run_past(live, name, 99)
    with pytest.raises(stepsize.Conflict) as refused:  # the live follower passed step 50
        live.client().amend(name, 1, 50, COOLDOWN)
    assert refused.value.code == "amendment_passed" and run_id in str(refused.value)
    published = live.client().amend(name, 1, 400, COOLDOWN, description="cool down at 400")
    job.go(prepared=True)
    records = job.records()
    lrs = same_on_every_rank(records)
    old = np.asarray(live.registry_values(f"{name}@1", 600))
    new = np.asarray(live.registry_values(published.ref, 600))
    assert lrs[:400].tobytes() == old[:400].tobytes()  # bit-identical before S
    assert (lrs[400:500] == evaluated(live, COOLDOWN, 100)).all()
    assert lrs.tobytes() == new.tobytes()
    switched = {tuple(record["adopted"][0]) for record in records}
    assert len(switched) == 1 and all(len(r["adopted"]) == 1 for r in records)
    version, after = switched.pop()
    assert version == 2 and 100 <= after < 400 and (after + 1) % 10 == 0
    assert all(record["ref"] == published.ref and not record["refused"] for record in records)
    assert "adopted" in job.log(3) and f"{name}@2" in job.log(3)
    # the run record: the amendment adopted, nothing mismatched
    run = httpx.get(f"{live.url}/v1/runs/{records[0]['run_id']}").json()
    assert run["world_size"] == 4 and run["follow"] is True
    assert run["id"] == run_id and run["version"] == 1 and run["current_version"] == 2
    assert run["mismatches"] == 0 and run["observed"] >= 599
    adopted = [e for e in run["events"] if e["kind"] == "amendment_adopted"]
    assert len(adopted) == 1 and adopted[0]["step"] == 400
    assert adopted[0]["detail"]["version"] == 2 and adopted[0]["detail"]["after_update"] == after


def test_server_killed_while_the_ranks_follow_changes_nothing(own_server, tmp_path):
    name = new_schedule(own_server)
    job = Job(own_server, tmp_path, 2, f"{name}@1", total=300, gate=100, shim="lambda")
    job.at_gate()
    expected = own_server.registry_values(f"{name}@1", 300)
    own_server.server.kill()
    job.go(prepared=False)
    records = job.records()
    lrs = same_on_every_rank(records)
    assert_on_curve(lrs, expected)  # the job finished on its curve
    assert records[0]["poll_failures"] >= 1
    assert all(record["ref"] == f"{name}@1" and not record["adopted"] for record in records)


def test_an_amendment_too_close_to_its_from_step_is_adopted_by_no_rank(live, tmp_path):
    name = new_schedule(live)
    job = Job(live, tmp_path, 2, f"{name}@1", total=300, gate=100)
    job.at_gate()
    # the first sync point after the gate is after update 109; the next (119) is past S
    live.client().amend(name, 1, 115, COOLDOWN)
    job.go(prepared=True)
    records = job.records()
    lrs = same_on_every_rank(records)
    assert_on_curve(lrs, live.registry_values(f"{name}@1", 300))
    for rank, record in enumerate(records):
        assert record["ref"] == f"{name}@1" and not record["adopted"]
        assert [version for version, _ in record["refused"]] == [2]
        assert "no sync point is left" in job.log(rank)
    run = httpx.get(f"{live.url}/v1/runs/{records[0]['run_id']}").json()
    assert run["current_version"] == 1 and run["mismatches"] == 0
    (event,) = [e for e in run["events"] if e["kind"] == "amendment_refused"]
    assert event["step"] == 109 and event["detail"]["version"] == 2
    assert "no sync point is left" in event["detail"]["reason"]


def test_an_amendment_whose_from_step_the_job_passed_is_adopted_by_no_rank(live, tmp_path):
    name = new_schedule(live)
    job = Job(live, tmp_path, 2, f"{name}@1", total=300, gate=100, runs=False)
    job.at_gate()
    live.client().amend(name, 1, 60, COOLDOWN)  # no run registered: the server accepts it
    job.go(prepared=True)
    records = job.records()
    lrs = same_on_every_rank(records)
    assert_on_curve(lrs, live.registry_values(f"{name}@1", 300))
    for rank, record in enumerate(records):
        assert record["ref"] == f"{name}@1" and not record["adopted"]
        assert "past its from_step 60" in job.log(rank)


def test_a_resumed_job_keeps_its_checkpoint_version_or_moves_to_the_newest_amendment(
    live, tmp_path
):
    """Item 4: a 2-rank job checkpointed at update 150 on v1; v2 amends v1 from 100 while
    it is down. Resumed without follow (pinning the schedule's latest, v2), it keeps
    v1; resumed with follow=True it moves to v2, every rank after the same update, and
    logs where the curves differ."""
    name = new_schedule(live)
    ckpt = tmp_path / "ckpt.pt"
    common: dict[str, Any] = {"total": 300, "shim": "scheduler", "ckpt": ckpt}
    first = Job(live, tmp_path, 2, f"{name}@1", name="first", gate=-1, **{**common, "total": 150})
    first_lrs = same_on_every_rank(first.records())
    assert ckpt.exists()
    live.client().amend(name, 1, 100, COOLDOWN)  # v2, while the job is down
    old = np.asarray(live.registry_values(f"{name}@1", 300))
    new = np.asarray(live.registry_values(f"{name}@2", 300))
    assert first_lrs.tobytes() == old[:150].tobytes()

    kept = Job(live, tmp_path, 2, name, name="kept", gate=-1, start=150, follow=False, **common)
    kept_lrs = same_on_every_rank(kept.records())
    assert kept_lrs.tobytes() == old[150:].tobytes()  # the checkpoint's version, v1

    moved = Job(live, tmp_path, 2, f"{name}@1", name="moved", gate=150, start=150, **common)
    moved.at_gate()
    moved.go(prepared=True)
    records = moved.records()
    lrs = same_on_every_rank(records)
    ((version, after),) = {tuple(record["adopted"][0]) for record in records}
    assert version == 2 and (after + 1) % 10 == 0 and after >= 150
    switched = after + 1 - 150  # the index of the first update on v2
    assert lrs[:switched].tobytes() == old[150 : after + 1].tobytes()
    assert lrs[switched:].tobytes() == new[after + 1 :].tobytes()
    assert all(record["ref"] == f"{name}@2" for record in records)
    run = httpx.get(f"{live.url}/v1/runs/{records[0]['run_id']}").json()
    assert run["current_version"] == 2 and run["mismatches"] == 0
    (resume,) = [e for e in run["events"] if e["kind"] == "resume"]
    assert resume["step"] == 150 and "first differ at step 100" in resume["detail"]["detail"]
    for rank in range(2):
        text = moved.log(rank)
        assert "resumed at update 150" in text
        assert "they first differ at step 100, before the resume step 150" in text
        lrs_at_resume = f"lr(150) = {float(old[150])!r} on {name}@1, {float(new[150])!r} on"
        assert lrs_at_resume + f" {name}@2" in text


def test_one_process_resumed_past_from_step_moves_to_the_amendment(
    live, fast_follow, caplog, following
):
    """A process whose first update is 150 (resumed) adopts an amendment from 100,
    published while it was down, and logs where the curves differ."""
    name = new_schedule(live)
    client = live.client()
    client.amend(name, 1, 100, COOLDOWN)  # v2
    sched, follower = following(client, f"{name}@1", 300)
    wait_until(lambda: follower.prepared is not None, "the follower to prepare v2")
    lrs: list[float] = []
    with caplog.at_level(logging.INFO, logger="stepsize"):
        train(sched, 150, 300, lrs)
    assert follower.resumed_at == 150 and follower.adopted == [(2, 150)]
    old, new = (live.registry_values(f"{name}@{v}", 300) for v in (1, 2))
    assert lrs == [old[150], *new[151:]]
    assert "resumed at update 150" in caplog.text
    assert "they first differ at step 100, before the resume step 150" in caplog.text


def test_a_fresh_job_refuses_what_it_passed_but_a_resumed_one_does_not(
    live, fast_follow, following
):
    name = new_schedule(live)
    client = live.client()
    sched, follower = following(client, f"{name}@1", 300)
    lrs: list[float] = []
    train(sched, 0, 160, lrs)  # started at update 0: not a resume
    client.amend(name, 1, 100, COOLDOWN)
    wait_until(lambda: follower.prepared is not None, "the follower to prepare v2")
    train(sched, 160, 300, lrs)
    assert follower.resumed_at is None and follower.adopted == []
    assert [version for version, _ in follower.refused] == [2]


# -- the every-rank-or-none protocol, two ranks of one job in this process -------------


class RankOf:
    """What `Agreement` reads of torch.distributed: this rank, the job's size and its
    store (a real TCPStore: rank 0 hosts it, rank 1 connects to it, as in a job)."""

    def __init__(self, store: Any, rank: int, world: int) -> None:
        self.rank, self.world = rank, world
        self.distributed_c10d = SimpleNamespace(_get_default_store=lambda: store)

    def get_rank(self) -> int:
        return self.rank

    def get_world_size(self) -> int:
        return self.world


@pytest.fixture
def two_ranks(live: Live) -> Callable[..., tuple[Agreement, Agreement, Amendment]]:
    """`two_ranks(from_step, share=, rank1_wait=)`: the Agreements of rank 0 and rank 1
    following v1 of a new schedule, and rank 0's candidate, v2 amending v1 from
    `from_step` (its chunks in the store when `share`). The candidate's curve is not in
    this process's memory cache, so rank 1 can only have it through the store."""
    from torch.distributed import TCPStore

    host = TCPStore("127.0.0.1", 0, 1, True)  # rank 0's, as in a job

    def make(
        from_step: int, *, share: bool = True, rank1_wait: float = 6.0
    ) -> tuple[Agreement, Agreement, Amendment]:
        name = new_schedule(live)
        zero = live.client(cache_dir=False)
        one = live.client(cache_dir=False, retry=stepsize.Retry(attempts=1, timeout=rank1_wait))
        sched = zero.schedule(f"{name}@1", total_steps=300)
        zero.amend(name, 1, from_step, COOLDOWN)
        pinned = stepsize.Ref.parse(f"{name}@2")
        identity = zero.pinning.resolve(pinned, 300)
        curve = zero.pinning.load_curve(identity)
        curves.unregister(curve)
        prefix = f"test/{name}"
        rank0 = Agreement(RankOf(host, 0, 2), prefix, zero.pinning, sched.track, wait_s=30)
        track1 = Track(sched.track.identity, sched.track.curve)
        store1 = TCPStore("127.0.0.1", host.port, 1, False)  # rank 1's connection
        rank1 = Agreement(RankOf(store1, 1, 2), prefix, one.pinning, track1, wait_s=30)
        if share:
            rank0.share(curve)
        return rank0, rank1, Amendment(sched.track.identity, identity, curve, from_step)

    return make


def counter(agreement: Agreement, what: str, number: int = 0) -> int:
    return int(agreement.store.add(f"{agreement.prefix}/{what}/{number}", 0))


def test_agreement_commits_once_every_rank_has_the_values(two_ranks):
    rank0, rank1, candidate = two_ranks(200)
    assert rank0.sync(10, 99, 10, candidate) is None  # prepare
    assert rank1.sync(10, 99, 10, None) is None
    wait_until(lambda: counter(rank0, "ready") == 1, "rank 1's acknowledgement")
    zero, one = rank0.sync(11, 109, 10, None), rank1.sync(11, 109, 10, None)
    assert zero is not None and one is not None and zero.refused is None and one.refused is None
    assert zero.amendment is candidate
    assert one.amendment is not None and one.amendment.identity == candidate.identity
    assert one.amendment.curve is not candidate.curve  # rank 1's own, from the store
    steps = np.arange(301)
    assert (one.amendment.curve.values(steps) == candidate.curve.values(steps)).all()
    assert rank0.sync(12, 119, 10, None) is None and rank1.sync(12, 119, 10, None) is None


def test_agreement_aborts_on_every_rank_when_a_rank_cannot_load_the_values(two_ranks):
    rank0, rank1, candidate = two_ranks(200, share=False, rank1_wait=0.3)
    rank0.sync(10, 99, 10, candidate)
    rank1.sync(10, 99, 10, None)
    wait_until(lambda: counter(rank0, "failed") == 1, "rank 1's failure")
    zero, one = rank0.sync(11, 109, 10, None), rank1.sync(11, 109, 10, None)
    assert zero == one and zero is not None and zero.amendment is None
    assert zero.version == 2 and zero.refused is not None
    assert zero.refused.startswith("rank 1 could not load its values: ScheduleUnavailable")
    assert "rank 0 did not share steps 0.. within 0.3 s" in zero.refused
    assert rank0.announced is None


def test_agreement_aborts_at_the_last_sync_point_before_from_step(two_ranks):
    rank0, rank1, candidate = two_ranks(125, share=False)
    rank0.sync(10, 99, 10, candidate)  # 110 <= 125: prepare
    rank1.sync(10, 99, 10, None)
    assert rank0.sync(11, 109, 10, None) is None  # 120 <= 125: there is one more
    assert rank1.sync(11, 109, 10, None) is None
    zero, one = rank0.sync(12, 119, 10, None), rank1.sync(12, 119, 10, None)
    assert zero == one and zero is not None and zero.amendment is None
    assert zero.refused is not None and zero.refused.startswith(
        "only 0 of the 1 other ranks had its values at the last sync point before step 125"
    )
    rank0.share(candidate.curve)  # let rank 1's preparation end (its answer is ignored)
    wait_until(lambda: counter(rank0, "ready") == 1, "rank 1's late acknowledgement")
    assert rank0.sync(13, 129, 10, None) is None and rank1.sync(13, 129, 10, None) is None


def test_a_rank_that_never_hears_rank_zero_stops_rather_than_guess(two_ranks):
    _, rank1, _ = two_ranks(200)
    rank1.wait_s = 0.2
    with pytest.raises(stepsize.StepsizeError, match="rank 0 did not publish the follower's"):
        rank1.sync(10, 99, 10, None)
