"""Throughput and latency of the server over real HTTP (a script that prints figures).

Starts several real deployments side by side, each `stepsize-server serve` (uvicorn) in
its own process, publishes the same schedule to each, then drives a bounded load with wrk
(Debian's package: C, one thread, C keep-alive connections, so that the load generator
costs far less than the server, also on 800 kB answers) for T seconds per case after a
1 s warm-up, the cases taking turns for R rounds so that drift hits them alike.
Deployments:

- sqlite:     SQLite, 1 worker, uvicorn's standard extras (uvloop, httptools);
- postgresql: the same on a throwaway PostgreSQL cluster (tests/support/postgres.py);
- 2 workers:  SQLite, `--workers 2`;
- no extras:  SQLite, 1 worker, asyncio loop and h11 (what plain `uvicorn` gives);
- proxy:      the repository's nginx config (deploy/nginx) in front of `sqlite`.

Cases: GET /healthz (baseline); one step of a pinned version (the step varies); one step
through a tag (resolved against the database on every request); a pinned 100,000-step
.npy (800 kB, the same URL each time, as a fleet of training jobs asks it).

    .venv/bin/python bench/server.py [--seconds 2] [--rounds 3] [--connections 8]

Targets: single-step >= 70% of the baseline; 2 workers >= 1.5x 1 worker; the pinned .npy
through the caching proxy >= 10x straight from a replica.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.live_server import LiveServer
from tests.support.postgres import PostgresCluster
from tests.support.proxy import Proxy

SCHEDULE = {
    "type": "warmup",
    "steps": 2000,
    "schedule": {"type": "cosine", "start": 3e-4, "end": 3e-5, "steps": 98000},
}
LR = "/v1/schedules/bench/llm/lr"
JSON = "application/json"
NPY = "application/x-npy"


@dataclass(frozen=True)
class Case:
    """A request shape: `{i}` in `path` varies per request."""

    name: str
    path: str
    accept: str


BASELINE = Case("baseline /healthz", "/healthz?i={i}", JSON)
PINNED = Case("single-step lr (pinned)", LR + "?version=1&step={i}", JSON)
TAGGED = Case("single-step lr (tag)", LR + "?tag=prod&step={i}", JSON)
NPY_PINNED = Case("100k-step .npy (pinned)", LR + "?version=1&start=0&stop=100000", NPY)

# (deployment, case) pairs measured each round.
PLAN = [
    ("sqlite", BASELINE),
    ("sqlite", PINNED),
    ("sqlite", TAGGED),
    ("sqlite", NPY_PINNED),
    ("postgresql", PINNED),
    ("postgresql", TAGGED),
    ("2 workers", PINNED),
    ("no extras", PINNED),
    ("proxy", NPY_PINNED),
]


LUA = """
local i = {seed}
request = function()
  i = i + 7919
  local path = string.gsub("{path}", "{{i}}", tostring(i % 100000))
  return wrk.format("GET", path, {{["Accept"] = "{accept}"}})
end
"""
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def wrk(port: int, case: Case, seconds: float, connections: int, script: Path) -> dict[str, Any]:
    """One run of wrk (one thread, `connections` keep-alive connections) on `case`:
    requests per second, p50/p99 latency in ms, non-2xx answers and socket errors.
    Raises RuntimeError with wrk's output when it fails."""
    script.write_text(LUA.format(seed=port, path=case.path, accept=case.accept))
    done = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{round(seconds)}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    if done.returncode != 0 or "Requests/sec:" not in done.stdout:
        raise RuntimeError(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    out = done.stdout

    def latency(percent: str) -> float:
        match = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)$", out, re.MULTILINE)
        assert match is not None, out
        return float(match.group(1)) * UNITS[match.group(2)]

    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert total is not None and rps is not None, out
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    errors += sum(int(n) for n in socket.groups()) if socket else 0
    return {
        "requests": int(total.group(1)),
        "rps": float(rps.group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "errors": errors,
    }


def measure(
    port: int, case: Case, seconds: float, connections: int, script: Path
) -> dict[str, Any]:
    """A 1 s warm-up, then the measured run."""
    wrk(port, case, 1, connections, script)
    return wrk(port, case, seconds, connections, script)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one case together: total requests, mean throughput, median latencies."""
    return {
        "requests": sum(r["requests"] for r in runs),
        "rps": float(np.mean([r["rps"] for r in runs])),
        "p50": float(np.median([r["p50"] for r in runs])),
        "p99": float(np.median([r["p99"] for r in runs])),
        "errors": sum(r["errors"] for r in runs),
    }


def _prepare(server: LiveServer, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    published = httpx.post(
        f"{server.url}/v1/schedules/bench/llm/versions",
        json={"definition": SCHEDULE},
        headers=headers,
    )
    published.raise_for_status()
    tagged = httpx.put(
        f"{server.url}/v1/schedules/bench/llm/tags/prod", json={"version": 1}, headers=headers
    )
    tagged.raise_for_status()


@contextmanager
def deployments(directory: Path, access_log: bool) -> Iterator[dict[str, int]]:
    """Every deployment of the plan, started; their ports by name."""
    env = {"STEPSIZE_LOG_LEVEL": "WARNING", "STEPSIZE_ACCESS_LOG": str(access_log).lower()}
    with ExitStack() as stack:
        cluster = stack.enter_context(PostgresCluster())
        servers = {
            "sqlite": LiveServer(directory / "sqlite", env=env),
            "postgresql": LiveServer(
                directory / "pg", env=env, database_url=cluster.create_database("bench")
            ),
            "2 workers": LiveServer(directory / "workers", env=env, serve_args=("--workers", "2")),
            "no extras": LiveServer(
                directory / "plain", env={**env, "STEPSIZE_LOOP": "asyncio", "STEPSIZE_HTTP": "h11"}
            ),
        }
        for server in servers.values():
            stack.enter_context(server)
            _prepare(server, server.admin_token)
        proxy = stack.enter_context(Proxy(directory / "nginx", upstreams=[servers["sqlite"].url]))
        ports = {name: server.port for name, server in servers.items()}
        ports["proxy"] = proxy.port
        yield ports


def round_ratios(
    runs: dict[tuple[str, str], list[dict[str, Any]]],
    top: tuple[str, Case],
    bottom: tuple[str, Case],
) -> list[float]:
    """The ratio within each round (cases of one round ran back to back), sorted."""
    pairs = zip(runs[top[0], top[1].name], runs[bottom[0], bottom[1].name], strict=True)
    return sorted(t["rps"] / b["rps"] for t, b in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=2, help="per case and round")
    parser.add_argument("--rounds", type=int, default=3, help="cases alternate each round")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--no-access-log", action="store_true", help="disable access logs")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/server.py needs wrk: apt-get install wrk (make bench-server does)")

    with (
        tempfile.TemporaryDirectory() as directory,
        deployments(Path(directory), not args.no_access_log) as ports,
    ):
        script = Path(directory) / "request.lua"
        print(
            f"{args.connections} connections, {args.rounds} rounds of {args.seconds:g} s per "
            f"case, access log {'off' if args.no_access_log else 'on'}, deployments {ports}"
        )
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {(d, c.name): [] for d, c in PLAN}
        for _ in range(args.rounds):
            for deployment, case in PLAN:
                runs[deployment, case.name].append(
                    measure(ports[deployment], case, args.seconds, args.connections, script)
                )
    results = {key: summarize(r) for key, r in runs.items()}
    print(
        f"{'deployment':<12}{'case':<26}{'requests':>10}{'req/s':>10}{'p50 ms':>10}"
        f"{'p99 ms':>10}{'errors':>8}"
    )
    for (deployment, case_name), r in results.items():
        print(
            f"{deployment:<12}{case_name:<26}{r['requests']:>10}{r['rps']:>10.0f}{r['p50']:>10.2f}"
            f"{r['p99']:>10.2f}{r['errors']:>8}"
        )
    print("ratios (median of the per-round ratios; min..max):")
    comparisons = [
        ("single-step / baseline (sqlite)", ("sqlite", PINNED), ("sqlite", BASELINE), ">= 0.70"),
        ("postgresql / sqlite, pinned step", ("postgresql", PINNED), ("sqlite", PINNED), ""),
        ("postgresql / sqlite, tag step", ("postgresql", TAGGED), ("sqlite", TAGGED), ""),
        ("2 workers / 1 worker, pinned step", ("2 workers", PINNED), ("sqlite", PINNED), ">= 1.5"),
        ("standard extras / none, pinned step", ("sqlite", PINNED), ("no extras", PINNED), ""),
        (
            "proxy cache / replica, pinned .npy",
            ("proxy", NPY_PINNED),
            ("sqlite", NPY_PINNED),
            ">= 10",
        ),
    ]
    for label, top, bottom, target in comparisons:
        per_round = round_ratios(runs, top, bottom)
        note = f"; target {target}" if target else ""
        print(
            f"  {label:<38}{np.median(per_round):>7.2f}x  ({per_round[0]:.2f}..{per_round[-1]:.2f}"
            f"{note})"
        )


if __name__ == "__main__":
    main()
