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
   included). Target: within 1.2x of Keras's own. Then the same two compiled by XLA
   (`jit_compile=True`, as in `model.compile(jit_compile=True)`), for the curve with a
   horizon and for an open-ended curve whose run length is declared (the table the
   compiled step reads). Target: within 1.1x of Keras's own under XLA.
3. Fleet: N client processes (default 64), all started at once, each constructing a
   schedule and calling its torch lambda for 100,000 steps, timing every call. Scenarios:
   `total_steps` given (the whole curve up front) or an open-ended curve without it
   (chunks of 16,384 steps prefetched in the background); steps back to back (~0.1 us of
   work each: no real job steps that fast) or paced by a 100 us sleep (a very fast
   training step). Each process has its own disk cache (as if on its own node). Prints
   the server's request count (from /metrics), the steps that had to wait on the network
   after construction (target 0), and the worst per-step latency seen by any process,
   wall-clock (on a small machine: the OS scheduling N processes on few cores) and as the
   thread's CPU time.
4. torch.compile: a compiled `opt.step(); sched.step()` with the shim (Adam, a tensor lr,
   1.05 M parameters) against the same compiled step with a constant tensor lr: the
   median step of 1,500 of each, alternated step by step (wall-clock and CPU time);
   prints the ratio, and the graphs compiled after the warm-up. Then the same with 8
   parameters: the shim's own cost per step. Beside them, torch's own ConstantLR in the
   same recipe (any LRScheduler wraps opt.step). Target: <= 1.05x, 0 graphs.
5. Observation: a bare `optimizer.step()` of a small model (a 2-layer MLP, 32-64-10,
   2,762 parameters; and a 784-256-10 one, 203,530) with SGD and with Adam, with the
   stepsize observer's step post-hook against without it (the same RegistryLR or
   LambdaLR on both, the hook removed from one): the median of 5,000 `opt.step()`
   calls of each, alternated call by call (the scheduler steps between them, untimed).
   Prints the ratio and the added time per update. Target: <= 1.05x.

Clients run at nice 10: on a small machine they stand for jobs on other machines, and the
server (one uvicorn process) gets the CPU first.

Usage: python bench/client.py [--processes 64] [--steps 100000] [--only lambda,observation]
"""

from __future__ import annotations

import argparse
import itertools
import math
import multiprocessing as mp
import os
import sys
import tempfile
import time
import timeit
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import httpx
import numpy as np
import stepsize
from stepsize import curves

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
    """Requests for schedules and values the server counted (not the runs' reports: a
    registration and a heartbeat every 10 s per job, `bench/load.py`'s subject)."""
    total = 0.0
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if (
            line.startswith("stepsize_http_requests_total{")
            and 'route="/v1/' in line
            and 'route="/v1/runs' not in line
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total


def per_call_ns(fns: dict[str, object], steps: int, rounds: int = 7) -> dict[str, float]:
    """Best ns per call of each function over `range(steps)`, rounds interleaved (noise)."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            timer = timeit.Timer("for s in r: f(s)", globals={"f": fn, "r": range(steps)})
            best[name] = min(best[name], timer.timeit(number=1) / steps * 1e9)
    return best


def bench_torch_lambda(client: stepsize.Client, steps: int) -> None:
    sched = client.schedule("bench/cosine:prod", total_steps=steps)
    lam = sched.torch_lambda(0.1)
    start, end, total = 0.1, 0.001, 100_000

    def plain_cosine(s):
        return (end + (start - end) * (1 + math.cos(math.pi * min(s, total) / total)) / 2) / 0.1

    def plain_seed(epoch):
        return 0.5 ** (epoch // 3)

    ns = per_call_ns({"ours": lam, "cosine": plain_cosine, "seed": plain_seed}, steps)
    ours = ns["ours"]
    print(f"1. torch_lambda per call ({steps:,} steps, best of 7 interleaved rounds)")
    print(f"   stepsize torch_lambda            {ours:7.1f} ns")
    for name, label in (
        ("cosine", "plain lambda (same cosine)"),
        ("seed", "plain lambda 0.5 ** (e // 3)"),
    ):
        print(f"   {label:32s} {ns[name]:7.1f} ns   ratio {ours / ns[name]:4.2f}x")


def bench_torch_compiled(client: stepsize.Client, steps: int = 1500) -> None:
    """A compiled `opt.step(); sched.step()` (PyTorch's recipe: a tensor lr) against the
    same compiled Adam step with a constant tensor lr: medians of alternated steps, for
    a 1.05 M-parameter model and for 8 parameters (what the shim costs per step)."""
    import torch

    sched = client.schedule("bench/cosine:prod", total_steps=100_000)
    print(f"4. torch.compile: Adam step, tensor lr (median of {steps} alternated steps)")
    for label, sizes in (("1.05 M params", [512] * 5), ("8 params", [])):
        wall, cpu, recompiled = compiled_pair(torch, sched, sizes, steps)
        for clock, times in (("wall-clock", wall), ("CPU time", cpu)):
            median = {name: float(np.median(t)) * 1e6 for name, t in times.items()}
            print(
                f"   {label:13s} {clock:10s} shim {median['shim']:8.1f} us   constant lr "
                f"{median['const']:8.1f} us   ratio {median['shim'] / median['const']:5.3f}x "
                f"(+{median['shim'] - median['const']:.1f} us)   torch ConstantLR "
                f"{median['torch']:8.1f} us ({median['torch'] / median['const']:5.3f}x)"
            )
        print(f"   {label:13s} graphs compiled after warm-up: {recompiled} (target 0)")
    print("   target: <= 1.05x for the 1.05 M-parameter step")


def compiled_pair(
    torch: Any, sched: stepsize.Schedule, sizes: list[int], steps: int
) -> tuple[dict[str, list[float]], dict[str, list[float]], int]:
    """Wall-clock and CPU seconds of each step of the compiled steps, alternated,
    and the graphs compiled after their warm-up. `sizes`: the widths of the layers
    (empty: one parameter of 8 values)."""
    from torch._dynamo.utils import counters

    def optimizer() -> Any:
        torch.manual_seed(0)
        if sizes:
            layers = [torch.nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
            params = [p for layer in layers for p in layer.parameters()]
        else:
            params = [torch.nn.Parameter(torch.zeros(8))]
        for p in params:
            p.grad = torch.full_like(p, 1e-3)
        return torch.optim.Adam(params, lr=torch.tensor(0.01))

    opt_shim, opt_const, opt_torch = optimizer(), optimizer(), optimizer()
    shim = sched.torch_scheduler(opt_shim)
    # torch's own scheduler in the same recipe: what any LRScheduler costs (it wraps
    # opt.step to check the call order)
    own = torch.optim.lr_scheduler.ConstantLR(opt_torch, factor=1.0, total_iters=0)

    @torch.compile(fullgraph=False)
    def step_shim() -> None:
        opt_shim.step()
        shim.step()

    @torch.compile(fullgraph=False)
    def step_const() -> None:
        opt_const.step()

    @torch.compile(fullgraph=False)
    def step_torch() -> None:
        opt_torch.step()
        own.step()

    torch._dynamo.reset()
    for _ in range(3):  # warm-up: compile them
        step_shim()
        step_const()
        step_torch()
    graphs = counters["stats"]["unique_graphs"]
    # Alternate the two step by step (neither always first) and compare medians: on a
    # loaded machine noise comes in bursts longer than a step and hits both alike. CPU
    # time (every thread of the process) is what a step costs whatever the other load.
    wall: dict[str, list[float]] = {"shim": [], "const": [], "torch": []}
    cpu: dict[str, list[float]] = {"shim": [], "const": [], "torch": []}
    trio = [("shim", step_shim), ("const", step_const), ("torch", step_torch)]
    for i in range(steps):
        for name, fn in trio if i % 2 else trio[::-1]:
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return wall, cpu, counters["stats"]["unique_graphs"] - graphs


def bench_observation(client: stepsize.Client, steps: int = 5000) -> None:
    """`opt.step()` with the observer's post-hook against without it, per update."""
    import torch

    torch.set_num_threads(1)  # one core per job: the steps' own threads are noise here
    sched = client.schedule("bench/cosine:prod", total_steps=100_000, register_run=False)
    print(f"5. observation: opt.step() with the hook vs without (median of {steps:,} each)")
    for sizes in ((32, 64, 10), (784, 256, 10)):
        params = sum(a * b + b for a, b in itertools.pairwise(sizes))
        for optimizer, shim in itertools.product(("SGD", "Adam"), ("scheduler", "lambda")):
            bare, observed = observed_pair(torch, sched, sizes, optimizer, shim, steps)
            print(
                f"   {params:>7,} params {optimizer:4s} {shim:9s} bare {bare:7.2f} us   "
                f"observed {observed:7.2f} us   ratio {observed / bare:5.3f}x "
                f"(+{observed - bare:.2f} us)"
            )
    print("   target: <= 1.05x")


def observed_pair(
    torch: Any,
    sched: stepsize.Schedule,
    sizes: tuple[int, ...],
    optimizer: str,
    shim: str,
    steps: int,
) -> tuple[float, float]:
    """Median microseconds of `opt.step()` without and with the hook, alternated call by
    call after a warm-up of 500 each; the scheduler (the same kind on both) steps
    between them, untimed."""
    from stepsize import torch_observe

    def make() -> tuple[Any, Any]:
        torch.manual_seed(0)
        layers = [torch.nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
        model = torch.nn.Sequential(layers[0], torch.nn.ReLU(), *layers[1:])
        for p in model.parameters():
            p.grad = torch.full_like(p, 1e-3)
        opt = getattr(torch.optim, optimizer)(model.parameters(), lr=0.1)
        if shim == "scheduler":
            return opt, sched.torch_scheduler(opt)
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, sched.torch_lambda(opt))

    (bare, bare_sched), (watched, watched_sched) = make(), make()
    torch_observe._WATCHES[bare].handle.remove()  # the same scheduler, no hook
    times: dict[str, list[float]] = {"bare": [], "watched": []}
    pair = [("bare", bare, bare_sched), ("watched", watched, watched_sched)]
    for i in range(steps + 500):
        for name, opt, scheduler in pair if i % 2 else pair[::-1]:
            t0 = time.perf_counter()
            opt.step()
            elapsed = time.perf_counter() - t0
            scheduler.step()
            if i >= 500:
                times[name].append(elapsed)
    checker = torch_observe._WATCHES[watched].observers[0]
    assert checker.checked == steps + 500 and checker.mismatches == 0, checker
    return float(np.median(times["bare"])) * 1e6, float(np.median(times["watched"])) * 1e6


def bench_keras(client: stepsize.Client) -> None:
    import keras
    import tensorflow as tf

    ours = client.schedule("bench/cosine:prod", total_steps=100_000).keras()
    ours_open = client.schedule("bench/open:prod", total_steps=100_000).keras()
    theirs = keras.optimizers.schedules.ExponentialDecay(0.1, 1000, 0.96)
    n = 100_000

    def looped(schedule, jit_compile=False):
        @tf.function(jit_compile=jit_compile)
        def run():
            def body(i, acc):
                return i + 1, acc + schedule(i)

            return tf.while_loop(
                lambda i, acc: i < n, body, (tf.constant(0, tf.int64), tf.constant(0.0))
            )[1]

        run()  # trace
        return min(timeit.repeat(run, number=1, repeat=5)) / n * 1e9

    def called(schedule, jit_compile=False):
        step = tf.Variable(0, dtype=tf.int64)

        @tf.function(jit_compile=jit_compile)
        def fn():
            step.assign_add(1)  # a new step each call, as the train step's counter
            return schedule(step)

        fn()
        calls = 5000
        return min(timeit.repeat(fn, number=calls, repeat=5)) / calls * 1e9

    rows = [
        ("(a) inside one tf.while_loop", looped, ours, False),
        ("(b) one tf.function call per step", called, ours, False),
        ("(c) XLA: inside one while_loop", looped, ours, True),
        ("(d) XLA: one call per step", called, ours, True),
        ("(e) XLA, open-ended: while_loop", looped, ours_open, True),
        ("(f) XLA, open-ended: call per step", called, ours_open, True),
    ]
    print("2. Keras schedule inside tf.function: registry table vs Keras ExponentialDecay")
    for label, measure, schedule, jit in rows:
        a = b = float("inf")
        for _ in range(5):  # interleaved: the machine's noise hits both alike
            a = min(a, measure(schedule, jit))
            b = min(b, measure(theirs, jit))
        target = " (target <= 1.1x)" if jit else ""
        print(
            f"   {label:36s} stepsize {a:8.1f} ns   keras {b:8.1f} ns   ratio {a / b:4.2f}x{target}"
        )


def fleet_worker(
    url: str, ref: str, total_steps: int | None, steps: int, pace_s: float, cache_dir: str, out
) -> None:
    # The clients stand for jobs on other machines: on a small box, let the server have the
    # CPU first so that its latency is not the busy loops' doing.
    os.nice(10)
    client = stepsize.Client(url, cache_dir=cache_dir, chunk_steps=16_384)
    t0 = time.perf_counter()
    try:
        sched = client.schedule(ref, total_steps=total_steps)
    except stepsize.StepsizeError as exc:
        out.put({"error": f"{type(exc).__name__}: {exc}"})
        return
    construct = time.perf_counter() - t0
    lam = sched.torch_lambda(0.1)
    wall, cpu, sleep = time.perf_counter_ns, time.thread_time_ns, time.sleep
    latencies = np.ones(steps, dtype=np.int64)  # written now: no page faults while timing
    cpu_worst = 0
    for step in range(steps):
        t, c = wall(), cpu()
        lam(step)
        c2, t2 = cpu(), wall()
        latencies[step] = t2 - t
        cpu_worst = max(cpu_worst, c2 - c)
        if pace_s:
            sleep(pace_s)  # the rest of the training step
    out.put(
        {
            "worst_ns": int(latencies.max()),
            "cpu_worst_ns": cpu_worst,
            "p9999_ns": float(np.percentile(latencies, 99.99)),
            "waits": sched.waits,
            "requests": client.requests,
            "construct_s": construct,
        }
    )


def bench_fleet(server: LiveServer, processes: int, steps: int, pace_us: float) -> None:
    print(f"3. fleet: {processes} processes x {steps:,} steps, all at once, one cache per process")
    ctx = mp.get_context("fork")
    scenarios = [
        ("total_steps given (up front), steps back to back", "bench/cosine:prod", steps, 0.0),
        ("total_steps given (up front), paced", "bench/cosine:prod", steps, pace_us),
        ("open-ended, chunks prefetched, paced", "bench/open:prod", None, pace_us),
        ("open-ended, chunks prefetched, back to back", "bench/open:prod", None, 0.0),
    ]
    for label, ref, total, pace in scenarios:
        curves.forget_all()
        before = request_count(server)
        queue = ctx.Queue()
        with tempfile.TemporaryDirectory() as tmp:
            procs = [
                ctx.Process(
                    target=fleet_worker,
                    args=(
                        server.url,
                        ref,
                        total,
                        steps,
                        pace / 1e6,
                        os.path.join(tmp, str(i)),
                        queue,
                    ),
                )
                for i in range(processes)
            ]
            t0 = time.perf_counter()
            for p in procs:
                p.start()
            results = [queue.get(timeout=900) for _ in procs]
            for p in procs:
                p.join()
            wall = time.perf_counter() - t0
        served = request_count(server) - before
        paced = f" (+{pace:g} us sleep per step)" if pace else ""
        print(f"   {label}{paced}")
        failed = [r["error"] for r in results if "error" in r]
        if failed:
            print(f"      {len(failed)} of {processes} processes failed: {failed[0]}")
            continue
        print(
            f"      server requests {served:.0f} ({served / processes:.1f}/process); "
            f"steps that waited on the network: {sum(r['waits'] for r in results)}; "
            f"slowest construction {max(r['construct_s'] for r in results):.2f} s; "
            f"wall {wall:.1f} s"
        )
        print(
            f"      worst step: {max(r['worst_ns'] for r in results) / 1e6:.2f} ms wall-clock, "
            f"{max(r['cpu_worst_ns'] for r in results) / 1e3:.1f} us CPU; "
            f"worst p99.99 {max(r['p9999_ns'] for r in results) / 1e3:.1f} us wall-clock"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--pace-us", type=float, default=100.0, help="sleep per paced step")
    parser.add_argument(
        "--only",
        default="lambda,fleet,keras,compiled,observation",
        help="comma-separated sections to run: lambda, fleet, keras, compiled, observation",
    )
    args = parser.parse_args()
    args = parser.parse_args()
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as tmp, LiveServer(Path(tmp) / "server") as server:
        publish(server)
        client = stepsize.Client(server.url, cache_dir=Path(tmp) / "cache")
        if "lambda" in only:
            bench_torch_lambda(client, 1_000_000)
        if "fleet" in only:
            bench_fleet(server, args.processes, args.steps, args.pace_us)
        if "compiled" in only:
            bench_torch_compiled(client)
        if "observation" in only:
            bench_observation(client)
        if "keras" in only:
            bench_keras(client)  # last: TensorFlow's threads must not exist when the fleet forks


if __name__ == "__main__":
    main()
