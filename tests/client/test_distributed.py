"""torch.distributed for the whole run (issue 8 item 8): 2-rank gloo jobs, real server.

A call of `client.schedule()` on one rank only ends with a clear error within the
construction wait bound (not the process group's 30-minute timeout); an open-ended run
past its first fetched range still has only rank 0 calling the server.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

JOB = Path(__file__).with_name("_dist_ranks.py")
ROOT = Path(__file__).resolve().parents[2]


def run_ranks(tmp_path: Path, env: dict[str, str], ref: str, mode: str) -> list[dict]:
    """Run the 2-rank job; the ranks' records (they write them in tmp_path)."""
    out = subprocess.run(
        [sys.executable, str(JOB), "2", ref, str(tmp_path), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]


def test_schedule_called_on_rank_zero_only_fails_clearly_within_the_wait_bound(live, tmp_path):
    env = live.env(STEPSIZE_CACHE_DIR=str(tmp_path / "cache"))
    t0 = time.monotonic()
    zero, one = run_ranks(tmp_path, env, "team/cosine:prod", "rank0")
    assert time.monotonic() - t0 < 120
    assert zero["error"] == "StepsizeError"
    assert "is collective under torch.distributed" in zero["message"]
    assert "only 1 of 2 ranks called it" in zero["message"]
    assert "distributed=False" in zero["message"]
    # within the construction wait bound (plus polling), never the group's timeout
    assert zero["seconds"] <= zero["wait_timeout"] + 2
    assert zero["requests"] == 0 and one["requests"] == 0  # nothing was asked of the server


def test_open_ended_run_past_its_first_range_has_one_process_calling_the_server(live, tmp_path):
    env = {**live.env(), "STEPSIZE_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("STEPSIZE_OFFLINE", None)
    before = live.request_count()
    zero, one = run_ranks(tmp_path, env, "team/open@1", "open")
    assert "error" not in zero and "error" not in one, (zero, one)
    assert zero["lrs"] == one["lrs"]  # identical at every step
    # 600 steps in chunks of 64: rank 0 fetched the run's chunks as it went; rank 1 never
    # called the server, and the server saw rank 0's requests and no others
    assert zero["requests"] >= 600 // 64
    assert one["requests"] == 0
    assert live.request_count() - before == zero["requests"]
    want = np.asarray(live.registry_values("team/open@1", 600))
    lrs = np.asarray(zero["lrs"])
    assert (np.abs(lrs - want) <= np.spacing(want)).all()
