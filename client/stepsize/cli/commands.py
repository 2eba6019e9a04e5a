"""The subcommands of `stepsize`, on typer; each prints text, or one JSON document with
`--json`, and signals failure by raising (see `output` for the exit statuses)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from ..client import Client
from .charts import image_chart, terminal_chart
from .compare import (
    MAX_COMPARED_STEPS,
    compare_values,
    definition_diff,
    resolve,
    span_of,
)
from .output import (
    EXIT_FAILED,
    CommandFailed,
    UsageProblem,
    emit_json,
    parse_labels,
    parse_ref,
    read_definition,
    warn,
)

app = typer.Typer(
    name="stepsize",
    help="Learning-rate schedules from the stepsize registry.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON document")]
StepsPerEpoch = Annotated[
    int | None,
    typer.Option(min=1, help="for schedules counted in epochs without their own"),
]
Stop = Annotated[int | None, typer.Option(min=1, help="look at steps [0, STOP)")]
# Plot at most this many points (a terminal chart marks each column's min and max).
PLOT_POINTS = 20_000


@dataclass
class Session:
    """The global options, and the client made from them on first use."""

    url: str | None
    token: str | None
    json: bool
    _client: Client | None = field(default=None, repr=False)

    @property
    def client(self) -> Client:
        if self._client is None:
            # No disk cache: every command asks the server (the cache serves training).
            self._client = Client(self.url, self.token, cache_dir=False)
        return self._client


def session(ctx: typer.Context, json_flag: bool) -> tuple[Client, bool]:
    state: Session = ctx.ensure_object(Session)
    return state.client, json_flag or state.json


@app.callback()
def options(
    ctx: typer.Context,
    url: Annotated[
        str | None, typer.Option(help="the server (default: STEPSIZE_URL, else 127.0.0.1:8000)")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="a bearer token (default: STEPSIZE_TOKEN)")
    ] = None,
    json_flag: JsonFlag = False,
) -> None:
    """Learning-rate schedules from the stepsize registry. Exit status: 0 ok, 1 failed
    (or, for diff, the curves differ), 2 a usage error."""
    ctx.obj = Session(url, token, json_flag)


@app.command()
def push(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAMESPACE/NAME")],
    file: Annotated[str, typer.Argument(help="a JSON definition ('-': standard input)")],
    description: Annotated[str | None, typer.Option(help="what changed")] = None,
    label: Annotated[
        list[str] | None, typer.Option(metavar="KEY=VALUE", help="a label (repeatable)")
    ] = None,
    strict: Annotated[bool, typer.Option(help="treat validation warnings as errors")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Publish a new version; prints the server's validation warnings first."""
    client, as_json = session(ctx, json_flag)
    schedule = parse_ref(ref, plain=True)
    definition = read_definition(file)
    labels = parse_labels(label or [])
    verdict = client.validate(definition)
    warnings = [str(w) for w in verdict.get("warnings") or []]
    _report_warnings(warnings, strict=strict, as_json=as_json, action="not published")
    published = client.publish(str(schedule), definition, description=description, labels=labels)
    if as_json:
        emit_json({**published.data, "created": published.created, "warnings": warnings})
        return
    state = "published" if published.created else "unchanged (same digest as the latest)"
    print(f"{published.ref} {published.digest} {state}")


@app.command()
def validate(
    ctx: typer.Context,
    file: Annotated[str, typer.Argument(help="a JSON definition ('-': standard input)")],
    strict: Annotated[bool, typer.Option(help="treat warnings as errors (exit 1)")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Check a definition without storing it: its digest, horizon and warnings."""
    client, as_json = session(ctx, json_flag)
    verdict = client.validate(read_definition(file))
    warnings = [str(w) for w in verdict.get("warnings") or []]
    if as_json:
        emit_json({**verdict, "valid": True})
    else:
        horizon = verdict.get("horizon")
        constant = "never constant" if horizon is None else f"constant from step {horizon:,}"
        print(f"valid {verdict['digest']} ({constant})")
    _report_warnings(warnings, strict=strict, as_json=as_json, action="--strict")


def _report_warnings(warnings: list[str], *, strict: bool, as_json: bool, action: str) -> None:
    """Warnings on standard error (in the JSON document instead with --json).
    Raises CommandFailed (one line naming them all) when `strict` and there are any."""
    if strict and warnings:
        count = len(warnings)
        raise CommandFailed(f"{action}: {count} validation warning(s): " + "; ".join(warnings))
    if not as_json:
        for message in warnings:
            warn(message)


@app.command("ls")
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


@app.command()
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
    import json

    return "\n".join("  " + line for line in json.dumps(document, indent=2).splitlines())


@app.command()
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


@app.command()
def tag(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAMESPACE/NAME")],
    name: Annotated[str, typer.Argument(metavar="TAG", help="the tag, e.g. prod")],
    version: Annotated[int, typer.Argument(min=1, help="the version it points at")],
    json_flag: JsonFlag = False,
) -> None:
    """Point a tag at a version (checked against where it points now, with If-Match)."""
    client, as_json = session(ctx, json_flag)
    schedule = parse_ref(ref, plain=True)
    answer = client.tag(str(schedule), name, version)
    if as_json:
        emit_json(answer)
        return
    previous = answer.get("previous")
    moved = (
        "new tag"
        if previous is None
        else "unchanged"
        if previous == answer.get("version")
        else f"moved from @{previous}"
    )
    print(f"{schedule}:{name} -> @{answer.get('version', version)} ({moved})")


@app.command()
def untag(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAMESPACE/NAME")],
    name: Annotated[str, typer.Argument(metavar="TAG", help="the tag to drop")],
    json_flag: JsonFlag = False,
) -> None:
    """Drop a tag (checked against where it points now, with If-Match)."""
    client, as_json = session(ctx, json_flag)
    schedule = parse_ref(ref, plain=True)
    tags = client.info(str(schedule)).get("tags") or {}
    if name not in tags:
        known = ", ".join(sorted(tags)) or "none"
        raise CommandFailed(f"{schedule} has no tag {name!r} (its tags: {known})")
    answer = client.registry.transport.request(
        "DELETE",
        f"{schedule.path}/tags/{name}",
        headers={"If-Match": f'"{tags[name]}"'},
        ref=str(schedule),
    ).json()
    if as_json:
        emit_json(answer)
        return
    print(f"{schedule}:{name} removed (was @{answer.get('previous', tags[name])})")


@app.command()
def archive(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAMESPACE/NAME")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
    json_flag: JsonFlag = False,
) -> None:
    """Archive a schedule: gone from lists, no new versions; pinned versions still resolve."""
    client, as_json = session(ctx, json_flag)
    schedule = parse_ref(ref, plain=True)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageProblem(f"archiving {schedule} needs --yes when not run interactively")
        typer.confirm(f"archive {schedule}? Its tags and latest stop resolving", abort=True)
    answer = client.registry.transport.request("DELETE", schedule.path, ref=str(schedule)).json()
    if as_json:
        emit_json(answer)
        return
    count = answer.get("version_count")
    print(f"{schedule} archived ({count} version(s); pinned versions still resolve)")


@app.command()
def diff(
    ctx: typer.Context,
    ref_a: Annotated[str, typer.Argument(metavar="REF_A")],
    ref_b: Annotated[str, typer.Argument(metavar="REF_B")],
    stop: Stop = None,
    tolerance: Annotated[
        float, typer.Option(min=0.0, help="ignore absolute differences up to this")
    ] = 0.0,
    steps_per_epoch: StepsPerEpoch = None,
    json_flag: JsonFlag = False,
) -> None:
    """Compare two versions' definitions and their lr at every step; exit 1 if they differ.

    The values are compared through the larger horizon (or to --stop), like diff(1)."""
    client, as_json = session(ctx, json_flag)
    a = resolve(client, parse_ref(ref_a), steps_per_epoch=steps_per_epoch)
    b = resolve(client, parse_ref(ref_b), steps_per_epoch=steps_per_epoch)
    end, why = span_of([a.horizon, b.horizon], stop)
    if end > MAX_COMPARED_STEPS:
        raise UsageProblem(
            f"the curves run to step {end - 1:,}; comparing more than {MAX_COMPARED_STEPS:,} "
            "steps needs an explicit --stop"
        )
    lines = definition_diff(a, b)
    if a.digest == b.digest:  # the same normalized definition: the same curve
        values = compare_values(lambda s, e: np.zeros(e - s), lambda s, e: np.zeros(e - s), 0)
        values.stop = end
    else:
        values = compare_values(
            lambda s, e: client.values(a.pinned, s, e, steps_per_epoch=steps_per_epoch),
            lambda s, e: client.values(b.pinned, s, e, steps_per_epoch=steps_per_epoch),
            end,
            tolerance=tolerance,
        )
    if as_json:
        emit_json(
            {
                "a": {"ref": a.pinned, "digest": a.digest, "horizon": a.horizon},
                "b": {"ref": b.pinned, "digest": b.digest, "horizon": b.horizon},
                "same_definition": not lines,
                "definition_diff": lines,
                "range": why,
                **values.as_json(),
            }
        )
    else:
        print("\n".join(lines) if lines else f"definitions: identical ({a.digest})")
        span = f"steps [0, {end:,}) ({why})"
        if values.identical:
            print(f"values: identical on {span}")
        else:
            first, worst = values.first or {}, values.largest or {}
            print(
                f"values: differ on {values.differing_steps:,} of {end:,} {span}: first at step "
                f"{first['step']:,} ({first['a']:.6g} vs {first['b']:.6g}); largest difference "
                f"{worst['difference']:.6g} at step {worst['step']:,} "
                f"({worst['a']:.6g} vs {worst['b']:.6g})"
            )
    if not values.identical:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def plot(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NS/NAME, NS/NAME@VERSION or NS/NAME:TAG")],
    stop: Stop = None,
    output: Annotated[
        Path | None, typer.Option(help="write an image (x.png) with matplotlib instead")
    ] = None,
    log: Annotated[bool, typer.Option(help="logarithmic lr axis")] = False,
    width: Annotated[int, typer.Option(min=10, help="terminal chart columns")] = 72,
    height: Annotated[int, typer.Option(min=3, help="terminal chart rows")] = 16,
    steps_per_epoch: StepsPerEpoch = None,
    json_flag: JsonFlag = False,
) -> None:
    """The curve through its horizon (or to --stop) as a terminal chart, or an image."""
    client, as_json = session(ctx, json_flag)
    resolved = resolve(client, parse_ref(ref), steps_per_epoch=steps_per_epoch)
    end, why = span_of([resolved.horizon], stop)
    stride = max(1, -(-end // PLOT_POINTS))
    values = client.values(resolved.pinned, 0, end, stride, steps_per_epoch=steps_per_epoch)
    steps = np.arange(0, end, stride)
    if steps[-1] != end - 1:  # always draw the last step of the span
        steps = np.append(steps, end - 1)
        last = client.values(resolved.pinned, end - 1, end, steps_per_epoch=steps_per_epoch)
        values = np.concatenate([values, last])
    title = f"{resolved.pinned} ({ref})" if resolved.pinned != ref else ref
    document: dict[str, Any] = {
        "schedule": resolved.schedule,
        "version": resolved.version,
        "digest": resolved.digest,
        "start": 0,
        "stop": end,
        "range": why,
        "log": log,
    }
    if output is not None:
        try:
            image_chart(steps, values, output, log=log, title=title)
        except ImportError as exc:
            raise CommandFailed(
                "--output needs matplotlib (pip install matplotlib); leave --output out for a "
                "terminal chart"
            ) from exc
        document.update(output=str(output), bytes=output.stat().st_size)
        if as_json:
            emit_json(document)
        else:
            print(f"{output} ({resolved.pinned}, steps [0, {end:,}))")
        return
    chart = terminal_chart(steps, values, width=width, height=height, log=log, title=title)
    if as_json:
        emit_json({**document, "steps": steps.tolist(), "lr": values.tolist()})
        return
    print(chart)
