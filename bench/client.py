"""Client costs: the shims' per-call cost and a fleet of client processes on one server.

Starts its own server (tests/support/live_server.LiveServer: uvicorn on 127.0.0.1, a
SQLite file in a temporary folder), publishes two schedules, then prints:

1. torch_lambda: ns per call of `sched.torch_lambda(0.1)(step)` against a plain Python
   lambda computing the same cosine (and the seeds' `0.5 ** (epoch // 3)`), over
   1,000,000 consecutive steps, best of 5. Target: within 3x of the plain lambda.
2. Keras: the registry schedule against Keras's own ExponentialDecay, each called inside
   the same kind of tf.function: (a) a tf.while_loop of 100,000 iterations evaluating the
   schedule at the loop counter (per-iteration op cost), (b) a tf.function reading the
   lr at a step variable, called once per "train step" (per-call cost, dispatch
   included). Target: within 1.2x of Keras's own.
3. Fleet: N client processes (default 64), all started at once, each constructing a
   schedule and calling its torch lambda for 100,000 steps, timing every call. Two
   scenarios: `total_steps` given (the whole curve up front), and an open-ended curve
   without total_steps (chunks of 16,384 steps prefetched in the background). Each process
   has its own disk cache (as if on its own node). Prints the server's request count (from
   /metrics), the steps that waited on the network after construction (target 0), and the
   worst per-step latency seen by any process (on a small machine this is CPU contention
   between N processes, not the network).

Usage: python bench/client.py [--processes 64] [--steps 100000]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
import timeit
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import httpx
import numpy as np
import stepsize
from stepsize import cache

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.support.live_server import LiveServer  # noqa: E402

COSINE = {"type": "cosine", "start": 0.1, "end": 0.001, "steps": 100_000}
OPEN = {"type": "expression", "expr": "0.1 / sqrt(1 + step / 1000)"}


def publish(server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {server.admin_token}"}
    for name, definition in (("cosine", COSINE), ("open", OPEN)):
        r = httpx.post(
            f"{server.url}/v1/schedules/bench/{name}/versions",
            json={"definition": definition},
            headers=headers,
        )
        r.raise_for_status()
        httpx.put(
            f"{server.url}/v1/schedules/bench/{name}/tags/prod",
            json={"version": 1},
            headers=headers,
        ).raise_for_status()


def request_count(server: LiveServer) -> float:
    total = 0.0
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith("stepsize_http_requests_total{") and 'route="/v1/' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def per_call_ns(fn, steps: int, repeat: int = 5) -> float:
    loop = "for s in r: f(s)"
    timer = timeit.Timer(loop, globals={"f": fn, "r": range(steps)})
    return min(timer.repeat(repeat=repeat, number=1)) / steps * 1e9


def bench_torch_lambda(client: stepsize.Client, steps: int) -> None:
    sched = client.schedule("bench/cosine:prod", total_steps=steps)
    lam = sched.torch_lambda(0.1)
    start, end, total = 0.1, 0.001, 100_000

    def plain_cosine(s):
        return (end + (start - end) * (1 + math.cos(math.pi * min(s, total) / total)) / 2) / 0.1

    def plain_seed(epoch):
        return 0.5 ** (epoch // 3)

    ours = per_call_ns(lam, steps)
    cos_ns = per_call_ns(plain_cosine, steps)
    seed_ns = per_call_ns(plain_seed, steps)
    print("1. torch_lambda per call (1,000,000 steps, best of 5)")
    print(f"   stepsize torch_lambda            {ours:7.1f} ns")
    print(f"   plain lambda (same cosine)       {cos_ns:7.1f} ns   ratio {ours / cos_ns:4.2f}x")
    print(f"   plain lambda 0.5 ** (e // 3)     {seed_ns:7.1f} ns   ratio {ours / seed_ns:4.2f}x")


def bench_keras(client: stepsize.Client) -> None:
    import keras
    import tensorflow as tf

    ours = client.schedule("bench/cosine:prod", total_steps=100_000).keras()
    theirs = keras.optimizers.schedules.ExponentialDecay(0.1, 1000, 0.96)
    n = 100_000

    def looped(schedule):
        @tf.function
        def run():
            def body(i, acc):
                return i + 1, acc + schedule(i)

            return tf.while_loop(
                lambda i, acc: i < n, body, (tf.constant(0, tf.int64), tf.constant(0.0))
            )[1]

        run()  # trace
        return min(timeit.repeat(run, number=1, repeat=5)) / n * 1e9

    def called(schedule):
        step = tf.Variable(0, dtype=tf.int64)
        fn = tf.function(lambda: schedule(step))
        fn()
        calls = 5000
        return min(timeit.repeat(fn, number=calls, repeat=5)) / calls * 1e9

    rows = [("(a) inside one tf.while_loop", looped), ("(b) one tf.function call per step", called)]
    print("2. Keras schedule inside tf.function: registry table vs Keras ExponentialDecay")
    for label, measure in rows:
        a, b = measure(ours), measure(theirs)
        print(f"   {label:34s} stepsize {a:8.1f} ns   keras {b:8.1f} ns   ratio {a / b:4.2f}x")


def fleet_worker(url: str, ref: str, total_steps: int | None, steps: int, cache_dir: str, out) -> None:
    client = stepsize.Client(url, cache_dir=cache_dir, chunk_steps=16_384)
    t0 = time.perf_counter()
    sched = client.schedule(ref, total_steps=total_steps)
    construct = time.perf_counter() - t0
    lam = sched.torch_lambda(0.1)
    clock = time.perf_counter_ns
    worst = 0
    latencies = np.empty(steps, dtype=np.int64)
    for step in range(steps):
        t = clock()
        lam(step)
        latencies[step] = clock() - t
    worst = int(latencies.max())
    out.put(
        {
            "worst_ns": worst,
            "p9999_ns": float(np.percentile(latencies, 99.99)),
            "waits": sched.waits,
            "requests": client.requests,
            "construct_s": construct,
        }
    )


def bench_fleet(server: LiveServer, processes: int, steps: int) -> None:
    print(f"3. fleet: {processes} processes x {steps:,} steps, all at once, one cache per process")
    ctx = mp.get_context("fork")
    scenarios = [
        ("total_steps given (up front)", "bench/cosine:prod", steps),
        ("open-ended, chunks prefetched", "bench/open:prod", None),
    ]
    for label, ref, total in scenarios:
        cache.forget_all()
        before = request_count(server)
        queue = ctx.Queue()
        with tempfile.TemporaryDirectory() as tmp:
            procs = [
                ctx.Process(
                    target=fleet_worker,
                    args=(server.url, ref, total, steps, os.path.join(tmp, str(i)), queue),
                )
                for i in range(processes)
            ]
            t0 = time.perf_counter()
            for p in procs:
                p.start()
            results = [queue.get(timeout=600) for _ in procs]
            for p in procs:
                p.join()
            wall = time.perf_counter() - t0
        served = request_count(server) - before
        worst = max(r["worst_ns"] for r in results) / 1e6
        p9999 = max(r["p9999_ns"] for r in results) / 1e3
        waits = sum(r["waits"] for r in results)
        construct = max(r["construct_s"] for r in results)
        print(
            f"   {label:30s} server requests {served:5.0f} ({served / processes:.1f}/process), "
            f"steps waiting on the network {waits}, worst step {worst:.2f} ms, "
            f"worst p99.99 {p9999:.1f} us, slowest construction {construct:.2f} s, wall {wall:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp) / "server") as server:
        publish(server)
        client = stepsize.Client(server.url, cache_dir=Path(tmp) / "cache")
        bench_torch_lambda(client, 1_000_000)
        bench_fleet(server, args.processes, args.steps)
        bench_keras(client)  # last: TensorFlow's threads must not exist when the fleet forks


if __name__ == "__main__":
    main()
