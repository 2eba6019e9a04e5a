"""The typer application `stepsize`: the global options, then every subcommand in the
order `stepsize --help` lists them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from . import reading, viewing, writing
from .app import JsonFlag, Session

app = typer.Typer(
    name="stepsize",
    help="Learning-rate schedules from the stepsize registry.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


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


SUBCOMMANDS: dict[str, Callable[..., None]] = {
    "push": writing.push,
    "amend": writing.amend,
    "validate": writing.validate,
    "ls": reading.list_schedules,
    "show": reading.show,
    "lr": reading.lr,
    "tag": writing.tag,
    "untag": writing.untag,
    "archive": writing.archive,
    "diff": viewing.diff,
    "plot": viewing.plot,
}
for name, subcommand in SUBCOMMANDS.items():
    app.command(name)(subcommand)
