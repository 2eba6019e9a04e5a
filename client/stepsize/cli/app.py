"""What the subcommands share: the global options' `Session` (and its client), and the
option types used by several subcommands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import typer

from ..client import Client

JsonFlag = Annotated[bool, typer.Option("--json", help="print one JSON document")]
StepsPerEpoch = Annotated[
    int | None,
    typer.Option(min=1, help="for schedules counted in epochs without their own"),
]
Stop = Annotated[int | None, typer.Option(min=1, help="look at steps [0, STOP)")]


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
    """The client of the global options, and whether to answer in JSON (the subcommand's
    `--json`, or the global one)."""
    state = ctx.find_object(Session)
    assert state is not None, "the `stepsize` callback sets the Session"
    return state.client, json_flag or state.json
