"""A bounded mixed workload against one real server (a script that prints figures).

Several client processes (multiprocessing, one httpx keep-alive client each, closed loop:
one request in flight per process) send for `--seconds` seconds:

- 90%: one step of a pinned version (`?step=N&version=V`, N and V varying);
- 9%:  one step through a tag (`?step=N&tag=prod`, resolved against the database);
- 1%:  a publish (a new version of one schedule per process).

It prints the throughput, p50/p99/p99.9 latency (overall and per kind), the errors (any
answer other than 200/201, any transport error) and the server's peak RSS (VmHWM, reset
when the load starts). It starts its own server (SQLite in a temporary directory) unless
`--url` names one (then no RSS: the process is not ours).

    .venv/bin/python bench/load.py [--seconds 60] [--clients 4] [--assert-no-errors]

`--assert-no-errors` exits with status 1 when any request failed (`make test` runs
`--seconds 10 --assert-no-errors` through tests/hardening/test_load.py).

`--heartbeats` measures instead what runs cost the server (issue 11): it registers
`--runs` runs (1,000), then paces heartbeats as if each run beat every `--interval`
seconds (10: 100 beats/s, each with `--points` points and its progress) for `--seconds`
(default 30) from the client processes, then the same request rate of pinned, cached
`GET .../lr?step=N&version=1` as the baseline. It prints, per phase, the server
process's CPU (user + sys from /proc, % of one core), p50/p99 latency and errors, and the
ratio of the two CPU figures. The server is its own, on a temporary SQLite file, or on
the (empty or reusable) PostgreSQL database `--postgres URL`.

    .venv/bin/python bench/load.py --heartbeats [--seconds 30] [--runs 1000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.hardening.procfs import peak_rss_mib, reset_peak, rss_mib
from tests.support.live_server import LiveServer

NAMESPACE = "load"
PINNED = "llm"
VERSIONS = 3
STEPS = 100_000
KINDS = ("pinned", "tag", "publish")
# The mix, as cumulative thresholds of one uniform draw.
MIX = ((0.90, "pinned"), (0.99, "tag"), (1.0, "publish"))


def schedule(version: int) -> dict:
    """The definition of version `version` of the pinned schedule."""
    return {
        "type": "warmup",
        "steps": 2000,
        "schedule": {"type": "cosine", "start": 3e-4 * version, "end": 3e-5, "steps": STEPS},
    }


@dataclass
class Tally:
    """One client process's latencies (seconds) per kind, and its errors."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: list[str] = field(default_factory=list)
    unanswered: int = 0  # transport errors (counted in errors too): requests without latency


def kind_of(draw: float) -> str:
    return next(kind for threshold, kind in MIX if draw < threshold)


def client_process(url: str, token: str, worker: int, seconds: float, start_at: float) -> Tally:
    """Run the mix until `start_at + seconds` (time.time(), shared by all processes)."""
    rng = random.Random(worker)
    tally = Tally()
    lr = f"/v1/schedules/{NAMESPACE}/{PINNED}/lr"
    publish = f"/v1/schedules/{NAMESPACE}/writer-{worker}/versions"
    auth = {"Authorization": f"Bearer {token}"}
    published = 0
    while time.time() < start_at:
        time.sleep(0.001)
    end = start_at + seconds
    with httpx.Client(base_url=url, timeout=30) as client:
        while time.time() < end:
            kind = kind_of(rng.random())
            began = time.perf_counter()
            try:
                if kind == "pinned":
                    params = {"step": rng.randrange(STEPS), "version": rng.randint(1, VERSIONS)}
                    answer = client.get(lr, params=params)
                elif kind == "tag":
                    answer = client.get(lr, params={"step": rng.randrange(STEPS), "tag": "prod"})
                else:
                    published += 1
                    value = round(1e-3 + worker * 1e-6 + published * 1e-9, 12)
                    answer = client.post(
                        publish,
                        json={"definition": {"type": "constant", "value": value}},
                        headers=auth,
                    )
            except httpx.TransportError as exc:
                tally.errors.append(f"{kind}: {exc!r}")
                tally.unanswered += 1
                continue
            tally.latencies[kind].append(time.perf_counter() - began)
            if answer.status_code not in (200, 201):
                tally.errors.append(f"{kind}: {answer.status_code} {answer.text[:200]}")
    return tally


def prepare(url: str, token: str) -> None:
    """The pinned schedule's versions and its `prod` tag (idempotent)."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=auth, timeout=60) as client:
        ref = f"/v1/schedules/{NAMESPACE}/{PINNED}"
        for version in range(1, VERSIONS + 1):
            answer = client.post(f"{ref}/versions", json={"definition": schedule(version)})
            answer.raise_for_status()
        tags = client.get(ref).json()["tags"]
        headers = {"If-Match": str(tags["prod"])} if "prod" in tags else {}
        client.put(f"{ref}/tags/prod", json={"version": VERSIONS}, headers=headers)
        client.get(f"{ref}/lr", params={"step": 0, "tag": "prod"}).raise_for_status()


@dataclass
class Result:
    seconds: float
    clients: int
    tally: Tally
    peak_rss_mib: float | None
    baseline_rss_mib: float | None

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.tally.latencies.values()) + self.tally.unanswered

    def report(self) -> str:
        lines = [
            f"{self.clients} client processes, {self.seconds:g} s: {self.requests} requests, "
            f"{self.requests / self.seconds:,.0f} req/s, {len(self.tally.errors)} errors"
        ]
        everything = [x for v in self.tally.latencies.values() for x in v]
        for kind, values in (("all", everything), *self.tally.latencies.items()):
            if values:
                p50, p99, p999 = np.percentile(np.array(values) * 1000, [50, 99, 99.9])
                lines.append(
                    f"  {kind:8} {len(values):8} requests  p50 {p50:7.2f} ms  "
                    f"p99 {p99:7.2f} ms  p99.9 {p999:7.2f} ms"
                )
        if self.peak_rss_mib is not None and self.baseline_rss_mib is not None:
            lines.append(
                f"  server RSS: {self.baseline_rss_mib:.0f} MiB before, peak "
                f"{self.peak_rss_mib:.0f} MiB during"
            )
        for error in self.tally.errors[:10]:
            lines.append(f"  error: {error}")
        return "\n".join(lines)


def run(url: str, token: str, *, seconds: float, clients: int, pid: int | None) -> Result:
    """Prepare, then drive the mix from `clients` processes; `pid` is the server's (for
    its RSS), when it is ours."""
    prepare(url, token)
    baseline = None
    if pid is not None:
        baseline = rss_mib(pid)
        reset_peak(pid)
    start_at = time.time() + 1.0  # every process starts together, after its imports
    context = multiprocessing.get_context("spawn")  # no inherited server state
    with context.Pool(clients) as pool:
        tallies = pool.starmap(
            client_process, [(url, token, w, seconds, start_at) for w in range(clients)]
        )
    merged = Tally()
    for tally in tallies:
        for kind in KINDS:
            merged.latencies[kind] += tally.latencies[kind]
        merged.errors += tally.errors
        merged.unanswered += tally.unanswered
    peak = None if pid is None else peak_rss_mib(pid)
    return Result(seconds, clients, merged, peak, baseline)


RUNS_SCHEDULE = "runs"
PHASES = ("heartbeats", "baseline")


@dataclass(frozen=True)
class Pacing:
    """Each of `runs` runs sends once per `interval` seconds, the runs spread evenly
    over the interval, from `start_at` (time.time()) for `seconds`."""

    runs: int
    interval: float
    seconds: float
    start_at: float

    def due(self, index: int, cycle: int) -> float:
        return self.start_at + (index / self.runs + cycle) * self.interval


def paced_process(
    url: str, phase: str, runs: list[tuple[int, str, str]], pacing: Pacing, points: int
) -> Tally:
    """Send `phase`'s requests for `runs` ((index, id, key)) on their schedule; a
    request that falls behind goes at once (open loop: the rate does not drop with the
    latency)."""
    tally = Tally(latencies={phase: []})
    lr = f"/v1/schedules/{NAMESPACE}/{RUNS_SCHEDULE}/lr"
    end = pacing.start_at + pacing.seconds
    with httpx.Client(base_url=url, timeout=30) as client:
        for cycle in range(int(pacing.seconds / pacing.interval) + 1):
            for index, run_id, key in runs:
                due = pacing.due(index, cycle)
                if due >= end:
                    continue
                time.sleep(max(0.0, due - time.time()))
                step = (cycle + 1) * points
                began = time.perf_counter()
                try:
                    if phase == "heartbeats":
                        body = {
                            "progress": step - 1,
                            "observed": step,
                            "mismatches": 0,
                            "points": [[s, 3e-4, 3e-4] for s in range(step - points, step)],
                        }
                        answer = client.post(
                            f"/v1/runs/{run_id}/heartbeat",
                            json=body,
                            headers={"X-Stepsize-Run-Key": key},
                        )
                    else:
                        answer = client.get(lr, params={"step": step + index, "version": 1})
                except httpx.TransportError as exc:
                    tally.errors.append(f"{phase}: {exc!r}")
                    tally.unanswered += 1
                    continue
                tally.latencies[phase].append(time.perf_counter() - began)
                if answer.status_code != 200:
                    tally.errors.append(f"{phase}: {answer.status_code} {answer.text[:200]}")
    return tally


def register_runs(url: str, token: str, count: int) -> list[tuple[int, str, str]]:
    """Publish the runs' schedule and register `count` runs: (index, id, key) each."""
    with httpx.Client(base_url=url, timeout=60) as client:
        ref = f"/v1/schedules/{NAMESPACE}/{RUNS_SCHEDULE}"
        published = client.post(
            f"{ref}/versions",
            json={"definition": schedule(1)},
            headers={"Authorization": f"Bearer {token}"},
        )
        published.raise_for_status()
        digest = published.json()["digest"]
        runs = []
        for index in range(count):
            body = {
                "schedule": f"{NAMESPACE}/{RUNS_SCHEDULE}",
                "version": 1,
                "digest": digest,
                "framework": "torch",
                "host": "bench",
                "pid": index,
                "total_steps": STEPS,
            }
            answer = client.post("/v1/runs", json=body)
            answer.raise_for_status()
            runs.append((index, answer.json()["id"], answer.json()["key"]))
        return runs


def cpu_seconds(pid: int) -> float:
    """The process's user + system CPU time so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def heartbeat_load(args: argparse.Namespace) -> int:
    """The --heartbeats mode: prints the figures; 1 with --assert-no-errors and errors."""
    seconds = args.seconds or 30.0
    rate = args.runs / args.interval
    with (
        tempfile.TemporaryDirectory(prefix="stepsize-load-") as directory,
        LiveServer(Path(directory), database_url=args.postgres) as server,
    ):
        assert server.process is not None
        pid = server.process.pid
        runs = register_runs(server.url, server.admin_token, args.runs)
        context = multiprocessing.get_context("spawn")
        cpu: dict[str, float] = {}
        tallies: dict[str, Tally] = {}
        with context.Pool(args.clients) as pool:
            for phase in PHASES:
                pacing = Pacing(args.runs, args.interval, seconds, time.time() + 1.0)
                work = [
                    (server.url, phase, runs[w :: args.clients], pacing, args.points)
                    for w in range(args.clients)
                ]
                result = pool.starmap_async(paced_process, work)
                time.sleep(max(0.0, pacing.start_at - time.time()))
                used = cpu_seconds(pid)
                parts = result.get()
                cpu[phase] = (cpu_seconds(pid) - used) / (time.time() - pacing.start_at)
                tallies[phase] = Tally(
                    latencies={phase: [x for t in parts for x in t.latencies[phase]]},
                    errors=[e for t in parts for e in t.errors],
                    unanswered=sum(t.unanswered for t in parts),
                )
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"{args.runs} runs, each beating every {args.interval:g} s ({rate:g} beats/s, "
        f"{args.points} points each), {seconds:g} s per phase, {backend}, "
        f"{args.clients} client processes"
    )
    for phase in PHASES:
        tally = tallies[phase]
        values = np.array(tally.latencies[phase]) * 1000
        p50, p99 = np.percentile(values, [50, 99]) if values.size else (float("nan"),) * 2
        print(
            f"  {phase:10} {values.size:6} requests ({values.size / seconds:6.1f}/s)  "
            f"server CPU {cpu[phase] * 100:5.1f}% of one core  p50 {p50:6.2f} ms  "
            f"p99 {p99:6.2f} ms  {len(tally.errors)} errors"
        )
        for error in tally.errors[:5]:
            print(f"    error: {error}")
    print("  (baseline: pinned, cached GET .../lr?step=N&version=1 at the same rate)")
    ratio = cpu["heartbeats"] / cpu["baseline"] if cpu["baseline"] else float("inf")
    print(f"  heartbeat CPU / baseline CPU: {ratio:.2f}x", flush=True)
    errors = sum(len(t.errors) for t in tallies.values())
    if args.assert_no_errors and errors:
        print(f"FAILED: {errors} errors", file=sys.stderr)
        return 1
    return 0


@contextmanager
def own_server() -> Iterator[LiveServer]:
    with (
        tempfile.TemporaryDirectory(prefix="stepsize-load-") as directory,
        LiveServer(Path(directory)) as server,
    ):
        yield server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, help="default 60 (--heartbeats: 30 per phase)")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--url", help="an existing server (default: start one)")
    parser.add_argument("--token", help="a token with write:load (with --url)")
    parser.add_argument("--assert-no-errors", action="store_true")
    parser.add_argument("--heartbeats", action="store_true", help="the runs workload (above)")
    parser.add_argument("--runs", type=int, default=1000, help="--heartbeats: runs")
    parser.add_argument("--interval", type=float, default=10.0, help="--heartbeats: s per beat")
    parser.add_argument("--points", type=int, default=10, help="--heartbeats: points per beat")
    parser.add_argument("--postgres", metavar="URL", help="--heartbeats: the server's database")
    args = parser.parse_args(argv)
    if (args.seconds is not None and args.seconds <= 0) or args.clients < 1:
        parser.error("--seconds must be > 0 and --clients >= 1")
    if args.heartbeats:
        if args.url or args.runs < 1 or args.interval <= 0 or not 1 <= args.points <= 1000:
            parser.error(
                "--heartbeats starts its own server; --runs >= 1, --interval > 0, --points 1..1000"
            )
        return heartbeat_load(args)
    if args.postgres:
        parser.error("--postgres goes with --heartbeats")
    args.seconds = args.seconds or 60.0
    if args.url:
        if not args.token:
            parser.error("--url needs --token (publishes are 1% of the mix)")
        result = run(args.url, args.token, seconds=args.seconds, clients=args.clients, pid=None)
    else:
        with own_server() as server:
            assert server.process is not None
            result = run(
                server.url,
                server.admin_token,
                seconds=args.seconds,
                clients=args.clients,
                pid=server.process.pid,
            )
    print(result.report(), flush=True)
    if args.assert_no_errors and result.tally.errors:
        print(f"FAILED: {len(result.tally.errors)} errors", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
