"""The subcommands that read the registry: ls, show, lr."""

from __future__ import annotations

import json
import sys
from itertools import islice
from typing import Annotated, Any

import typer

from .app import JsonFlag, StepsPerEpoch, session
from .compare import resolve
from .output import UsageProblem, emit_json, parse_ref


def list_schedules(
    ctx: typer.Context,
    namespace: Annotated[str | None, typer.Option(help="only this namespace")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="search names")] = None,
    tag: Annotated[str | None, typer.Option(help="only schedules with this tag")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="at most this many")] = None,
    json_flag: JsonFlag = False,
) -> None:
    """List schedules: name, latest version, tags, last change."""
    client, as_json = session(ctx, json_flag)
    page = min(limit or 500, 500)
    items = list(islice(client.list(namespace=namespace, q=query, tag=tag, limit=page), limit))
    if as_json:
        emit_json(items)
        return
    for item in items:
        tags = " ".join(f"{t}=@{v}" for t, v in sorted((item.get("tags") or {}).items()))
        columns = [
            f"{item['namespace']}/{item['name']}",
            f"@{item.get('latest_version')}",
            str(item.get("updated_at", "")),
            tags,
        ]
        print("\t".join(columns).rstrip())


def show(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NS/NAME, NS/NAME@VERSION or NS/NAME:TAG")],
    steps_per_epoch: StepsPerEpoch = None,
    json_flag: JsonFlag = False,
) -> None:
    """A schedule's summary, the version's definition, and its version history."""
    client, as_json = session(ctx, json_flag)
    parsed = parse_ref(ref)
    summary = client.info(str(parsed))
    resolved = resolve(client, parsed, steps_per_epoch=steps_per_epoch)
    versions = client.versions(str(parsed))
    if as_json:
        emit_json({"summary": summary, "version": resolved.record, "versions": versions})
        return
    record = resolved.record
    tags = " ".join(f"{t}=@{v}" for t, v in sorted((summary.get("tags") or {}).items()))
    horizon = resolved.horizon
    rows = {
        "version": f"{resolved.version} of {summary.get('latest_version')}"
        + (" (archived)" if summary.get("archived") else ""),
        "digest": resolved.digest,
        "author": record.get("author"),
        "created": record.get("created_at"),
        "description": record.get("description") or "",
        "labels": " ".join(f"{k}={v}" for k, v in sorted((record.get("labels") or {}).items())),
        "horizon": "none (never constant)" if horizon is None else f"{horizon:,}",
        "tags": tags,
    }
    print(resolved.pinned)
    for key, value in rows.items():
        if value:
            print(f"  {key:<12}{value}")
    print("definition:")
    print(_indented(record.get("definition")))
    print("versions:")
    for item in versions:
        print(
            f"  @{item['version']}  {item.get('created_at')}  {item.get('author')}  "
            f"{item.get('description') or ''}".rstrip()
        )


def _indented(document: Any) -> str:
    return "\n".join("  " + line for line in json.dumps(document, indent=2).splitlines())


def lr(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NS/NAME, NS/NAME@VERSION or NS/NAME:TAG")],
    step: Annotated[int | None, typer.Argument(min=0, help="one step")] = None,
    start: Annotated[int, typer.Option(min=0, help="a range: first step")] = 0,
    stop: Annotated[int | None, typer.Option(min=1, help="a range: end (excluded)")] = None,
    stride: Annotated[int, typer.Option(min=1, help="a range: every STRIDE-th step")] = 1,
    steps_per_epoch: StepsPerEpoch = None,
    json_flag: JsonFlag = False,
) -> None:
    """The lr at STEP, or over --start/--stop/--stride as `step,lr` lines."""
    client, as_json = session(ctx, json_flag)
    if (step is None) == (stop is None):
        raise UsageProblem("give either a STEP or --stop (with --start and --stride) for a range")
    resolved = resolve(client, parse_ref(ref), steps_per_epoch=steps_per_epoch)
    about = {"schedule": resolved.schedule, "version": resolved.version, "digest": resolved.digest}
    if step is not None:
        value = client.lr(resolved.pinned, step, steps_per_epoch=steps_per_epoch)
        if as_json:
            emit_json({**about, "step": step, "lr": value})
        else:
            print(repr(value))
        return
    assert stop is not None
    values = client.values(resolved.pinned, start, stop, stride, steps_per_epoch=steps_per_epoch)
    steps = range(start, stop, stride)
    if as_json:
        emit_json({**about, "start": start, "stop": stop, "stride": stride, "lr": values.tolist()})
        return
    sys.stdout.write("".join(f"{s},{v!r}\n" for s, v in zip(steps, values.tolist(), strict=True)))
