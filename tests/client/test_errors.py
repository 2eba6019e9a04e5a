"""Every error code the server documents lands on a documented exception of the client.

The server's own table (`stepsize_server.api.errors.ERROR_CODES`) is the list of codes.
Against the real server for the codes a client can provoke; through
`httpx.MockTransport` for every code, with the status the table gives it.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import stepsize
from stepsize import curves, errors
from stepsize_server.api.errors import ERROR_CODES

from tests.support.live_server import free_port

from .conftest import FAST
from .fakes import COSINE, problem

# What each exception is documented for (errors.py's tree), by status.
DOCUMENTED = {
    errors.InvalidRequest: {400, 405, 406, 408, 413, 415, 422, 431},
    errors.AuthError: {401, 403},
    errors.NotFound: {404, 410},
    errors.Conflict: {409, 412},
    errors.ServerError: {500},
}


def answering(status: int, code: str) -> stepsize.Client:
    def handle(request: httpx.Request) -> httpx.Response:
        return problem(status, "some title", f"detail of {code}", code)

    return stepsize.Client(
        "http://registry.test", retry=FAST, transport=httpx.MockTransport(handle)
    )


def test_the_table_names_exactly_the_servers_codes():
    assert set(errors.EXCEPTION_BY_CODE) | errors.RETRIED_CODES == set(ERROR_CODES)
    assert not set(errors.EXCEPTION_BY_CODE) & errors.RETRIED_CODES


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_every_code_lands_on_its_documented_exception(code):
    status = ERROR_CODES[code].status
    client = answering(status, code)
    if code in errors.RETRIED_CODES:
        with pytest.raises(stepsize.Unreachable) as unreachable:
            client.info("team/cosine")
        assert f"answered {status}" in str(unreachable.value)
        assert f"({code}: detail of {code})" in str(unreachable.value)
        assert client.requests == FAST.attempts
        return
    with pytest.raises(stepsize.ServerError) as info:
        client.info("team/cosine")
    exc = info.value
    assert type(exc) is errors.EXCEPTION_BY_CODE[code]
    assert status in DOCUMENTED[type(exc)], (code, status, type(exc))
    assert (exc.status, exc.code, exc.detail) == (status, code, f"detail of {code}")
    assert f"detail of {code}" in str(exc)
    assert client.requests == 1  # not retried


def test_the_code_decides_over_the_status():
    # a 404 whose code says the schedule is archived (as a proxy might rewrite it)
    with pytest.raises(stepsize.Conflict) as info:
        answering(404, "schedule_archived").info("team/cosine")
    assert info.value.status == 404


@pytest.mark.parametrize(
    ("status", "cls"),
    [(404, stepsize.NotFound), (410, stepsize.NotFound), (418, stepsize.ServerError)],
)
def test_an_answer_without_a_code_falls_back_on_its_status(status, cls):
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, text="<html>a proxy's page</html>")

    client = stepsize.Client("http://proxy.test", retry=FAST, transport=httpx.MockTransport(handle))
    with pytest.raises(stepsize.ServerError) as info:
        client.info("team/cosine")
    assert type(info.value) is cls and info.value.code == ""
    assert "a proxy's page" in str(info.value)


# -- the real server -------------------------------------------------------------------


@pytest.fixture(scope="module")
def archived(live):
    """`errors/gone` with version 1 tagged prod, archived."""
    headers = {"Authorization": f"Bearer {live.token}"}
    base = f"{live.url}/v1/schedules/errors/gone"
    httpx.post(f"{base}/versions", json={"definition": COSINE}, headers=headers).raise_for_status()
    httpx.put(f"{base}/tags/prod", json={"version": 1}, headers=headers).raise_for_status()
    httpx.delete(base, headers=headers).raise_for_status()
    return "errors/gone"


def raised(call, *args, **kwargs) -> stepsize.ServerError:
    with pytest.raises(stepsize.ServerError) as info:
        call(*args, **kwargs)
    return info.value


def test_live_not_found_codes(live):
    client = live.client()
    exc = raised(client.info, "errors/missing")
    assert (type(exc), exc.status, exc.code) == (stepsize.NotFound, 404, "schedule_not_found")
    exc = raised(client.version, "team/cosine@99")
    assert (type(exc), exc.code) == (stepsize.NotFound, "version_not_found")
    exc = raised(client.lr, "team/cosine:no-such-tag", 0)
    assert (type(exc), exc.code) == (stepsize.NotFound, "tag_not_found")


def test_live_archived_schedule(live, archived):
    client = live.client()
    exc = raised(client.lr, f"{archived}:prod", 10)
    assert (type(exc), exc.status, exc.code) == (stepsize.NotFound, 410, "archived_unpinned")
    for ref in (f"{archived}:prod", archived):  # the client resolves as the server does
        exc = raised(client.schedule, ref)
        assert (type(exc), exc.status, exc.code) == (stepsize.NotFound, 410, "archived_unpinned")
        assert "archived" in str(exc) and f"{archived}@N" in str(exc)
    assert client.schedule(f"{archived}@1")(10) == client.lr(f"{archived}@1", 10)
    exc = raised(client.publish, archived, COSINE | {"end": 0.002})
    assert (type(exc), exc.status, exc.code) == (stepsize.Conflict, 409, "schedule_archived")


def test_live_auth_codes(live):
    exc = raised(live.client(token=None).publish, "errors/auth", COSINE)
    assert (type(exc), exc.status, exc.code) == (stepsize.AuthError, 401, "unauthorized")
    exc = raised(live.client(token="not-a-token").publish, "errors/auth", COSINE)
    assert (type(exc), exc.status, exc.code) == (stepsize.AuthError, 401, "invalid_token")
    reader = live.server.create_token("read", description="errors test")
    exc = raised(live.client(token=reader).publish, "errors/auth", COSINE)
    assert (type(exc), exc.status, exc.code) == (stepsize.AuthError, 403, "forbidden")


def test_live_invalid_request_codes(live):
    client = live.client()
    exc = raised(client.validate, {"type": "cosine", "start": 0.1})
    assert (type(exc), exc.status, exc.code) == (stepsize.InvalidRequest, 422, "invalid_definition")
    assert exc.errors and all(e["path"].startswith("/body/definition") for e in exc.errors)
    exc = raised(client.values, "team/cosine@1", 0, 20_000_000)
    assert (type(exc), exc.code) == (stepsize.InvalidRequest, "range_too_large")


def test_live_precondition_failed(live):
    client = live.client()
    client.publish("errors/tags", COSINE)
    client.tag("errors/tags", "prod", 1)
    exc = raised(client.tag, "errors/tags", "prod", 1, expected=7)
    assert (type(exc), exc.status, exc.code) == (stepsize.Conflict, 412, "precondition_failed")


def test_unreachable_names_the_reference_and_the_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    client = stepsize.Client(url, retry=FAST, cache_dir=tmp_path / "empty")
    with pytest.raises(stepsize.Unreachable) as info:
        client.info("team/cosine")
    exc = info.value
    assert (exc.ref, exc.url) == ("team/cosine", f"{url}/v1/schedules/team/cosine")
    assert "team/cosine" in str(exc) and f"{url}/v1/schedules/team/cosine" in str(exc)
    with pytest.raises(stepsize.Unreachable) as info:
        client.validate(COSINE)
    assert info.value.url == f"{url}/v1/validate"


def test_schedule_unavailable_names_the_reference_and_the_url(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    client = stepsize.Client(url, retry=FAST, cache_dir=tmp_path / "empty")
    with pytest.raises(stepsize.ScheduleUnavailable) as info:
        client.schedule("team/cosine:prod")
    exc = info.value
    assert (exc.ref, exc.url) == ("team/cosine:prod", url)
    assert "team/cosine:prod" in str(exc) and url in str(exc)


def test_schedule_unavailable_mid_run_names_the_reference_and_the_url(make_client, fake):
    sched = make_client(chunk_steps=1000).schedule("team/open")
    fake.down = True
    with pytest.raises(stepsize.ScheduleUnavailable) as info:
        sched(5500)
    exc = info.value
    assert exc.ref == "team/open@1" and exc.url.startswith("http://registry.test/v1/")
    assert "team/open@1" in str(exc) and "http://registry.test" in str(exc)


def test_cache_error_for_a_corrupt_chunk_no_server_can_replace(make_client, tmp_path):
    make_client().schedule("team/cosine")
    (chunk,) = (tmp_path / "cache" / "curves").rglob("*.npy")
    raw = bytearray(chunk.read_bytes())
    raw[-8:] = np.float64(0.5).tobytes()  # a plausible value, but the checksum is wrong
    chunk.write_bytes(bytes(raw))
    curves.forget_all()
    client = make_client(offline=True)
    with pytest.raises(stepsize.CacheError) as info:
        client.schedule("team/cosine@1")
    exc = info.value
    assert exc.path == str(chunk) and not chunk.exists()  # deleted, so a later run refetches
    assert "checksum mismatch" in str(exc) and "team/cosine@1" in str(exc)
    assert isinstance(exc, stepsize.ScheduleUnavailable)
    assert client.cache.corrupt == 1


def test_cache_error_when_the_server_is_down_and_the_cached_chunk_corrupt(make_client, fake):
    client = make_client()
    client.schedule("team/cosine:prod")
    (chunk,) = Path(client.cache.root, "curves").rglob("*.npy")
    chunk.write_bytes(chunk.read_bytes()[:-8] + np.float64(0.5).tobytes())
    curves.forget_all()
    fake.down = True
    with pytest.raises(stepsize.CacheError) as info:
        make_client().schedule("team/cosine:prod")
    exc = info.value
    assert exc.path == str(chunk) and not chunk.exists()
    assert (exc.ref, exc.url) == ("team/cosine@1", "http://registry.test")
    assert "checksum mismatch" in str(exc) and "cannot be reached" in str(exc)
