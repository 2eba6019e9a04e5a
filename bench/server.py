"""Throughput and latency of the server over real HTTP (a script that prints figures).

Starts `stepsize-server serve` (uvicorn, SQLite in a temporary directory), publishes a
schedule, then drives a bounded load from a second process: C keep-alive connections
(raw HTTP/1.1 on asyncio, so that the load generator costs far less than the server)
for T seconds per case, the cases taking turns for R rounds. Cases:

- baseline: GET /healthz, a trivial route of the same app (same middleware);
- single:   GET .../lr?step=N&version=1, one step of a pinned version (N varies);
- npy:      GET .../lr?stop=100000&version=1, Accept: application/x-npy (800 kB).

    .venv/bin/python bench/server.py [--seconds 2] [--rounds 5] [--connections 8]

Target: single-step throughput >= 70% of the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.live_server import LiveServer

SCHEDULE = {
    "type": "warmup",
    "steps": 2000,
    "schedule": {"type": "cosine", "start": 3e-4, "end": 3e-5, "steps": 98000},
}
LR = "/v1/schedules/bench/llm/lr"
CASES = {
    "baseline /healthz": ("/healthz?", "application/json"),
    "single-step lr (pinned)": (LR + "?version=1&step=", "application/json"),
    "100k-step .npy (pinned)": (LR + "?version=1&start=0&stop=100000&x=", "application/x-npy"),
}


async def _connection(
    port: int, path: str, accept: str, deadline: float, latencies: list, errors: list, seed: int
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = seed
    try:
        while time.perf_counter() < deadline:
            i += 7919
            request = (
                f"GET {path}{i % 100_000} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if head[9:12] != b"200":
                errors.append(head[:40])
    finally:
        writer.close()


def _drive(port: int, path: str, accept: str, seconds: float, connections: int, out) -> None:
    """Runs in the second process: warm up for 1 s, then measure for `seconds`."""

    async def run(duration: float) -> tuple[list, list]:
        latencies: list[float] = []
        errors: list[bytes] = []
        deadline = time.perf_counter() + duration
        await asyncio.gather(
            *(
                _connection(port, path, accept, deadline, latencies, errors, c)
                for c in range(connections)
            )
        )
        return latencies, errors

    asyncio.run(run(1.0))
    started = time.perf_counter()
    latencies, errors = asyncio.run(run(seconds))
    out.put((len(latencies) / (time.perf_counter() - started), latencies, len(errors)))


def measure(port: int, path: str, accept: str, seconds: float, connections: int) -> dict:
    """One measurement of one case, driven from a fresh second process."""
    context = mp.get_context("spawn")
    queue = context.Queue()
    worker = context.Process(target=_drive, args=(port, path, accept, seconds, connections, queue))
    worker.start()
    rate, latencies, errors = queue.get(timeout=seconds + 120)
    worker.join()
    return {"rps": rate, "latencies": latencies, "errors": errors}


def summarize(runs: list[dict]) -> dict:
    """Rounds of one case together: mean throughput, pooled latency percentiles."""
    ms = np.concatenate([np.asarray(r["latencies"]) for r in runs]) * 1000
    return {
        "requests": int(ms.size),
        "rps": float(np.mean([r["rps"] for r in runs])),
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "errors": sum(r["errors"] for r in runs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per case and round")
    parser.add_argument(
        "--rounds", type=int, default=5, help="cases alternate, so drift hits them alike"
    )
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections")
    parser.add_argument("--no-access-log", action="store_true", help="disable access logs")
    args = parser.parse_args()

    env = {
        "STEPSIZE_LOG_LEVEL": "INFO",
        "STEPSIZE_ACCESS_LOG": "false" if args.no_access_log else "true",
    }
    with tempfile.TemporaryDirectory() as directory, LiveServer(Path(directory), env=env) as server:
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        published = httpx.post(
            f"{server.url}/v1/schedules/bench/llm/versions",
            json={"definition": SCHEDULE},
            headers=headers,
        )
        published.raise_for_status()
        print(
            f"server {server.url}  pid {server.process.pid if server.process else '?'}  "
            f"{args.connections} connections, {args.rounds} rounds of {args.seconds:g} s per case, "
            "access log "
            f"{'off' if args.no_access_log else 'on'}"
        )
        print(f"{'case':<26}{'requests':>10}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
        runs: dict[str, list[dict]] = {name: [] for name in CASES}
        for _ in range(args.rounds):
            for name, (path, accept) in CASES.items():
                runs[name].append(
                    measure(server.port, path, accept, args.seconds, args.connections)
                )
        results = {name: summarize(r) for name, r in runs.items()}
        for name, r in results.items():
            print(
                f"{name:<26}{r['requests']:>10}{r['rps']:>10.0f}{r['p50']:>10.2f}"
                f"{r['p99']:>10.2f}{r['errors']:>8}"
            )
        # Each round measures the cases back to back, so a round's ratio is the least
        # disturbed by whatever else the machine runs; report their median.
        ratios = sorted(
            s["rps"] / b["rps"]
            for b, s in zip(runs["baseline /healthz"], runs["single-step lr (pinned)"], strict=True)
        )
        print(
            f"single-step / baseline throughput: median {np.median(ratios):.2f} over "
            f"{len(ratios)} rounds (min {ratios[0]:.2f}, max {ratios[-1]:.2f}; target >= 0.70)"
        )


if __name__ == "__main__":
    main()
