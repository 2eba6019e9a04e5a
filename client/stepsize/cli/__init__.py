"""The `stepsize` command (console script `stepsize.cli:main`), on typer.

    stepsize push team/cosine schedule.json --description "cosine, 10k steps" [--strict]
    stepsize validate schedule.json
    stepsize ls --namespace team
    stepsize show team/cosine:prod
    stepsize lr team/cosine:prod 1000            (or --start 0 --stop 100 --stride 10)
    stepsize tag team/cosine prod 3              (says where the tag moved from)
    stepsize untag team/cosine prod
    stepsize archive team/cosine --yes
    stepsize diff team/cosine@2 team/cosine@3    (exit 1 when the curves differ)
    stepsize plot team/cosine:prod               (a terminal chart; --output x.png)

Every subcommand takes `--json` (one JSON document on standard output). The server is
`--url` or STEPSIZE_URL, the token `--token` or STEPSIZE_TOKEN. Errors are one line on
standard error, `stepsize: error: ...` (with `--json`, a JSON object on that line), and
the exit status is 0 ok, 1 failed (or the curves differ), 2 a usage error.

Modules: `commands` (the typer app), `output` (exit statuses, JSON, reading files),
`compare` (resolving references, comparing curves), `charts` (terminal and image charts).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

import typer

from ..errors import StepsizeError
from .commands import app
from .output import EXIT_FAILED, EXIT_USAGE, CommandFailed, one_line

__all__ = ["app", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in args
    command = typer.main.get_command(app)
    try:
        status = command.main(args, prog_name="stepsize", standalone_mode=False)
    except typer.TyperException as exc:  # the command line: unknown option, missing argument
        if type(exc).__name__ == "NoArgsIsHelpError":  # `stepsize` alone: the help
            print(exc.format_message(), file=sys.stderr)
            return EXIT_USAGE
        hint = _help_hint(exc)
        return _fail(f"{exc.format_message()}{hint}", getattr(exc, "exit_code", 2), as_json)
    except typer.Abort:  # the archive confirmation was declined
        return _fail("aborted", EXIT_FAILED, as_json)
    except CommandFailed as exc:
        return _fail(str(exc), exc.exit_code, as_json, kind=type(exc).__name__)
    except StepsizeError as exc:  # what the server answered, or that it was unreachable
        return _fail(
            str(exc), EXIT_FAILED, as_json, kind=type(exc).__name__, code=getattr(exc, "code", "")
        )
    except ValueError as exc:  # an argument the client refused (a step beyond 2**53)
        return _fail(str(exc), EXIT_USAGE, as_json, kind="UsageProblem")
    except OSError as exc:  # e.g. the image file cannot be written
        return _fail(
            f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "),
            EXIT_FAILED,
            as_json,
            kind="OSError",
        )
    except KeyboardInterrupt:
        return 130
    return status if isinstance(status, int) else 0


def _help_hint(exc: Exception) -> str:
    context = getattr(exc, "ctx", None)
    path = getattr(context, "command_path", "") if context is not None else ""
    return f" (see `{path} --help`)" if path else ""


def _fail(
    message: str, status: int, as_json: bool, *, kind: str = "UsageError", code: str = ""
) -> int:
    """Print the error as one line on standard error; returns `status`."""
    line = one_line(message)
    if as_json:
        error = {"error": line, "type": kind, "exit_status": status}
        if code:
            error["code"] = code
        print(json.dumps(error), file=sys.stderr)
    else:
        print(f"stepsize: error: {line}", file=sys.stderr)
    return status
