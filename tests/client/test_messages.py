"""Messages a user can act on (issue 8 item 10), against the real server."""

from __future__ import annotations

import logging

import pytest
import stepsize

from tests.support.live_server import free_port

from .conftest import FAST


def stepsize_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The lines a `%(name)s: %(message)s` handler would print for the client's records."""
    formatter = logging.Formatter("%(name)s: %(message)s")
    return [formatter.format(r) for r in caplog.records if r.name == "stepsize"]


def test_offline_says_it_is_offline(tmp_path):
    client = stepsize.Client(cache_dir=tmp_path / "empty", offline=True)
    with pytest.raises(stepsize.ScheduleUnavailable) as raised:
        client.schedule("team/cosine:prod")
    message = str(raised.value)
    assert "offline" in message and "is up" not in message
    with pytest.raises(stepsize.ScheduleUnavailable, match="offline") as raised:
        client.schedule("team/cosine@1")
    assert "is up" not in str(raised.value)


def test_unreachable_says_to_check_the_server(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    client = stepsize.Client(url, cache_dir=tmp_path / "empty", retry=FAST)
    with pytest.raises(stepsize.ScheduleUnavailable, match="is up") as raised:
        client.schedule("team/cosine:prod")
    assert url in str(raised.value)


def test_open_ended_run_not_cached_warns_at_construction(live, caplog):
    caplog.set_level(logging.WARNING, logger="stepsize")
    client = live.client()
    client.schedule("team/open@1", total_steps=5000)
    assert not stepsize_lines(caplog), "a run with total_steps is fully cached"
    client.schedule("team/cosine:prod")  # a finite horizon: fully cached too
    assert not stepsize_lines(caplog)
    stepsize.curves.forget_all()
    client.schedule("team/open@1")
    (line,) = stepsize_lines(caplog)
    assert "no horizon and no total_steps" in line and "outage" in line
    assert "total_steps" in line


def test_log_lines_do_not_double_the_logger_name(live, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="stepsize")
    client = live.client(cache_dir=tmp_path / "cache")
    client.schedule("team/cosine:prod")
    stepsize.curves.forget_all()
    down = stepsize.Client(
        f"http://127.0.0.1:{free_port()}", cache_dir=tmp_path / "cache", retry=FAST
    )
    down.schedule("team/cosine:prod")  # the cached resolution, with a warning
    stepsize.curves.forget_all()
    client.schedule("team/open@1")  # the open-ended warning
    lines = stepsize_lines(caplog)
    assert len(lines) >= 2
    assert not [line for line in lines if line.startswith("stepsize: stepsize:")], lines
