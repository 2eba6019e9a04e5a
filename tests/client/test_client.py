"""Client and Schedule against the fake registry: pinning, caching, prefetch, outages."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import stepsize
from stepsize import curves

from .fakes import COSINE, OPEN, PIECEWISE, WARMUP, expected

STEPS = np.arange(0, 1500)


def test_tag_is_resolved_once_at_construction(client, fake):
    sched = client.schedule("team/cosine:prod")
    assert sched.ref == "team/cosine@1"
    assert sched.requested == "team/cosine:prod"
    assert sched.version == 1
    fake.add("team/cosine", PIECEWISE, tags={"prod": 2})
    assert sched(500) == expected(COSINE, [500])[0]
    assert client.schedule("team/cosine:prod").ref == "team/cosine@2"
    assert client.schedule("team/cosine").ref == "team/cosine@2"
    assert client.schedule("team/cosine@1").digest == sched.digest


@pytest.mark.parametrize(
    "ref,definition",
    [("team/cosine", COSINE), ("team/warmup", WARMUP), ("team/piecewise", PIECEWISE)],
)
def test_values_equal_the_registry(client, ref, definition):
    sched = client.schedule(ref)
    want = expected(definition, STEPS)
    assert [sched(int(s)) for s in STEPS] == want.tolist()
    np.testing.assert_array_equal(sched.values(0, 1500), want)
    np.testing.assert_array_equal(sched.values(3, 1500, 7), want[3::7])
    assert isinstance(sched(5), float)


def test_finite_horizon_is_fetched_up_front(client, fake):
    sched = client.schedule("team/cosine")
    assert sched.horizon == 1000
    n = len(fake.lr_requests())
    assert n == 1
    for step in range(0, 200_000, 7):
        sched(step)
    assert sched(10**12) == expected(COSINE, [1000])[0]  # constant past the horizon
    assert len(fake.lr_requests()) == n
    assert sched.waits == 0
    np.testing.assert_array_equal(sched.values(), expected(COSINE, np.arange(1001)))


def test_total_steps_fetches_the_whole_run_up_front(make_client, fake):
    client = make_client(chunk_steps=1000)
    sched = client.schedule("team/open", total_steps=4500)
    assert sched.horizon is None
    assert len(fake.lr_requests()) == 1  # chunks 0..4 in one request
    assert [sched(s) for s in range(4501)] == expected(OPEN, np.arange(4501)).tolist()
    assert len(fake.lr_requests()) == 1
    assert sched.waits == 0
    # the run goes on past total_steps: more chunks arrive, values stay right
    assert sched(7321) == expected(OPEN, [7321])[0]


def test_open_curve_prefetches_the_next_chunk_before_it_is_needed(make_client, fake):
    client = make_client(chunk_steps=1000)
    sched = client.schedule("team/open")
    assert len(fake.lr_requests()) == 1
    got = []
    for step in range(4000):
        got.append(sched(step))
        time.sleep(0.0001)  # a (very fast) training step
    assert got == expected(OPEN, np.arange(4000)).tolist()
    assert sched.waits == 0, "a step waited on the network"
    assert 4 <= len(fake.lr_requests()) <= 5


def test_missing_chunk_raises_instead_of_guessing(make_client, fake):
    client = make_client(chunk_steps=1000)
    sched = client.schedule("team/open")
    fake.down = True
    with pytest.raises(stepsize.ScheduleUnavailable, match="team/open@1"):
        sched(2500)
    assert sched(999) == expected(OPEN, [999])[0]  # what is loaded stays usable


def test_in_flight_prefetch_is_waited_for_a_bounded_time(make_client, fake):
    retry = stepsize.Retry(attempts=1, timeout=0.3, backoff=0.0, max_backoff=0.0)
    client = make_client(chunk_steps=1000, retry=retry)
    sched = client.schedule("team/open")
    fake.delay = threading.Event()
    sched(600)  # enters the margin: starts the prefetch of chunk 1, which hangs
    t0 = time.monotonic()
    with pytest.raises(stepsize.ScheduleUnavailable, match="did not finish"):
        sched(1000)
    assert time.monotonic() - t0 < 2
    fake.delay.set()
    fake.delay = None
    assert sched(1000) == expected(OPEN, [1000])[0]


def test_retries_with_backoff_then_succeed(client, fake):
    fake.fail_statuses = [503, 502]
    sched = client.schedule("team/cosine")
    assert sched(10) == expected(COSINE, [10])[0]
    assert len(fake.log) == 5  # 3 attempts for the summary, version, values


def test_construction_fails_clearly_when_down_and_not_cached(client, fake):
    fake.down = True
    t0 = time.monotonic()
    with pytest.raises(stepsize.ScheduleUnavailable) as info:
        client.schedule("team/cosine:prod")
    assert time.monotonic() - t0 < 2
    message = str(info.value)
    assert "team/cosine:prod" in message and "http://registry.test" in message
    assert "cache" in message
    assert len(fake.log) == 3  # every attempt was made


def test_persistent_5xx_is_unreachable(client, fake):
    fake.fail_statuses = [503] * 3
    with pytest.raises(stepsize.ScheduleUnavailable, match="503"):
        client.schedule("team/cosine")


def test_server_down_with_values_cached_keeps_going(make_client, fake, caplog):
    make_client().schedule("team/cosine:prod")
    curves.forget_all()
    fake.down = True
    with caplog.at_level(logging.WARNING, logger="stepsize"):
        sched = make_client().schedule("team/cosine:prod")
    assert sched.ref == "team/cosine@1"
    assert "cached resolution" in caplog.text
    np.testing.assert_array_equal(sched.values(0, 1001), expected(COSINE, np.arange(1001)))


def test_offline_uses_only_the_cache(make_client, fake, monkeypatch):
    # no run: its registration, in the background, would reach the log after clear()
    make_client().schedule("team/warmup", register_run=False)
    curves.forget_all()
    fake.log.clear()
    monkeypatch.setenv("STEPSIZE_OFFLINE", "1")
    client = make_client()
    assert client.offline
    sched = client.schedule("team/warmup")
    assert sched(150) == expected(WARMUP, [150])[0]
    assert fake.log == []
    with pytest.raises(stepsize.ScheduleUnavailable, match="STEPSIZE_OFFLINE=1"):
        client.schedule("team/piecewise")
    assert fake.log == []


def test_corrupt_cache_file_is_detected_and_refetched(make_client, fake, tmp_path):
    make_client().schedule("team/cosine")
    files = sorted((tmp_path / "cache" / "curves").rglob("*.npy"))
    assert len(files) == 1
    data = bytearray(files[0].read_bytes())
    data[-8:] = np.float64(0.5).tobytes()  # a plausible but wrong value
    files[0].write_bytes(bytes(data))
    curves.forget_all()
    fake.log.clear()
    client = make_client()
    sched = client.schedule("team/cosine@1")
    assert client.cache.corrupt == 1
    assert len(fake.lr_requests()) == 1
    np.testing.assert_array_equal(sched.values(0, 1001), expected(COSINE, np.arange(1001)))
    assert client.cache.load_chunk((sched.digest, None), client.chunk_steps, 0) is not None


def test_corrupt_cache_offline_is_an_error_not_a_value(make_client, tmp_path):
    make_client().schedule("team/cosine")
    for f in (tmp_path / "cache" / "curves").rglob("*.npy"):
        f.write_bytes(f.read_bytes()[:100])  # truncated
    curves.forget_all()
    with pytest.raises(stepsize.ScheduleUnavailable):
        make_client(offline=True).schedule("team/cosine@1")


def test_steps_per_epoch_is_sent_and_keys_the_cache(client, fake):
    per_epoch = {
        "type": "epochs",
        "schedule": {"type": "piecewise", "boundaries": [2], "values": [1.0, 0.1]},
    }
    fake.add("team/epochs", per_epoch)
    a = client.schedule("team/epochs", total_steps=100, steps_per_epoch=10)
    b = client.schedule("team/epochs", total_steps=100, steps_per_epoch=20)
    assert a(19) == 1.0 and a(20) == 0.1
    assert b(20) == 1.0 and b(40) == 0.1
    assert {r.url.params.get("steps_per_epoch") for r in fake.lr_requests()} == {"10", "20"}


def test_errors_from_the_server(client, fake):
    with pytest.raises(stepsize.NotFound):
        client.schedule("team/missing")
    with pytest.raises(stepsize.NotFound, match="no tag 'staging'"):
        client.schedule("team/cosine:staging")
    with pytest.raises(stepsize.NotFound):
        client.schedule("team/cosine@9")
    with pytest.raises(ValueError, match="ref"):
        client.schedule("Team/Cosine")
    with pytest.raises(ValueError, match="total_steps"):
        client.schedule("team/cosine", total_steps=-1)


def test_publish_dict_then_same_digest(client):
    first = client.publish("team/new", {"type": "constant", "value": 0.5}, description="d")
    assert (first.version, first.created, first.ref) == (1, True, "team/new@1")
    again = client.publish("team/new", {"value": 0.5, "type": "constant"})
    assert (again.version, again.created, again.digest) == (1, False, first.digest)
    assert client.schedule("team/new")(10) == 0.5


def test_publish_errors(make_client):
    with pytest.raises(stepsize.AuthError) as info:
        make_client(token=None).publish("team/new", {"type": "constant", "value": 0.5})
    assert info.value.status == 401
    with pytest.raises(stepsize.InvalidRequest) as info:
        make_client().publish("team/new", {"type": "cosine", "start": 0.1})
    assert info.value.status == 422 and info.value.errors
    with pytest.raises(TypeError, match="dict"):
        make_client().publish("team/new", 0.1)
    with pytest.raises(ValueError, match="without a version"):
        make_client().publish("team/new@2", {"type": "constant", "value": 0.5})


def test_tag_uses_if_match(client, fake):
    client.publish("team/cosine", PIECEWISE)
    assert client.tag("team/cosine", "prod", 2)["version"] == 2
    with pytest.raises(stepsize.Conflict):
        client.tag("team/cosine", "prod", 1, expected=1)
    assert client.info("team/cosine")["tags"] == {"prod": 2}
    assert client.version("team/cosine:prod")["version"] == 2
    assert client.lr("team/cosine@1", 500) == expected(COSINE, [500])[0]
    np.testing.assert_array_equal(
        client.values("team/cosine@1", 0, 10), expected(COSINE, np.arange(10))
    )
    assert [s["name"] for s in client.list(namespace="team")][:2] == ["cosine", "open"]


def test_schedule_pickles_to_its_identity(client):
    sched = client.schedule("team/warmup")
    blob = pickle.dumps(sched)
    assert len(blob) < 400 and b"token" not in blob
    again = pickle.loads(blob)
    assert again.ref == sched.ref and again(150) == sched(150)
    with pytest.raises(TypeError):
        pickle.dumps(client)


def test_unpickled_in_a_fresh_process_reads_the_disk_cache(client, tmp_path):
    sched = client.schedule("team/warmup")
    path = tmp_path / "sched.pkl"
    path.write_bytes(pickle.dumps(sched))
    env = {**os.environ, "STEPSIZE_OFFLINE": "1", "STEPSIZE_CACHE_DIR": str(tmp_path / "cache")}
    code = f"import pickle; s = pickle.loads(open({str(path)!r}, 'rb').read()); print(repr(s(150)))"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == sched(150)


def test_survives_fork(client, fake):
    sched = client.schedule("team/open")
    pid = os.fork()
    if pid == 0:  # the child: a data-loader worker
        code = 1
        try:
            ok = sched(10) == expected(OPEN, [10])[0]
            ok = ok and client.lr("team/open@1", 3) == expected(OPEN, [3])[0]
            ok = ok and sched(200_000) == expected(OPEN, [200_000])[0]  # a fetch in the child
            code = 0 if ok else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_steps_are_validated(client):
    sched = client.schedule("team/cosine")
    for bad in (-1, 2**53 + 1, 1.5, float("nan"), "3", True):
        with pytest.raises(ValueError, match="step"):
            sched(bad)
    assert sched(3.0) == sched(3)
    assert sched(2**53) == sched(1000)


def test_memory_only_client(make_client, tmp_path):
    sched = make_client(cache_dir=False).schedule("team/cosine")
    assert sched(3) == expected(COSINE, [3])[0]
    assert not (tmp_path / "cache").exists()


def test_concurrent_processes_share_the_disk_cache(tmp_path):
    """Several processes writing and reading one chunk never see a partial file."""
    script = Path(__file__).with_name("_cache_writer.py")
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path / "shared"), str(i)])
        for i in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    assert not list((tmp_path / "shared").rglob(".tmp-*"))


def values_gone_and_server_stalled(make_client, fake) -> tuple[stepsize.Client, stepsize.Retry]:
    """team/open's resolution and version facts on disk but not its values; a client
    whose requests all time out after 0.2 s (2 attempts, no backoff)."""
    make_client().schedule("team/open")
    for f in (Path(make_client().cache.root) / "curves").rglob("*.npy"):
        f.unlink()
    curves.forget_all()
    retry = stepsize.Retry(attempts=2, timeout=0.2, backoff=0.0, max_backoff=0.0)
    client = make_client(retry=retry)
    fake.log.clear()
    fake.stall_s = 0.2
    return client, retry


def test_a_failed_chunk_fetch_is_run_once_so_construction_waits_one_bound(make_client, fake):
    """The documented bound: construction blocks about `wait_timeout`, not twice that."""
    client, retry = values_gone_and_server_stalled(make_client, fake)
    t0 = time.monotonic()
    with pytest.raises(stepsize.ScheduleUnavailable, match="cannot be reached"):
        client.schedule("team/open@1")
    elapsed = time.monotonic() - t0
    assert len(fake.lr_requests()) == retry.attempts, "the failed fetch was run again"
    assert elapsed < 1.5 * client.wait_timeout, (elapsed, client.wait_timeout)


def test_an_unreachable_server_is_waited_for_once_per_construction(make_client, fake):
    """Resolving found the server unreachable: the values come from the cache only."""
    client, retry = values_gone_and_server_stalled(make_client, fake)
    t0 = time.monotonic()
    with pytest.raises(stepsize.ScheduleUnavailable) as info:
        client.schedule("team/open")
    elapsed = time.monotonic() - t0
    assert len(fake.log) == retry.attempts  # the summary's attempts, no lr request after
    assert elapsed < 1.5 * client.wait_timeout, (elapsed, client.wait_timeout)
    assert "team/open@1" in str(info.value) and "cannot be reached" in str(info.value)
    assert info.value.url == "http://registry.test"


def test_ctrl_c_during_a_fetch_interrupts(make_client, fake):
    client = make_client()
    fake.interrupt = True
    with pytest.raises(KeyboardInterrupt):
        client.schedule("team/cosine")
    fake.interrupt = False  # the interrupted fetch left nothing in flight behind it
    assert client.schedule("team/cosine")(10) == expected(COSINE, [10])[0]


def test_a_waiter_on_an_interrupted_fetch_gets_schedule_unavailable(make_client, fake):
    client = make_client(chunk_steps=1000)
    sched = client.schedule("team/open")
    fake.interrupt = True
    errors: list[BaseException] = []

    def train() -> None:
        try:
            sched(1500)  # chunk 1: claimed by the main thread below, which is interrupted
        except BaseException as exc:
            errors.append(exc)

    curve = sched._curve
    fetch = curve._inflight.claim(1, 2)
    waiter = threading.Thread(target=train)
    waiter.start()
    with pytest.raises(KeyboardInterrupt):
        curve._run(fetch)
    waiter.join(10)
    assert len(errors) == 1 and isinstance(errors[0], stepsize.ScheduleUnavailable)
    assert "interrupted" in str(errors[0]) and "team/open@1" in str(errors[0])
