"""What every subcommand shares: its failures, its JSON output, reading definition files.

Exit statuses: 0 ok; 1 the command ran and failed (the server refused, could not be
reached, a check failed, or `diff` found different curves); 2 the command line is wrong
(an unknown option, a malformed reference, a missing or non-JSON file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ..refs import Ref

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class CommandFailed(Exception):
    """The command ran and failed; exit status 1 (or `exit_code`)."""

    exit_code = EXIT_FAILED


class UsageProblem(CommandFailed):
    """The command line is wrong (arguments, a file it names); exit status 2."""

    exit_code = EXIT_USAGE


def emit_json(document: Any) -> None:
    """Print `document` as indented JSON on standard output (the `--json` form)."""
    print(json.dumps(document, indent=2, sort_keys=True, default=str))


def one_line(message: str) -> str:
    """`message` on one line: the client's multi-line messages (one JSON pointer per
    line) joined with "; "."""
    return "; ".join(part.strip() for part in str(message).splitlines() if part.strip())


def warn(message: str) -> None:
    print(f"stepsize: warning: {one_line(message)}", file=sys.stderr)


def read_definition(path: str) -> Any:
    """The JSON document in the file `path` ("-": standard input).

    Raises UsageProblem when the file cannot be read or is not JSON."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageProblem(f"cannot read {path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise UsageProblem(f"{path} is not UTF-8 text: {exc.reason}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageProblem(
            f"{path} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def parse_ref(text: str, *, plain: bool = False) -> Ref:
    """A reference; `plain` refuses a version or tag (`ns/name` only).

    Raises UsageProblem for a malformed one."""
    try:
        ref = Ref.parse(text)
    except ValueError as exc:
        raise UsageProblem(one_line(str(exc))) from exc
    if plain and (ref.version is not None or ref.tag is not None):
        raise UsageProblem(f"{text!r}: give the schedule as NAMESPACE/NAME, without @ or :")
    return ref


def parse_labels(items: list[str]) -> dict[str, str] | None:
    """`["k=v", ...]` as a dict (None when empty). Raises UsageProblem without `=`."""
    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageProblem(f"--label {item!r}: write it as KEY=VALUE")
        labels[key] = value
    return labels or None
