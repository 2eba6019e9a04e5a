"""The subcommands that check or change the registry: push, amend, validate, tag, untag,
archive."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from ..client import Client
from ..publishing import Published
from .app import JsonFlag, session
from .output import (
    CommandFailed,
    UsageProblem,
    emit_json,
    parse_labels,
    parse_ref,
    read_definition,
    warn,
)

# the options of the subcommands that publish (push, amend)
Description = Annotated[str | None, typer.Option(help="what changed")]
Labels = Annotated[list[str] | None, typer.Option(metavar="KEY=VALUE", help="a label (repeatable)")]
Strict = Annotated[bool, typer.Option(help="treat validation warnings as errors")]


def push(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAMESPACE/NAME")],
    file: Annotated[str, typer.Argument(help="a JSON definition ('-': standard input)")],
    description: Description = None,
    label: Labels = None,
    strict: Strict = False,
    json_flag: JsonFlag = False,
) -> None:
    """Publish a new version; prints the server's validation warnings first."""
    client, as_json = session(ctx, json_flag)
    schedule = parse_ref(ref, plain=True)
    labels = parse_labels(label or [])

    def publish(definition: dict[str, Any]) -> Published:
        return client.publish(str(schedule), definition, description=description, labels=labels)

    _publish_checked(client, file, publish, strict=strict, as_json=as_json)


def _publish_checked(
    client: Client,
    file: str,
    publish: Callable[[dict[str, Any]], Published],
    *,
    strict: bool,
    as_json: bool,
    note: str = "",
) -> None:
    """Validate the definition in `file` (warnings first; `strict` refuses them), then
    `publish` it and print the answer (followed by `note`)."""
    definition = read_definition(file)
    verdict = client.validate(definition)
    warnings = [str(w) for w in verdict.get("warnings") or []]
    _report_warnings(warnings, strict=strict, as_json=as_json, action="not published")
    published = publish(definition)
    if as_json:
        emit_json({**published.data, "created": published.created, "warnings": warnings})
        return
    state = "published" if published.created else "unchanged (same digest as the latest)"
    print(f"{published.ref} {published.digest} {state}{note}")


def amend(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAMESPACE/NAME@VERSION: the version to amend")],
    from_step: Annotated[
        int, typer.Argument(min=1, help="the first step that may differ from VERSION")
    ],
    file: Annotated[
        str,
        typer.Argument(
            help="the JSON definition from FROM_STEP on, at step - FROM_STEP ('-': stdin)"
        ),
    ],
    description: Description = None,
    label: Labels = None,
    strict: Strict = False,
    json_flag: JsonFlag = False,
) -> None:
    """Publish an amendment: a new version equal to VERSION before FROM_STEP, then the
    definition. Jobs following VERSION (follow=True) switch to it at FROM_STEP, on every
    rank; the server refuses it (naming the runs) when a live follower passed FROM_STEP."""
    client, as_json = session(ctx, json_flag)
    pinned = parse_ref(ref)
    version = pinned.version
    if version is None:
        raise UsageProblem(f"{ref!r}: name the version to amend, as NAMESPACE/NAME@VERSION")
    labels = parse_labels(label or [])

    def publish(definition: dict[str, Any]) -> Published:
        return client.amend(
            pinned.schedule,
            version,
            from_step,
            definition,
            description=description,
            labels=labels,
        )

    note = f": equal to {pinned} before step {from_step:,}"
    _publish_checked(client, file, publish, strict=strict, as_json=as_json, note=note)


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
