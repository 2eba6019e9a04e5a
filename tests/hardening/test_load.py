"""bench/load.py's short mode in the test suite: 10 s of the mixed workload (90% pinned
single steps, 9% through a tag, 1% publishes) from several processes against a server of
its own, with no error at all."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ten_seconds_of_mixed_load_without_an_error() -> None:
    command = [sys.executable, str(ROOT / "bench" / "load.py"), "--seconds", "10"]
    done = subprocess.run(
        [*command, "--clients", "3", "--assert-no-errors"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    print(done.stdout)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = re.search(r"(\d+) requests, ([\d,]+) req/s, (\d+) errors", done.stdout)
    assert summary, done.stdout
    requests, errors = int(summary[1]), int(summary[3])
    assert errors == 0 and requests > 100
    for kind in ("pinned", "tag", "publish"):
        assert re.search(rf"^\s+{kind}\s+\d+ requests\s+p50 .* p99\.9 ", done.stdout, re.M), kind
    assert re.search(r"server RSS: \d+ MiB before, peak \d+ MiB", done.stdout)
