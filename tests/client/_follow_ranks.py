"""Run by test_follow: an N-rank gloo training job following amendments.

python tests/client/_follow_ranks.py NPROC REF TOTAL GATE SHIM OUT_DIR START CKPT FOLLOW

Every rank pins REF with `follow=True` (FOLLOW 1; 0: without) and trains a small model
under DDP (gradients all-reduced over gloo) with SGD and SHIM (`lambda`: LambdaLR of
`torch_lambda`, `scheduler`: `torch_scheduler`) for TOTAL updates, sleeping a little per
update (updates START..TOTAL-1). Before
update GATE rank 0 writes OUT_DIR/reached and waits for OUT_DIR/go (the test publishes
an amendment or kills the server meanwhile); when `go` says `prepared`, rank 0 also
waits until its follower has prepared the amendment, so that the test does not depend
on how fast a loaded machine polls. The other ranks wait in the next collective.
START 0: a fresh run, whose state rank 0 saves in CKPT at the end (unless CKPT is `-`);
START > 0: every rank resumes from CKPT (model, optimizer, scheduler) at update START.

Each rank writes OUT_DIR/rank{r}.json: the lr every update used (read from the
optimizer before the update), what its follower adopted and refused, and rank 0's run
id, polls and poll failures; its log goes to OUT_DIR/rank{r}.log.
"""

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path

import stepsize
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from stepsize.follow import Follower
from torch.nn.parallel import DistributedDataParallel
from torch.optim.lr_scheduler import LambdaLR

RETRY = stepsize.Retry(attempts=2, timeout=2.0, backoff=0.01)
STEP_SLEEP_S = 0.005


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def gate(out: Path, follower: Follower | None) -> None:
    """Rank 0 before update GATE: tell the test, wait for its go (and the preparation)."""
    (out / "reached").write_text("")
    wait_for((out / "go").exists, "the test's go")
    if (out / "go").read_text().strip() == "prepared" and follower is not None:
        agreement = follower.agreement
        wait_for(
            lambda: (
                follower.prepared is not None
                or (agreement is not None and agreement.announced is not None)
            ),
            "the follower to prepare the amendment",
        )


def train(rank: int, args: list[str]) -> dict:
    ref, total, gate_at, shim, out = args[0], int(args[1]), int(args[2]), args[3], Path(args[4])
    start, ckpt, follow = int(args[5]), args[6], args[7] == "1"
    client = stepsize.Client(retry=RETRY)
    sched = client.schedule(ref, total_steps=total, follow=follow)
    follower = Follower.of(sched.track)
    assert (follower is not None) == follow
    torch.manual_seed(0)
    model = DistributedDataParallel(torch.nn.Linear(4, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    if shim == "lambda":
        scheduler = LambdaLR(opt, sched.torch_lambda(opt))
    else:
        scheduler = sched.torch_scheduler(opt)
    if start > 0:
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    data = torch.Generator().manual_seed(rank)
    lrs = []
    for k in range(start, total):
        if rank == 0 and k == gate_at:
            gate(out, follower)
        lrs.append(opt.param_groups[0]["lr"])
        x = torch.randn(8, 4, generator=data)
        loss = model(x).pow(2).mean()
        opt.zero_grad()
        loss.backward()  # DDP all-reduces the gradients: the ranks are in lockstep
        opt.step()  # the observer's hook: track.after_update(k), the follower's point
        scheduler.step()
        time.sleep(STEP_SLEEP_S)
    if start == 0 and ckpt != "-" and rank == 0:
        state = {"model": model.state_dict(), "optimizer": opt.state_dict()}
        torch.save({**state, "scheduler": scheduler.state_dict()}, ckpt)
    if follower is None:
        return {"lrs": lrs, "ref": sched.ref, "adopted": [], "refused": []}
    follower.close()
    run = sched.run
    if run is not None:
        run.close("finished")  # its last beat (with the events) before the record is read
    return {
        "lrs": lrs,
        "ref": sched.ref,
        "adopted": follower.adopted,
        "refused": follower.refused,
        "polls": follower.polls,
        "poll_failures": follower.poll_failures,
        "run_id": run.id if run is not None else None,
    }


def worker(rank: int, nproc: int, port: int, args: list[str]) -> None:
    out = Path(args[4])
    handler = logging.FileHandler(out / f"rank{rank}.log")
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logging.getLogger("stepsize").addHandler(handler)
    logging.getLogger("stepsize").setLevel(logging.INFO)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=nproc
    )
    record = train(rank, args)
    dist.barrier()  # every rank done before rank 0 (the store's host) tears down
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    dist.destroy_process_group()


if __name__ == "__main__":
    nproc = int(sys.argv[1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.environ.setdefault("STEPSIZE_FOLLOW_SYNC_STEPS", "10")
    mp.spawn(worker, args=(nproc, port, sys.argv[2:]), nprocs=nproc, join=True)
