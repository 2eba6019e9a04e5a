"""The `stepsize` command: push, ls, show, lr, tag, diff, plot.

    stepsize push team/cosine schedule.json --description "cosine, 10k steps"
    stepsize ls --namespace team
    stepsize show team/cosine:prod
    stepsize lr team/cosine:prod 1000            (or --start 0 --stop 100 --stride 10)
    stepsize tag team/cosine prod 3
    stepsize diff team/cosine@2 team/cosine@3 --stop 10000
    stepsize plot team/cosine:prod --stop 10000  (a terminal chart; --output x.png with matplotlib)

The server is `--url` or STEPSIZE_URL; writes use `--token` or STEPSIZE_TOKEN. Errors
print one line on standard error and exit with status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from .client import Client
from .errors import StepsizeError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepsize", description="learning-rate schedules from the registry"
    )
    parser.add_argument("--url", help="the server (default: STEPSIZE_URL or http://127.0.0.1:8000)")
    parser.add_argument("--token", help="a bearer token for writes (default: STEPSIZE_TOKEN)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("push", help="publish a definition (a JSON file, '-' for stdin)")
    p.add_argument("ref", help="namespace/name")
    p.add_argument("file")
    p.add_argument("--description")
    p.add_argument("--label", action="append", default=[], metavar="KEY=VALUE")

    p = sub.add_parser("ls", help="list schedules")
    p.add_argument("--namespace")
    p.add_argument("-q", "--query")
    p.add_argument("--limit", type=int, default=100)

    p = sub.add_parser("show", help="a schedule's summary and the version's definition")
    p.add_argument("ref")

    p = sub.add_parser("lr", help="the lr at a step, or a range as 'step,lr' lines")
    p.add_argument("ref")
    p.add_argument("step", nargs="?", type=int)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--stop", type=int)
    p.add_argument("--stride", type=int, default=1)
    p.add_argument("--steps-per-epoch", type=int)

    p = sub.add_parser("tag", help="point a tag at a version")
    p.add_argument("ref", help="namespace/name")
    p.add_argument("tag")
    p.add_argument("version", type=int)

    p = sub.add_parser("diff", help="compare two versions: definitions and values")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--stop", type=int, default=10_000, help="compare values on [0, stop)")

    p = sub.add_parser("plot", help="the curve as a terminal chart, or a PNG with --output")
    p.add_argument("ref")
    p.add_argument("--stop", type=int, default=10_000)
    p.add_argument("--output", help="a .png file (needs matplotlib)")
    p.add_argument("--log", action="store_true", help="logarithmic lr axis")
    p.add_argument("--width", type=int, default=72)
    p.add_argument("--height", type=int, default=16)
    return parser


def main(argv: Sequence[str] | None = None, *, client: Client | None = None) -> int:
    args = build_parser().parse_args(argv)
    client = client or Client(args.url, args.token)
    try:
        return COMMANDS[args.command](client, args)
    except (StepsizeError, ValueError, OSError) as exc:
        print(f"stepsize: error: {exc}", file=sys.stderr)
        return 1


def _push(client: Client, args: argparse.Namespace) -> int:
    if args.file == "-":
        text = sys.stdin.read()
    else:
        with open(args.file, encoding="utf-8") as f:
            text = f.read()
    labels = dict(item.split("=", 1) for item in args.label) if args.label else None
    published = client.publish(
        args.ref, json.loads(text), description=args.description, labels=labels
    )
    state = "published" if published.created else "unchanged (same digest as the latest)"
    print(f"{published.ref} {published.digest} {state}")
    return 0


def _ls(client: Client, args: argparse.Namespace) -> int:
    for item in client.list(namespace=args.namespace, q=args.query, limit=args.limit):
        tags = " ".join(f"{t}=@{v}" for t, v in sorted((item.get("tags") or {}).items()))
        print(f"{item['namespace']}/{item['name']}\t@{item.get('latest_version')}\t{tags}".rstrip())
    return 0


def _show(client: Client, args: argparse.Namespace) -> int:
    summary = client.info(args.ref)
    version = client.version(args.ref)
    print(json.dumps({"summary": summary, "version": version}, indent=2, sort_keys=True))
    return 0


def _lr(client: Client, args: argparse.Namespace) -> int:
    if args.step is not None:
        print(repr(client.lr(args.ref, args.step, steps_per_epoch=args.steps_per_epoch)))
        return 0
    if args.stop is None:
        raise ValueError("give a STEP, or --stop (with --start and --stride) for a range")
    values = client.values(
        args.ref, args.start, args.stop, args.stride, steps_per_epoch=args.steps_per_epoch
    )
    for step, lr in zip(range(args.start, args.stop, args.stride), values.tolist(), strict=True):
        print(f"{step},{lr!r}")
    return 0


def _tag(client: Client, args: argparse.Namespace) -> int:
    answer = client.tag(args.ref, args.tag, args.version)
    print(f"{args.ref}:{args.tag} -> @{answer.get('version', args.version)}")
    return 0


def _diff(client: Client, args: argparse.Namespace) -> int:
    a, b = client.version(args.a), client.version(args.b)
    left = json.dumps(a["definition"], indent=2, sort_keys=True).splitlines()
    right = json.dumps(b["definition"], indent=2, sort_keys=True).splitlines()
    name_a = f"{a.get('schedule', args.a)}@{a.get('version')}"
    name_b = f"{b.get('schedule', args.b)}@{b.get('version')}"
    lines = list(difflib.unified_diff(left, right, name_a, name_b, lineterm=""))
    print("\n".join(lines) if lines else f"same definition ({a['digest']})")
    va = client.values(f"{name_a}", 0, args.stop)
    vb = client.values(f"{name_b}", 0, args.stop)
    delta = np.abs(va - vb)
    if delta.max(initial=0.0) == 0:
        print(f"values: identical on [0, {args.stop})")
    else:
        worst = int(delta.argmax())
        first = int(np.flatnonzero(delta)[0])
        print(
            f"values: differ from step {first}; largest difference {delta[worst]:.6g} "
            f"at step {worst} "
            f"({va[worst]:.6g} vs {vb[worst]:.6g})"
        )
    return 0


def _plot(client: Client, args: argparse.Namespace) -> int:
    points = max(2, min(args.stop, 4 * args.width if not args.output else 2000))
    stride = max(1, args.stop // points)
    values = client.values(args.ref, 0, args.stop, stride)
    steps = np.arange(0, args.stop, stride)[: len(values)]
    if args.output:
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as exc:
            raise ValueError(
                "--output needs matplotlib (pip install matplotlib); without it, "
                "leave --output out for a terminal chart"
            ) from exc
        fig, ax = plt.subplots(figsize=(8, 4))
        ax.plot(steps, values)
        ax.set_xlabel("step")
        ax.set_ylabel("lr")
        ax.set_title(args.ref)
        if args.log:
            ax.set_yscale("log")
        fig.savefig(args.output, dpi=100)
        print(args.output)
        return 0
    print(
        terminal_chart(
            steps, values, width=args.width, height=args.height, log=args.log, title=args.ref
        )
    )
    return 0


def terminal_chart(
    steps: np.ndarray,
    values: np.ndarray,
    *,
    width: int = 72,
    height: int = 16,
    log: bool = False,
    title: str = "",
) -> str:
    """A plain-text chart of `values` over `steps`, `width` x `height` cells."""
    width, height = max(width, 10), max(height, 4)
    y = np.asarray(values, dtype=np.float64)
    if log:
        y = np.log10(np.where(y > 0, y, np.nan))
    finite = y[np.isfinite(y)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    span = hi - lo or 1.0
    grid = [[" "] * width for _ in range(height)]
    for col in range(width):
        chunk = y[
            col * len(y) // width : max((col + 1) * len(y) // width, col * len(y) // width + 1)
        ]
        chunk = chunk[np.isfinite(chunk)]
        if chunk.size == 0:
            continue
        top = round((float(chunk.max()) - lo) / span * (height - 1))
        bottom = round((float(chunk.min()) - lo) / span * (height - 1))
        for row in range(bottom, top + 1):
            grid[height - 1 - row][col] = "*"

    def label(v: float) -> str:
        return f"{(10**v if log else v):.3g}".rjust(9)

    out = [title] if title else []
    for i, cells in enumerate(grid):
        value = hi - span * i / (height - 1)
        prefix = label(value) if i in (0, height // 2, height - 1) else " " * 9
        out.append(f"{prefix} |{''.join(cells)}")
    last = int(steps[-1]) if len(steps) else 0
    out.append(" " * 10 + "+" + "-" * width)
    out.append(" " * 11 + "0".ljust(width - len(str(last))) + str(last))
    return "\n".join(out)


COMMANDS: dict[str, Any] = {
    "push": _push,
    "ls": _ls,
    "show": _show,
    "lr": _lr,
    "tag": _tag,
    "diff": _diff,
    "plot": _plot,
}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
