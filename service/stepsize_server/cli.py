"""The `stepsize-server` command: serve, migrate, token create|list|revoke, load-demo,
openapi. Every command reads the same `STEPSIZE_*` settings as the server."""

from __future__ import annotations

import sys
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


def _database(settings: Settings) -> Database:
    """The database, migrated (so that `token create` works on a fresh install)."""
    from .store import Database, upgrade

    db = Database(settings.database_url, pool_size=1)
    upgrade(db)
    return db


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="interface (STEPSIZE_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (STEPSIZE_PORT)")] = None,
) -> None:
    """Apply migrations, then serve HTTP with uvicorn until interrupted."""
    import uvicorn

    from .api.logs import configure_logging
    from .app import create_app

    settings = Settings()
    configure_logging(settings.log_level)
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=settings.port if port is None else port,
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
            _database(Settings()), scopes=scope, description=description, actor=CLI_ACTOR
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

    for t in list_tokens(_database(Settings()), include_revoked=all_):
        state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
        typer.echo(f"{t.id}\t{t.prefix}…\t{','.join(t.scopes)}\t{state}\t{t.description}")


@token_app.command("revoke")
def token_revoke(token_id: Annotated[int, typer.Argument(help="the id from `token list`")]) -> None:
    """Revoke a token; it stops working at once."""
    from .store.errors import TokenNotFound
    from .store.tokens import revoke_token

    try:
        revoke_token(_database(Settings()), token_id=token_id, actor=CLI_ACTOR)
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
