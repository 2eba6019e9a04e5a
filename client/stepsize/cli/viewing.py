"""The subcommands that look at curves: diff (compare two) and plot (draw one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from .app import JsonFlag, StepsPerEpoch, Stop, session
from .charts import image_chart, terminal_chart
from .compare import (
    MAX_COMPARED_STEPS,
    ValueDiff,
    compare_values,
    definition_diff,
    resolve,
    span_of,
)
from .output import EXIT_FAILED, CommandFailed, UsageProblem, emit_json, parse_ref

# Plot at most this many points (a terminal chart marks each column's min and max).
PLOT_POINTS = 20_000


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
        values = ValueDiff(end)
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


def plot(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NS/NAME, NS/NAME@VERSION or NS/NAME:TAG")],
    stop: Stop = None,
    output: Annotated[
        Path | None, typer.Option(help="write an image (x.png) with matplotlib instead")
    ] = None,
    log: Annotated[bool, typer.Option(help="logarithmic lr axis")] = False,
    width: Annotated[int, typer.Option(min=10, help="terminal chart columns")] = 72,
    height: Annotated[int, typer.Option(min=3, help="terminal chart rows")] = 17,
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
