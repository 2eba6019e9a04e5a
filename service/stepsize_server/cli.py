"""The `stepsize-server` command: serve, migrate, token create|list|revoke, load-demo,
openapi. Every command reads the same `STEPSIZE_*` settings as the server."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import yaml

from .settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .store import Database

app = typer.Typer(
    help="stepsize learning-rate schedule registry server.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")

CLI_ACTOR = "cli"


def _database(
    settings: Settings, *, create: bool = True, say: Callable[[str], None] | None = None
) -> Database:
    """The database, migrated (so that `token create` works on a fresh install). Says on
    stderr which database it is, since a relative SQLite path depends on the directory.

    With `create=False`, a SQLite file that does not exist yet is an error (exit 2) when
    the URL is the default one: a token made in a new file next to the current directory
    would be one the server never sees. An explicit STEPSIZE_DATABASE_URL is created with a
    warning. `say` reports what it does (default: a line on stderr; `serve` logs it, so
    that every line of the server's output is JSON)."""
    from .store import Database, upgrade

    say = say or (lambda line: typer.echo(line, err=True))

    where = describe_database(settings.database_url)
    missing = sqlite_file(settings.database_url)
    if missing is not None and missing.exists():
        missing = None
    if missing is not None and not create:
        if "database_url" not in settings.model_fields_set:
            typer.echo(
                f"error: no database at {missing} (the default STEPSIZE_DATABASE_URL, "
                f"{DEFAULT_URL}, is relative to the current directory). Run this from the "
                "server's directory, set STEPSIZE_DATABASE_URL to the server's database, "
                "or create one here first with `stepsize-server migrate`.",
                err=True,
            )
            raise typer.Exit(2)
        typer.echo(
            f"warning: {missing} does not exist yet: creating a new, empty database", err=True
        )
    elif missing is not None:
        say(f"creating a new SQLite database at {missing}")
    say(f"database: {where}")
    db = Database(settings.database_url, pool_size=1)
    upgrade(db)
    return db


DEFAULT_URL = str(Settings.model_fields["database_url"].default)


def sqlite_file(url: str) -> Path | None:
    """The absolute path of a SQLite URL's file (None: not SQLite, or in memory)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    if (
        parsed.get_backend_name() != "sqlite"
        or database in ("", ":memory:")
        or (database.startswith("file:"))
    ):
        return None
    return Path(database).expanduser().resolve()


def describe_database(url: str) -> str:
    """The URL for messages: password hidden, a SQLite path made absolute."""
    from sqlalchemy.engine import make_url

    path = sqlite_file(url)
    if path is not None:
        return f"sqlite:///{path}"
    return make_url(url).render_as_string(hide_password=True)


def worker_app() -> FastAPI:
    """The app of one `serve` worker process (uvicorn's factory): logging configured, the
    settings from the environment, no migration (`serve` applied them once before)."""
    from .app import create_app
    from .observability.logs import configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    return create_app(settings.model_copy(update={"auto_migrate": False}))


def worker_count(settings: Settings, requested: int | None) -> int:
    """`--workers`, else STEPSIZE_WORKERS; 0 means one per CPU core this process may use."""
    count = settings.workers if requested is None else requested
    if count < 0:
        raise typer.BadParameter(f"must be >= 0. Received: workers={count}")
    return count or len(os.sched_getaffinity(0))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface (STEPSIZE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (STEPSIZE_PORT)")] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="worker processes (STEPSIZE_WORKERS); 0: one per CPU core"),
    ] = None,
) -> None:
    """Apply migrations once (unless STEPSIZE_AUTO_MIGRATE=false), then serve HTTP with
    uvicorn worker processes until interrupted."""
    import uvicorn

    from .observability.logs import configure_logging
    from .observability.protocols import protocol_path

    settings = Settings()
    configure_logging(settings.log_level)
    if settings.auto_migrate:
        _database(settings, say=logging.getLogger("stepsize_server.cli").info).dispose()
    uvicorn.run(
        "stepsize_server.cli:worker_app",
        factory=True,
        host=host or settings.host,
        port=settings.port if port is None else port,
        workers=worker_count(settings, workers),
        loop=settings.loop,
        # The request head's size and time limits (observability/protocols.py); h11's
        # own buffer bound is a backstop above them, beyond one read (256 KiB), so that
        # ours answers first.
        http=protocol_path(settings.http),
        h11_max_incomplete_event_size=settings.max_header_bytes + (256 << 10),
        log_config=None,
        access_log=False,
        server_header=False,
    )


@app.command()
def migrate() -> None:
    """Apply pending database migrations and exit."""
    from .store.migrate import current_revision

    db = _database(Settings())
    typer.echo(f"database at revision {current_revision(db)}", err=True)


@token_app.command("create")
def token_create(
    scope: Annotated[
        list[str],
        typer.Option("--scope", help="read, write:<namespace>, write:* or admin; repeatable"),
    ],
    description: Annotated[str, typer.Option(help="who or what uses it")] = "",
) -> None:
    """Create a token and print it ALONE on stdout (it cannot be shown again)."""
    from .store.tokens import create_token

    try:
        record, secret = create_token(
            _database(Settings(), create=False),
            scopes=scope,
            description=description,
            actor=CLI_ACTOR,
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"created token {record.id} with scopes {' '.join(record.scopes)}", err=True)
    typer.echo(secret)


@token_app.command("list")
def token_list(
    all_: Annotated[bool, typer.Option("--all", help="include revoked tokens")] = False,
) -> None:
    """List tokens (id, prefix, scopes, description); secrets are never stored."""
    from .store.tokens import list_tokens

    for t in list_tokens(_database(Settings(), create=False), include_revoked=all_):
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
        typer.echo(f"{t.id}\t{t.prefix}…\t{','.join(t.scopes)}\t{state}\t{t.description}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="the id from `token list`")]) -> None:
    """Revoke a token; it stops working at once."""
    from .store.errors import TokenNotFound
    from .store.tokens import revoke_token

    try:
        revoke_token(_database(Settings(), create=False), token_id=token_id, actor=CLI_ACTOR)
    except TokenNotFound as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked token {token_id}", err=True)


@app.command("load-demo")
def load_demo() -> None:
    """Publish the demo schedules (idempotent); a demo whose type this build lacks is
    skipped with a message."""
    from .demo import load

    for line in load(_database(Settings())):
        typer.echo(line, err=True)


@app.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Print the OpenAPI document (YAML) generated from the app."""
    from .app import create_app

    text = openapi_yaml(create_app(Settings(auto_migrate=False)))
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def openapi_yaml(application: FastAPI) -> str:
    """The canonical YAML form of the app's OpenAPI document (what openapi.yaml holds)."""
    return yaml.safe_dump(application.openapi(), sort_keys=False, allow_unicode=True, width=100)


def main() -> None:
    app()
